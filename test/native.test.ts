// The native stage on its own, driven by hand-built plans.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { runStage, StepError } from '../src/native/stage.js';
import { encodePlan, FORK, type Step } from '../src/native/plan.js';
import { waitpid, decodeWaitStatus } from '../src/sys/proc.js';
import { CLONE_NEWPID, CLONE_NEWUTS, CLONE_NEWUSER } from '../src/sys/ns.js';
import { SysError } from '../src/sys/errors.js';
import { koffi } from '../src/sys/libc.js';
import { NATIVE_LIBRARY } from '../src/native/stage.js';

const exitOf = (pid: number) => decodeWaitStatus(waitpid(pid).status);

t.test('a plan runs in order and execs', async (t) => {
  const pid = runStage([
    { op: 'sethostname', name: 'plan-host' },
    { op: 'exec', file: 'sh', argv: ['sh', '-c', 'test "$(hostname)" = plan-host'], env: ['PATH=/usr/bin:/bin'], search: true },
  ], { cloneFlags: CLONE_NEWUTS });
  t.same(exitOf(pid), { code: 0, signal: null });
});

t.test('a failing step is reported as (step, errno) and leaves no child', async (t) => {
  const steps: Step[] = [
    { op: 'chdir', path: '/nonexistent-tsns' },
    { op: 'exec', file: '/bin/true', argv: ['true'], env: [], search: false },
  ];
  const err = t.throws(() => runStage(steps, { cloneFlags: 0 })) as unknown as StepError;
  t.type(err, StepError);
  t.equal(err.step, steps[0]);
  t.equal(err.code, 'ENOENT');
  t.equal(err.syscall, 'chdir');
  t.throws(() => waitpid(-1, 1), { code: 'ECHILD' }, 'the child was reaped');
});

t.test('exec failures carry the errno of the search', async (t) => {
  const err = t.throws(() => runStage([{ op: 'exec', file: 'no-such-tsns', argv: ['x'], env: ['PATH=/bin'], search: true }], { cloneFlags: 0 })) as unknown as StepError;
  t.equal(err.code, 'ENOENT');
});

t.test('sync: the parent acts while the child waits', async (t) => {
  let seen = 0;
  const pid = runStage([
    { op: 'sync' },
    { op: 'exec', file: '/bin/sh', argv: ['sh', '-c', 'test "$(cat /proc/self/uid_map | tr -s " ")" = " 0 0 1"'], env: [], search: false },
  ], {
    cloneFlags: CLONE_NEWUSER,
    onSync: (child) => {
      seen = child;
      writeFileSync(`/proc/${child}/uid_map`, "0 0 1");
    },
  });
  t.equal(seen, pid);
  t.same(exitOf(pid), { code: 0, signal: null });
});

t.test('init: the program is pid 2, and the init ends as it did (a pid 1 through its fork\'s INIT_STATUS pipe)', async (t) => {
  const plan = (script: string, mode: number): Step[] => [
    { op: 'unshare', flags: CLONE_NEWPID },
    { op: 'fork', mode, deathSignal: 0 },
    { op: 'init', mode: 0 },
    { op: 'exec', file: '/bin/sh', argv: ['sh', '-c', script], env: [], search: false },
  ];
  t.same(exitOf(runStage(plan('test $$ = 2 && exit 7', FORK.initStatus), { cloneFlags: 0 })), { code: 7, signal: null });
  t.same(exitOf(runStage(plan('kill -9 $$', FORK.initStatus), { cloneFlags: 0 })), { code: null, signal: 9 }, 'the signal itself');
  t.same(exitOf(runStage(plan('kill -9 $$', 0), { cloneFlags: 0 })), { code: 137, signal: null }, 'without the pipe, a pid 1 can only say 128+N');
  // An orphan is the init's to reap: it is gone (not a zombie) before the program ends.
  const orphan = 'p=$(sh -c "sleep 0.1 & echo \\$!"); i=0; while [ -e /proc/$p ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; test ! -e /proc/$p';
  t.same(exitOf(runStage([{ op: 'unshare', flags: CLONE_NEWPID }, { op: 'fork', mode: FORK.initStatus, deathSignal: 0 }, { op: 'unshare', flags: 0x20000 /* CLONE_NEWNS */ },
    { op: 'mount', source: 'none', target: '/', fstype: null, flags: 0x40000 | 0x4000 /* MS_PRIVATE|MS_REC */ },
    { op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: 0 }, ...plan(orphan, 0).slice(2)], { cloneFlags: 0 })), { code: 0, signal: null }, 'the orphan reaped');
});

t.test('lockFile: a read lock held by the process that takes it, an init\'s for the program\'s life', async (t) => {
  const file = `/tmp/tsns-native-lock-${process.pid}`;
  writeFileSync(file, '');
  t.teardown(() => rmSync(file, { force: true }));
  const probe = `import fcntl,struct;f=open("${file}");r=fcntl.fcntl(f,fcntl.F_GETLK,struct.pack("hhqqi",fcntl.F_WRLCK,0,0,0,0));exit(struct.unpack("hhqqi",r)[0])`;
  const steps: Step[] = [
    { op: 'lockFile', path: file },
    { op: 'init', mode: 0 },
    { op: 'exec', file: '/usr/bin/python3', argv: ['python3', '-c', probe], env: [], search: false },
  ];
  t.same(exitOf(runStage(steps, { cloneFlags: 0 })), { code: 0, signal: null }, 'F_RDLCK (0) seen by the program');
  const missing = t.throws(() => runStage([{ op: 'lockFile', path: `${file}-missing` }, ...steps.slice(1)], { cloneFlags: 0 })) as unknown as StepError;
  t.equal(missing.code, 'ENOENT');
});

t.test('the C side refuses a malformed plan', async (t) => {
  const lib = koffi().load(NATIVE_LIBRARY);
  const spawn = lib.func('int tsns_spawn(const uint8_t *plan, size_t len, unsigned long flags, int report_fd, int go_fd, int explain_fd, int report_read, int go_write)');
  const good = encodePlan([{ op: 'chdir', path: '/' }]);
  const unknownOp = Buffer.from(good);
  unknownOp.writeUInt32LE(99, 0);
  t.equal(spawn(unknownOp, unknownOp.length, 0, -1, -1, -1, -1, -1), -22, 'unknown opcode: -EINVAL');
  const truncated = good.subarray(0, good.length - 3);
  t.equal(spawn(truncated, truncated.length, 0, -1, -1, -1, -1, -1), -22, 'truncated: -EINVAL');
});

t.test('clone failures become SysError', async (t) => {
  // CLONE_NEWUSER with CLONE_FS is refused by the kernel.
  const err = t.throws(() => runStage([{ op: 'exec', file: '/bin/true', argv: ['true'], env: [], search: false }], { cloneFlags: CLONE_NEWUSER | 0x200 }));
  t.type(err, SysError);
  t.match(err, { syscall: 'clone', code: 'EINVAL' });
});
