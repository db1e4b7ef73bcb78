// Device allow-lists: which device nodes a group's processes may open (and mknod), in the
// v1 devices controller's rule format ("c 1:3 rwm"). On cgroup2 the same rules become a
// BPF_CGROUP_DEVICE program attached to the group (device-filter.ts).
import { CgroupError } from './errors.js';

/** One rule: type (a: all, c: char, b: block), major and minor (or '*'), access (of r, w, m). */
export interface DeviceRule {
  type: 'a' | 'b' | 'c';
  major: number | '*';
  minor: number | '*';
  access: string;
}

/**
 * runc's default allow-list (libcontainer/specconv AllowedDevices): mknod of any node (it
 * still needs CAP_MKNOD, and opening one needs a rule of its own), the null, zero, full,
 * random and urandom devices, tty, console, ptmx and the pty slaves, and tun/tap.
 */
export const DEFAULT_DEVICES: readonly string[] = [
  'c *:* m', 'b *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
  'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm',
  'c 10:200 rwm',
];

/** A rule from "c 1:3 rwm" (as devices.allow takes it) or an object; throws a CgroupError naming it. */
export function parseDevice(input: string | DeviceRule): DeviceRule {
  const text = typeof input === 'string' ? input.trim() : formatDevice(input);
  const m = /^([abc])(?:\s+(\*|\d+):(\*|\d+))?\s+([rwm]{1,3})$/.exec(text);
  if (!m || new Set(m[4]).size !== m[4].length || (m[1] !== 'a' && m[2] === undefined)) {
    throw new CgroupError(`invalid device rule '${text}': expected TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm' (TYPE a, b or c; MAJOR, MINOR a number or *; ACCESS of r, w, m)`);
  }
  const num = (v: string | undefined) => (v === undefined || v === '*' ? '*' : Number(v));
  return { type: m[1] as DeviceRule['type'], major: num(m[2]), minor: num(m[3]), access: m[4] };
}

export function formatDevice(r: DeviceRule): string {
  return `${r.type} ${r.major}:${r.minor} ${r.access}`;
}
