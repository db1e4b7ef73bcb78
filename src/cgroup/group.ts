// A cgroup as one object whatever the layout: one directory on pure cgroup2; on hybrid
// and v1 hosts one per controller hierarchy it uses, plus the unified one if present.
import { existsSync, watch } from 'node:fs';
import { CgroupError } from './errors.js';
import type { DeviceRule } from './devices.js';
import { attachDeviceFilter } from './device-filter.js';
import { childDirs, makeDir, readKeyed, readOptional, readValue, removeDir, writeValue } from './fs.js';
import { currentLayout, hierarchyFor, joinPath, V1_CONTROLLERS, type Hierarchy, type Layout } from './layout.js';
import { LIMIT_RULES, limitFromV1, parseLimits, type Limits, type Write } from './limits.js';
import type { Limit } from './parse.js';

/** The controllers a group is made with (v2 names); v1 adds cpuacct and freezer when there is no unified hierarchy. */
export const GROUP_CONTROLLERS = ['memory', 'pids', 'cpu', 'io'] as const;

export interface GroupOptions {
  /** The layout to use; default currentLayout(), this process's (detected once). */
  layout?: Layout;
  /** createCgroup: also make it in the v1 devices hierarchy, for a `devices` limit (where the host has one). */
  devices?: boolean;
  /**
   * createCgroup: the controllers (v2 names) to make it for; default GROUP_CONTROLLERS.
   * Each v1 hierarchy is a directory to make, join and remove, so a group that needs
   * fewer costs less; the unified group (cgroup.kill, cgroup.events, cpu.stat) is always made.
   */
  controllers?: readonly string[];
}

export interface WaitOptions {
  /** How long to wait (ms) for the kernel to finish; default 5000. */
  timeout?: number;
}

export interface CgroupStats {
  /** Bytes in use now (v2 memory.current, v1 memory.usage_in_bytes). */
  memoryCurrent?: number;
  /** Highest use (v2 memory.peak, v1 memory.max_usage_in_bytes). */
  memoryPeak?: number;
  memoryMax?: Limit;
  pidsCurrent?: number;
  pidsMax?: Limit;
  /** CPU time used, microseconds (cgroup2 cpu.stat usage_usec, v1 cpuacct.usage / 1000). */
  cpuUsageUsec?: number;
  /** Cores per period (cpu.max / cfs quota). */
  cpuMax?: Limit;
  /** Processes the OOM killer ended in this group. */
  oomKills?: number;
}

export interface CgroupEvents {
  /** Some process is in the group (or below it). */
  populated: boolean;
  frozen: boolean;
  /** Times the memory limit was hit hard enough to invoke the OOM killer (v1: same as oomKill). */
  oom: number;
  oomKill: number;
}

// A group's directory sits among its parent's control files: a name that is (or may
// become) one of them would be read as that file, as `mkdir tasks` fails with EEXIST.
const CONTROL_FILES = new Set(['tasks', 'notify_on_release', 'release_agent']);
const CONTROL_PREFIXES = new Set([...V1_CONTROLLERS, 'cgroup', 'io', 'irq']);

/** Names are paths below the caller's group: "a", "a/b"; no "." or ".." parts, no odd characters, no control file names. */
function checkName(name: string): void {
  const parts = name.split('/');
  if (!name || parts.some((p) => !/^[A-Za-z0-9_@:+=,-][A-Za-z0-9_@:+=,.-]*$/.test(p)))
    throw new CgroupError(`invalid group name '${name}': use letters, digits and - _ . @ : + = , (parts separated by /)`);
  const clash = parts.find((p) => CONTROL_FILES.has(p) || (p.includes('.') && CONTROL_PREFIXES.has(p.slice(0, p.indexOf('.')))));
  if (clash)
    throw new CgroupError(`invalid group name '${name}': '${clash}' is ${CONTROL_FILES.has(clash) ? 'the name' : 'of the form'} of a cgroup control file (CONTROLLER.FILE, cgroup.*, tasks, notify_on_release, release_agent)`);
}

