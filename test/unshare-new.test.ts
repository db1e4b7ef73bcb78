// ts-unshare's options from util-linux 2.39-2.41 and master, which the installed 2.38 lacks:
// expected behaviour from master's unshare.1.adoc, unshare.c and tests/ts/unshare.
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AS_NOBODY, leftAfterKill, nobodyCannotRunTools, pipeText, ROOT, run, tool, until } from './helpers.js';
import { BUSYBOX } from './rootfs.js';

/** A scratch directory (world-readable, for a namespace's root), removed when the test ends. */
function scratch(t: Tap.Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A shell script named *.tsnsx: only a binfmt_misc entry for that extension makes it run. */
function tsnsxProgram(dir: string, text: string): string {
  const file = join(dir, 'p.tsnsx');
  writeFileSync(file, `${text}\n`);
  chmodSync(file, 0o755);
  return file;
}

const EXT_SH = ':tsnst:E::tsnsx::/bin/sh:';
const USERNS = ['--map-root-user', '--fork', '--pid'];

// binfmt_misc in a user namespace needs Linux 6.7; on an older kernel the mount is refused.
const probe = await tool('ts-unshare', [...USERNS, '--mount-binfmt', 'true']);
const noBinfmt = probe.exitCode === 0 ? undefined : `binfmt_misc cannot be mounted in a user namespace here (Linux < 6.7?): ${probe.stderr}`;

t.test('--clear-env and --whitelist-env (util-linux tests/ts/unshare/env)', async (t) => {
  const cleared = await tool('ts-unshare', ['--clear-env', '/bin/bash', '-c', 'echo "${UL_TEST_ENV:-CLEARED}"; env | grep -c . || true'], { env: { UL_TEST_ENV: 'foo' } });
  t.equal(cleared.exitCode, 0);
  // bash makes PWD, SHLVL and _ itself; env lists them and itself: nothing inherited
  t.equal(cleared.stdout.split('\n')[0], 'CLEARED');
  const env = await tool('ts-unshare', ['--clear-env', 'env'], { env: { UL_TEST_ENV: 'foo' } });
  t.equal(env.stdout, '', 'env prints nothing: the program got an empty environment');

  const kept = await tool('ts-unshare', ['--whitelist-env', 'UL_TEST_ENV1', '/bin/bash', '-c', 'echo "${UL_TEST_ENV1}${UL_TEST_ENV2}"'], { env: { UL_TEST_ENV1: 'foo', UL_TEST_ENV2: 'bar' } });
  t.equal(kept.stdout, 'foo');
  // a list, given twice, and a name that is not set
  const two = await tool('ts-unshare', ['--whitelist-env', 'A,NOT_SET', '--whitelist-env=B', 'env'], { env: { A: '1', B: '2', C: '3' } });
  t.same(two.stdout.split('\n').sort(), ['A=1', 'B=2']);
});

t.test('--load-interp registers in the namespace\'s own binfmt_misc, not the host\'s', { skip: noBinfmt }, async (t) => {
  const dir = scratch(t, 'tsns-binfmt-');
  const file = tsnsxProgram(dir, 'echo interpreted');
  const r = await tool('ts-unshare', [...USERNS, '--load-interp', EXT_SH, 'sh', '-c', `cat /proc/sys/fs/binfmt_misc/tsnst; ${file}`]);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^enabled\ninterpreter \/bin\/sh\n/);
  t.match(r.stdout, /extension \.tsnsx\ninterpreted$/);
  // The host's instance has no such entry (looked at where it is mounted, in a mount
  // namespace of the test's own if the host has it nowhere).
  const host = await run('unshare', ['--mount', 'sh', '-c', 'mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; ls /proc/sys/fs/binfmt_misc']);
  t.equal(host.exitCode, 0, host.stderr);
  t.notOk(host.stdout.split('\n').includes('tsnst'), 'no entry in the host\'s binfmt_misc');
  t.ok(host.stdout.split('\n').includes('register'), 'the host\'s instance was listed');
  // -l is --load-interp; --explain shows the mounts and the write
  const ex = await tool('ts-unshare', ['--explain', ...USERNS, '-l', EXT_SH, 'true']);
  t.match(ex.stderr, /^\[stage\] unshare\(CLONE_NEWNS\|CLONE_NEWUSER\|CLONE_NEWPID\) = 0$/m, 'user and mount namespaces implied');
  t.match(ex.stderr, /^\[child\] mount\("proc", "\/proc", "proc", MS_NOSUID\|MS_NODEV\|MS_NOEXEC, NULL\) = 0\n\[child\] mount\("binfmt_misc", "\/proc\/sys\/fs\/binfmt_misc", "binfmt_misc", MS_NOSUID\|MS_NODEV\|MS_NOEXEC, NULL\) = 0\n\[child\] openat\(AT_FDCWD, "\/proc\/sys\/fs\/binfmt_misc\/register", O_WRONLY\|O_CLOEXEC\) = (\d+)\n\[child\] write\(\1, ":tsnst:E::tsnsx::\/bin\/sh:", 25\) = 25$/m);
});

