// The one table of what a limit means in each version: which controller carries it and
// which files it becomes. Everything else (validation, the CLI's options, docs) follows it.
import { statSync } from 'node:fs';
import { CgroupError } from './errors.js';
import { parseCount, parseCpu, parseIo, parseMemory, parseSize, parseWeight, type IoLimit, type Limit } from './parse.js';
import { formatDevice, parseDevice, type DeviceRule } from './devices.js';

/** What a caller may ask; strings take the human forms ("64M", "0.5", "max"). */
export interface Limits {
  /** Memory in bytes (v2 memory.max, v1 memory.limit_in_bytes). */
  memory?: Limit | string;
  /** Swap allowed on top of memory (v2 memory.swap.max, v1 memory.memsw.limit_in_bytes = memory + swap). */
  memorySwap?: Limit | string;
  /** Most tasks at once (pids.max in both). */
  pids?: Limit | string;
  /** CPU time in cores per 100 ms period (v2 cpu.max, v1 cpu.cfs_quota_us/cpu.cfs_period_us). */
  cpu?: Limit | string;
  /** Relative share, 1..10000, default 100 (v2 cpu.weight, v1 cpu.shares = weight * 1024 / 100). */
  cpuWeight?: number | string;
  /** Relative IO share, 1..10000, default 100 (v2 io.weight "default N", v1 blkio.weight = weight / 10, 10..1000). */
  ioWeight?: number | string;
  /** Per-device bandwidth/IOPS (v2 io.max, v1 blkio.throttle.*_device). */
  io?: IoLimit | string | readonly (IoLimit | string)[];
  /**
   * The devices the group may use, everything else denied ("c 1:3 rwm", see
   * DEFAULT_DEVICES): v1 devices.deny "a" then devices.allow per rule. The group must be
   * made with `devices: true`; on cgroup2 a BPF_CGROUP_DEVICE program is attached instead.
   */
  devices?: readonly (DeviceRule | string)[];
}

/** Limits after validation: numbers or 'max', io resolved to MAJ:MIN. */
export interface ParsedLimits {
  memory?: Limit;
  memorySwap?: Limit;
  pids?: Limit;
  cpu?: Limit;
  cpuWeight?: number;
  ioWeight?: number;
  io?: IoLimit[];
  devices?: DeviceRule[];
}

