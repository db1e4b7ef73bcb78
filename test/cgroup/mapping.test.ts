// The exact v1/v2 file mapping, on fake cgroup trees (plain files in a temporary
// directory), so the pure-v2 and pure-v1 paths are covered on any host.
import t from 'tap';
import { explainedWrites } from '../helpers.js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CgroupError, createCgroup, detectLayout, openCgroup } from '../../src/cgroup/index.js';
import { setExplain } from '../../src/sys/explain.js';

const root = mkdtempSync(`${tmpdir()}/tsns-cgroup-map-`);
t.teardown(() => rmSync(root, { recursive: true, force: true }));

const read = (p: string) => readFileSync(p, 'utf8');
const files = (dir: string, names: Record<string, string>) => {
  mkdirSync(dir, { recursive: true });
  for (const [n, v] of Object.entries(names)) writeFileSync(`${dir}/${n}`, v);
};

t.test('pure cgroup2: subtree_control, then memory.max, pids.max, cpu.max, cpu.weight, io.max, memory.swap.max', async (t) => {
  const mnt = `${root}/v2`;
  files(`${mnt}/user.slice`, { 'cgroup.controllers': 'cpuset cpu io memory pids\n', 'cgroup.subtree_control': '' });
  const layout = detectLayout({ cgroup: '0::/user.slice\n', mounts: `cgroup2 ${mnt} cgroup2 rw 0 0\n`, v2Controllers: 'cpuset cpu io memory pids' });
  const lines: string[] = [];
  setExplain((l) => lines.push(l), { all: true });
  t.teardown(() => setExplain(false));
  const g = createCgroup('box', { layout });
  t.same(g.dirs, [`${mnt}/user.slice/box`], 'one directory on pure v2');
  t.equal(read(`${mnt}/user.slice/cgroup.subtree_control`), '+memory +pids +cpu +io', 'controllers handed down first');
  files(g.dirs[0], { 'memory.max': 'max', 'memory.swap.max': 'max', 'pids.max': 'max', 'cpu.max': 'max 100000', 'cpu.weight': '100', 'io.max': '', 'cgroup.procs': '', 'cgroup.freeze': '0', 'cgroup.kill': '' });
  g.limit({ memory: '64M', memorySwap: 0, pids: 16, cpu: '0.5', cpuWeight: 200, io: '254:0 rbps=1M wiops=100' });
  const d = g.dirs[0];
  t.equal(read(`${d}/memory.max`), '67108864');
  t.equal(read(`${d}/memory.swap.max`), '0');
  t.equal(read(`${d}/pids.max`), '16');
  t.equal(read(`${d}/cpu.max`), '50000 100000');
  t.equal(read(`${d}/cpu.weight`), '200');
  t.equal(read(`${d}/io.max`), '254:0 rbps=1048576 wiops=100');
  g.limit({ memory: 'max', cpu: 'max', pids: 'max' });
  t.equal(read(`${d}/memory.max`), 'max');
  t.equal(read(`${d}/cpu.max`), 'max 100000');
  t.ok(explainedWrites(lines).includes('memory.max "67108864"'), '--explain names each write');
  t.ok(lines.includes(`[parent] mkdir("${d}", 0777) = 0`), 'a library user\'s lines are the parent\'s');

  files(d, { 'memory.current': '1234', 'memory.peak': '5678', 'memory.events': 'low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n', 'pids.current': '3', 'cpu.stat': 'usage_usec 4200\nuser_usec 4000\n', 'cgroup.events': 'populated 1\nfrozen 0\n' });
  g.limit({ cpu: 1.5 });
  t.same(g.stats(), { memoryCurrent: 1234, memoryPeak: 5678, memoryMax: 'max', oomKills: 1, pidsCurrent: 3, pidsMax: 'max', cpuUsageUsec: 4200, cpuMax: 1.5 });
  t.same(g.events(), { populated: true, frozen: false, oom: 2, oomKill: 1 });
  t.ok(lines.some((l) => l.startsWith(`[parent] openat(AT_FDCWD, "${d}/pids.current", O_RDONLY`)) && lines.some((l) => /^\[parent\] read\(\d+, "3", 1\) = 1$/.test(l)), '--explain names each read (with --explain=all)');
  t.same(openCgroup('box', { layout }).dirs, g.dirs);
});

