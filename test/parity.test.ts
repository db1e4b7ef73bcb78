// Parity of ts-unshare, ts-nsenter and ts-chroot with util-linux 2.38 and coreutils in the
// corners: option parsing, empty values, ids that are no ids, working directories, messages
// and exit statuses. Each case runs both tools and compares stdout, exit status and stderr
// (with our name put back to theirs); where we differ on purpose, the test says so.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AS_NOBODY, nobodyCannotRunTools, ROOT, run, tool, type Run } from './helpers.js';
import { buildBusyboxRoot } from './rootfs.js';

const VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ours and theirs with the same arguments: the same stdout, exit status and stderr. */
async function same(t: Tap.Test, name: 'unshare' | 'nsenter' | 'chroot', args: string[], why = args.join(' ')): Promise<Run> {
  const [ours, theirs] = await Promise.all([tool(`ts-${name}`, args), run(name, args)]);
  t.equal(ours.stdout, theirs.stdout, `${name} ${why}: stdout`);
  t.equal(ours.exitCode, theirs.exitCode, `${name} ${why}: exit status`);
  t.equal(ours.stderr.replaceAll(`ts-${name}`, name), theirs.stderr, `${name} ${why}: stderr`);
  return ours;
}

/** Ours alone, where util-linux differs on purpose: one line (no stack), this exit status. */
async function ours(t: Tap.Test, name: string, args: string[], message: RegExp, exitCode = 1): Promise<void> {
  const r = await tool(`ts-${name}`, args);
  t.match(r.stderr, message, `${name} ${args.join(' ')}: message`);
  t.notMatch(r.stderr, /\n\s+at /, `${name} ${args.join(' ')}: no stack trace`);
  t.equal(r.exitCode, exitCode, `${name} ${args.join(' ')}: exit status`);
}

/**
 * A `sleep` started through `command` (util-linux unshare with some options): its pid, once
 * it runs (unshare execs it, or its forked child does). Killed when the test ends.
 */
