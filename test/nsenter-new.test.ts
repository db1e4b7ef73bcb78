// ts-nsenter's options from util-linux 2.39-2.41 and master, which the installed 2.38 lacks:
// expected behaviour from master's nsenter.1.adoc, nsenter.c and tests/ts/nsenter.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { AS_NOBODY, leftAfterKill, nobodyCannotRunTools, pipeText, ROOT, run, tool, until } from './helpers.js';
import { groupDirs } from '../src/cgroup/layout.js';

/** Start `argv` with its stdin held open; it is ended (and the process killed) when the test ends. */
function held(t: Tap.Test, argv: string[], env?: Record<string, string>): ChildProcess {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env });
  t.teardown(async () => {
    child.stdin!.end();
    child.kill('SIGKILL');
    await pipeText(child.stdout!);
  });
  return child;
}

// The util-linux test's foreign socket (tests/helpers/test_mkfds foreign-sockets): a
// socket made in one new network namespace, held by a process that then moved to another.
const FOREIGN_SOCKET = `
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x40000000) != 0: sys.exit('unshare: ' + os.strerror(ctypes.get_errno()))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
f = open('/dev/null')
made_in = os.readlink('/proc/self/ns/net')
if libc.unshare(0x40000000) != 0: sys.exit('unshare: ' + os.strerror(ctypes.get_errno()))
print(s.fileno(), f.fileno(), made_in, os.readlink('/proc/self/ns/net'), 'ready', flush=True)
sys.stdin.read()
`;
const python = (await run('python3', ['-c', 'print(1)'])).exitCode === 0;

t.test('-N/--net-socket: the namespace of the target\'s socket, not the target\'s own (util-linux tests/ts/nsenter/enter-via-socket)', { skip: !python && 'python3 is missing' }, async (t) => {
  const holder = held(t, ['python3', '-c', FOREIGN_SOCKET]);
  const [fd, notSocket, socketNs, ownNs] = (await until(holder.stdout!, 'ready')).split(' ');
  t.not(socketNs, ownNs);
  const pid = String(holder.pid);
  const viaSocket = await tool('ts-nsenter', ['--target', pid, '--net-socket', fd, 'readlink', '/proc/self/ns/net']);
  t.equal(viaSocket.exitCode, 0, viaSocket.stderr);
  t.equal(viaSocket.stdout, socketNs);
  t.equal((await tool('ts-nsenter', ['-t', pid, `-N${fd}`, 'readlink', '/proc/self/ns/net'])).stdout, socketNs, '-N');
  t.equal((await tool('ts-nsenter', ['-t', pid, '-n', 'readlink', '/proc/self/ns/net'])).stdout, ownNs, '-n: the process\'s own');
  // -N takes the place of -n
  t.equal((await tool('ts-nsenter', ['-t', pid, '-n', '-N', fd, 'readlink', '/proc/self/ns/net'])).stdout, socketNs, '-n -N');
  // 32 at once through the same socket: each copies it for itself
  const runs = await Promise.all(Array.from({ length: 32 }, () => tool('ts-nsenter', ['-t', pid, '-N', fd, 'readlink', '/proc/self/ns/net'], { timeout: 120_000 })));
  t.same(runs.map((r) => r.stdout), Array(32).fill(socketNs), '32 in flight');

  const ex = await tool('ts-nsenter', ['--explain', '-t', pid, '-N', fd, 'true']);
  t.match(ex.stderr, new RegExp(`^\\[stage\\] pidfd_open\\(${pid}, 0\\) = (\\d+)\\n\\[stage\\] pidfd_getfd\\(\\1, ${fd}, 0\\) = (\\d+)\\n\\[stage\\] ioctl\\(\\2, SIOCGSKNS\\) = (\\d+)\\n\\[stage\\] setns\\(\\3, CLONE_NEWNET\\) = 0$`, 'm'));

  // SIGKILL after each line --explain gives: the planner and the program go with it.
  for (let after = 1; after <= 12; after++) {
    t.same(await leftAfterKill('ts-nsenter', ['--explain', '-t', pid, '-N', fd, '-u', '-c', 'sleep', '60'], after), [], `killed after ${after} lines: nothing left`);
  }

  const errors: [string[], string][] = [
    [['-t', pid, '-N', notSocket, 'true'], `ts-nsenter: ioctl(fd ${notSocket} of process ${pid}, SIOCGSKNS): Inappropriate ioctl for device (the descriptor is no socket)`],
    [['-t', pid, '-N', '999', 'true'], `ts-nsenter: pidfd_getfd(pidfd of ${pid}, 999): Bad file descriptor`],
  ];
  for (const [args, line] of errors) {
    const r = await tool('ts-nsenter', args);
    t.equal(r.stderr, line, args.join(' '));
    t.equal(r.exitCode, 1);
  }
});