t.test('pure v1: memory.limit_in_bytes, memsw, cfs quota/period, shares, blkio.throttle', async (t) => {
  const mnt = `${root}/v1`;
  const ctl = ['memory', 'pids', 'cpu,cpuacct', 'blkio', 'freezer'];
  const mounts = ctl.map((c) => `cgroup ${mnt}/${c} cgroup rw,relatime,${c} 0 0`).join('\n');
  const cgroup = ctl.map((c, i) => `${i + 1}:${c}:/${c === 'memory' ? 'deep/er' : ''}`).join('\n');
  for (const c of ctl) mkdirSync(`${mnt}/${c}${c === 'memory' ? '/deep/er' : ''}`, { recursive: true });
  const layout = detectLayout({ cgroup, mounts });
  t.equal(layout.kind, 'v1');
  const g = createCgroup('box', { layout });
  t.same(g.dirs.sort(), [`${mnt}/blkio/box`, `${mnt}/cpu,cpuacct/box`, `${mnt}/freezer/box`, `${mnt}/memory/deep/er/box`, `${mnt}/pids/box`],
    'one directory per hierarchy, below where the caller sits in each');
  const dir = (c: string) => g.dirs.find((d) => d.startsWith(`${mnt}/${c}/`))!;
  files(dir('memory'), { 'memory.limit_in_bytes': '9223372036854771712', 'memory.memsw.limit_in_bytes': '9223372036854771712' });
  files(dir('pids'), { 'pids.max': 'max' });
  files(dir('cpu,cpuacct'), { 'cpu.cfs_quota_us': '-1', 'cpu.cfs_period_us': '100000', 'cpu.shares': '1024' });
  files(dir('blkio'), { 'blkio.throttle.read_bps_device': '', 'blkio.throttle.write_iops_device': '' });
  const lines: string[] = [];
  setExplain((l) => lines.push(l), { all: true });
  t.teardown(() => setExplain(false));
  g.limit({ memory: '32M', memorySwap: '16M', pids: 8, cpu: 0.2, cpuWeight: 50, io: '8:16 rbps=2M wiops=max' });
  t.equal(read(`${dir('memory')}/memory.limit_in_bytes`), '33554432');
  t.equal(read(`${dir('memory')}/memory.memsw.limit_in_bytes`), String(48 * 2 ** 20), 'memsw = memory + swap');
  const memWrites = explainedWrites(lines).filter((l) => l.startsWith('memory.'));
  t.same(memWrites, ['memory.memsw.limit_in_bytes "-1"', 'memory.limit_in_bytes "33554432"', 'memory.memsw.limit_in_bytes "50331648"'], 'memsw opened before the memory limit');
  t.equal(read(`${dir('pids')}/pids.max`), '8');
  t.equal(read(`${dir('cpu,cpuacct')}/cpu.cfs_period_us`), '100000');
  t.equal(read(`${dir('cpu,cpuacct')}/cpu.cfs_quota_us`), '20000');
  t.equal(read(`${dir('cpu,cpuacct')}/cpu.shares`), '512', 'weight 50 = 512 shares');
  t.equal(read(`${dir('blkio')}/blkio.throttle.read_bps_device`), '8:16 2097152');
  t.equal(read(`${dir('blkio')}/blkio.throttle.write_iops_device`), '8:16 0', 'max removes the v1 rule');
  g.limit({ memory: 'max', cpu: 'max' });
  t.equal(read(`${dir('memory')}/memory.limit_in_bytes`), '-1');
  t.equal(read(`${dir('cpu,cpuacct')}/cpu.cfs_quota_us`), '-1');
  t.throws(() => g.limit({ memorySwap: '1M' }), { message: /needs a memory limit too/ }, 'v1 swap needs a memory limit');

  files(dir('memory'), { 'memory.usage_in_bytes': '100', 'memory.max_usage_in_bytes': '200', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n', 'cgroup.procs': '' });
  files(dir('pids'), { 'pids.current': '0', 'cgroup.procs': '' });
  files(dir('cpu,cpuacct'), { 'cpuacct.usage': '5000000', 'cgroup.procs': '' });
  files(dir('freezer'), { 'freezer.state': 'THAWED', 'cgroup.procs': '' });
  files(dir('blkio'), { 'cgroup.procs': '' });
  t.same(g.stats(), { memoryCurrent: 100, memoryPeak: 200, memoryMax: 'max', oomKills: 2, pidsCurrent: 0, pidsMax: 8, cpuUsageUsec: 5000, cpuMax: 'max' });
  t.same(g.events(), { populated: false, frozen: false, oom: 2, oomKill: 2 });
  await g.freeze({ timeout: 100 }); // a plain file "becomes" FROZEN at once
  t.equal(read(`${dir('freezer')}/freezer.state`), 'FROZEN');
  await g.thaw({ timeout: 100 });
  t.equal(read(`${dir('freezer')}/freezer.state`), 'THAWED');
});

t.test('a limit on a controller the host lacks names it, and writes nothing', async (t) => {
  const mnt = `${root}/nopids`;
  mkdirSync(`${mnt}/memory`, { recursive: true });
  const layout = detectLayout({ cgroup: '1:memory:/\n', mounts: `cgroup ${mnt}/memory cgroup rw,memory 0 0\n` });
  const g = createCgroup('box', { layout });
  files(g.dirs[0], { 'memory.limit_in_bytes': 'unchanged' });
  t.throws(() => g.limit({ memory: '1M', pids: 4 }), { name: 'CgroupError', message: /needs the pids controller, which this host does not have/ });
  t.equal(read(`${g.dirs[0]}/memory.limit_in_bytes`), 'unchanged', 'validated before any write');

  const v2 = `${root}/v2-nomem`;
  files(v2, { 'cgroup.controllers': 'pids', 'cgroup.subtree_control': '' });
  const l2 = detectLayout({ cgroup: '0::/\n', mounts: `cgroup2 ${v2} cgroup2 rw 0 0\n`, v2Controllers: 'pids' });
  const g2 = createCgroup('box', { layout: l2 });
  t.throws(() => g2.limit({ memory: '1M' }), /needs the memory controller, which this host does not have \(not in .*cgroup\.controllers/);
  t.throws(() => g2.limit({ pids: 4 }), { message: /the pids limit needs pids\.max, which group 'box' lacks: the pids controller is not enabled/ }, 'missing file');
});

t.test('names', async (t) => {
  const layout = detectLayout({ cgroup: '0::/\n', mounts: `cgroup2 ${root}/v2 cgroup2 rw 0 0\n`, v2Controllers: '' });
  for (const bad of ['', '..', 'a/../b', '/abs', 'a b', 'a//b', '.hidden', 'x\n'])
    t.throws(() => createCgroup(bad, { layout }), { name: 'CgroupError', message: /invalid group name/ }, JSON.stringify(bad));
  t.throws(() => openCgroup('nope', { layout }), { message: /^no such group: 'nope'/ });
  t.throws(() => createCgroup('missing-parent/child', { layout }), CgroupError);
  t.notOk(existsSync(`${root}/v2/missing-parent`), 'nothing left behind');
});