/** The hierarchies a group on this layout lives in, each with the controllers it is there for. */
function hierarchiesOf(layout: Layout, devices = false, controllers: readonly string[] = GROUP_CONTROLLERS): Hierarchy[] {
  const wanted: string[] = [...controllers];
  if (devices) wanted.push('devices');
  // Without cgroup2 the v1 freezer and cpuacct stand in for cgroup.freeze and cpu.stat.
  if (!layout.unified) wanted.push('cpuacct', 'freezer');
  const out: Hierarchy[] = [];
  for (const c of wanted) {
    const h = hierarchyFor(layout, c);
    if (h && h.version === 1 && !out.includes(h)) out.push(h);
  }
  // The unified group last: joined last, it is where the group's core files (freeze, kill, events) are.
  if (layout.unified) out.push(layout.unified);
  return out;
}

export class Cgroup {
  /** The name given, relative to where the caller sits. */
  readonly name: string;
  readonly layout: Layout;
  /** Every directory a process must join: one per hierarchy. */
  readonly dirs: string[];
  private readonly byHierarchy: Map<Hierarchy, string>;

  /** Use createCgroup() or openCgroup(). */
  constructor(name: string, layout: Layout, hierarchies: Hierarchy[]) {
    this.name = name;
    this.layout = layout;
    this.byHierarchy = new Map(hierarchies.map((h) => [h, joinPath(h.base, name)]));
    this.dirs = [...this.byHierarchy.values()];
  }

  /** The group's directory in the unified hierarchy, if it has one. */
  get unifiedDir(): string | undefined {
    return this.layout.unified && this.byHierarchy.get(this.layout.unified);
  }

  /** Whether the group has a directory in the hierarchy of this controller. */
  controls(controller: string): boolean {
    return this.optionalDir(controller) !== undefined;
  }

  /** The group's directory for a controller; a CgroupError naming it when the host or group lacks it. */
  dirFor(controller: string, purpose = `a ${controller} limit`): { dir: string; version: 1 | 2 } {
    const h = hierarchyFor(this.layout, controller);
    if (!h) {
      const where = this.layout.unified ? ` (not in ${this.layout.unified.base}/cgroup.controllers nor mounted as cgroup v1)` : ' (not mounted)';
      throw new CgroupError(`${purpose} needs the ${controller} controller, which this host does not have${where}`);
    }
    const dir = this.byHierarchy.get(h);
    if (!dir) throw new CgroupError(`${purpose} needs the ${controller} controller, but group '${this.name}' was made without it`);
    return { dir, version: h.version };
  }

  /**
   * Set limits. All are validated and mapped to files first (a missing controller is an
   * error naming it), then written in order.
   */
  limit(limits: Limits): void {
    const parsed = parseLimits(limits);
    const plan: { dir: string; write: Write; option: string; controller: string }[] = [];
    let deviceFilter: DeviceRule[] | undefined;
    for (const rule of LIMIT_RULES) {
      if (parsed[rule.option] === undefined) continue;
      // cgroup2 has no devices files: there the allow-list is a BPF program on the group.
      if (rule.option === 'devices' && !hierarchyFor(this.layout, 'devices') && this.unifiedDir) {
        deviceFilter = parsed.devices;
        continue;
      }
      const { dir, version } = this.dirFor(rule.controller, `the ${rule.option} limit`);
      const writes = version === 2 ? rule.v2(parsed) : rule.v1(parsed, (f) => readValue(`${dir}/${f}`));
      for (const write of writes) plan.push({ dir, write, option: rule.option, controller: rule.controller });
    }
    for (const { dir, write, option, controller } of plan) {
      const path = `${dir}/${write.file}`;
      try {
        writeValue(path, write.value);
      } catch (err) {
        if (err instanceof CgroupError && err.code === 'ENOENT')
          throw new CgroupError(`the ${option} limit needs ${write.file}, which group '${this.name}' lacks: the ${controller} controller ${option === 'memorySwap' ? 'has no swap accounting (boot with swapaccount=1)' : 'is not enabled for it'}`, { code: 'ENOENT', path });
        throw err;
      }
    }
    if (deviceFilter) attachDeviceFilter(this.unifiedDir!, deviceFilter);
  }

  /** Move a process (all its threads) into the group, in every hierarchy. */
  join(pid: number): void {
    if (!Number.isInteger(pid) || pid < 0) throw new CgroupError(`invalid pid '${pid}'`);
    for (const dir of this.dirs) writeValue(`${dir}/cgroup.procs`, String(pid));
  }