t.test('--mount-binfmt=<dir>: an instance there, without a /proc of its own', { skip: noBinfmt }, async (t) => {
  const dir = scratch(t, 'tsns-binfmt-dir-');
  const r = await tool('ts-unshare', ['--explain', '--map-root-user', `--mount-binfmt=${dir}`, 'ls', dir]);
  t.equal(r.exitCode, 0, r.stderr);
  t.same(r.stdout.split('\n').sort(), ['register', 'status']);
  t.notMatch(r.stderr, /"proc"/, 'no proc mount is implied by a directory of one\'s own');
  t.match(r.stderr, new RegExp(`^\\[\\w+\\] mount\\("binfmt_misc", "${dir}", "binfmt_misc"`, 'm'));
});

t.test('--load-interp with flag F and --root: the interpreter is opened from the caller\'s filesystem', { skip: noBinfmt || (!BUSYBOX && 'busybox-static is not installed') }, async (t) => {
  // A static shell only the host has (busybox, as sh by its name), and a root without it.
  const host = scratch(t, 'tsns-interp-');
  copyFileSync(BUSYBOX!, join(host, 'sh'));
  chmodSync(join(host, 'sh'), 0o755);
  const root = scratch(t, 'tsns-froot-');
  for (const d of ['bin', 'proc']) mkdirSync(join(root, d));
  copyFileSync(BUSYBOX!, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin/sh'));
  tsnsxProgram(root, 'echo fixed-interpreter');
  const fixed = await tool('ts-unshare', [...USERNS, '-R', root, '-l', `:tsnsf:E::tsnsx::${host}/sh:F`, '/bin/sh', '-c', '/p.tsnsx']);
  t.equal(fixed.stdout, 'fixed-interpreter', fixed.stderr);
  t.equal(fixed.exitCode, 0);
  // Without F the interpreter is looked up when the program runs: inside the root, where it is not.
  const late = await tool('ts-unshare', [...USERNS, '-R', root, '-l', `:tsnsf:E::tsnsx::${host}/sh:`, '/bin/sh', '-c', '/p.tsnsx']);
  t.not(late.exitCode, 0, 'not found inside the root');
});

t.test('32 namespaces register the same name at once: each has its own instance', { skip: noBinfmt }, async (t) => {
  const runs = await Promise.all(Array.from({ length: 32 }, () => tool('ts-unshare', [...USERNS, '-l', EXT_SH, 'cat', '/proc/sys/fs/binfmt_misc/tsnst'], { timeout: 120_000 })));
  t.same(runs.map((r) => r.exitCode), Array(32).fill(0), runs.map((r) => r.stderr).filter(Boolean).join('\n'));
  t.ok(runs.every((r) => r.stdout.startsWith('enabled')), 'every one sees its entry');
});

t.test('--forward-signals implies --fork and passes SIGTERM on (util-linux tests/ts/unshare/forward-signals)', async (t) => {
  for (const extra of [[], ['--kill-child']]) {
    // The program ends with status 15 when its SIGTERM handler runs.
    const child = spawn(`${ROOT}bin/ts-unshare`, ['--user', '--map-root-user', '--pid', '--mount-proc', '--forward-signals', ...extra,
      'sh', '-c', 'trap "exit 15" TERM; echo ready; while :; do sleep 1 & wait $!; done'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.teardown(() => { child.kill('SIGKILL'); });
    await until(child.stdout!, 'ready');
    child.kill('SIGTERM');
    t.equal(await exited, 15, `SIGTERM forwarded successfully${extra.length ? ' with kill-child' : ''}`);
  }
});

t.test('--owner: the given user holds the namespace; the map is written for it', async (t) => {
  const child = spawn(`${ROOT}bin/ts-unshare`, ['--owner', '65534:65534', '--map-root-user', 'sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; echo ready; exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  const ready = await until(child.stdout!, 'ready');
  t.match(ready, /^\s+0\s+0\s+1\n\s+0\s+0\s+1\nready/, 'root mapped as 0, written by the planner');
  // nobody owns it: nobody may enter it (util-linux's nsenter, a system binary).
  const entered = await run('setpriv', [...AS_NOBODY, 'nsenter', '-t', String(child.pid), '-U', '--preserve-credentials', 'true']);
  t.equal(entered.exitCode, 0, entered.stderr);
  child.stdin!.end();
  await pipeText(child.stdout!);

  // Without --owner nobody may not.
  const plain = spawn(`${ROOT}bin/ts-unshare`, ['--map-root-user', 'sh', '-c', 'echo ready; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.teardown(() => { plain.kill('SIGKILL'); });
  await until(plain.stdout!, 'ready');
  const refused = await run('setpriv', [...AS_NOBODY, 'nsenter', '-t', String(plain.pid), '-U', '--preserve-credentials', 'true']);
  t.not(refused.exitCode, 0, 'nobody cannot enter root\'s namespace');
  plain.stdin!.end();
  await pipeText(plain.stdout!);

  const ex = await tool('ts-unshare', ['--explain', '--owner', '65534:65534', 'true']);
  t.match(ex.stderr, /^\[stage\] setgroups\(0, \[\]\) = 0\n\[stage\] setresgid\(65534, 65534, 65534\) = 0\n\[stage\] setresuid\(65534, 65534, 65534\) = 0\n\[stage\] unshare\(CLONE_NEWUSER\) = 0$/m, 'ids first, then the namespace');
});

t.test('--owner: an unprivileged user cannot make a namespace for another', { skip: await nobodyCannotRunTools() }, async (t) => {
  const r = await run('setpriv', [...AS_NOBODY, `${ROOT}bin/ts-unshare`, '--owner', '0:0', 'true']);
  // The first line: tap's process-info hook, inherited by the planner, then fails to write
  // its record into root's .tap directory as nobody.
  t.equal(r.stderr.split('\n')[0], 'ts-unshare: setgroups failed: Operation not permitted (you lack CAP_SETGID, or /proc/self/setgroups is "deny" in this user namespace)');
  t.equal(r.exitCode, 1);
});

t.test('--map-subids, --map-users=subids|all, INNER:OUTER:COUNT given twice', async (t) => {
  // /etc/subuid and /etc/subgid of our own, bound over the host's in a mount namespace.
  const dir = scratch(t, 'tsns-subid-');
  writeFileSync(join(dir, 'subuid'), 'someone:300000:10\nroot:100000:65536\n');
  writeFileSync(join(dir, 'subgid'), '0:200000:65536\n');
  const inNs = (args: string[]) => run('unshare', ['--mount', 'sh', '-c',
    `mount --bind ${dir}/subuid /etc/subuid && mount --bind ${dir}/subgid /etc/subgid && exec "$@"`, 'sh', `${ROOT}bin/ts-unshare`, ...args]);
  const maps = 'cat /proc/self/uid_map /proc/self/gid_map';
  const rows = (s: string) => s.split('\n').map((l) => l.trim().split(/\s+/).join(' '));

  const subids = await inNs(['--map-subids', 'sh', '-c', maps]);
  t.equal(subids.exitCode, 0, subids.stderr);
  t.same(rows(subids.stdout), ['100000 100000 65536', '200000 200000 65536'], 'identity maps of the first blocks');
  const same = await inNs(['--map-users=subids', '--map-groups=subids', 'sh', '-c', maps]);
  t.same(rows(same.stdout), rows(subids.stdout), '--map-subids is --map-users=subids --map-groups=subids');
  // with --map-root-user the single id comes first, and the block keeps clear of it
  const auto = await inNs(['--map-auto', '--map-root-user', 'sh', '-c', maps]);
  t.same(rows(auto.stdout), ['0 0 1', '1 100000 65535', '0 0 1', '1 200000 65535'], 'as unshare.1\'s example');

  const two = await tool('ts-unshare', ['--map-users', '0:100000:1000', '--map-users=2000:200000:10', '--map-groups', '0:100000:1000', 'sh', '-c', maps]);
  t.same(rows(two.stdout), ['0 100000 1000', '2000 200000 10', '0 100000 1000']);
  const all = await tool('ts-unshare', ['--map-users=all', '--map-groups=all', 'cat', '/proc/self/uid_map']);
  t.same(rows(all.stdout), rows(readFileSync('/proc/self/uid_map', 'utf8').trimEnd()), 'every id of ours, passed through');
});

t.test('bad input: one line, exit 1, no stack trace', async (t) => {
  const cases: [string[], string][] = [
    [['--owner', 'x', 'true'], 'ts-unshare: failed to parse owner'],
    [['--owner', '1:2:3', 'true'], 'ts-unshare: failed to parse owner'],
    [['--owner', '4294967295:0', 'true'], 'ts-unshare: failed to parse owner'],
    [['--map-users', '1:2', 'true'], "ts-unshare: invalid mapping '1:2'"],
    [['--map-groups', '0:0:0', 'true'], "ts-unshare: invalid mapping '0:0:0'"],
    [['--map-users', '0:4294967294:2', 'true'], "ts-unshare: invalid mapping '0:4294967294:2'"],
    [['--map-users', '0:100000:10', '--map-users', '5:200000:10', 'true'], 'ts-unshare: --map-users: the ids 100000-100009 -> 0-9 and 200000-200009 -> 5-14 overlap inside the namespace'],
    [['--mount-binfmt=', 'true'], 'ts-unshare: mount  failed: No such file or directory'],
    [['-l'], "ts-unshare: option requires an argument -- 'l'\nTry 'ts-unshare --help' for more information."],
    [['--whitelist-env'], "ts-unshare: option '--whitelist-env' requires an argument\nTry 'ts-unshare --help' for more information."],
    [['--clear-env=x', 'true'], "ts-unshare: option '--clear-env' doesn't allow an argument\nTry 'ts-unshare --help' for more information."],
  ];
  if (!noBinfmt) {
    cases.push([[...USERNS, '-l', 'bogus', 'true'], 'ts-unshare: write failed /proc/sys/fs/binfmt_misc/register: Invalid argument']);
  }
  for (const [args, line] of cases) {
    const r = await tool('ts-unshare', args);
    t.equal(r.stderr.replace(/ \(.*\)$/, ''), line, args.join(' '));
    t.equal(r.exitCode, 1, `${args.join(' ')}: status`);
  }
});

t.test('SIGKILL at any step leaves no process behind (--kill-child)', async (t) => {
  // Killed after each of the 10 lines --explain gives in turn: whatever step it reached,
  // the planner and the program must go with it.
  for (let after = 1; after <= 10; after++) {
    const left = await leftAfterKill('ts-unshare', ['--explain', '--owner', '65534:65534', '--map-root-user', '--fork', '--pid', '--kill-child', '--mount-proc', 'sleep', '60'], after);
    t.same(left, [], `killed after ${after} lines: nothing left`);
  }
});
