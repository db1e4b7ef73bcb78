// Every limit enforced for real, and the structured exit that says which one ended the
// program. Bounded: each program also has a generous wall-clock limit; nothing asserts
// how fast anything ran.
import t from 'tap';
import { existsSync } from 'node:fs';
import { openCgroup } from '../../src/cgroup/index.js';
import { Sandbox, type SandboxEvent } from '../../src/sandbox/sandbox.js';
import { startTimeOf } from '../../src/vserver/context.js';
import { alive, cleanup, groups, hostSpec, records, skip, until } from './fixtures/sandbox.js';

t.teardown(cleanup);
const quiet = { stdio: ['ignore', 'ignore', 'ignore'] as const };

async function run(spec: Record<string, unknown>) {
  const sb = await Sandbox.create(spec, { stdio: [...quiet.stdio] });
  await sb.start();
  const exit = await sb.wait();
  await sb.delete();
  return exit;
}

t.test('exit, signal and the figures', { skip }, async (t) => {
  const exited = await run(hostSpec(['sh', '-c', 'exit 3']));
  t.match(exited, { reason: 'exited', code: 3, signal: null, limitsHit: [] });
  t.type(exited.durationMs, 'number');
  t.type(exited.cpuMs, 'number');
  // A pid 1 cannot kill itself with a default action: host namespaces for this one.
  const signaled = await run(hostSpec(['sh', '-c', 'kill -TERM $$'], { namespaces: {} }));
  t.match(signaled, { reason: 'signaled', code: null, signal: 'SIGTERM' });
});

t.test('a memory hog is reported as oom', { skip }, async (t) => {
  const exit = await run(hostSpec(['python3', '-c', "b = b'a' * (256 << 20)"], { limits: { memory: '32M', timeoutMs: 60_000 } }));
  t.equal(exit.reason, 'oom');
  t.equal(exit.signal, 'SIGKILL');
  t.ok(exit.memoryPeak === undefined || exit.memoryPeak <= 33 << 20, 'peak within the limit');
});

t.test('a fork loop is contained by pids, and reported beside the reason', { skip }, async (t) => {
  const loop = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 1 & done; wait';
  const exit = await run(hostSpec(['sh', '-c', loop], { limits: { pids: 6, timeoutMs: 60_000 } }));
  t.not(exit.reason, 'timeout');
  t.same(exit.limitsHit, ['pids']);
});

t.test('an OOM kill and a hit pids limit arrive as events while the program runs', { skip }, async (t) => {
  // The hog is killed, the shell goes on; a subshell's forks then run into the pids limit
  // (it dies of it, the shell does not); the shell waits on. The system's python3: a
  // version manager's shim would fork into the pids limit first.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script = `${python} -c "b = b'a' * (256 << 20)"; (for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 300 & done); sleep 300`;
  const sb = await Sandbox.create(hostSpec(['sh', '-c', script], { limits: { memory: '32M', pids: 8, timeoutMs: 120_000 } }), { stdio: [...quiet.stdio] });
  t.teardown(() => sb.delete());
  await sb.start();
  const seen: SandboxEvent[] = [];
  const running: boolean[] = [];
  const both = () => seen.some((e) => e.type === 'oom') && seen.some((e) => e.type === 'limit-hit' && e.limit === 'pids');
  // Bounded: should they never come, the stop below ends the iteration and the test fails.
  const deadline = setTimeout(() => void sb.stop({ signal: 'SIGKILL' }), 90_000);
  for await (const event of sb.events()) {
    seen.push(event);
    running.push(sb.status().status === 'running');
    if (both()) break;
  }
  clearTimeout(deadline);
  t.ok(both(), `oom and limit-hit pids came: ${JSON.stringify(seen)}`);
  t.notOk(seen.some((e) => e.type === 'exited'), 'before the program ended');
  t.ok(running.every(Boolean), 'while it ran');
  t.match(await sb.stop({ signal: 'SIGKILL' }), { signal: 'SIGKILL' });
});

for (const [label, namespaces] of [['host namespaces', {}], ['own pid namespace', undefined]] as const) {
  t.test(`a timeout on a 3-process tree leaves no survivor (${label})`, { skip }, async (t) => {
    // The tree is seen (polled) before the timeout ends it: 5 s leave a loaded machine time to fork it.
    const sb = await Sandbox.create(hostSpec(['sh', '-c', 'sleep 300 & sleep 300 & wait'], { namespaces, limits: { timeoutMs: 5000 } }), { stdio: [...quiet.stdio] });
    t.teardown(() => sb.delete());
    await sb.start();
    const group = openCgroup(`tsns-sandbox-${sb.id}`);
    t.ok(await until(() => group.procs().length === 3), 'three processes in the group');
    const tree = group.procs().map((pid) => ({ pid, start: startTimeOf(pid) }));
    const exit = await sb.wait();
    t.equal(exit.reason, 'timeout');
    t.same(group.procs(), [], 'the group is empty');
    t.same(tree.filter(({ pid, start }) => alive(pid) && startTimeOf(pid) === start), [], 'no process of the tree in /proc');
  });
}

t.test('a CPU-time limit ends a busy loop', { skip }, async (t) => {
  const exit = await run(hostSpec(['sh', '-c', 'while :; do :; done'], { limits: { cpuTimeMs: 200, timeoutMs: 60_000 } }));
  t.equal(exit.reason, 'cpu');
  t.ok(exit.cpuMs >= 200, `cpu ${exit.cpuMs} ms`);
});

t.test('bad limits: one message naming the field, nothing left', { skip }, async (t) => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ pids: 0 }, /^limits\.pids: /],
    [{ memory: 'lots' }, /^limits\.memory: /],
    [{ memory: 4096 }, /^limits\.memory: /],
    [{ cpu: -1 }, /^limits\.cpu: /],
    [{ timeoutMs: 0 }, /^limits\.timeoutMs: /],
  ];
  // Where the host cannot enforce it (v1 blkio without a proportional scheduler): refused after the group was made.
  if (!existsSync('/sys/fs/cgroup/blkio/blkio.weight') && existsSync('/sys/fs/cgroup/blkio')) bad.push([{ ioWeight: 100 }, /^limits\.ioWeight: /]);
  const before = groups();
  for (const [limits, message] of bad) {
    await t.rejects(Sandbox.create(hostSpec(['true'], { limits })), message, JSON.stringify(limits));
    t.same(records(), [], 'no record');
    t.same(groups().filter((g) => !before.includes(g)), [], 'no cgroup');
  }
});