  /** The processes in the group (in any of its hierarchies), sorted. */
  procs(): number[] {
    const all = new Set<number>();
    for (const dir of this.dirs) {
      const text = readOptional(`${dir}/cgroup.procs`);
      if (text) for (const line of text.split('\n')) if (line) all.add(Number(line));
    }
    return [...all].sort((a, b) => a - b);
  }

  /** Stop every process in the group; resolves once the kernel reports it frozen. */
  async freeze(options?: WaitOptions): Promise<void> {
    await this.setFrozen(true, options);
  }

  async thaw(options?: WaitOptions): Promise<void> {
    await this.setFrozen(false, options);
  }

  private async setFrozen(frozen: boolean, options?: WaitOptions): Promise<void> {
    const u = this.unifiedDir;
    if (u) {
      writeValue(`${u}/cgroup.freeze`, frozen ? '1' : '0');
      // Freezing is asynchronous: cgroup.events says when every task has stopped.
      await waitFor(() => readKeyed(`${u}/cgroup.events`)?.get('frozen') === (frozen ? '1' : '0'), options, () =>
        `group '${this.name}' did not become ${frozen ? 'frozen' : 'thawed'}`);
      return;
    }
    const { dir } = this.dirFor('freezer', frozen ? 'freeze' : 'thaw');
    writeValue(`${dir}/freezer.state`, frozen ? 'FROZEN' : 'THAWED');
    await waitFor(() => readValue(`${dir}/freezer.state`) === (frozen ? 'FROZEN' : 'THAWED'), options, () =>
      `group '${this.name}' did not become ${frozen ? 'frozen' : 'thawed'}`);
  }

  /**
   * SIGKILL every process in the group and wait until it is empty: cgroup.kill where it
   * exists (no fork can escape it); otherwise signal every pid until none is left,
   * with the group frozen while signalling when a v1 freezer is there.
   */
  async kill(options?: WaitOptions): Promise<void> {
    const u = this.unifiedDir;
    const stillThere = () => `group '${this.name}' still has processes after SIGKILL: ${this.procs().join(' ')}`;
    if (u && existsSync(`${u}/cgroup.kill`)) {
      writeValue(`${u}/cgroup.kill`, '1');
      return untilEmpty(u, options, stillThere);
    }
    const freezer = !u && hierarchyFor(this.layout, 'freezer') ? this.dirFor('freezer', 'kill').dir : undefined;
    await waitFor(() => {
      const pids = this.procs();
      if (pids.length === 0) return true;
      if (freezer) writeValue(`${freezer}/freezer.state`, 'FROZEN');
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      if (freezer) writeValue(`${freezer}/freezer.state`, 'THAWED');
      return false;
    }, options, stillThere);
  }

  /** Usage figures; a field is absent when this layout has no file for it. */
  stats(): CgroupStats {
    const s: CgroupStats = {};
    const mem = this.optionalDir('memory');
    if (mem) {
      if (mem.version === 2) {
        s.memoryCurrent = num(readOptional(`${mem.dir}/memory.current`));
        s.memoryPeak = num(readOptional(`${mem.dir}/memory.peak`));
        s.memoryMax = limitOf(readOptional(`${mem.dir}/memory.max`));
        s.oomKills = num(readKeyed(`${mem.dir}/memory.events`)?.get('oom_kill'));
      } else {
        s.memoryCurrent = num(readOptional(`${mem.dir}/memory.usage_in_bytes`));
        s.memoryPeak = num(readOptional(`${mem.dir}/memory.max_usage_in_bytes`));
        s.memoryMax = limitOf(readOptional(`${mem.dir}/memory.limit_in_bytes`));
        s.oomKills = num(readKeyed(`${mem.dir}/memory.oom_control`)?.get('oom_kill'));
      }
    }
    const pids = this.optionalDir('pids');
    if (pids) {
      s.pidsCurrent = num(readOptional(`${pids.dir}/pids.current`));
      s.pidsMax = limitOf(readOptional(`${pids.dir}/pids.max`));
    }
    const u = this.unifiedDir;
    const usage = u === undefined ? undefined : num(readKeyed(`${u}/cpu.stat`)?.get('usage_usec'));
    if (usage !== undefined) s.cpuUsageUsec = usage;
    else {
      const acct = this.optionalDir('cpuacct');
      const ns = acct === undefined ? undefined : num(readOptional(`${acct.dir}/cpuacct.usage`));
      if (ns !== undefined) s.cpuUsageUsec = Math.round(ns / 1000);
    }
    const cpu = this.optionalDir('cpu');
    if (cpu?.version === 2) {
      const [q, p] = (readOptional(`${cpu.dir}/cpu.max`) ?? '').split(' ');
      if (q) s.cpuMax = q === 'max' ? 'max' : Number(q) / Number(p);
    } else if (cpu) {
      const q = readOptional(`${cpu.dir}/cpu.cfs_quota_us`);
      const p = readOptional(`${cpu.dir}/cpu.cfs_period_us`);
      if (q !== undefined && p !== undefined) s.cpuMax = Number(q) < 0 ? 'max' : Number(q) / Number(p);
    }
    for (const k of Object.keys(s) as (keyof CgroupStats)[]) if (s[k] === undefined) delete s[k];
    return s;
  }

