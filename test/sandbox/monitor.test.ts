// The monitor server (native/monitor.c -S, one per Node process) and the monitors it
// clones, one per sandbox: the server killed with sandboxes alive, monitors killed, an
// owner SIGKILLed at arbitrary points of its starts, 32 lifecycles in flight, one id
// twice at once. Polls with deadlines, no timings.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MONITOR } from '../../src/sandbox/monitor.js';
import { Sandbox } from '../../src/sandbox/sandbox.js';
import { RUN, alive, cleanup, hostSpec, records, skip, sleep, until } from './fixtures/sandbox.js';

t.teardown(cleanup);
const quiet = { stdio: ['ignore', 'ignore', 'ignore'] as const };

/** Live processes (no zombies) whose command line is `argv`. */
function processesRunning(argv: readonly string[]): number[] {
  const wanted = `${argv.join('\0')}\0`;
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === wanted && alive(pid);
    } catch {
      return false; // ended meanwhile
    }
  });
}

/** The monitor servers that are children of `parent`. */
function serversOf(parent: number): number[] {
  return processesRunning([MONITOR, '-S']).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
    } catch {
      return false;
    }
  });
}

const monitorOfState = (id: string) =>
  (JSON.parse(readFileSync(join(RUN, 'sandbox', id, 'state.json'), 'utf8')) as { monitor: { pid: number } }).monitor.pid;

t.test('the server SIGKILLed with sandboxes alive: each keeps its monitor; the next start makes a new server', { skip }, async (t) => {
  const boxes = await Promise.all(Array.from({ length: 4 }, () => Sandbox.create(hostSpec(['sleep', '120']), { stdio: [...quiet.stdio] })));
  for (const sb of boxes) await sb.start();
  const servers = serversOf(process.pid);
  t.equal(servers.length, 1, 'one server for this process');
  const monitors = boxes.map((sb) => monitorOfState(sb.id));
  t.notOk(monitors.includes(servers[0]), 'each sandbox has a monitor of its own');
  process.kill(servers[0], 'SIGKILL');
  t.ok(await until(() => !alive(servers[0])), 'the server is gone');
  t.ok(boxes.every((sb) => sb.status().status === 'running'), 'every sandbox runs on under its monitor');
  const next = await Sandbox.create(hostSpec(['sh', '-c', 'exit 5']), { stdio: [...quiet.stdio] });
  await next.start();
  t.match(await next.wait(), { reason: 'exited', code: 5 }, 'the next start works');
  await next.delete();
  const now = serversOf(process.pid);
  t.equal(now.length, 1, 'through a new server');
  t.not(now[0], servers[0]);
  for (const sb of boxes) t.match(await sb.stop({ signal: 'SIGKILL', timeoutMs: 5000 }), { reason: 'signaled', signal: 'SIGKILL' }, 'still under control');
  await Promise.all(boxes.map((sb) => sb.delete()));
  t.same(records(), []);
});

t.test('monitors SIGKILLed: their programs go with them; an exit each; delete leaves nothing', { skip }, async (t) => {
  const boxes = await Promise.all(Array.from({ length: 3 }, () => Sandbox.create(hostSpec(['sleep', '120']), { stdio: [...quiet.stdio] })));
  for (const sb of boxes) await sb.start();
  const pids = boxes.map((sb) => sb.status().pid!);
  for (const sb of boxes) process.kill(monitorOfState(sb.id), 'SIGKILL');
  for (const sb of boxes) t.match(await sb.wait(), { reason: 'signaled', signal: 'SIGKILL' });
  t.ok(await until(() => pids.every((pid) => !alive(pid))), 'no program outlives its monitor');
  t.equal(serversOf(process.pid).length, 1, 'the server is untouched');
  await Promise.all(boxes.map((sb) => sb.delete()));
  t.same(records(), []);
});

const dist = fileURLToPath(new URL('../../dist/sandbox/sandbox.js', import.meta.url));
t.test('an owner SIGKILLed at arbitrary points of its starts: what runs is listed, the rest is swept', { skip: skip || (!existsSync(dist) && 'dist/ is not built (npm run build)') }, async (t) => {
  // A program no other test runs, to count its processes.
  const program = ['sleep', '7301'];
  const script = join(RUN, 'starter.mjs');
  writeFileSync(script, `
    import { Sandbox } from ${JSON.stringify(dist)};
    for (let k = 0; ; k++) {
      const sb = await Sandbox.create({ filesystem: { root: 'host' }, process: { args: ${JSON.stringify(program)} } }, { stdio: ['ignore', 'ignore', 'ignore'] });
      await sb.start();
      console.log(k);
    }
  `);
  for (const after of [1, 3, 6]) {
    const owner = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TSNS_RUN_DIR: RUN } });
    t.teardown(() => { owner.kill('SIGKILL'); });
    let lines = 0;
    owner.stdout.on('data', (d: Buffer) => { lines += d.toString().split('\n').length - 1; });
    await until(() => lines >= after, 30_000);
    owner.kill('SIGKILL');
    await new Promise((r) => owner.once('exit', r));
    // The next create sweeps what the killed start left.
    const next = await Sandbox.create(hostSpec(['true']));
    await next.delete();
    const listed = async () => (await Sandbox.list()).filter((sb) => sb.status().status === 'running').map((sb) => sb.status().pid!).sort();
    const running = () => processesRunning(program).sort();
    // A program whose monitor the sweep killed ends through its death signal, a moment later.
    let same = false;
    let seen: number[] = [];
    for (let tries = 0; tries < 500 && !same; tries++) {
      seen = await listed();
      same = JSON.stringify(running()) === JSON.stringify(seen);
      if (!same) await sleep(20);
    }
    t.ok(same, `killed after ${after} starts: every program that runs is a listed sandbox's (${running().length} running, ${seen.length} listed)`);
    t.ok(seen.length >= after, 'the sandboxes it had started live on');
    for (const sb of await Sandbox.list()) await sb.delete();
    t.ok(await until(() => running().length === 0), 'and deleting them leaves none');
    t.same(records(), []);
  }
});