t.test('--user-parent: the user namespace that owns the target\'s (or the one -U names)', async (t) => {
  // Two user namespaces, one inside the other; every unshare execs, so the pid stays.
  const nested = held(t, ['unshare', '-U', '-r', 'sh', '-c', 'readlink /proc/self/ns/user; exec unshare -U -r sh -c "readlink /proc/self/ns/user; echo ready; exec cat"']);
  const [outer, inner] = (await until(nested.stdout!, 'ready')).split('\n');
  const pid = String(nested.pid);
  t.equal((await tool('ts-nsenter', ['-t', pid, '-U', 'readlink', '/proc/self/ns/user'])).stdout, inner);
  for (const args of [['--user-parent'], ['-U', '--user-parent'], ['--user-parent', '--preserve-credentials']]) {
    const r = await tool('ts-nsenter', ['-t', pid, ...args, 'sh', '-c', 'readlink /proc/self/ns/user; id -u']);
    // root is 0 there (its map is unshare -r's), with or without --preserve-credentials
    t.equal(r.stdout, `${outer}\n0`, args.join(' '));
    t.equal(r.exitCode, 0, r.stderr);
  }
  const ex = await tool('ts-nsenter', ['--explain', '-t', pid, '--user-parent', 'true']);
  t.match(ex.stderr, new RegExp(`^\\[stage\\] openat\\(AT_FDCWD, "/proc/${pid}/ns/user", O_RDONLY\\|O_CLOEXEC\\) = (\\d+)\\n(?:.*\\n)*?\\[stage\\] ioctl\\(\\1, NS_GET_USERNS\\) = (\\d+)\\n(?:.*\\n)*?\\[stage\\] setns\\(\\2, CLONE_NEWUSER\\) = 0$`, 'm'));
  // The initial user namespace has no parent to enter.
  const top = await tool('ts-nsenter', ['-t', String(process.pid), '--user-parent', 'true']);
  t.equal(top.stderr, 'ts-nsenter: failed to open parent namespace: Operation not permitted (the answer lies outside your namespaces)');
  t.equal(top.exitCode, 1);
});

t.test('--keep-caps: the capabilities of the entered user namespace stay across exec', async (t) => {
  const target = held(t, ['unshare', '-U', '-r', 'sh', '-c', 'echo ready; exec cat']);
  await until(target.stdout!, 'ready');
  const pid = String(target.pid);
  const ambient = async (args: string[]) => /^CapAmb:\s+(\w+)$/m.exec((await tool('ts-nsenter', ['-t', pid, '-U', ...args, 'cat', '/proc/self/status'])).stdout)?.[1];
  t.equal(await ambient([]), '0000000000000000', 'none without it');
  const kept = await ambient(['--keep-caps']);
  t.ok(kept !== undefined && BigInt(`0x${kept}`) & (1n << 21n), `CAP_SYS_ADMIN ambient (${kept})`);
  // Outside any user namespace it changes nothing, as util-linux's.
  const host = await tool('ts-nsenter', ['-t', pid, '-u', '--keep-caps', 'grep', 'CapAmb', '/proc/self/status']);
  t.match(host.stdout, /0000000000000000$/);
});