  /** populated, frozen and OOM counts. */
  events(): CgroupEvents {
    const u = this.unifiedDir;
    const core = u ? readKeyed(`${u}/cgroup.events`) : undefined;
    let populated: boolean;
    let frozen: boolean;
    if (core) {
      populated = core.get('populated') === '1';
      frozen = core.get('frozen') === '1';
    } else {
      populated = this.procs().length > 0;
      const f = this.optionalDir('freezer');
      frozen = f ? readOptional(`${f.dir}/freezer.state`) === 'FROZEN' : false;
    }
    let oom = 0;
    let oomKill = 0;
    const mem = this.optionalDir('memory');
    if (mem?.version === 2) {
      const ev = readKeyed(`${mem.dir}/memory.events`);
      oom = num(ev?.get('oom')) ?? 0;
      oomKill = num(ev?.get('oom_kill')) ?? 0;
    } else if (mem) {
      oomKill = oom = num(readKeyed(`${mem.dir}/memory.oom_control`)?.get('oom_kill')) ?? 0;
    }
    return { populated, frozen, oom, oomKill };
  }

  /** Remove the group from every hierarchy, waiting (up to the timeout) until it is empty. */
  async remove(options?: WaitOptions): Promise<void> {
    // Most often the group is empty already: try at once, poll only while busy.
    if (this.tryRemove()) return;
    await waitFor(() => this.tryRemove(), options, () => {
      const pids = this.procs();
      return pids.length
        ? `cannot remove group '${this.name}': it still has processes ${pids.join(' ')} (end them, e.g. ts-cgroup kill ${this.name})`
        : `cannot remove group '${this.name}': it has child groups (${this.children().join(' ')})`;
    });
  }

  /** rmdir in each hierarchy; false while some directory is busy. */
  private tryRemove(): boolean {
    let done = true;
    for (const dir of this.dirs) {
      try {
        removeDir(dir);
      } catch (err) {
        if (err instanceof CgroupError && err.code === 'EBUSY') done = false;
        else throw err;
      }
    }
    return done;
  }

  /** Names of child groups, in any hierarchy. */
  children(): string[] {
    const all = new Set<string>();
    for (const dir of this.dirs) for (const c of childDirs(dir)) all.add(c);
    return [...all].sort();
  }

  /** Whether any of the group's directories still exists. */
  exists(): boolean {
    return this.dirs.some((d) => existsSync(d));
  }

  private optionalDir(controller: string): { dir: string; version: 1 | 2 } | undefined {
    const h = hierarchyFor(this.layout, controller);
    const dir = h && this.byHierarchy.get(h);
    return dir ? { dir, version: h.version } : undefined;
  }
}

/**
 * Make a group below where the caller sits, in every hierarchy it needs. On pure cgroup2
 * the parent's cgroup.subtree_control first gets the controllers, so the new group has
 * their files. If any step fails, what was made is removed again.
 */
