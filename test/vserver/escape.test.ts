// Escapes tried from inside a vserver (ts-vserver exec) and a context with a root
// (startContext): the chroot escape, open_by_handle_at of a host directory, a write to
// /proc/sys/kernel/core_pattern, the masked /proc files, a host disk outside the device
// allow-list, and where `exec` starts. Each one succeeded before pivot_root, the /proc
// protections, the device list and dropping CAP_DAC_READ_SEARCH (docs/ts-vserver.md).
import t from 'tap';
import { execa, execaSync } from 'execa';
import { chmodSync, closeSync, constants, copyFileSync, openSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRoot } from '../rootfs.js';

const BIN = new URL('../../bin/ts-vserver', import.meta.url).pathname;
const SOURCE = new URL('./escape-probe.c', import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), 'tsns-escape-'));
chmodSync(base, 0o755);
const conf = join(base, 'conf');
const run = join(base, 'run');
mkdirSync(conf);
const env = { TSNS_VSERVER_CONFDIR: conf, TSNS_VSERVER_ROOT: join(base, 'root'), TSNS_RUN_DIR: run };
const NAME = `esc${process.pid}`;
const rootdir = join(base, 'root', NAME);
// In the directory the handle opens: found from inside, it means the host was reached.
const marker = join(base, 'marker');
const written = (where: string) => join(base, `written-from-${where}`);
const corePattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
const probe = join(base, 'escape-probe');

const vserver = (args: string[], opts: Record<string, unknown> = {}) =>
  execa('env', ['-u', 'NODE_OPTIONS', BIN, ...args], { env, reject: false, timeout: 60_000, ...opts });

t.teardown(async () => {
  await vserver([NAME, 'stop']);
  rmSync(base, { recursive: true, force: true });
});

/**
 * A device outside the allow-list that root on the host can open: the disk the test's files
 * are on, else loop0 or loop-control (some hosts refuse their disk to root too).
 */
function forbiddenDevice(): string[] | undefined {
  const dev = statSync(base).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  const candidates = [['b', major, minor], ['b', 7, 0], ['c', 10, 237]].filter(([, maj]) => maj !== 0).map((c) => c.map(String));
  for (const [i, c] of candidates.entries()) {
    const node = join(base, `dev${i}`);
    try {
      execaSync('mknod', [node, ...c]);
      closeSync(openSync(node, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY));
      return c;
    } catch {
      // not here, or refused to the host's root as well
    } finally {
      rmSync(node, { force: true });
    }
  }
  return undefined;
}
const device = forbiddenDevice();

/** Put the probe, the forbidden device's node and a marker of its own into a root. */
async function equip(root: string): Promise<void> {
  copyFileSync(probe, join(root, 'bin/escape-probe'));
  chmodSync(join(root, 'bin/escape-probe'), 0o755);
  writeFileSync(join(root, 'vserver-root-marker'), '');
  if (device) await execa('mknod', [join(root, 'dev/forbidden'), ...device]);
}

function results(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => l.split('=', 2) as [string, string]));
}

let handle = '';

t.before(async () => {
  await execa('gcc', ['-static', '-O1', '-o', probe, SOURCE]);
  writeFileSync(marker, 'host\n');
  handle = (await execa(probe, ['handle', base])).stdout.trim();
});

/** What every probe must show, from wherever it ran. */
function assertContained(t: Tap.Test, r: Record<string, string>, where: string): void {
  t.equal(r.chroot_escape, 'absent', `${where}: the chroot escape does not reach the host`);
  t.not(r.chroot_write, 'ok', `${where}: nor write there`);
  t.notOk(existsSync(written(where)), `${where}: no file written on the host`);
  t.match(r.handle, /^E(PERM|STALE)$/, `${where}: open_by_handle_at refused (no CAP_DAC_READ_SEARCH)`);
  t.match(r.core_pattern, /^E(ROFS|ACCES|PERM)$/, `${where}: /proc/sys is read-only`);
  t.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern, `${where}: the host's core_pattern is unchanged`);
  if (existsSync('/proc/timer_list')) t.equal(r.timer_list, '0', `${where}: /proc/timer_list masked`);
  if (existsSync('/proc/keys')) t.equal(r.keys, '0', `${where}: /proc/keys masked`);
  if (device) t.equal(r.device, 'EPERM', `${where}: ${device.join(' ')} is not on the device allow-list`);
  // A new user namespace needs no capability once the root is no chroot, and gives every
  // capability back inside it: the default seccomp profile refuses it, by unshare and by
  // clone, while threads still start (clone3 says ENOSYS, and glibc falls back to clone).
  t.equal(r.userns, 'EPERM', `${where}: unshare(CLONE_NEWUSER) refused by the seccomp profile`);
  t.equal(r.clone_userns, 'EPERM', `${where}: clone(CLONE_NEWUSER) refused too`);
  t.equal(r.clone3, 'ENOSYS', `${where}: clone3 says ENOSYS (its flags are out of seccomp's reach)`);
  t.equal(r.threads, 'ok', `${where}: pthread_create works`);
}

