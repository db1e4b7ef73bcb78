// Layout detection on recorded /proc/self/cgroup + /proc/mounts samples of all three layouts.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { CgroupError, controllersByVersion, detectLayout, hierarchyFor } from '../../src/cgroup/index.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const sample = (kind: string) => ({ cgroup: fixture(`${kind}.cgroup`), mounts: fixture(`${kind}.mounts`) });

t.test('pure cgroup2', async (t) => {
  const l = detectLayout({ ...sample('v2'), v2Controllers: fixture('v2.controllers') });
  t.equal(l.kind, 'v2');
  t.same(l.v1, []);
  t.match(l.unified, {
    version: 2, mount: '/sys/fs/cgroup', self: '/user.slice/user-1000.slice/session-3.scope',
    base: '/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope',
    controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'],
  });
  for (const c of ['memory', 'pids', 'cpu', 'io', 'blkio']) t.equal(hierarchyFor(l, c), l.unified, `${c} on v2`);
  t.equal(hierarchyFor(l, 'freezer'), undefined, 'no v1 freezer');
});

t.test('hybrid (this CI machine, recorded)', async (t) => {
  const l = detectLayout({ ...sample('hybrid'), v2Controllers: 'hugetlb\n' });
  t.equal(l.kind, 'hybrid');
  t.match(l.unified, { mount: '/sys/fs/cgroup/unified', self: '/', base: '/sys/fs/cgroup/unified', controllers: ['hugetlb'] });
  t.same(l.v1.map((h) => h.controllers.join(',')).sort(), ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids'], 'name=systemd left out');
  const mem = hierarchyFor(l, 'memory')!;
  t.match(mem, { version: 1, mount: '/sys/fs/cgroup/memory', self: '/process_api/9ff9d3dbe39975e36ab1fda341ee4ad7' });
  t.equal(mem.base, '/sys/fs/cgroup/memory/process_api/9ff9d3dbe39975e36ab1fda341ee4ad7', 'groups go below the caller');
  t.equal(hierarchyFor(l, 'io')?.mount, '/sys/fs/cgroup/blkio', 'io maps to blkio on v1');
  t.equal(hierarchyFor(l, 'pids')?.version, 1);
  t.same(controllersByVersion(l).v2, ['hugetlb']);
});

t.test('pure v1 with co-mounted controllers', async (t) => {
  const l = detectLayout(sample('v1'));
  t.equal(l.kind, 'v1');
  t.equal(l.unified, undefined);
  const cpu = hierarchyFor(l, 'cpu')!;
  t.equal(cpu, hierarchyFor(l, 'cpuacct'), 'cpu and cpuacct share one hierarchy');
  t.same(cpu.controllers, ['cpu', 'cpuacct']);
  t.equal(cpu.base, '/sys/fs/cgroup/cpu,cpuacct/user.slice');
  t.equal(hierarchyFor(l, 'memory')!.base, '/sys/fs/cgroup/memory/user.slice/user-1000.slice/session-2.scope');
  t.equal(hierarchyFor(l, 'freezer')!.base, '/sys/fs/cgroup/freezer');
  t.same(hierarchyFor(l, 'net_prio')?.controllers, ['net_cls', 'net_prio']);
  t.same(controllersByVersion(l).v2, []);
});

t.test('escaped mount points and no cgroups at all', async (t) => {
  const l = detectLayout({ cgroup: '0::/a\n', mounts: 'cgroup2 /mnt/my\\040cgroups cgroup2 rw 0 0\n', v2Controllers: '' });
  t.equal(l.unified?.base, '/mnt/my cgroups/a');
  t.same(l.unified?.controllers, []);
  t.throws(() => detectLayout({ cgroup: '0::/\n', mounts: 'proc /proc proc rw 0 0\n' }), CgroupError);
});

t.test('this host, live', async (t) => {
  const l = detectLayout();
  t.ok(['v2', 'hybrid', 'v1'].includes(l.kind));
  t.ok(l.unified || l.v1.length);
});
