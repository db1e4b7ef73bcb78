// The library on this machine's real cgroups (hybrid here): limits read back, join,
// freeze/thaw, kill and remove; every group removed at teardown even on failure.
import t from 'tap';
// No assertion here depends on how fast anything runs: where the kernel or a child needs
// time (a child to be scheduled, a freeze to settle), the test polls with a deadline.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Test } from 'tap';
import { createCgroup, detectLayout, listCgroups, openCgroup } from '../../src/cgroup/index.js';
import { cleanUp, skipReason, sleep, startChild, uniqueName } from './fixtures/helpers.js';

const skip = skipReason();

/** Poll `done` until it holds; fail the test (with `what`) after `ms`, however loaded the machine. */
async function until(t: Test, what: string, done: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) {
      t.fail(`timed out after ${ms} ms: ${what}`);
      return false;
    }
    await sleep(10);
  }
  return true;
}

/** A shell child that runs `script` only once a line arrives on its stdin (after it has been moved into a group). */
function startGated(t: Test, script: string) {
  const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'ignore', 'ignore'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  timer.unref();
  t.teardown(() => {
    clearTimeout(timer);
    child.kill('SIGKILL');
  });
  return { pid: child.pid!, go: () => child.stdin!.end('go\n') };
}

t.test('create, limit, read back, join, procs, remove', { skip }, async (t) => {
  const name = uniqueName('basic');
  cleanUp(t, name);
  const g = createCgroup(name);
  t.ok(g.dirs.length >= 1);
  for (const d of g.dirs) t.ok(existsSync(d), `${d} made`);
  g.limit({ memory: '64M', pids: 16, cpu: '0.5', cpuWeight: 200 });
  const s = g.stats();
  t.equal(s.memoryMax, 64 * 2 ** 20, 'memory limit read back');
  t.equal(s.pidsMax, 16);
  t.equal(s.cpuMax, 0.5);
  t.same(openCgroup(name).dirs.sort(), [...g.dirs].sort(), 'openCgroup finds the same directories');
  t.ok(listCgroups().some((x) => x.name === name), 'listed');

  const child = startChild(t, 'exec sleep 20');
  g.join(child.pid!);
  t.same(g.procs(), [child.pid]);
  t.equal(g.events().populated, true);
  await t.rejects(g.remove({ timeout: 100 }), { name: 'CgroupError', message: /still has processes/ }, 'remove waits, then says why');
  await g.kill({ timeout: 20_000 });
  t.same(g.procs(), [], 'kill empties the group');
  await g.remove({ timeout: 20_000 });
  t.notOk(g.exists(), 'gone from every hierarchy');
});

t.test('freeze stops progress, thaw resumes it', { skip }, async (t) => {
  const name = uniqueName('freeze');
  cleanUp(t, name);
  const g = createCgroup(name);
  // A busy loop that starts once it is in the group; the group's CPU time is its progress.
  const child = startGated(t, 'while :; do :; done');
  g.join(child.pid);
  child.go();
  const usage = () => g.stats().cpuUsageUsec ?? 0;
  await until(t, 'the child uses CPU time in the group', () => usage() > 0);
  await g.freeze({ timeout: 20_000 });
  t.equal(g.events().frozen, true, 'frozen');
  const frozenAt = usage();
  // Time for a runnable loop to show progress; a frozen one shows none, however long this takes.
  await sleep(300);
  t.ok(usage() - frozenAt < 5000, `no progress while frozen (${usage() - frozenAt} us)`);
  t.equal(g.events().frozen, true, 'still frozen');
  await g.thaw({ timeout: 20_000 });
  t.equal(g.events().frozen, false);
  const thawedAt = usage();
  await until(t, 'progress after thaw', () => usage() > thawedAt + 1000);
  await g.kill({ timeout: 20_000 });
  t.same(g.procs(), []);
  t.equal(g.events().populated, false);
  await g.remove({ timeout: 20_000 });
});

t.test('kill reaches processes forked inside the group', { skip }, async (t) => {
  const name = uniqueName('killtree');
  cleanUp(t, name);
  const g = createCgroup(name);
  // The shell is moved in first, and forks only then: its children start inside.
  const child = startGated(t, 'sleep 60 & sleep 60 & sleep 60 & wait');
  g.join(child.pid);
  child.go();
  await until(t, 'the shell and its three children in the group', () => g.procs().length === 4);
  const forked = g.procs().filter((p) => p !== child.pid);
  t.equal(forked.length, 3, 'three children forked inside');
  await g.kill({ timeout: 20_000 });
  t.same(g.procs(), [], 'the group is empty');
  for (const pid of forked) {
    // gone, or at most a zombie waiting for its reaper
    let state = '';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.[0] ?? '';
    } catch { /* gone */ }
    t.ok(state === '' || state === 'Z' || state === 'X', `child ${pid} killed (state '${state || 'gone'}')`);
  }
  await g.remove({ timeout: 20_000 });
});

t.test('a limit on a missing controller, on the real kernel: cgroup2 alone here has none', { skip: skip ?? (detectLayout().unified ? undefined : 'no cgroup2 hierarchy') }, async (t) => {
  const unified = detectLayout().unified!;
  // This host's cgroup2 seen as if it were the only hierarchy.
  const layout = detectLayout({ cgroup: `0::${unified.self}\n`, mounts: `cgroup2 ${unified.mount} cgroup2 rw 0 0\n` });
  const name = uniqueName('nomem');
  cleanUp(t, name, { layout });
  const g = createCgroup(name, { layout });
  if (layout.unified!.controllers.includes('memory')) {
    t.pass('cgroup2 here has memory; nothing missing to test');
  } else {
    t.throws(() => g.limit({ memory: '32M' }), { name: 'CgroupError', message: /needs the memory controller, which this host does not have/ });
  }
  await g.remove();
  t.notOk(g.exists(), 'nothing left behind');
});

t.test('errors leave nothing behind', { skip }, async (t) => {
  t.throws(() => openCgroup(uniqueName('absent')), { name: 'CgroupError', message: /no such group/ });
  const name = uniqueName('dup');
  cleanUp(t, name);
  createCgroup(name);
  t.throws(() => createCgroup(name), { name: 'CgroupError', code: 'EEXIST', message: /exists already/ });
  t.ok(openCgroup(name).exists(), 'the first one is untouched');
  const g = openCgroup(name);
  t.throws(() => g.limit({ memory: '12Q' }), { message: /invalid memory limit/ });
  t.throws(() => g.join(2 ** 22 + 12345), { name: 'CgroupError', code: 'ESRCH' });
  await g.remove();
});

t.test('startJoinGracePeriod moves nothing, and --explain shows its write', { skip }, async (t) => {
  const { startJoinGracePeriod } = await import('../../src/cgroup/index.js');
  const { setExplain } = await import('../../src/sys/explain.js');
  const before = readFileSync('/proc/self/cgroup', 'utf8');
  const lines: string[] = [];
  setExplain((line) => lines.push(line));
  t.teardown(() => setExplain(false));
  const layout = detectLayout();
  startJoinGracePeriod(layout);
  await until(t, 'the write done', () => lines.length > 0, 30_000);
  const own = layout.unified ?? layout.v1[0];
  t.match(lines[0], `write("${own.base}/cgroup.procs", "0", 1) = 1`);
  t.equal(readFileSync('/proc/self/cgroup', 'utf8'), before, 'this process is where it was, in every hierarchy');
  // A layout whose group is gone: nothing is written, nothing is thrown.
  startJoinGracePeriod({ ...layout, unified: { ...own, base: '/nonexistent' }, v1: [] });
});
