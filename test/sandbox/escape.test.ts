// What a program inside a ts-sandbox tries as an attacker would: the double chroot,
// open_by_handle_at, writes to /proc/sys, /proc/1/root (its init's), mounting without capabilities, a
// mount of its own user namespace reaching the host, ptrace of a host process, a new user
// namespace under the default seccomp profile. Each attempt must fail. The probe is the
// static program of test/vserver/escape-probe.c, plus busybox for the shell's attempts.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TS = new URL('../../bin/ts-sandbox', import.meta.url).pathname;
const SOURCE = new URL('../vserver/escape-probe.c', import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), 'tsns-sandbox-escape-'));
const probe = join(base, 'escape-probe');
const marker = join(base, 'host-marker');
const shared = join(base, 'shared');
const corePattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
t.teardown(() => rmSync(base, { recursive: true, force: true }));

/** The sandbox every attempt runs in: bwrap's empty root with the probe and busybox, the default profile. */
const SANDBOX = [
  '--unshare-all', '--seccomp-default', '--die-with-parent',
  '--ro-bind', probe, '/escape-probe', '--ro-bind', '/usr/bin/busybox', '/busybox',
  '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--bind', shared, '/shared',
];

const sandbox = (args: string[], extra: string[] = []) =>
  execa('env', ['-u', 'NODE_OPTIONS', TS, ...SANDBOX, ...extra, ...args], { reject: false, timeout: 60_000 });

function results(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => l.split('=', 2) as [string, string]));
}

let handle = '';

t.before(async () => {
  mkdirSync(shared);
  await execa('gcc', ['-static', '-O1', '-o', probe, SOURCE]);
  writeFileSync(marker, 'host\n');
  handle = (await execa(probe, ['handle', base])).stdout.trim();
});

t.test('the probe: chroot escape, file handles, /proc/sys, masks, new user namespaces', async (t) => {
  const written = join(base, 'written-by-escape');
  const r = await sandbox(['/escape-probe', 'probe', marker, written, handle, '/dev/sda']);
  t.equal(r.exitCode, 0, String(r.stderr));
  const got = results(String(r.stdout));
  t.equal(got.chroot_escape, 'absent', 'the double chroot does not reach the host');
  t.not(got.chroot_write, 'ok', 'nor write there');
  t.notOk(existsSync(written), 'no file written on the host');
  t.match(got.handle, /^E(PERM|STALE|ACCES)$/, 'open_by_handle_at refused');
  t.match(got.core_pattern, /^E(ROFS|ACCES|PERM|NOENT)$/, '/proc/sys is not writable');
  t.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern, 'the host\'s core_pattern is unchanged');
  if (existsSync('/proc/timer_list')) t.equal(got.timer_list, '0', '/proc/timer_list masked');
  t.equal(got.userns, 'EPERM', 'unshare(CLONE_NEWUSER) refused by the default profile');
  t.equal(got.clone_userns, 'EPERM', 'clone(CLONE_NEWUSER) refused too');
  t.equal(got.clone3, 'ENOSYS', 'clone3 says ENOSYS');
  t.equal(got.threads, 'ok', 'threads still start');
});

t.test('/proc/1/root is out of reach, and the program\'s own is the sandbox\'s root', async (t) => {
  // pid 1 is the init (the program is pid 2): not dumpable, so nothing inside reads through it.
  const init = await sandbox(['/busybox', 'sh', '-c', '/busybox ls /proc/1/root || exit 9']);
  t.equal(init.exitCode, 9, '/proc/1/root refused');
  t.match(String(init.stderr), /Permission denied/);
  const r = await sandbox(['/busybox', 'sh', '-c', '/busybox ls /proc/$$/root']);
  t.equal(r.exitCode, 0, String(r.stderr));
  const entries = String(r.stdout).split('\n');
  t.ok(entries.includes('escape-probe') && entries.includes('busybox'), `the sandbox's root: ${entries.join(' ')}`);
  t.notOk(entries.includes('etc') || entries.includes('home'), 'not the host\'s');
});

t.test('no mount without capabilities; a mount of its own user namespace stays inside', async (t) => {
  writeFileSync(join(shared, 'host-file'), 'kept\n');
  const noCaps = await sandbox(['/busybox', 'sh', '-c', '/busybox mount -t tmpfs none /shared && echo mounted || echo refused'], ['--cap-drop', 'ALL']);
  t.match(String(noCaps.stdout), /refused/, 'mount(2) without CAP_SYS_ADMIN fails');
  // With its user namespace's capabilities, a mount over a host directory bound in is the
  // sandbox's own: the host sees neither the mount nor what is written under it.
  const own = await sandbox(['/busybox', 'sh', '-c', '/busybox mount -t tmpfs none /shared && echo x > /shared/inside && /busybox ls /shared']);
  t.equal(own.exitCode, 0, String(own.stderr));
  t.match(String(own.stdout), /^inside$/m, 'the mount works inside');
  t.same(readdirSync(shared), ['host-file'], 'the host\'s directory is untouched');
  t.notOk(readFileSync('/proc/self/mountinfo', 'utf8').includes(shared), 'no mount reached the host');
});

// ptrace(2) and kill(2) name a process by its pid in the caller's pid namespace: a host
// process has none inside, so neither can reach it.
t.test('ptrace and signals cannot reach a host process', async (t) => {
  const sleeper = execa('sleep', ['300'], { reject: false });
  t.teardown(() => { sleeper.kill('SIGKILL'); });
  const pid = sleeper.pid!;
  const r = await sandbox(['/busybox', 'sh', '-c', `/busybox kill -0 ${pid} 2>&1 && echo signalled || echo no-such; /busybox ls /proc/${pid} >/dev/null 2>&1 && echo visible || echo invisible`]);
  t.match(String(r.stdout), /no-such/, 'the host\'s pid is no process inside (own pid namespace)');
  t.match(String(r.stdout), /invisible/, 'nor in its /proc');
  t.ok(existsSync(`/proc/${pid}`), 'the host process lives on');
});
