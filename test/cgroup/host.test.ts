// The library on this machine's real cgroups (hybrid here): limits read back, join,
// freeze/thaw, kill and remove; every group removed at teardown even on failure.
import t from 'tap';
import { existsSync } from 'node:fs';
import { createCgroup, detectLayout, listCgroups, openCgroup } from '../../src/cgroup/index.js';
import { cleanUp, skipReason, sleep, startChild, uniqueName } from './fixtures/helpers.js';

const skip = skipReason();

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

  const child = startChild(t, 'sleep 20');
  g.join(child.pid!);
  t.same(g.procs(), [child.pid]);
  t.equal(g.events().populated, true);
  await t.rejects(g.remove({ timeout: 100 }), { name: 'CgroupError', message: /still has processes/ }, 'remove waits, then says why');
  await g.kill();
  t.same(g.procs(), [], 'kill empties the group');
  await g.remove();
  t.notOk(g.exists(), 'gone from every hierarchy');
});

t.test('freeze stops progress, thaw resumes it', { skip }, async (t) => {
  const name = uniqueName('freeze');
  cleanUp(t, name);
  const g = createCgroup(name);
  // Counts in a busy loop; its CPU time (cgroup cpu usage) is its progress.
  const child = startChild(t, 'i=0; while [ $i -lt 200000000 ]; do i=$((i+1)); done');
  g.join(child.pid!);
  await sleep(150);
  const usage = () => g.stats().cpuUsageUsec ?? 0;
  t.ok(usage() > 0, 'counting');
  await g.freeze();
  t.equal(g.events().frozen, true, 'frozen');
  const frozenAt = usage();
  await sleep(300);
  t.ok(usage() - frozenAt < 5000, `no progress while frozen (${usage() - frozenAt} us)`);
  await g.thaw();
  t.equal(g.events().frozen, false);
  await sleep(200);
  t.ok(usage() - frozenAt > 20000, `resumed after thaw (${usage() - frozenAt} us)`);
  await g.kill();
  t.same(g.procs(), []);
  t.equal(g.events().populated, false);
  await g.remove();
});

t.test('kill reaches processes forked inside the group', { skip }, async (t) => {
  const name = uniqueName('killtree');
  cleanUp(t, name);
  const g = createCgroup(name);
  const child = startChild(t, 'sleep 20 & sleep 20 & sleep 20 & wait');
  g.join(child.pid!);
  // The shell was moved in after it started; its children fork inside.
  await sleep(100);
  await g.kill();
  t.same(g.procs(), []);
  await g.remove();
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
