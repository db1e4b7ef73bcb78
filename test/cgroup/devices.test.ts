// Device allow-lists: the rule format, the v1 writes (deny all, then allow each rule, in
// order) on a fake tree, the error on cgroup2, and a real group on this host when it has
// a v1 devices controller.
import t from 'tap';
import { explainedWrites } from '../helpers.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createCgroup, DEFAULT_DEVICES, detectLayout, formatDevice, openCgroup, parseDevice } from '../../src/cgroup/index.js';
import { setExplain } from '../../src/sys/explain.js';

const root = mkdtempSync(`${tmpdir()}/tsns-cgroup-dev-`);
t.teardown(() => rmSync(root, { recursive: true, force: true }));

t.test('rules: "TYPE MAJOR:MINOR ACCESS", objects, and what is refused', async (t) => {
  t.same(parseDevice('c 1:3 rwm'), { type: 'c', major: 1, minor: 3, access: 'rwm' });
  t.same(parseDevice(' c 136:* rw '), { type: 'c', major: 136, minor: '*', access: 'rw' });
  t.same(parseDevice('a m'), { type: 'a', major: '*', minor: '*', access: 'm' });
  t.equal(formatDevice(parseDevice({ type: 'b', major: '*', minor: '*', access: 'm' })), 'b *:* m');
  for (const bad of ['c 1:3', 'x 1:3 r', 'c 1 r', 'c 1:3 rwx', 'c 1:3 rr', 'c -1:3 r', 'b r']) {
    t.throws(() => parseDevice(bad), { name: 'CgroupError', message: new RegExp(`^invalid device rule '${bad}'`) }, bad);
  }
  for (const rule of DEFAULT_DEVICES) t.equal(formatDevice(parseDevice(rule)), rule, `default ${rule} round-trips`);
});

t.test('v1: a group made with devices: true denies all, then allows each rule in order', async (t) => {
  const mnt = `${root}/v1`;
  const ctl = ['memory', 'pids', 'devices'];
  const mounts = ctl.map((c) => `cgroup ${mnt}/${c} cgroup rw,relatime,${c} 0 0`).join('\n');
  const cgroup = ctl.map((c, i) => `${i + 1}:${c}:/`).join('\n');
  for (const c of ctl) mkdirSync(`${mnt}/${c}`, { recursive: true });
  const layout = detectLayout({ cgroup, mounts });
  t.notOk(createCgroup('plain', { layout }).dirs.some((d) => d.includes('/devices/')), 'not in the devices hierarchy unless asked');
  const g = createCgroup('box', { layout, devices: true });
  t.ok(g.controls('devices'));
  const dir = `${mnt}/devices/box`;
  t.ok(g.dirs.includes(dir));
  t.same(openCgroup('box', { layout }).dirs.sort(), [...g.dirs].sort(), 'openCgroup finds it there too');
  writeFileSync(`${dir}/devices.deny`, '');
  writeFileSync(`${dir}/devices.allow`, '');
  const lines: string[] = [];
  setExplain((l) => lines.push(l));
  t.teardown(() => setExplain(false));
  g.limit({ devices: ['c 1:3 rwm', { type: 'c', major: 136, minor: '*', access: 'rwm' }] });
  t.same(explainedWrites(lines),
    ['devices.deny "a"', 'devices.allow "c 1:3 rwm"', 'devices.allow "c 136:* rwm"']);
});

t.test('cgroup2: no devices files; the list is loaded as a BPF program and attached to the group', async (t) => {
  const mnt = `${root}/v2`;
  mkdirSync(`${mnt}/user.slice`, { recursive: true });
  writeFileSync(`${mnt}/user.slice/cgroup.controllers`, 'memory pids\n');
  writeFileSync(`${mnt}/user.slice/cgroup.subtree_control`, '');
  const layout = detectLayout({ cgroup: '0::/user.slice\n', mounts: `cgroup2 ${mnt} cgroup2 rw 0 0\n`, v2Controllers: 'memory pids' });
  const g = createCgroup('box', { layout, devices: true });
  t.notOk(g.controls('devices'));
  const lines: string[] = [];
  setExplain((l) => lines.push(l));
  t.teardown(() => setExplain(false));
  // The program loads; attaching it to a directory that is no cgroup2 group fails.
  t.throws(() => g.limit({ devices: DEFAULT_DEVICES }), { name: 'SysError', message: /BPF_PROG_ATTACH/ });
  t.match(lines.join('\n'), /bpf\(BPF_PROG_LOAD, \{prog_type=15, /);
});

t.test('this host: the kernel takes the default list', { skip: !existsSync('/sys/fs/cgroup/devices/devices.list') && 'no v1 devices controller' }, async (t) => {
  const g = createCgroup(`tsns-devices-test-${process.pid}`, { devices: true });
  t.teardown(() => g.remove());
  g.limit({ devices: DEFAULT_DEVICES });
  const dir = g.dirs.find((d) => d.includes('/devices/'))!;
  const list = readFileSync(`${dir}/devices.list`, 'utf8').trim().split('\n');
  t.same(list.sort(), [...DEFAULT_DEVICES].sort());
});
