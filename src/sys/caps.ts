// Capabilities: names (linux/capability.h), capget/capset, and the sets of a process.
import { readFileSync } from 'node:fs';
import { check, fn, koffi } from './libc.js';

/** Index = capability number, as in linux/capability.h. */
export const CAP_NAMES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

export type CapName = (typeof CAP_NAMES)[number];

export const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** The highest capability this kernel knows. */
let lastCap: number | undefined;
/** The kernel's highest capability number: read once, it cannot change while it runs (every plan asks). */
export function capLastCap(): number {
  return (lastCap ??= Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim()));
}

export function capName(cap: number): string {
  return CAP_NAMES[cap] ?? `cap_${cap}`;
}

/**
 * A capability number from "CAP_SYS_ADMIN", "sys_admin" or "21". Throws a TypeError
 * naming the bad value.
 */
export function parseCap(name: string): number {
  const n = name.trim();
  if (/^\d+$/.test(n) && Number(n) <= capLastCap()) return Number(n);
  const upper = n.toUpperCase();
  const i = CAP_NAMES.indexOf((upper.startsWith('CAP_') ? upper : `CAP_${upper}`) as CapName);
  if (i < 0) throw new TypeError(`unknown capability: ${name}`);
  return i;
}

/** The names of the capabilities set in a 64-bit mask. */
export function capsOfMask(mask: bigint): string[] {
  const names: string[] = [];
  for (let i = 0; i < 64; i++) if (mask & (1n << BigInt(i))) names.push(capName(i));
  return names;
}

export function maskOfCaps(caps: Iterable<number>): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m;
}

export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

export interface ProcessCaps extends CapSets {
  bounding: bigint;
  ambient: bigint;
}

/** All five sets of a process, from /proc/PID/status. */
export function processCaps(pid: number | 'self' = 'self'): ProcessCaps {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => BigInt('0x' + (status.match(new RegExp(`^${name}:\\s*([0-9a-f]+)`, 'm'))?.[1] ?? '0'));
  return {
    inheritable: field('CapInh'), permitted: field('CapPrm'), effective: field('CapEff'),
    bounding: field('CapBnd'), ambient: field('CapAmb'),
  };
}

// The two __user_cap_data_struct of version 3 as one struct: low 32 capabilities, then high.
function declareCapStructs(): void {
  const k = koffi();
  k.struct('tsns_cap_header', { version: 'uint32_t', pid: 'int' });
  k.struct('tsns_cap_data', { e0: 'uint32_t', p0: 'uint32_t', i0: 'uint32_t', e1: 'uint32_t', p1: 'uint32_t', i1: 'uint32_t' });
}
let declaredStructs = false;

function capFn(prototype: string) {
  if (!declaredStructs) declareCapStructs();
  declaredStructs = true;
  return fn(prototype);
}

const hex = (m: bigint) => '0x' + m.toString(16);
const join = (low: number, high: number) => BigInt(low >>> 0) | (BigInt(high >>> 0) << 32n);

/** capget(2) for a thread (0 = the calling thread). */
export function capget(pid = 0): CapSets {
  const out: Record<string, number> = {};
  const get = capFn('int capget(tsns_cap_header *hdr, _Out_ tsns_cap_data *data)');
  check('capget', `{_LINUX_CAPABILITY_VERSION_3, ${pid}}, ...`, () => get({ version: _LINUX_CAPABILITY_VERSION_3, pid }, out), 'plumbing');
  return { effective: join(out.e0, out.e1), permitted: join(out.p0, out.p1), inheritable: join(out.i0, out.i1) };
}

/** capset(2) on the calling thread. */
export function capset(sets: CapSets): void {
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  const set = capFn('int capset(tsns_cap_header *hdr, tsns_cap_data *data)');
  check('capset', capsetArgs(sets), () => set({ version: _LINUX_CAPABILITY_VERSION_3, pid: 0 }, {
    e0: lo(sets.effective), p0: lo(sets.permitted), i0: lo(sets.inheritable),
    e1: hi(sets.effective), p1: hi(sets.permitted), i1: hi(sets.inheritable),
  }));
}

/** The strace-style rendering of capset's arguments, shared with the native plan. */
export function capsetArgs(sets: CapSets): string {
  return `{_LINUX_CAPABILITY_VERSION_3, 0}, {effective=${hex(sets.effective)}, permitted=${hex(sets.permitted)}, inheritable=${hex(sets.inheritable)}}`;
}