export function createCgroup(name: string, options: GroupOptions = {}): Cgroup {
  checkName(name);
  const layout = options.layout ?? currentLayout();
  const controllers = options.controllers ?? GROUP_CONTROLLERS;
  const group = new Cgroup(name, layout, hierarchiesOf(layout, options.devices, controllers));
  const made: string[] = [];
  try {
    if (layout.kind === 'v2' && layout.unified) enableControllers(layout.unified, name, controllers);
    for (const dir of group.dirs) {
      makeDir(dir);
      made.push(dir);
    }
  } catch (err) {
    for (const dir of made.reverse()) {
      try {
        removeDir(dir);
      } catch {
        // best effort: the first error is the one to report
      }
    }
    throw err;
  }
  return group;
}

/** A group that exists: found in whichever hierarchies have its directory. */
export function openCgroup(name: string, options: GroupOptions = {}): Cgroup {
  checkName(name);
  const layout = options.layout ?? currentLayout();
  const hierarchies = hierarchiesOf(layout, true).filter((h) => existsSync(joinPath(h.base, name)));
  if (hierarchies.length === 0)
    throw new CgroupError(`no such group: '${name}' (looked below ${(layout.unified ?? layout.v1[0]).base})`, { code: 'ENOENT' });
  return new Cgroup(name, layout, hierarchies);
}

/** Every group below the caller (in any of the hierarchies groups are made in), depth first. */
export function listCgroups(options: GroupOptions & { maxDepth?: number } = {}): Cgroup[] {
  const layout = options.layout ?? currentLayout();
  const names = new Set<string>();
  const walk = (dir: string, rel: string, depth: number) => {
    if (depth > (options.maxDepth ?? 8)) return;
    for (const c of childDirs(dir)) {
      const name = rel ? `${rel}/${c}` : c;
      names.add(name);
      walk(`${dir}/${c}`, name, depth + 1);
    }
  };
  for (const h of hierarchiesOf(layout)) walk(h.base, '', 1);
  return [...names].sort().map((n) => openCgroup(n, { layout }));
}

/**
 * cgroup2 only hands a controller to a child group if the parent's cgroup.subtree_control
 * lists it; do that from the caller's group down to the new group's parent.
 */
function enableControllers(unified: Hierarchy, name: string, controllers: readonly string[]): void {
  const parts = name.split('/');
  let dir = unified.base;
  for (let i = 0; i < parts.length; i++) {
    const available = (readOptional(`${dir}/cgroup.controllers`) ?? '').split(/\s+/);
    const wanted = controllers.filter((c) => available.includes(c));
    if (wanted.length) {
      try {
        writeValue(`${dir}/cgroup.subtree_control`, wanted.map((c) => `+${c}`).join(' '));
      } catch (err) {
        // A group with processes of its own cannot pass controllers on (the no-internal-
        // process rule); the group is still made, and a limit on it says what is missing.
        if (!(err instanceof CgroupError && err.code === 'EBUSY')) throw err;
      }
    }
    dir = `${dir}/${parts[i]}`;
  }
}

/**
 * Resolves once the unified group `dir` is empty (cgroup.events: populated 0), without
 * polling: the kernel notifies that file's watchers when it changes.
 */
function untilEmpty(dir: string, options: WaitOptions | undefined, message: () => string): Promise<void> {
  const file = `${dir}/cgroup.events`;
  const empty = () => readKeyed(file)?.get('populated') !== '1';
  if (empty()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const watcher = watch(file);
    const finish = (err?: Error) => {
      watcher.close();
      clearTimeout(deadline);
      if (err) reject(err);
      else resolve();
    };
    const deadline = setTimeout(() => finish(new CgroupError(message())), options?.timeout ?? 5000);
    watcher.on('change', () => empty() && finish());
    watcher.on('error', finish);
    // It may have emptied between the first look and the watch.
    if (empty()) finish();
  });
}

async function waitFor(done: () => boolean, options: WaitOptions | undefined, message: () => string): Promise<void> {
  const deadline = Date.now() + (options?.timeout ?? 5000);
  let delay = 1;
  while (!done()) {
    if (Date.now() > deadline) throw new CgroupError(message());
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function limitOf(s: string | undefined): Limit | undefined {
  return s === undefined ? undefined : limitFromV1(s);
}
