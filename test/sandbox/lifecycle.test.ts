// The Sandbox lifecycle on the real kernel: create, start, exec, metrics, events, update,
// stop, delete; 50 at once; an owner SIGKILLed (dieWithParent or not) and a new process
// that finds what lives on; bad specs leave nothing. Polls with deadlines, no timings.
import t from 'tap';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../../src/sandbox/compile.js';
import { monitorOf, startMonitor } from '../../src/sandbox/monitor.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { parseSpec } from '../../src/sandbox/spec.js';
import { watchExit } from '../../src/spawn/reaper.js';
import { landlockAbi } from '../../src/sys/landlock.js';
import { RUN, alive, cleanup, groups, hostSpec, records, skip, until } from './fixtures/sandbox.js';

t.teardown(cleanup);
const quiet = ['ignore', 'ignore', 'ignore'] as const;

t.test('create, start, exec, metrics, events, update, stop, delete', { skip }, async (t) => {
  const before = groups();
  const sb = await Sandbox.create(hostSpec(['sleep', '60'], { limits: { pids: 32, memory: '64M' } }), { stdio: [...quiet] });
  t.same(sb.status(), { status: 'created' });
  await sb.start();
  const { status, pid } = sb.status();
  t.equal(status, 'running');
  const events: string[] = [];
  const seen = (async () => { for await (const e of sb.events()) events.push(e.type); })();
  const child = await sb.exec(['sh', '-c', 'echo $$; readlink /proc/1/exe'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  t.same(await child.exited, { code: 0, signal: null });
  await until(() => out.split('\n').length > 2);
  t.not(out.split('\n')[0], String(child.pid), 'the joiner has a pid of the sandbox\'s namespace');
  t.match(out.split('\n')[1], /sleep$/, 'it sees the sandbox\'s pid 1');
  const m = sb.metrics();
  t.ok(m.cpuUsageUsec >= 0 && (m.pidsCurrent ?? 1) >= 1 && (m.memoryCurrent ?? 1) > 0, 'figures from the cgroup');
  sb.update({ pids: 20 });
  const pidsMax = join('/sys/fs/cgroup/pids', readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:pids:(.*)$/m)?.[1] ?? '/', `tsns-sandbox-${sb.id}`, 'pids.max');
  if (existsSync(pidsMax)) t.equal(readFileSync(pidsMax, 'utf8').trim(), '20', 'update wrote pids.max');
  t.throws(() => sb.update({ timeoutMs: 5 }), /^limits\.timeoutMs: /);
  const exit = await sb.stop({ signal: 'SIGTERM', timeoutMs: 200 });
  t.match(exit, { reason: 'signaled', signal: 'SIGKILL' }, 'pid 1 ignored TERM: the tree was killed');
  await seen;
  t.same(events, ['started', 'exec', 'exited']);
  t.equal(sb.status().status, 'stopped');
  t.notOk(alive(pid!));
  await sb.delete();
  t.same(records(), []);
  t.same(groups().filter((g) => !before.includes(g)), []);
});

t.test('50 sandboxes at once, each in its own pid namespace, all cleaned up', { skip }, async (t) => {
  const before = groups();
  const boxes = await Promise.all(Array.from({ length: 50 }, () => Sandbox.create(hostSpec(['sleep', '120']), { stdio: [...quiet] })));
  try {
    for (const sb of boxes) await sb.start();
    const inodes = new Set(boxes.map((sb) => statSync(`/proc/${sb.status().pid}/ns/pid`).ino));
    t.equal(inodes.size, 50, '50 pid namespaces');
    t.notOk(inodes.has(statSync('/proc/self/ns/pid').ino), 'none is ours');
    t.equal((await Sandbox.list()).filter((s) => s.status().status === 'running').length, 50, 'list finds them');
  } finally {
    await Promise.all(boxes.map((sb) => sb.delete()));
  }
  t.same(records(), []);
  t.same(groups().filter((g) => !before.includes(g)), []);
});

const dist = fileURLToPath(new URL('../../dist/sandbox/sandbox.js', import.meta.url));
t.test('SIGKILL of the owning Node process', { skip: skip || (!existsSync(dist) && 'dist/ is not built (npm run build)') }, async (t) => {
  const script = join(RUN, 'owner.mjs');
  writeFileSync(script, `
    import { Sandbox } from ${JSON.stringify(dist)};
    const q = { stdio: ['ignore', 'ignore', 'ignore'] };
    const spec = (args, die) => ({ filesystem: { root: 'host' }, process: { args, dieWithParent: die } });
    const out = {};
    for (const [name, args, die] of [['dies', ['sleep', '120'], true], ['lives', ['sleep', '120'], false], ['ends', ['sh', '-c', 'sleep 1; exit 7'], false], ['orphan', ['sleep', '120'], false]]) {
      const sb = await Sandbox.create(spec(args, die), q);
      await sb.start();
      out[name] = { id: sb.id, pid: sb.status().pid };
    }
    console.log(JSON.stringify(out));
    setInterval(() => {}, 1000);
  `);
  const owner = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TSNS_RUN_DIR: RUN } });
  t.teardown(() => { owner.kill('SIGKILL'); }); // a failure below leaves no owner making more
  const guard = setTimeout(() => owner.kill('SIGKILL'), 60_000);
  let text = '';
  owner.stdout.on('data', (d) => { text += d; });
  await until(() => text.includes('\n'), 30_000);
  const made = JSON.parse(text) as Record<'dies' | 'lives' | 'ends' | 'orphan', { id: string; pid: number }>;
  owner.kill('SIGKILL');
  await new Promise((r) => owner.once('exit', r));
  clearTimeout(guard);

  t.ok(await until(() => !alive(made.dies.pid)), 'the dieWithParent sandbox died with its owner');
  t.ok(alive(made.lives.pid), 'the other one lives on');
  const ids = (await Sandbox.list()).map((s) => s.id);
  t.ok(ids.includes(made.lives.id) && ids.includes(made.ends.id), 'a new process lists them');
  t.notOk(ids.includes(made.dies.id), 'not the dead one');

  const ends = await Sandbox.get(made.ends.id);
  t.match(await ends.wait(), { reason: 'exited', code: 7 }, 'the monitor recorded the exit');
  await ends.delete();
  const lives = await Sandbox.get(made.lives.id);
  t.equal(lives.status().status, 'running');
  t.match(await lives.stop({ signal: 'SIGKILL', timeoutMs: 5000 }), { reason: 'signaled', signal: 'SIGKILL' });
  await lives.delete();
  // A monitor of another process killed before it could record anything: its pidfd says so.
  const orphan = await Sandbox.get(made.orphan.id);
  const ended = orphan.wait();
  const { monitor } = JSON.parse(readFileSync(join(RUN, 'sandbox', made.orphan.id, 'state.json'), 'utf8')) as { monitor: { pid: number } };
  process.kill(monitor.pid, 'SIGKILL');
  t.match(await ended, { reason: 'signaled', signal: 'SIGKILL' }, 'a killed foreign monitor ends the wait');
  await orphan.delete();
  // What the dead one left is removed by the next create.
  const next = await Sandbox.create(hostSpec(['true']));
  await next.delete();
  t.same(records(), []);
});