/** Validate every field up front, so nothing is created or written when one is bad. */
export function parseLimits(limits: Limits): ParsedLimits {
  const out: ParsedLimits = {};
  for (const key of Object.keys(limits) as (keyof Limits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    switch (key) {
      case 'memory': out.memory = parseMemory(v as Limit | string); break;
      case 'memorySwap': out.memorySwap = parseSize(v as Limit | string, 'memory swap limit'); break;
      case 'pids': out.pids = parseCount(v as Limit | string, 'pids limit'); break;
      case 'cpu': out.cpu = parseCpu(v as Limit | string, 'cpu limit'); break;
      case 'cpuWeight': out.cpuWeight = parseWeight(v as number | string, 'cpu weight'); break;
      case 'ioWeight': out.ioWeight = parseWeight(v as number | string, 'io weight'); break;
      case 'io': {
        const list = Array.isArray(v) ? v : [v];
        out.io = list.map((x: IoLimit | string) => {
          const io = typeof x === 'string' ? parseIo(x) : { ...x };
          io.device = deviceNumber(io.device);
          return io;
        });
        break;
      }
      case 'devices': out.devices = (v as readonly (DeviceRule | string)[]).map(parseDevice); break;
      default:
        throw new CgroupError(`unknown limit '${String(key)}' (expected memory, memorySwap, pids, cpu, cpuWeight, ioWeight, io or devices)`);
    }
  }
  return out;
}

/** One file write a limit turns into. */
export interface Write {
  file: string;
  value: string;
}

/** Where each limit lives: the controller (by its v2 name) and the writes per version. */
export interface LimitRule {
  option: keyof ParsedLimits;
  controller: 'memory' | 'pids' | 'cpu' | 'io' | 'devices';
  v2: (p: ParsedLimits) => Write[];
  /** `current(file)` reads a file of the group (v1's swap limit depends on the memory limit). */
  v1: (p: ParsedLimits, current: (file: string) => string) => Write[];
}

export const CPU_PERIOD_US = 100_000;
const V1_UNLIMITED = '-1';

export const LIMIT_RULES: readonly LimitRule[] = [
  {
    option: 'memory',
    controller: 'memory',
    v2: (p) => [{ file: 'memory.max', value: String(p.memory) }],
    v1: (p) =>
      p.memorySwap === undefined
        ? [{ file: 'memory.limit_in_bytes', value: v1Value(p.memory!) }]
        // memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: open memsw first.
        : [{ file: 'memory.memsw.limit_in_bytes', value: V1_UNLIMITED }, { file: 'memory.limit_in_bytes', value: v1Value(p.memory!) }],
  },
  {
    option: 'memorySwap',
    controller: 'memory',
    v2: (p) => [{ file: 'memory.swap.max', value: String(p.memorySwap) }],
    v1: (p, current) => {
      // v1 limits memory+swap together; the swap allowance is added to the memory limit.
      const mem = p.memory ?? limitFromV1(current('memory.limit_in_bytes'));
      if (p.memorySwap === 'max' || mem === 'max') {
        if (p.memorySwap !== 'max') throw new CgroupError('memory swap limit: cgroup v1 limits memory+swap together, so a swap limit needs a memory limit too');
        return [{ file: 'memory.memsw.limit_in_bytes', value: V1_UNLIMITED }];
      }
      return [{ file: 'memory.memsw.limit_in_bytes', value: String(mem + (p.memorySwap as number)) }];
    },
  },
  {
    option: 'pids',
    controller: 'pids',
    v2: (p) => [{ file: 'pids.max', value: String(p.pids) }],
    v1: (p) => [{ file: 'pids.max', value: String(p.pids) }],
  },
  {
    option: 'cpu',
    controller: 'cpu',
    v2: (p) => [{ file: 'cpu.max', value: `${quota(p.cpu!)} ${CPU_PERIOD_US}` }],
    v1: (p) => [
      { file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
      { file: 'cpu.cfs_quota_us', value: p.cpu === 'max' ? V1_UNLIMITED : quota(p.cpu!) },
    ],
  },
  {
    option: 'cpuWeight',
    controller: 'cpu',
    v2: (p) => [{ file: 'cpu.weight', value: String(p.cpuWeight) }],
    // Proportional, so both defaults meet: weight 100 = 1024 shares.
    v1: (p) => [{ file: 'cpu.shares', value: String(Math.max(2, Math.round((p.cpuWeight! * 1024) / 100))) }],
  },
  {
    option: 'ioWeight',
    controller: 'io',
    v2: (p) => [{ file: 'io.weight', value: `default ${p.ioWeight}` }],
    // v1's proportional weight (CFQ/BFQ only) has a tenth of the range.
    v1: (p) => [{ file: 'blkio.weight', value: String(Math.min(1000, Math.max(10, Math.round(p.ioWeight! / 10)))) }],
  },
  {
    option: 'io',
    controller: 'io',
    v2: (p) =>
      p.io!.map((io) => ({
        file: 'io.max',
        value: [io.device, ...(['rbps', 'wbps', 'riops', 'wiops'] as const).filter((k) => io[k] !== undefined).map((k) => `${k}=${io[k]}`)].join(' '),
      })),
    v1: (p) =>
      p.io!.flatMap((io) =>
        ([['rbps', 'read_bps'], ['wbps', 'write_bps'], ['riops', 'read_iops'], ['wiops', 'write_iops']] as const)
          .filter(([k]) => io[k] !== undefined)
          // v1 throttling has no "max": 0 removes the rule.
          .map(([k, f]) => ({ file: `blkio.throttle.${f}_device`, value: `${io.device} ${io[k] === 'max' ? 0 : io[k]}` })),
      ),
  },
  {
    option: 'devices',
    controller: 'devices',
    // Not a file on cgroup2: Cgroup.limit attaches a BPF program (device-filter.ts) instead.
    v2: () => [],
    // Deny first: a group starts with its parent's list (the root's allows everything).
    v1: (p) => [{ file: 'devices.deny', value: 'a' }, ...p.devices!.map((r) => ({ file: 'devices.allow', value: formatDevice(r) }))],
  },
];

function quota(cores: Limit): string {
  return cores === 'max' ? 'max' : String(Math.round(cores * CPU_PERIOD_US));
}

function v1Value(v: Limit): string {
  return v === 'max' ? V1_UNLIMITED : String(v);
}

/** v1 reports "no limit" as a huge page-aligned number (PAGE_COUNTER_MAX pages). */
export function limitFromV1(text: string): Limit {
  const n = Number(text);
  return text === 'max' || text === '-1' || n >= 2 ** 62 ? 'max' : n;
}

/** "MAJ:MIN" as given, or the device number of a block device path. */
function deviceNumber(device: string): string {
  if (/^\d+:\d+$/.test(device)) return device;
  let rdev: number;
  try {
    const st = statSync(device);
    if (!st.isBlockDevice()) throw new Error('not a block device');
    rdev = st.rdev;
  } catch {
    throw new CgroupError(`invalid io device '${device}': expected MAJ:MIN or a block device such as /dev/vda`);
  }
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  return `${major}:${minor}`;
}
