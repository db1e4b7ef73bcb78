// The cgroup2 device allow-list: a BPF_CGROUP_DEVICE program built from v1-style rules,
// attached to a group of the unified hierarchy and tried with real opens from inside it.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { attachDeviceFilter, deviceProgram } from '../../src/cgroup/device-filter.js';
import { DEFAULT_DEVICES, parseDevice } from '../../src/cgroup/devices.js';
import { detectLayout } from '../../src/cgroup/layout.js';

t.test('the program: a prologue, one block per rule, deny at the end', async (t) => {
  const empty = deviceProgram([]);
  t.equal(empty.length, 8 * 8, 'six loads and shifts, then r0 = 0; exit');
  t.equal(empty.readUInt8(empty.length - 8), 0x95, 'ends in exit');
  t.equal(empty.readInt32LE(empty.length - 12), 0, 'with r0 = 0 (deny)');
  // c 1:3 rwm: type, major, minor tests, then r0 = 1; exit.
  t.equal(deviceProgram([parseDevice('c 1:3 rwm')]).length, empty.length + 5 * 8);
  // a *:* r: only the access test (three instructions).
  t.equal(deviceProgram([parseDevice('a *:* r')]).length, empty.length + 5 * 8);
});

const unified = detectLayout().unified;
const base = unified?.base;

/** Run `script` in a shell that has joined the unified group `dir`; its stdout. */
function inGroup(dir: string, script: string): string {
  return execFileSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs; ${script}`], { encoding: 'utf8' });
}

t.test('attached to a cgroup2 group, the rules decide what members open', { skip: base ? false : 'no cgroup2 hierarchy' }, async (t) => {
  const dir = `${base}/tsns-devfilter-${process.pid}`;
  mkdirSync(dir);
  t.teardown(() => rmdirSync(dir));
  // urandom only for reading (redirections go to /dev/null, which stays rwm).
  attachDeviceFilter(dir, [...DEFAULT_DEVICES.filter((r) => r !== 'c 1:9 rwm'), 'c 1:9 r'].map(parseDevice));
  const block = ['/dev/vda', '/dev/sda', '/dev/nvme0n1', '/dev/loop0'].find((d) => existsSync(d) && statSync(d).isBlockDevice());
  const out = inGroup(dir, [
    'head -c 1 /dev/zero >/dev/null 2>&1 && echo zero:ok || echo zero:denied',
    'head -c 1 /dev/urandom >/dev/null 2>&1 && echo urandom-read:ok || echo urandom-read:denied',
    '(: > /dev/urandom) 2>/dev/null && echo urandom-write:ok || echo urandom-write:denied',
    'head -c 1 /dev/loop-control >/dev/null 2>&1 && echo loop-control:ok || echo loop-control:denied',
    block ? `head -c 1 ${block} >/dev/null 2>&1 && echo block:ok || echo block:denied` : 'echo block:denied',
  ].join('; '));
  t.match(out, /zero:ok/, 'c 1:5 rwm allows /dev/zero');
  t.match(out, /urandom-read:ok/, 'c 1:9 r allows reading /dev/urandom');
  t.match(out, /urandom-write:denied/, 'but not writing it');
  t.match(out, /loop-control:denied/, 'a char device of no rule is denied');
  t.match(out, /block:denied/, 'the host\'s disk is denied');
});