async function sleeper(t: Tap.Test, command: string[]): Promise<number> {
  const child = spawn(command[0], [...command.slice(1), 'sleep', '120'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  const isSleep = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0');
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 400; i++) {
    const kids = (await run('pgrep', ['-P', String(child.pid)])).stdout.split('\n').filter(Boolean).map(Number);
    const pid = [child.pid!, ...kids].find(isSleep);
    if (pid) return pid;
    await sleep(25);
  }
  throw new Error(`${command.join(' ')} did not start`);
}

/** A process in its own mount and uts namespaces (and pid namespace, with its own /proc). */
const nsTarget = (t: Tap.Test) => sleeper(t, ['unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc']);

t.test('values of options that take one are skipped, not read as options (getopt)', async (t) => {
  await same(t, 'unshare', ['--propagation', 'private', '--mount-proc=/proc', '-f', '-p', 'readlink', '/proc/self']);
  await same(t, 'unshare', ['-fpS', '0', '--mount-proc', 'id', '-u']);
  await same(t, 'unshare', ['-R', '/', '-w', '/tmp', '--mount-proc=/proc', '-fp', 'pwd']);
  const pid = String(await nsTarget(t));
  await same(t, 'nsenter', ['-t', pid, `--uts=/proc/${pid}/ns/uts`, 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '-m', `--root=/proc/${pid}/root`, 'ls', '/']);
  await same(t, 'nsenter', ['-S', '0', '-t', pid, '-u', 'id']);
  await same(t, 'nsenter', ['-Ft', pid, '-u', 'hostname']);
  await same(t, 'nsenter', [`-t${pid}`, '-u', 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '-uZ', 'true'], 'a clustered optional value');
  await same(t, 'nsenter', ['-t', pid, `-u=/proc/${pid}/ns/uts`, 'true'], 'no "=" is taken off');
  // getopt's words for a missing value or a value where none is taken
  await same(t, 'unshare', ['--propagation']);
  await same(t, 'unshare', ['-S']);
  await same(t, 'unshare', ['--fork=yes', 'true']);
  await same(t, 'nsenter', ['-t']);
});

t.test('long options may be abbreviated, as getopt_long allows', async (t) => {
  await same(t, 'unshare', ['--prop', 'private', '--mount-p=/proc', '-fp', 'readlink', '/proc/self']);
  await same(t, 'unshare', ['--map-r', 'id']);
  await same(t, 'unshare', ['--map-u=0', 'id'], 'an ambiguous prefix');
  await same(t, 'unshare', ['-r', 'ls', '--m', '/dev/null'], 'not past the program');
  const pid = String(await nsTarget(t));
  await same(t, 'nsenter', ['--ta', pid, '--ut', 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '--w=/', 'true'], 'an ambiguous prefix');
  await same(t, 'chroot', ['--user=nobody', '/', 'id']);
  await same(t, 'chroot', ['--sk', '/', 'pwd']);
});

t.test('nsenter -U and -a into a user namespace that denies setgroups', async (t) => {
  const pid = String(await sleeper(t, ['unshare', '-r']));
  t.equal(readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim(), 'deny');
  await same(t, 'nsenter', ['-t', pid, '-U', 'id']);
  await same(t, 'nsenter', ['-t', pid, '-a', 'id']);
  await same(t, 'nsenter', ['-t', pid, '-U', '-S', '0', '-G', '0', 'id']);
  await same(t, 'nsenter', ['-t', pid, '-U', '--preserve-credentials', 'id']);
  // util-linux drops the caller's supplementary groups before entering; the stage cannot,
  // so we refuse rather than keep them.
  const r = await run('setpriv', ['--groups=5,6', `${ROOT}bin/ts-nsenter`, '-t', pid, '-U', 'id']);
  t.match(r.stderr, /^ts-nsenter: setgroups failed: Operation not permitted \(.*supplementary groups 5,6 would stay/);
  t.equal(r.exitCode, 1);
});

t.test('nsenter -U into its own `unshare -r` namespace, unprivileged', { skip: await nobodyCannotRunTools() }, async (t) => {
  const pid = String(await sleeper(t, ['setpriv', ...AS_NOBODY, 'unshare', '-r']));
  const r = await run('setpriv', [...AS_NOBODY, `${ROOT}bin/ts-nsenter`, '-t', pid, '-U', 'id', '-u']);
  // util-linux 2.38 fails here ("setgroups failed"): it has no groups to drop, yet counts
  // two failed setgroups(2). We go in.
  t.equal(r.stdout, '0');
  t.equal(r.exitCode, 0);
  t.notMatch(r.stderr, /^ts-nsenter:/m);
});

t.test('nsenter -r: after joining a mount namespace the directory is its root', async (t) => {
  const pid = String(await nsTarget(t));
  const r = await same(t, 'nsenter', ['-t', pid, '-m', '-r', 'pwd']);
  t.equal(r.stdout, '/');
  await same(t, 'nsenter', ['-t', pid, '-a', '-r', 'pwd']);
  const kept = await same(t, 'nsenter', ['-t', pid, '-u', '-r', 'pwd'], '-r without -m keeps the directory');
  t.equal(kept.stdout, ROOT.replace(/\/$/, ''));
  await same(t, 'nsenter', ['-t', pid, '-m', 'pwd']);
});

t.test('-V and --version', async (t) => {
  for (const name of ['unshare', 'nsenter']) {
    for (const flag of ['-V', '--version']) {
      const r = await tool(`ts-${name}`, [flag]);
      t.equal(r.stdout, `ts-${name} from tsns ${VERSION}`, `${name} ${flag}`);
      t.equal(r.exitCode, 0);
      const theirs = await run(name, [flag]);
      t.match(theirs.stdout, new RegExp(`^${name} from util-linux \\d`), 'the same shape as util-linux');
    }
  }
  t.equal((await tool('ts-unshare', ['-r', '-V'])).stdout, `ts-unshare from tsns ${VERSION}`, 'after other options');
  for (const name of ['lsns', 'cgroup', 'vserver']) t.equal((await tool(`ts-${name}`, ['-V'])).stdout, `ts-${name} from tsns ${VERSION}`, `ts-${name} -V`);
  // coreutils' chroot has --version only; its first line is "chroot (GNU coreutils) 9.1"
  const r = await tool('ts-chroot', ['--version']);
  t.equal(r.stdout, `ts-chroot (tsns) ${VERSION}`);
  t.equal(r.exitCode, 0);
  await same(t, 'chroot', ['-V']);
});

t.test('nsenter -W/--wdns: a directory as seen in the namespace; -Z without SELinux', async (t) => {
  // Inside the target's mount namespace only: a tmpfs with a directory and an absolute
  // symbolic link to it, which must resolve in the namespace's root, not the caller's.
  const dir = mkdtempSync(join(tmpdir(), 'tsns-wdns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pid = String(await sleeper(t, ['unshare', '--mount', '--uts', '--propagation', 'private', 'sh', '-c',
    `mount -t tmpfs tsns-wdns ${dir} && mkdir ${dir}/inner && ln -s ${dir}/inner ${dir}/link && exec "$@"`, 'sh']));
  for (const args of [['-m', '-W', `${dir}/link`], ['-m', `-W${dir}/inner`], ['-m', `--wdns=${dir}/link/../inner`], ['-m', '-W', '/etc'],
    ['-m', '-r', '-W', `${dir}/link`], ['-u', '-W', 'test'], ['-m', '-W', 'test'], ['-m', '-W', '/tsns-no-such-dir'],
    ['-W', '/etc/passwd'], ['-m', '-W', '/etc', '-w'], ['-m', '-w', '-W', '/etc'], ['-m', `-W=${dir}`], ['-u', '-W', ''],
    ['-m', '--root=/etc/passwd'], ['-u', '--wd=/etc/passwd']]) {
    await same(t, 'nsenter', ['-t', pid, ...args, 'pwd']);
  }
  await same(t, 'nsenter', ['-t', pid, '-m', '--wdns', '/etc', 'pwd'], '--wdns takes its value only after "="');
  await same(t, 'nsenter', ['-t', pid, '-m', '-W']);
  await same(t, 'nsenter', ['-t', pid, '-u', '-Z', 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '-u', '--follow-context', '-Zw', 'pwd']);
  await same(t, 'nsenter', ['-Z', 'pwd']);
});

t.test('empty values: one line and util-linux\'s status, no stack trace', async (t) => {
  for (const args of [['--mount-proc=', 'true'], ['--map-users=', 'true'], ['--map-groups=', 'true'], ['--map-user=', 'true'],
    ['--monotonic=', 'true'], ['--boottime=', 'true'], ['--kill-child=', 'true'], ['--setgroups=', 'true'], ['-w', '', 'true']]) {
    await same(t, 'unshare', args);
  }
  for (const kind of ['user', 'uts', 'mount']) {
    const [r, theirs] = await Promise.all([tool('ts-unshare', [`--${kind}=`, 'true']), run('unshare', [`--${kind}=`, 'true'])]);
    // util-linux names its own pid in the source; the rest is the same
    t.equal(r.stderr.replace(/\/proc\/\S+\/ns/, '/proc/PID/ns'), theirs.stderr.replace('unshare', 'ts-unshare').replace(/\/proc\/\d+\/ns/, '/proc/PID/ns'), `--${kind}=`);
    t.equal(r.exitCode, theirs.exitCode);
  }
  const pid = String(await nsTarget(t));
  for (const args of [['--user=', 'true'], ['-t', pid, '--user=', 'true'], ['-t', pid, '--uts=', 'true'], ['-t', pid, '--root=', 'true'],
    ['-t', pid, '--wd=', 'true'], ['-t', pid, '-w=', 'true'], ['-t', pid, '--wdns=', 'true'], ['-t', '', 'true'], ['-t', pid, '-S', '', 'true']]) {
    await same(t, 'nsenter', args);
  }
  await same(t, 'chroot', ['', 'true']);
});

t.test('ts-chroot: coreutils\' messages and statuses', async (t) => {
  for (const args of [['--bogus'], ['-x', '/'], ['--userspec'], ['--skip-chdir=x', '/'], ['--skip-chdir', tmpdir(), 'true'], ['--skip-chdir', '/.', 'pwd'],
    ['/', 'tsns-no-such-command'], ['/', '/etc/passwd'], ['/nonexistent', 'true'], ["/tmp/tsns-it's", 'true']]) {
    await same(t, 'chroot', args);
  }
  const root = buildBusyboxRoot(t);
  for (const args of [['--userspec=nobody.nogroup', root, 'id'], ['--userspec=65534', root, 'id'], ['--userspec=12345', root, 'id'],
    ['--userspec=nosuch', root, 'id'], ['--userspec=0:nosuch', root, 'id'], ['--groups=nosuch1,nosuch2', root, 'id'], ['--groups=,', root, 'id'],
    ['--groups=+0,nogroup', root, 'id'], ['--userspec=+65534:+65534', root, 'id'], ['--userspec=nobody:', root, 'id']]) {
    await same(t, 'chroot', args);
  }
});

t.test('id ranges the kernel would refuse: one line, no stack trace', async (t) => {
  await same(t, 'unshare', ['--map-users=0,4294967295,1', 'true']);
  await same(t, 'unshare', ['--map-users=4294967295,0,1', 'true']);
  await same(t, 'unshare', ['--map-users=1,,3', 'true']);
  await same(t, 'unshare', ['--map-users=1,2,3,4', 'true']);
  // util-linux leaves these to newuidmap, which refuses them in its own words
  await ours(t, 'unshare', ['--map-users=0,0,0', 'true'], /^ts-unshare: invalid mapping '0,0,0': no ids$/);
  await ours(t, 'unshare', ['--map-users=0,4294967294,2', 'true'], /^ts-unshare: invalid mapping '0,4294967294,2': the range passes the last id/);
  await ours(t, 'unshare', ['--map-groups=4294967294,0,2', 'true'], /^ts-unshare: invalid mapping '4294967294,0,2'/);
});

t.test('ids that are no ids: (uid_t)-1 and numbers past 32 bits', async (t) => {
  for (const args of [['-S', '4294967295', 'id'], ['-G', '4294967295', 'id'], ['-S', '-1', 'id'], ['-S', '18446744073709551615', 'id'],
    ['-S', '18446744073709551616', 'id'], ['-S', '4294967295', '-G', '4294967295', 'id'], ['-S', '+5', 'id', '-u'], ['-S', ' 5', 'id', '-u'],
    ['-S', '5x', 'id'], ['-S', '4294967294', 'id', '-u']]) {
    await same(t, 'unshare', args);
  }
  // util-linux truncates to 32 bits and runs these as root (uid 0)
  await ours(t, 'unshare', ['-S', '4294967296', 'id'], /^ts-unshare: setuid failed: Invalid argument$/);
  await ours(t, 'unshare', ['-G', '4294967296', 'id'], /^ts-unshare: setgid failed: Invalid argument$/);
  await ours(t, 'unshare', ['--map-user=4294967296', 'id'], /^ts-unshare: failed to parse uid: '4294967296': Numerical result out of range$/);
  await ours(t, 'unshare', ['--map-users=0,4294967296,1', 'id'], /^ts-unshare: could not parse ID: '4294967296': Numerical result out of range$/);
  // util-linux takes (uid_t)-1 for "no --map-user" and runs the program unmapped
  await ours(t, 'unshare', ['--map-user=4294967295', 'id'], /^ts-unshare: failed to parse uid: '4294967295': Numerical result out of range$/);
  await ours(t, 'unshare', ['--map-group=-1', 'id'], /^ts-unshare: failed to parse gid: '-1': Numerical result out of range$/);

  const pid = String(await nsTarget(t));
  for (const args of [['-S', '4294967295'], ['-G', '4294967295'], ['-S', '-1'], ['-S', '4294967294', '-G', '4294967294']]) {
    await same(t, 'nsenter', ['-t', pid, '-u', ...args, 'id']);
  }
  await ours(t, 'nsenter', ['-t', pid, '-u', '-S', '4294967296', 'id'], /^ts-nsenter: setuid failed: Invalid argument$/);

  for (const spec of ['4294967295:4294967295', '4294967295', '0:4294967295', '4294967296', '0:4294967296', '-1', '0:-1']) {
    await same(t, 'chroot', [`--userspec=${spec}`, '/', 'id']);
  }
  for (const groups of ['4294967295', '0,4294967295', '4294967296']) await same(t, 'chroot', [`--groups=${groups}`, '/', 'id']);
});