t.test('id-map ranges: written by this process while the program waits at its sync step', { skip }, async (t) => {
  const out = join(RUN, 'maps');
  const fd = openSync(out, 'w');
  const ranges = [{ inside: 0, outside: 0, count: 1 }, { inside: 1, outside: 100001, count: 65535 }];
  const sb = await Sandbox.create(hostSpec(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map'], { uidMap: ranges, gidMap: ranges }), { stdio: ['ignore', fd, 'ignore'] });
  try {
    await sb.start();
  } finally {
    closeSync(fd);
  }
  t.match(await sb.wait(), { reason: 'exited', code: 0 });
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  t.same(lines, ['0 0 1', '1 100001 65535', '0 0 1', '1 100001 65535'], 'both maps, every range');
  await sb.delete();
  t.same(records(), []);
});

t.test('id-map ranges that leave the caller\'s ids out: the program takes mapped ids, its tmpfs takes files (no EOVERFLOW)', { skip }, async (t) => {
  const cases = [
    // newuidmap-style: root inside is 100000 outside; the caller's 0 is not mapped.
    { ranges: [{ inside: 0, outside: 100000, count: 65536 }], ids: '0 0' },
    // No 0 inside either: the first id inside.
    { ranges: [{ inside: 1000, outside: 200000, count: 10 }], ids: '1000 1000' },
  ];
  for (const { ranges, ids } of cases) {
    const out = join(RUN, 'unmapped');
    const fd = openSync(out, 'w');
    const script = 'echo $(id -u) $(id -g); touch /tmp/made && stat -c %u /tmp/made';
    const spec = { uidMap: ranges, gidMap: ranges, filesystem: { root: 'host', mounts: [{ type: 'tmpfs', dest: '/tmp' }] } };
    const sb = await Sandbox.create(hostSpec(['sh', '-c', script], spec), { stdio: ['ignore', fd, fd] });
    try {
      await sb.start();
    } finally {
      closeSync(fd);
    }
    t.match(await sb.wait(), { reason: 'exited', code: 0 }, `${JSON.stringify(ranges)}: started and ended well`);
    t.equal(readFileSync(out, 'utf8'), `${ids}\n${ids.split(' ')[0]}\n`, 'ids inside, and a file it made owned by it');
    await sb.delete();
  }
  t.same(records(), []);
});

t.test('Landlock under the monitor: the ruleset made here reaches the program through it, rules from its root', { skip: skip || (!landlockAbi() && 'this kernel has no Landlock') }, async (t) => {
  const out = join(RUN, 'landlock');
  const fd = openSync(out, 'w');
  const script = 'echo inside > /tmp/f && cat /tmp/f; cat /etc/hostname > /tmp/g && echo read; echo no > /etc/tsns-denied; ls -l /proc/self/fd/';
  const spec = { filesystem: { root: 'host', mounts: [{ type: 'tmpfs', dest: '/tmp' }] }, security: { landlock: { ro: ['/usr', '/etc', '/proc'], rw: ['/tmp'] } } };
  const sb = await Sandbox.create(hostSpec(['sh', '-c', script], spec), { stdio: ['ignore', fd, fd] });
  try {
    await sb.start();
  } finally {
    closeSync(fd);
  }
  await sb.wait();
  const text = readFileSync(out, 'utf8');
  t.match(text, /^inside$/m, 'the sandbox\'s own /tmp is writable');
  t.match(text, /^read$/m, '/etc reads');
  t.match(text, /tsns-denied: Permission denied/, 'and is not written');
  t.notMatch(text, /landlock-ruleset/, 'no ruleset descriptor in the program');
  t.notOk(existsSync('/etc/tsns-denied'));
  await sb.delete();
});

t.test('stdio pipes: written and read by this process, ended with the program (the monitor keeps none)', { skip }, async (t) => {
  const sb = await Sandbox.create(hostSpec(['sh', '-c', 'read x; echo "got $x"; echo oops >&2']), { stdio: ['pipe', 'pipe', 'pipe'] });
  t.equal(sb.stdout, null, 'no stream before start');
  await sb.start();
  const read = (s: NodeJS.ReadableStream) => new Promise<string>((resolve) => { let text = ''; s.on('data', (d) => { text += d; }).on('end', () => resolve(text)); });
  const [out, err] = [read(sb.stdout!), read(sb.stderr!)];
  sb.stdin!.end('hello\n');
  t.same([await out, await err], ['got hello\n', 'oops\n']);
  t.match(await sb.wait(), { reason: 'exited', code: 0 });
  await sb.delete();
});

t.test('a start killed before its state was written: the next create ends the unrecorded monitor', { skip }, async (t) => {
  // What such a start leaves: a record whose owner is gone, and a monitor running the program.
  const dir = join(RUN, 'sandbox', 'killed-start');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'record.json'), JSON.stringify({ owner: { pid: process.pid, startTime: -1 } }));
  const { spawn: spec, argv } = compile(parseSpec(hostSpec(['sleep', '120'])));
  const { monitor, pid } = startMonitor(spec, argv, { dir, args: [], dieWithParent: false, stdio: [...quiet] });
  const reaped = watchExit(monitor);
  t.match(monitorOf(dir), { pid: monitor }, 'found by the file it wrote');
  const next = await Sandbox.create(hostSpec(['true']));
  await next.delete();
  t.match(await reaped, { signal: 'SIGKILL' }, 'the monitor was killed');
  t.ok(await until(() => !alive(pid)), 'and its program with it');
  t.same(records(), []);
});

t.test('bad specs: one message each, nothing left', { skip }, async (t) => {
  const before = groups();
  const bad: [unknown, RegExp][] = [
    [{}, /^process\.args: /],
    [{ process: { args: [] } }, /^process\.args: /],
    [{ process: { args: ['true'] }, bogus: 1 }, /unknown field 'bogus'/],
    [{ id: '../x', process: { args: ['true'] } }, /^id: /],
    [{ process: { args: ['true'] }, limits: { pids: 'many' } }, /^limits\.pids: /],
    [{ process: { args: ['true'] }, uidMap: 'nobody' }, /^uidMap: /],
    ['not a spec', /expected object/i],
  ];
  for (const [spec, message] of bad) {
    await t.rejects(Sandbox.create(spec), message, JSON.stringify(spec));
    t.same(records(), [], 'no record');
    t.same(groups().filter((g) => !before.includes(g)), [], 'no cgroup');
  }
  const taken = await Sandbox.create(hostSpec(['true'], { id: 'taken' }));
  await t.rejects(Sandbox.create(hostSpec(['true'], { id: 'taken' })), /^id: sandbox "taken" exists already/);
  await taken.delete();
});
