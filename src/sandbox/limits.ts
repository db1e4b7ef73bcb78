// A sandbox's limits around its process: spec.limits -> cgroup limits (src/cgroup, v2 or
// v1), the monitor's wall-clock and CPU-time arguments, and the structured exit read back
// from what the monitor recorded and what the cgroup counted.
import { readFileSync, statSync } from 'node:fs';
import { LIMIT_RULES, parseLimits, type Cgroup, type Limits } from '../cgroup/index.js';
import type { Step } from '../native/plan.js';
import { SpecError } from './errors.js';
import type { SandboxSpec } from './spec.js';
import { signalName } from '../sys/signals.js';

export type SandboxLimits = NonNullable<SandboxSpec['limits']>;

/** Why a sandbox's program ended. */
export type ExitReason = 'exited' | 'signaled' | 'timeout' | 'cpu' | 'oom';

export interface SandboxExit {
  reason: ExitReason;
  code: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** CPU time of the whole tree (the cgroup's). */
  cpuMs: number;
  memoryPeak?: number;
  /** Limits the tree ran into without being ended by them ('pids', 'memory'). */
  limitsHit: string[];
}

const CGROUP_FIELDS = ['memory', 'memorySwap', 'pids', 'cpu', 'cpuWeight', 'ioWeight'] as const;

/** The cgroup part of spec.limits, checked (a SpecError naming the field) before anything is made. */
export function cgroupLimits(limits: SandboxLimits | undefined): Limits {
  const out: Limits = {};
  for (const field of CGROUP_FIELDS) if (limits?.[field] !== undefined) (out as Record<string, unknown>)[field] = limits[field];
  for (const field of Object.keys(out) as (keyof Limits)[]) {
    try {
      parseLimits({ [field]: out[field] });
    } catch (err) {
      throw new SpecError(`limits.${field}`, (err as Error).message);
    }
  }
  return out;
}

/**
 * The controllers (v2 names) a sandbox's cgroup is made for (`cgroup`: cgroupLimits of
 * `limits`), or undefined when it needs no group: each cgroup limit needs its
 * controller; a wall-clock or CPU-time limit needs a group to kill the whole tree with,
 * and so does a tree without a pid namespace of its own. A new pid namespace needs none:
 * the kernel ends every process in it when its pid 1 dies. Each group costs a directory
 * per hierarchy to make, join and remove.
 */
export function groupControllers(cgroup: Limits, limits: SandboxLimits | undefined, ownPidNamespace: boolean): string[] | undefined {
  const controllers = [...new Set(LIMIT_RULES.filter((r) => cgroup[r.option] !== undefined).map((r) => r.controller))];
  const needed = controllers.length > 0 || !!limits?.timeoutMs || !!limits?.cpuTimeMs || !ownPidNamespace;
  return needed ? controllers : undefined;
}

/** Set `limits` on the group; a limit the host cannot enforce is a SpecError naming its field. */
export function applyLimits(group: Cgroup, limits: Limits): void {
  // One at a time, so that the message names the field (memory first: v1's swap needs it).
  for (const field of Object.keys(limits) as (keyof Limits)[]) {
    const one: Limits = { [field]: limits[field] };
    if (field === 'memorySwap' && limits.memory !== undefined) one.memory = limits.memory;
    try {
      group.limit(one);
    } catch (err) {
      throw new SpecError(`limits.${field}`, (err as Error).message);
    }
  }
}

/** Where the group's CPU time is read: cgroup2's cpu.stat (there even without controllers, as on hybrid hosts), else v1 cpuacct. */
function cpuSource(group: Cgroup): { file: string; ns: boolean } {
  const u = group.unifiedDir;
  if (u && hasKey(`${u}/cpu.stat`, 'usage_usec')) return { file: `${u}/cpu.stat`, ns: false };
  if (group.controls('cpuacct')) return { file: `${group.dirFor('cpuacct').dir}/cpuacct.usage`, ns: true };
  throw new SpecError('limits.cpuTimeMs', 'needs cgroup2 cpu.stat or the v1 cpuacct controller, which this host lacks');
}

/** cgroup.kill of the group, where the kernel has it. */
function killFile(group: Cgroup): string | undefined {
  const u = group.unifiedDir;
  return u && exists(`${u}/cgroup.kill`) ? `${u}/cgroup.kill` : undefined;
}

/**
 * The stage's WATCH step for the tools: the fork's parent kills the tree at the wall-clock
 * or CPU-time limit, saying `notes` of the one that struck.
 */
export function watchStep(group: Cgroup, limits: SandboxLimits, notes: { timeout: string; cpu: string }): Step {
  const cpu = limits.cpuTimeMs ? cpuSource(group) : undefined;
  return {
    op: 'watch', timeoutMs: limits.timeoutMs ?? 0, cpuMs: limits.cpuTimeMs ?? 0, cpuFile: cpu?.file ?? null, cpuNs: cpu?.ns ?? false,
    killFile: killFile(group) ?? null, timeoutNote: notes.timeout, cpuNote: notes.cpu,
  };
}

/**
 * tsns-monitor's options for the wall-clock and CPU-time limits and for killing the whole
 * tree; none without a group (groupControllers: then the pid namespace ends the tree).
 */
export function monitorArgs(group: Cgroup | undefined, limits: SandboxLimits | undefined): string[] {
  const args: string[] = [];
  if (!group) return args;
  if (limits?.timeoutMs) args.push('-t', String(limits.timeoutMs));
  const u = group.unifiedDir;
  if (limits?.cpuTimeMs) {
    const cpu = cpuSource(group);
    args.push('-c', String(limits.cpuTimeMs), cpu.ns ? '-n' : '-u', cpu.file);
  }
  const kill = killFile(group);
  if (kill) args.push('-k', kill);
  else {
    if (!u && group.controls('freezer')) args.push('-f', `${group.dirFor('freezer').dir}/freezer.state`);
    for (const dir of group.dirs.slice(0, 8)) args.push('-p', `${dir}/cgroup.procs`);
  }
  return args;
}

/** Counter `key` of a keyed cgroup file, 0 when absent. */
function counter(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function hasKey(file: string, key: string): boolean {
  try {
    return new RegExp(`^${key} `, 'm').test(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

/** What the cgroup counted: OOM kills, and the limits hit (pids.events max; memory max / failcnt). */
export function limitCounters(group: Cgroup): { oomKills: number; limitsHit: string[] } {
  const limitsHit: string[] = [];
  if (group.controls('pids') && counter(`${group.dirFor('pids').dir}/pids.events`, 'max') > 0) limitsHit.push('pids');
  let oomKills = 0;
  if (group.controls('memory')) {
    const { dir, version } = group.dirFor('memory');
    if (version === 2) {
      oomKills = counter(`${dir}/memory.events`, 'oom_kill');
      if (counter(`${dir}/memory.events`, 'max') > 0) limitsHit.push('memory');
    } else {
      // Kernels before 4.13 have no oom_kill in oom_control: a failcnt is the best evidence then.
      oomKills = hasKey(`${dir}/memory.oom_control`, 'oom_kill') ? counter(`${dir}/memory.oom_control`, 'oom_kill') : 0;
      if (Number(readText(`${dir}/memory.failcnt`) ?? 0) > 0) limitsHit.push('memory');
    }
  }
  return { oomKills, limitsHit };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * The structured exit from the monitor's record ("STATUS REASON", its mtime the end) and
 * the group's counters. An OOM kill is the reason when the program died of SIGKILL or
 * failed; a hit pids or memory limit that did not end it is only listed.
 */
export function exitFrom(record: string, endedAt: number, startedAt: number, group: Cgroup | undefined): SandboxExit {
  const [statusText, recorded] = record.trim().split(' ');
  const status = Number(statusText);
  const signalNo = status & 0x7f;
  const signal = signalNo ? signalName(signalNo) ?? null : null;
  const code = signalNo ? null : (status >> 8) & 0xff;
  const stats = group?.exists() ? group.stats() : {};
  const { oomKills, limitsHit } = group?.exists() ? limitCounters(group) : { oomKills: 0, limitsHit: [] };
  let reason: ExitReason = recorded === 'timeout' || recorded === 'cpu' ? recorded : signal ? 'signaled' : 'exited';
  if (oomKills > 0 && (reason === 'signaled' || reason === 'exited') && (signal === 'SIGKILL' || code !== 0)) reason = 'oom';
  else if (oomKills > 0 && !limitsHit.includes('memory')) limitsHit.push('memory');
  return {
    reason, code, signal,
    durationMs: Math.max(0, Math.round(endedAt - startedAt)),
    cpuMs: Math.round((stats.cpuUsageUsec ?? 0) / 1000),
    ...(stats.memoryPeak !== undefined ? { memoryPeak: stats.memoryPeak } : {}),
    limitsHit: reason === 'oom' ? limitsHit.filter((l) => l !== 'memory') : limitsHit,
  };
}
