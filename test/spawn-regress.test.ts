// Regressions of the native stage and spawn(), each found by trying to break them.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { spawn as nodeSpawn } from 'node:child_process';
import { spawn } from '../src/spawn/index.js';
import { runStage, StageError } from '../src/native/stage.js';
import { run, ROOT } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
async function until(check: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) if (check()) return true;
  return false;
}

/** Run an ES module script with a fresh Node, importing the built library from dist/. */
function node(script: string) {
  const { NODE_OPTIONS: _, ...env } = process.env;
  return nodeSpawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, DIST: `${ROOT}dist` }, stdio: ['ignore', 'pipe', 'pipe'] });
}
/** All of a spawned program's stdout, once it has ended and the pipe is drained. */
async function output(s: ReturnType<typeof spawn>): Promise<{ out: string; code: number | null }> {
  let out = '';
  s.stdout!.on('data', (d) => { out += d; });
  const ended = new Promise((r) => s.stdout!.once('end', r));
  const { code } = await s.exited;
  await ended;
  return { out, code };
}
const lines = (child: ReturnType<typeof node>) => {
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  return () => out;
};

t.test('a child waiting at its sync step ends when the parent dies there', async (t) => {
  // Before: the child held its own copy of the go pipe's write end and read forever.
  const sub = node(`const { runStage } = await import(process.env.DIST + '/native/stage.js');
    runStage([{ op: 'sync' }, { op: 'exec', file: '/bin/sleep', argv: ['sleep', '30'], env: [], search: false }],
      { cloneFlags: 0, onSync: (pid) => { process.stdout.write(pid + '\\n'); process.kill(process.pid, 'SIGKILL'); } });`);
  const out = lines(sub);
  await new Promise((r) => sub.once('close', r));
  const child = Number(out().trim());
  t.ok(child > 0, 'the child reached its sync step');
  t.ok(await until(() => !alive(child)), 'and ended once its parent was gone');
});

t.test('the death signal: a parent that is gone before PR_SET_PDEATHSIG takes effect is noticed', async (t) => {
  // The child is stopped at its sync step, the parent answers "go" and dies, then the child
  // goes on: setting the death signal now would arm it for a parent that no longer exists.
  const sub = node(`const { runStage } = await import(process.env.DIST + '/native/stage.js');
    runStage([{ op: 'sync' }, { op: 'prctl', option: 1, arg2: 9 }, { op: 'exec', file: '/bin/sleep', argv: ['sleep', '30'], env: [], search: false }],
      { cloneFlags: 0, onSync: (pid) => { process.kill(pid, 'SIGSTOP'); process.stdout.write(pid + '\\n'); } });`);
  const out = lines(sub);
  t.ok(await until(() => out().includes('\n')), 'the child is at its sync step');
  const child = Number(out().trim());
  await sleep(100); // the go reply is in the pipe by then (written right after onSync)
  sub.kill('SIGKILL');
  await new Promise((r) => sub.once('exit', r));
  process.kill(child, 'SIGCONT');
  t.ok(await until(() => !alive(child)), 'the child ended instead of running sleep without a parent');
});

t.test('a child that dies before its exec is a failure, not a success', async (t) => {
  const err = t.throws(() => runStage([{ op: 'sync' }, { op: 'exec', file: '/bin/true', argv: ['true'], env: [], search: false }], {
    cloneFlags: 0,
    onSync: (pid) => { process.kill(pid, 'SIGKILL'); },
  }));
  t.type(err, StageError);
  t.match(String((err as Error).message), /SIGKILL|signal 9/);
});

t.test('stdio: any permutation works, and 40 entries do not overwrite the report pipe', async (t) => {
  const swap = node(`const { spawn } = await import(process.env.DIST + '/index.js');
    const s = spawn({ stdio: ['ignore', 2, 1] }, ['sh', '-c', 'echo to-out; echo to-err >&2']);
    await s.exited;`);
  let err = '';
  swap.stderr!.on('data', (d) => { err += d; });
  const out = lines(swap);
  await new Promise((r) => swap.once('close', r));
  t.equal(out(), 'to-err\n', 'fd 1 of the program is our fd 2');
  t.equal(err, 'to-out\n', 'fd 2 of the program is our fd 1');

  const stdio = Array.from({ length: 40 }, (_, k) => (k === 39 ? 'pipe' : k < 3 ? 'ignore' : 'inherit')) as ('pipe' | 'ignore' | 'inherit')[];
  const s = spawn({ stdio }, ['sh', '-c', 'echo forty > /proc/self/fd/39']);
  t.equal((await s.exited).code, 0);
});

/** The mounts on and below /proc of this process's namespace (the test files running at the same time mount elsewhere). */
const procMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => /^\S+ \S+ \S+ \S+ \/proc(\/| )/.test(l));

t.test('mountProc alone gets its own mount namespace: the caller\'s /proc is not covered', async (t) => {
  const before = procMounts();
  const s = spawn({ namespaces: ['pid'], mountProc: true, stdio: ['ignore', 'pipe', 'inherit'] }, ['sh', '-c', 'echo $$; readlink /proc/self']);
  const { out, code } = await output(s);
  t.equal(code, 0);
  t.equal(out, '1\n2\n', 'the program sees its own /proc');
  t.same(procMounts(), before, 'ours is as it was');
});

t.test('uid, gid and dropped capabilities together (runc\'s order)', async (t) => {
  const s = spawn({ uid: 1000, gid: 1000, dropCaps: [21], stdio: ['ignore', 'pipe', 'inherit'] }, ['sh', '-c', 'id -u; id -g; grep CapEff /proc/self/status']);
  const { out, code } = await output(s);
  t.equal(code, 0);
  t.match(out, /^1000\n1000\nCapEff:\s+0+\n$/);
  const withCaps = spawn({ dropCaps: [21], stdio: ['ignore', 'pipe', 'inherit'] }, ['grep', '^CapBnd', '/proc/self/status']);
  const { out: bnd } = await output(withCaps);
  t.equal(BigInt('0x' + bnd.split(/\s+/)[1]) & (1n << 21n), 0n, 'CAP_SYS_ADMIN is out of the bounding set');
});

t.test('ts-unshare --map-users --keep-caps -S -G runs the program as 1000 without capabilities, as util-linux', async (t) => {
  // util-linux gets there through newuidmap, which needs /etc/subuid lines for root; the
  // result is what its cap_permitted_to_ambient() leaves after setuid(1000): nothing.
  const args = ['--map-users=100000,0,65536', '--map-groups=100000,0,65536', '--keep-caps', '-S', '1000', '-G', '1000', 'sh', '-c', 'id -u; id -g; grep -E "^Cap(Eff|Amb)" /proc/self/status'];
  const ours = await run(`${ROOT}bin/ts-unshare`, args);
  t.equal(ours.exitCode, 0, ours.stderr);
  t.match(ours.stdout, /^1000\n1000\nCapEff:\s+0+\nCapAmb:\s+0+$/);
  const theirs = await run('unshare', args);
  if (theirs.exitCode === 0) t.equal(ours.stdout, theirs.stdout, 'the same as util-linux');
});

t.test('65536 supplementary groups (the kernel\'s maximum) do not corrupt Node\'s heap', async (t) => {
  const groups = Array.from({ length: 65536 }, (_, k) => k + 1);
  const s = spawn({ gid: 0, groups, stdio: ['ignore', 'pipe', 'inherit'] }, ['sh', '-c', 'grep ^Groups /proc/self/status | wc -w']);
  const { out, code } = await output(s);
  t.equal(code, 0);
  t.equal(out.trim(), '65537', '"Groups:" and 65536 of them');
});
