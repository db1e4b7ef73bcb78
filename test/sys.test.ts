// The thin bindings in src/sys, called in this (multithreaded) process.
import t from 'tap';
import { readlinkSync, openSync, closeSync, statSync } from 'node:fs';
import { unshare, setns, CLONE_NEWUSER, CLONE_NEWUTS, nsGetType, nsGetUserns, nsGetOwnerUid, nsGetParent, NAMESPACES, flagsOf } from '../src/sys/ns.js';
import { SysError } from '../src/sys/errors.js';
import { capget, processCaps, parseCap, capsOfMask, CAP_NAMES } from '../src/sys/caps.js';
import { getNoNewPrivs, capbsetRead } from '../src/sys/prctl.js';
import { pidfdOpen, waitpid, decodeWaitStatus, isLiveProcess, startTimeOf } from '../src/sys/proc.js';
import { spawn } from 'node:child_process';
import { drainEventfd, eventfd, onReadable } from '../src/sys/readiness.js';
import { write } from '../src/sys/io.js';
import { mount, chroot, pivotRoot, umount2 } from '../src/sys/mount.js';
import { setExplain } from '../src/sys/explain.js';
import { pipeText } from './helpers.js';

t.test('unshare(CLONE_NEWUSER) from Node fails with a SysError that says why', async (t) => {
  const err = t.throws(() => unshare(CLONE_NEWUSER));
  t.type(err, SysError);
  t.match(err, { syscall: 'unshare', args: 'CLONE_NEWUSER', code: 'EINVAL' });
  t.match((err as Error).message, /^unshare\(CLONE_NEWUSER\): EINVAL \(Invalid argument\): the calling process is multithreaded/);
});

t.test('failures name the call, its arguments and errno', async (t) => {
  t.match(t.throws(() => mount('none', '/nonexistent-tsns', 'tmpfs', 0)), { syscall: 'mount', code: 'ENOENT', args: '"none", "/nonexistent-tsns", "tmpfs", 0, NULL' });
  t.match(t.throws(() => chroot('/nonexistent-tsns')), { syscall: 'chroot', code: 'ENOENT' });
  t.match(t.throws(() => pivotRoot('/nonexistent-a', '/nonexistent-b')), { syscall: 'pivot_root', code: 'ENOENT' });
  t.match(t.throws(() => umount2('/nonexistent-tsns')), { syscall: 'umount2', code: 'ENOENT' });
  t.match(t.throws(() => setns(0, CLONE_NEWUTS)), { syscall: 'setns', code: 'EINVAL' });
});

t.test('namespace ioctls', async (t) => {
  const fd = openSync('/proc/self/ns/uts', 'r');
  t.teardown(() => closeSync(fd));
  t.equal(nsGetType(fd), 'uts');
  const user = nsGetUserns(fd);
  t.equal(nsGetType(user), 'user');
  t.equal(statSync(`/proc/self/fd/${user}`).ino, statSync('/proc/self/ns/user').ino, 'the owner is our user namespace');
  t.equal(nsGetOwnerUid(user), 0);
  t.match(t.throws(() => nsGetParent(user)), { syscall: 'ioctl', code: 'EPERM' }, 'the initial user namespace has no parent we may see');
  closeSync(user);
});

t.test('the namespace table', async (t) => {
  t.equal(NAMESPACES.length, 8);
  for (const n of NAMESPACES) t.match(readlinkSync(`/proc/self/ns/${n.file}`), new RegExp(`^${n.file}:\\[\\d+\\]$`));
  t.equal(flagsOf(['user', 'uts']), CLONE_NEWUSER | CLONE_NEWUTS);
});

t.test('capabilities and prctl', async (t) => {
  const sets = capget();
  t.equal(sets.effective, processCaps().effective, 'capget agrees with /proc/self/status');
  t.equal(parseCap('sys_admin'), 21);
  t.equal(parseCap('CAP_NET_ADMIN'), 12);
  t.throws(() => parseCap('CAP_FLY'), /unknown capability: CAP_FLY/);
  t.same(capsOfMask(0b101n), [CAP_NAMES[0], CAP_NAMES[2]]);
  t.equal(capbsetRead(21), (processCaps().bounding & (1n << 21n)) !== 0n);
  t.equal(getNoNewPrivs(), false);
});

t.test('pidfd_open and waitpid', async (t) => {
  const fd = pidfdOpen(process.pid);
  t.ok(fd > 2);
  closeSync(fd);
  t.match(t.throws(() => pidfdOpen(2 ** 22 + 1)), { code: 'ESRCH' });
  t.same(decodeWaitStatus(0x0900), { code: 9, signal: null });
  t.same(decodeWaitStatus(9), { code: null, signal: 9 });
  t.match(t.throws(() => waitpid(-1, 1)), { code: 'ECHILD' });
});