t.test('from inside a vserver: nothing of the host is reachable', async (t) => {
  writeFileSync(join(conf, `${NAME}.conf`), 'S_HOSTNAME=escape\n');
  const b = await vserver([NAME, 'build', '--busybox']);
  t.equal(b.exitCode, 0, b.stderr);
  await equip(rootdir);
  const s = await vserver([NAME, 'start']);
  t.equal(s.exitCode, 0, s.stderr);

  const p = await vserver([NAME, 'exec', 'escape-probe', 'probe', marker, written('exec'), handle, '/dev/forbidden']);
  t.equal(p.exitCode, 0, p.stderr);
  assertContained(t, results(p.stdout), 'exec');

  // exec and enter start in the vserver's own /, and bring no descriptor of the host.
  const cwd = await vserver([NAME, 'exec', 'sh', '-c', 'readlink /proc/self/cwd; ls; ls -l /proc/self/fd/']);
  t.equal(cwd.exitCode, 0, cwd.stderr);
  const [where, ...rest] = cwd.stdout.split('\n');
  t.equal(where, '/', 'cwd is the vserver\'s /');
  t.match(rest.join('\n'), /vserver-root-marker/, 'a relative path names the vserver\'s files');
  for (const line of rest.filter((l) => / -> /.test(l))) t.notMatch(line, new RegExp(base), `no host path open: ${line}`);
  const en = await vserver([NAME, 'enter'], { input: 'pwd; ls\n' });
  t.match(en.stdout, /^\/\n/, 'enter starts in /');
  t.match(en.stdout, /vserver-root-marker/);

  t.equal((await vserver([NAME, 'stop'])).exitCode, 0);
});

t.test('from inside a context with a root (startContext): the same', async (t) => {
  const { startContext, joinContext } = await import('../../src/vserver/context.js');
  const { resolveCapDrop } = await import('../../src/sandbox/caps.js');
  const root = buildBusyboxRoot(t);
  mkdirSync(join(root, 'tmp'), { recursive: true });
  await equip(root);
  const dir = join(run, 'ctx', NAME);
  mkdirSync(join(run, 'ctx'), { recursive: true });
  const started = await startContext({
    name: NAME,
    dir,
    cgroup: `tsns-ctx-${NAME}`,
    root,
    dropCaps: resolveCapDrop({ secure: true }),
    noNewPrivs: true,
    seccomp: 'default',
    fakeinit: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: '/bin' },
  }, ['/bin/sh', '-c', 'escape-probe probe "$@"; exec sleep 1000', 'sh', marker, written('init'), handle, '/dev/forbidden']);
  t.teardown(() => started.destroy({ timeoutMs: 0 }));
  let out = '';
  started.sandbox.stdout!.on('data', (d: Buffer) => { out += String(d); });
  // Bounded: the probe prints its last line, then the init sleeps so the context stays up.
  for (let i = 0; i < 600 && !/userns=/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
  assertContained(t, results(out), 'init');

  const joined = await joinContext(started.state, dir, ['/bin/sh', '-c', 'pwd; ls; grep ^Seccomp: /proc/self/status'], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: '/bin' } });
  // All of the output: the pipe may still hold some when the exit is seen.
  const jout = await new Promise<string>((resolve) => {
    let o = '';
    joined.stdout!.on('data', (d: Buffer) => { o += String(d); }).on('end', () => resolve(o));
  });
  await joined.exited;
  t.match(jout, /^\/\n/, 'a joiner starts in the root\'s /');
  t.match(jout, /vserver-root-marker/, 'and sees the root\'s files');
  t.match(jout, /^Seccomp:\s+2$/m, 'and runs under the context\'s seccomp filter');
  await started.destroy({ timeoutMs: 0 });
  t.notOk(existsSync(`/sys/fs/cgroup/pids/tsns-ctx-${NAME}`), 'cgroup removed');
});

t.test('a context whose init only chrooted (an older tsns) is not joined outside its root', async (t) => {
  const { joinSpec, startTimeOf } = await import('../../src/vserver/context.js');
  const { spawn } = await import('../../src/spawn/index.js');
  const root = buildBusyboxRoot(t);
  const init = spawn({ namespaces: ['mount', 'pid', 'ipc', 'uts'], mountProc: true, root, stdio: 'ignore', env: { PATH: '/bin' } }, ['/bin/sleep', '1000']);
  t.teardown(async () => {
    init.kill('SIGKILL');
    await init.exited;
  });
  const state = {
    name: 'old', pid: init.pid, startTime: startTimeOf(init.pid)!, persisted: [], cgroup: 'none', cgroupDirs: [],
    root, dropCaps: [], noNewPrivs: false,
  };
  await t.rejects(joinSpec(state, undefined), { name: 'ContextError', message: /started chrooted, not pivoted.*restart it/ });
});