t.test('-e/--env: the target\'s environment, not ours', async (t) => {
  const target = held(t, ['env', '-i', 'FOO=bar', 'A=1=2', 'sh', '-c', 'echo ready; exec cat'], {});
  await until(target.stdout!, 'ready');
  const pid = String(target.pid);
  // Once sh has exec'd cat (whose environment has sh's PWD): both reads below see the same one.
  const comm = () => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } };
  for (let i = 0; i < 3000 && comm() !== 'cat'; i++) await new Promise((r) => setTimeout(r, 10));
  const r = await tool('ts-nsenter', ['-t', pid, '-u', '--env', 'env'], { env: { MINE: 'x' } });
  t.equal(r.exitCode, 0, r.stderr);
  // what the target's environ holds (sh added PWD to cat's): no more, no less
  const theirs = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  t.same(r.stdout.split('\n').sort(), theirs.sort());
  t.ok(theirs.includes('A=1=2') && !r.stdout.includes('MINE='), 'a value with "=" kept whole; ours gone');
  const ex = await tool('ts-nsenter', ['--explain=all', '-t', pid, '-u', '-e', 'true']);
  t.match(ex.stderr, new RegExp(`^\\[planner\\] openat\\(AT_FDCWD, "/proc/${pid}/environ", O_RDONLY\\|O_CLOEXEC\\) = \\d+$`, 'm'), 'the read of the environment is plumbing: shown with =all');
});

