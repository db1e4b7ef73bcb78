// The library API: spawn() as another program would use it.
import t from 'tap';
import { readlinkSync } from 'node:fs';
import { spawn, enter } from '../src/spawn/index.js';
import { StepError } from '../src/native/stage.js';
import type { Spawned } from '../src/spawn/index.js';

function output(s: Spawned): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.stdout!.on('data', (d) => (out += d)).on('end', () => resolve(out));
  });
}

const sandbox = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc'] as const, uidMap: 'root' as const, gidMap: 'root' as const, mountProc: true };

t.test('a sandbox sees its own pid, hostname and user', async (t) => {
  const s = spawn({ ...sandbox, namespaces: [...sandbox.namespaces], hostname: 'lib-box', stdio: ['ignore', 'pipe', 'inherit'] },
    // The shell globs /proc itself: with a pipeline, ls could read /proc before grep was forked.
    ['sh', '-c', 'echo $$ $(hostname) $(id -u); set -- /proc/[0-9]*; echo $# $1']);
  t.ok(s.pid > 1);
  const out = await output(s);
  t.same(await s.exited, { code: 0, signal: null });
  t.equal(out, '1 lib-box 0\n1 /proc/1\n');
});

t.test('many spawns in flight at once', async (t) => {
  const runs = Array.from({ length: 24 }, (_, i) => {
    const s = spawn({ ...sandbox, namespaces: [...sandbox.namespaces], hostname: `h${i}`, stdio: ['ignore', 'pipe', 'inherit'] }, ['hostname']);
    return output(s).then(async (out) => ({ out, status: await s.exited }));
  });
  const results = await Promise.all(runs);
  results.forEach((r, i) => {
    t.equal(r.out, `h${i}\n`);
    t.equal(r.status.code, 0);
  });
});

t.test('stdin pipe, exit codes and signals', async (t) => {
  const s = spawn({ stdio: ['pipe', 'pipe', 'inherit'] }, ['sh', '-c', 'read x; echo got $x; exit 7']);
  s.stdin!.end('hello\n');
  t.equal(await output(s), 'got hello\n');
  t.same(await s.exited, { code: 7, signal: null });
  const sleeper = spawn({ namespaces: ['pid'] }, ['sleep', '30']);
  sleeper.kill('SIGKILL');
  t.same(await sleeper.exited, { code: null, signal: 'SIGKILL' });
});

t.test('prepare runs in the parent before the program starts', async (t) => {
  let nsSeen = '';
  const s = spawn({ namespaces: ['net'], stdio: ['ignore', 'pipe', 'inherit'], prepare: (pid) => { nsSeen = readlinkSync(`/proc/${pid}/ns/net`); } },
    ['readlink', '/proc/self/ns/net']);
  t.equal((await output(s)).trim(), nsSeen);
  await s.exited;
});

t.test('a failed step throws and no child is left', async (t) => {
  const err = t.throws(() => spawn({ root: '/nonexistent' }, ['true']));
  t.type(err, StepError);
  t.match(err, { step: { op: 'chroot' }, code: 'ENOENT' });
  t.throws(() => spawn({ prepare: () => { throw new Error('no veth for you'); }, namespaces: ['net'] }, ['true']), /no veth for you/);
});

t.test('enter() joins the namespaces of a running sandbox', async (t) => {
  const host = spawn({ namespaces: ['uts', 'pid', 'mount'], mountProc: true, hostname: 'joined' }, ['sleep', '30']);
  t.teardown(() => host.kill('SIGKILL'));
  const e = enter(host.pid, ['uts', 'pid', 'mount'], ['sh', '-c', 'hostname; ps -o comm= | head -1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.equal(await output(e), 'joined\nsleep\n');
  t.equal((await e.exited).code, 0);
});
