// ts-chcontext on the real kernel: isolation (pids, hostname, ipc), joining by --ctx,
// limits and flags, and that nothing is left behind.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../bin/ts-chcontext', import.meta.url).pathname;
const run = mkdtempSync(join(tmpdir(), 'tsns-ctx-test-'));
const env = { TSNS_RUN_DIR: run };
t.teardown(() => rmSync(run, { recursive: true, force: true }));

const chcontext = (args: string[], opts: Record<string, unknown> = {}) =>
  // Without NODE_OPTIONS: tap's coverage hook there would double every tool's start-up.
  execa('env', ['-u', 'NODE_OPTIONS', BIN, ...args], { env, reject: false, ...opts });

function leftovers(name: string): string[] {
  const out: string[] = [];
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(run)) out.push(`mounts under ${run}`);
  if (existsSync(join(run, 'ctx', name))) out.push(`state dir of ${name}`);
  for (const h of readdirSync('/sys/fs/cgroup')) {
    if (existsSync(`/sys/fs/cgroup/${h}/tsns-ctx-${name}`)) out.push(`cgroup ${h}/tsns-ctx-${name}`);
  }
  return out;
}

t.test('a new context sees only its processes, its hostname and its IPC', async (t) => {
  const q = await execa('ipcmk', ['-Q']);
  const id = /(\d+)/.exec(q.stdout)![1];
  t.teardown(() => execa('ipcrm', ['-q', id], { reject: false }));
  const r = await chcontext(['--hostname', 'ctx-iso', '--', 'sh', '-c', 'hostname; ps -e -o pid=,comm=; echo IPC; ipcs -q | grep -c "^0x" || true']);
  t.equal(r.exitCode, 0, r.stderr);
  const [host, ...rest] = r.stdout.split('\n');
  t.equal(host, 'ctx-iso');
  const procs = rest.slice(0, rest.indexOf('IPC')).map((l) => l.trim().split(/\s+/));
  t.same(procs.map((p) => p[0]).slice(0, 2), ['1', '2'], 'pids start at 1');
  t.ok(procs.length <= 4, `only the context's processes: ${JSON.stringify(procs)}`);
  t.equal(rest[rest.length - 1], '0', 'the host message queue is not visible');
  const host2 = await execa('hostname');
  t.not(host2.stdout, 'ctx-iso', 'the host keeps its hostname');
});

t.test('--flag fakeinit makes the command pid 1; its status is ours', async (t) => {
  const r = await chcontext(['--flag', 'fakeinit', '--', 'sh', '-c', 'echo $$; exit 3']);
  t.equal(r.stdout, '1');
  t.equal(r.exitCode, 3);
});

t.test('--secure drops CAP_SYS_ADMIN: hostname cannot be set', async (t) => {
  const r = await chcontext(['--secure', '--', 'sh', '-c', 'hostname other && echo changed']);
  t.not(r.exitCode, 0);
  t.notMatch(r.stdout, /changed/);
});

t.test('--nproc limits the processes of the context', async (t) => {
  const r = await chcontext(['--nproc', '3', '--', 'sh', '-c', 'sleep 1 & sleep 1 & sleep 1 & sleep 1 & wait']);
  t.match(r.stderr, /fork|Resource temporarily unavailable/i);
  t.same(leftovers(`anon-${r.pid}`), []);
});

t.test('--ctx N: a second ts-chcontext joins the running context', async (t) => {
  const name = `t${process.pid}`;
  const first = chcontext(['--ctx', name, '--hostname', 'joined', '--', 'sh', '-c', 'read x'], { stdin: 'pipe' });
  t.teardown(async () => {
    first.kill('SIGKILL');
    await first;
  });
  const stateFile = join(run, 'ctx', name, 'state.json');
  for (let i = 0; i < 600 && !existsSync(stateFile); i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(existsSync(stateFile), 'state recorded');
  const r = await chcontext(['--ctx', name, '--', 'sh', '-c', 'hostname; ps -e -o comm=']);
  t.equal(r.exitCode, 0, r.stderr);
  const [host, ...comms] = r.stdout.split('\n');
  t.equal(host, 'joined');
  t.ok(comms.includes('read') || comms.filter((c) => c === 'sh').length >= 2, `the first command is visible: ${comms}`);
  const l = await chcontext(['--list']);
  t.match(l.stdout, new RegExp(`^${name}\\s+\\d+`, 'm'));
  const bad = await chcontext(['--ctx', name, '--hostname', 'x', '--', 'true']);
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /exists/);
  first.stdin!.end('\n');
  const done = await first;
  t.equal(done.exitCode, 0);
  t.same(leftovers(name), [], 'nothing left behind');
});

t.test('usage errors', async (t) => {
  const r = await chcontext(['--flag', 'bogus', '--', 'true']);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /ts-chcontext: unknown context flag 'bogus'/);
  const n = await chcontext(['--flag', 'nproc', '--', 'true']);
  t.match(n.stderr, /needs a limit/);
});

t.test('--disconnect: the command runs on in the background, and can be joined', async (t) => {
  const name = `d${process.pid}`;
  // The command ends once told (a file appears; 60 s at most), not after a time the tools
  // may need more than on a loaded machine: that the tool returned at all means it did not wait.
  const stop = join(run, `stop-${name}`);
  const r = await chcontext(['--ctx', name, '--hostname', 'bg', '--disconnect', '--', 'sh', '-c', `i=0; while [ ! -e ${stop} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done`]);
  t.equal(r.exitCode, 0, r.stderr);
  const joined = await chcontext(['--ctx', name, '--', 'hostname']);
  t.equal(joined.stdout, 'bg', 'joined the detached context');
  const list = await chcontext(['--list']);
  t.match(list.stdout, new RegExp(`^${name}\\s`, 'm'));
  writeFileSync(stop, '');
  // Once its command has ended, --list clears what the detached context left (polled, bounded).
  let left = leftovers(name);
  for (let i = 0; i < 100 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await chcontext(['--list']);
    left = leftovers(name);
  }
  t.same(left, [], 'nothing left behind');
});