t.test('-c/--join-cgroup: the target\'s group in every hierarchy; 32 at once', async (t) => {
  const target = spawn('sleep', ['600'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => target.once('exit', resolve));
  const pid = String(target.pid);
  // Groups of the test's own below ours, one per hierarchy where it can make one; taken
  // back once the target is gone (every nsenter'd program has exited by then).
  const ours = groupDirs(readFileSync('/proc/self/cgroup', 'utf8'), readFileSync('/proc/self/mounts', 'utf8'));
  const made: string[] = [];
  t.teardown(async () => {
    target.kill('SIGKILL');
    await exited;
    for (const dir of made) {
      for (let i = 0; i < 200 && existsSync(dir); i++) {
        try { rmdirSync(dir); } catch { await new Promise((r) => setTimeout(r, 25)); }
      }
    }
  });
  for (const dir of ours.map((d) => `${d}/tsns-join-${process.pid}`)) {
    try { mkdirSync(dir); made.push(dir); } catch { /* a hierarchy where we may not */ }
  }
  // A new cpuset group has no CPUs (ENOSPC): keep the groups the target could join.
  const joined = made.filter((dir) => {
    try { writeFileSync(`${dir}/cgroup.procs`, pid); return true; } catch { return false; }
  });
  t.ok(joined.length >= 2, `target moved to ${joined.join(' ')}`);
  const theirs = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  t.match(theirs, `tsns-join-${process.pid}`);

  const r = await tool('ts-nsenter', ['-t', pid, '-u', '--join-cgroup', 'cat', '/proc/self/cgroup']);
  t.equal(r.exitCode, 0, r.stderr);
  t.equal(`${r.stdout}\n`, theirs, 'every line is the target\'s');
  const runs = await Promise.all(Array.from({ length: 32 }, () => tool('ts-nsenter', ['-t', pid, '-u', '-c', 'cat', '/proc/self/cgroup'], { timeout: 120_000 })));
  t.same(runs.map((x) => `${x.stdout}\n`), Array(32).fill(theirs), '32 in flight, each in the target\'s groups');
  const ex = await tool('ts-nsenter', ['--explain', '-t', pid, '-u', '-c', 'true']);
  for (const dir of joined) t.match(ex.stderr, new RegExp(`^\\[stage\\] openat\\(AT_FDCWD, "${dir}/cgroup\\.procs", O_WRONLY\\|O_CLOEXEC\\) = (\\d+)\\n\\[stage\\] write\\(\\1, "0", 1\\) = 1$`, 'm'));
});

t.test('groupDirs: every hierarchy mounted; a text a group name could have forged is refused', async (t) => {
  const mounts = [
    'cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,relatime,memory 0 0',
    'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0',
    'cgroup /sys/fs/cgroup/systemd cgroup rw,xattr,name=systemd 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0',
    'proc /proc proc rw 0 0',
  ].join('\n');
  t.same(groupDirs('9:name=systemd:/a\n6:cpuacct,cpu:/b/c\n4:memory:/\n3:pids:/d\n0::/e\n', mounts),
    ['/sys/fs/cgroup/systemd/a', '/sys/fs/cgroup/cpu,cpuacct/b/c', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/unified/e'], 'pids is not mounted: left out');
  for (const forged of ['4:memory:/x/../../../../tmp', '4:memory:/x\n4:memory:/y', '0::./x', '0::/x/./y']) {
    t.throws(() => groupDirs(forged, mounts), { name: 'CgroupError', message: /^failed to get cgroup path: (the line ".*" is not the kernel's|\S+ is outside this cgroup namespace's view)/ }, JSON.stringify(forged));
  }
});

t.test('an unprivileged user gets none of root\'s process through the new options', { skip: await nobodyCannotRunTools() }, async (t) => {
  const target = held(t, ['sh', '-c', 'echo ready; exec cat']);
  await until(target.stdout!, 'ready');
  const pid = String(target.pid);
  const cases: [string[], RegExp][] = [
    [['-t', pid, '-N', '0', 'true'], new RegExp(`^ts-nsenter: pidfd_getfd\\(pidfd of ${pid}, 0\\): Operation not permitted$`)],
    [['-t', pid, '-e', 'true'], new RegExp(`^ts-nsenter: cannot open /proc/${pid}/environ: Permission denied$`)],
    [['-t', pid, '-c', 'true'], /^ts-nsenter: write failed \/sys\/fs\/cgroup\/\S+\/cgroup.procs: Permission denied/],
    [['-t', pid, '--user-parent', 'true'], /^ts-nsenter: (failed to open parent namespace: Operation not permitted|cannot open \/proc\/\d+\/ns\/user: Permission denied)/],
  ];
  for (const [args, line] of cases) {
    const r = await run('setpriv', [...AS_NOBODY, `${ROOT}bin/ts-nsenter`, ...args]);
    // The first line: tap's process-info hook, inherited by the planner, then fails to
    // write its record into root's .tap directory as nobody.
    t.match(r.stderr.split('\n')[0], line, args.join(' '));
    t.equal(r.exitCode, 1);
  }
});

t.test('bad input: one line, exit 1, no stack trace', async (t) => {
  const cases: [string[], string][] = [
    [['-t', '1', '-N', 'x', 'true'], "ts-nsenter: failed to parse file descriptor: 'x'"],
    [['-t', '1', '-N', '-1', 'true'], "ts-nsenter: failed to parse file descriptor: '-1': Numerical result out of range"],
    [['-t', '1', '--net-socket=2147483648', 'true'], "ts-nsenter: failed to parse file descriptor: '2147483648': Numerical result out of range"],
    [['-N', '3', 'true'], 'ts-nsenter: no target PID specified'],
    [['--user-parent', 'true'], 'ts-nsenter: no target PID specified'],
    [['--uts=/proc/self/ns/uts', '-e', 'true'], 'ts-nsenter: neither filename nor target pid supplied for environ'],
    [['--uts=/proc/self/ns/uts', '-c', 'true'], 'ts-nsenter: neither filename nor target pid supplied for cgroup'],
    [['-t', '999999', '-N', '3', 'true'], 'ts-nsenter: failed to pidfd_open() for 999999: No such process'],
    [['-t', '999999', '-u', '-e', 'true'], 'ts-nsenter: cannot open /proc/999999/ns/uts: No such file or directory'],
    [['-N'], "ts-nsenter: option requires an argument -- 'N'\nTry 'ts-nsenter --help' for more information."],
    [['--env=x', 'true'], "ts-nsenter: option '--env' doesn't allow an argument\nTry 'ts-nsenter --help' for more information."],
  ];
  for (const [args, line] of cases) {
    const r = await tool('ts-nsenter', args);
    t.equal(r.stderr, line, args.join(' '));
    t.equal(r.exitCode, 1, `${args.join(' ')}: status`);
  }
});