t.test('isLiveProcess: the same start time and no zombie', async (t) => {
  t.ok(isLiveProcess(process.pid, startTimeOf(process.pid)), 'this process');
  t.notOk(isLiveProcess(process.pid, startTimeOf(process.pid)! - 1), 'another start time: a reused pid');
  t.notOk(isLiveProcess(2 ** 22 + 1, 0), 'no such process');
  // A child of sleep, which never reaps it: a zombie as long as sleep runs. The child ends
  // only once its parent is sleep (a shell may reap a child that ends before its exec).
  const child = 'for i in $(seq 3000); do [ "$(cat /proc/$PPID/comm)" = sleep ] && exit 0; sleep 0.01; done';
  const sh = spawn('sh', ['-c', `sh -c '${child}' & echo $!; exec sleep 60`], { stdio: ['ignore', 'pipe', 'ignore'] });
  const line = await new Promise<string>((resolve) => sh.stdout.once('data', (d) => resolve(String(d))));
  const zombie = Number(line.trim());
  try {
    const start = startTimeOf(zombie);
    t.ok(start !== undefined, 'the zombie has a start time');
    // It may take a moment to end: bounded, no timing asserted.
    for (let k = 0; k < 3000 && isLiveProcess(zombie, start); k++) await new Promise((r) => setTimeout(r, 10));
    t.notOk(isLiveProcess(zombie, start), 'a zombie is no live process');
  } finally {
    sh.kill('SIGKILL');
  }
});

t.test('onReadable: an eventfd signalled, seen by the worker thread, drained, and again', async (t) => {
  const fd = eventfd();
  let calls = 0;
  let woke: () => void = () => {};
  const stop = onReadable(fd, () => {
    drainEventfd(fd);
    calls++;
    woke();
  });
  // The worker keeps no process alive: this test's wait must.
  const hold = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(hold));
  const one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
  for (const n of [1, 2]) {
    const seen = new Promise<void>((r) => { woke = r; });
    write(fd, one);
    await seen;
    t.equal(calls, n, `signal ${n}: one call`);
  }
  stop();
  closeSync(fd);
  // 32 at once through the one worker: each handler hears its own.
  const many = Array.from({ length: 32 }, () => eventfd());
  const heard = new Set<number>();
  let all: () => void = () => {};
  const done = new Promise<void>((r) => { all = r; });
  const stops = many.map((efd) => onReadable(efd, () => {
    drainEventfd(efd);
    heard.add(efd);
    if (heard.size === many.length) all();
  }));
  for (const efd of many) write(efd, one);
  await done;
  t.equal(heard.size, 32, '32 descriptors, each heard');
  for (const s of stops) s();
  for (const efd of many) closeSync(efd);
});

t.test('--explain lines for in-process calls', async (t) => {
  const lines: string[] = [];
  setExplain((l) => lines.push(l));
  t.teardown(() => setExplain(false));
  t.throws(() => chroot('/nonexistent-tsns'));
  t.same(lines, ['[parent] chroot("/nonexistent-tsns") = -1 ENOENT (No such file or directory)'], 'a library user\'s process is the parent of what it spawns');
});

t.test('--explain of a library spawn: the parent\'s and the child\'s lines; plumbing only with all; reasons with why', async (t) => {
  // The child writes to a copy of fd 2: run the library in a process of its own, read its stderr.
  const trace = async (mode: string) => {
    const script = `import { spawn } from '${new URL('../dist/spawn/index.js', import.meta.url).pathname}';
      import { setExplain } from '${new URL('../dist/sys/explain.js', import.meta.url).pathname}';
      setExplain(true, ${mode});
      await spawn({ namespaces: ['uts'], hostname: 'box', stdio: 'ignore' }, ['true']).exited;`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    return (await pipeText(child.stderr!)).split('\n');
  };
  const plain = await trace('{}');
  t.ok(plain.some((l) => /^\[parent\] clone\(.*CLONE_NEWUTS.*\) <unfinished \.\.\.>$/.test(l)), 'Node clones');
  t.ok(plain.includes('[child] sethostname("box", 3) = 0'), 'the child sets the hostname');
  t.ok(plain.some((l) => /^\[child\] execve\("\/usr\/bin\/true", \["true"\], \/\* \d+ vars \*\/\)$/.test(l)), 'and execs');
  t.notOk(plain.some((l) => /\] (pipe2|waitpid|read|fcntl|dup2)\(/.test(l)), 'no plumbing without all');
  const all = await trace('{ all: true }');
  t.ok(all.some((l) => /^\[parent\] pipe2\(/.test(l)), 'the report pipe with all');
  const why = await trace('{ why: true }');
  t.ok(why.includes('[child] sethostname("box", 3) = 0   # changes only this UTS namespace'), 'a reason with why');
});
