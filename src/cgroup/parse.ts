// Human forms of limits ("64M", "1.5G", "0.5" cores, "max") and their validation.
// Every parser throws CgroupError naming the option and the bad value.
import { CgroupError } from './errors.js';

/** A limit value: a number, or 'max' for no limit. */
export type Limit = number | 'max';

const units: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 };

/**
 * Bytes from "67108864", "64M", "64MiB", "1.5G", "512k" (binary units, as the kernel
 * and util-linux use) or "max". Fractions are rounded down to whole bytes.
 */
export function parseSize(input: string | number, what = 'size'): Limit {
  if (typeof input === 'number') return checkInteger(input, what, 0);
  const s = input.trim();
  if (s === 'max' || s === 'unlimited' || s === '-1') return 'max';
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([kKmMgGtTpP]?)(?:i?[bB])?$/.exec(s);
  if (!m) throw new CgroupError(`invalid ${what} '${input}': expected bytes with an optional K, M, G or T suffix (e.g. 64M), or 'max'`);
  const bytes = Math.floor(Number(m[1]) * units[m[2].toUpperCase()]);
  if (!Number.isSafeInteger(bytes)) throw new CgroupError(`invalid ${what} '${input}': too large`);
  return bytes;
}

/**
 * The smallest memory limit taken. The kernel charges a process's joining and its exec to
 * the group: below about 256K that fails (ENOMEM) before the program runs.
 */
export const MIN_MEMORY = 2 ** 20;

/** A memory limit: a size of at least MIN_MEMORY, or "max". */
export function parseMemory(input: string | number, what = 'memory limit'): Limit {
  const bytes = parseSize(input, what);
  if (bytes !== 'max' && bytes < MIN_MEMORY) throw new CgroupError(`invalid ${what} '${input}': at least 1M (a process cannot even start in less)`);
  return bytes;
}

/** CPU cores as a decimal ("0.5", "2", "150%") or "max"; at least 0.01 (1 ms per 100 ms). */
export function parseCpu(input: string | number, what = 'cpu'): Limit {
  let cores: number;
  if (typeof input === 'number') cores = input;
  else {
    const s = input.trim();
    if (s === 'max' || s === 'unlimited') return 'max';
    const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(s);
    if (!m) throw new CgroupError(`invalid ${what} '${input}': expected cores as a number (e.g. 0.5) or a percentage (50%), or 'max'`);
    cores = Number(m[1]) / (m[2] ? 100 : 1);
  }
  if (!Number.isFinite(cores) || cores < 0.01 || cores > 10000)
    throw new CgroupError(`invalid ${what} '${input}': must be between 0.01 and 10000 cores`);
  return cores;
}

/** A count such as pids.max: a non-negative integer or "max". */
export function parseCount(input: string | number, what = 'pids'): Limit {
  if (typeof input === 'number') return checkInteger(input, what, 0);
  const s = input.trim();
  if (s === 'max' || s === 'unlimited') return 'max';
  if (!/^\d+$/.test(s)) throw new CgroupError(`invalid ${what} '${input}': expected a whole number or 'max'`);
  return checkInteger(Number(s), what, 0);
}

/** cgroup2's cpu.weight scale: 1..10000, default 100. */
export function parseWeight(input: string | number, what = 'cpu weight'): number {
  const n = typeof input === 'number' ? input : /^\s*\d+\s*$/.test(input) ? Number(input) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 10000) throw new CgroupError(`invalid ${what} '${input}': expected a whole number from 1 to 10000 (default 100)`);
  return n;
}

/** One device's I/O limits; unset fields are left as they are. */
export interface IoLimit {
  /** "MAJ:MIN" or a block device path such as /dev/vda */
  device: string;
  rbps?: Limit;
  wbps?: Limit;
  riops?: Limit;
  wiops?: Limit;
}

/** "DEVICE key=value..." as in cgroup2's io.max, e.g. "/dev/vda wbps=1M riops=100"; sizes take suffixes. */
export function parseIo(input: string): IoLimit {
  const [device, ...pairs] = input.trim().split(/[\s,]+/);
  if (!device || pairs.length === 0) throw new CgroupError(`invalid io limit '${input}': expected 'DEVICE rbps=N wbps=N riops=N wiops=N' (DEVICE is MAJ:MIN or /dev/...)`);
  const io: IoLimit = { device };
  for (const pair of pairs) {
    const m = /^(rbps|wbps|riops|wiops)=(.+)$/.exec(pair);
    if (!m) throw new CgroupError(`invalid io limit '${input}': unknown setting '${pair}' (expected rbps=, wbps=, riops= or wiops=)`);
    const key = m[1] as 'rbps' | 'wbps' | 'riops' | 'wiops';
    io[key] = key.endsWith('bps') ? parseSize(m[2], `io ${key}`) : parseCount(m[2], `io ${key}`);
  }
  return io;
}

/** Bytes in the shortest exact-enough human form: 67108864 -> "64M", 1610612736 -> "1.5G". */
export function formatSize(bytes: Limit | undefined): string {
  if (bytes === undefined) return '-';
  if (bytes === 'max') return 'max';
  for (const u of ['P', 'T', 'G', 'M', 'K'] as const) {
    const v = bytes / units[u];
    if (v >= 1) return `${Number.isInteger(v) ? v : v.toFixed(1).replace(/\.0$/, '')}${u}`;
  }
  return String(bytes);
}

function checkInteger(n: number, what: string, min: number): number {
  if (!Number.isSafeInteger(n) || n < min) throw new CgroupError(`invalid ${what} '${n}': expected a whole number >= ${min} or 'max'`);
  return n;
}