t.test('32 lifecycles in flight, one server', { skip }, async (t) => {
  const codes = await Promise.all(Array.from({ length: 32 }, async (_, k) => {
    const sb = await Sandbox.create(hostSpec(['sh', '-c', `exit ${k % 7}`]), { stdio: [...quiet.stdio] });
    await sb.start();
    const exit = await sb.wait();
    await sb.delete();
    return exit.code;
  }));
  t.same(codes, Array.from({ length: 32 }, (_, k) => k % 7), 'each its own exit');
  t.equal(serversOf(process.pid).length, 1, 'one server for all of them');
  t.same(records(), []);
});

t.test('one id twice at once: one sandbox, one clear refusal', { skip }, async (t) => {
  const results = await Promise.allSettled([0, 1].map(() => Sandbox.create(hostSpec(['true'], { id: 'twice' }))));
  const made = results.filter((r) => r.status === 'fulfilled');
  t.equal(made.length, 1);
  t.match(results.find((r) => r.status === 'rejected'), { reason: { message: /^id: sandbox "twice" exists already/ } });
  await (made[0] as PromiseFulfilledResult<Sandbox>).value.delete();
  t.same(records(), []);
});

t.test('a plan too long for one message goes as a file: a 100 kB environment reaches the program, and no plan stays', { skip }, async (t) => {
  const out = join(RUN, 'big-env');
  for (const size of [10, 100_000]) {
    const fd = openSync(out, 'w');
    const sb = await Sandbox.create(hostSpec(['sh', '-c', 'echo ${#BIG}'], { process: { args: ['sh', '-c', 'echo ${#BIG}'], env: { BIG: 'x'.repeat(size) } } }), { stdio: ['ignore', fd, 'ignore'] });
    try {
      await sb.start();
    } finally {
      closeSync(fd);
    }
    t.notOk(existsSync(join(RUN, 'sandbox', sb.id, 'plan')), 'no plan file once the program runs');
    t.match(await sb.wait(), { reason: 'exited', code: 0 });
    t.equal(readFileSync(out, 'utf8'), `${size}\n`, `an environment of ${size} bytes arrived whole`);
    await sb.delete();
  }
  t.same(records(), []);
});

t.test('this process\'s stdio closed: the server\'s socket never takes its place, so no sandbox inherits it', { skip: skip || (!existsSync(dist) && 'dist/ is not built (npm run build)') }, async (t) => {
  const script = join(RUN, 'closed-stdio.mjs');
  const out = join(RUN, 'closed-stdio.out');
  writeFileSync(script, `
    import { closeSync, openSync } from 'node:fs';
    import { Sandbox } from ${JSON.stringify(dist)};
    const out = openSync(${JSON.stringify(out)}, 'w');
    // The next descriptors this process opens take 0, 1 and 2: the report pipe, then the server's socket.
    for (const fd of [0, 1, 2]) closeSync(fd);
    for (let k = 0; k < 2; k++) {
      const sb = await Sandbox.create({ filesystem: { root: 'host' }, process: { args: ['sh', '-c', 'for fd in 0 2; do readlink /proc/self/fd/$fd || echo closed; done; echo ran'] } }, { stdio: ['inherit', out, 'inherit'] });
      await sb.start();
      await sb.wait();
      await sb.delete();
    }
  `);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, TSNS_RUN_DIR: RUN } });
  t.equal(await new Promise((r) => child.once('exit', r)), 0);
  const text = readFileSync(out, 'utf8');
  t.equal(text.match(/^ran$/gm)?.length, 2, 'both ran');
  t.notMatch(text, /socket:/, 'no program had a socket for its stdin or stderr');
  t.same(records(), []);
});

t.test('tsns-monitor run by hand: one line and status 2, no server', { skip }, async (t) => {
  for (const [args, fd3] of [[[], 'ignore'], [['-S'], 'ignore'], [['-S'], 'pipe']] as const) {
    const r = spawnSync(MONITOR, [...args], { stdio: ['ignore', 'ignore', 'pipe', fd3], encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 2, `${JSON.stringify(args)}, fd 3 ${fd3 === 'pipe' ? 'a stream socket' : 'closed'}`);
    t.match(r.stderr, /^(usage: tsns-monitor -S|tsns-monitor: fd 3 is not a Sandbox's SOCK_SEQPACKET socket)[^\n]*\n$/);
  }
});
