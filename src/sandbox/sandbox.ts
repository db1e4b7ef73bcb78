// The Sandbox lifecycle, in the shape of containerd's Sandbox Controller: create, start,
// exec, stop, wait, status, update, metrics, events, delete; many per Node process.
//
// Records live in RUN/sandbox/ID (src/vserver/paths.ts), with the vserver contexts' crash
// safety; each file is written once:
// - record.json, written at create before anything is made: the cgroup's name (where the
//   sandbox has one: limits.ts groupControllers) and the creating process (pid and start
//   time). A create or start killed half-way leaves a record whose owner is gone and no
//   state: the next create in another process removes it, its cgroup, and a monitor it
//   may have started (found through its `monitor` file).
// - monitor, written by the monitor before it reads its plan: its pid and start time.
// - state.json, once the program runs: the monitor's and the program's pids with their
//   start times, the spec, the namespaces. Sandbox.list()/get() find it from any process.
//   It is written as state.next.json while the program builds its root, and renamed.
// - exit, written by the monitor (native/monitor.c), which is the program's parent: a
//   Node process that restarted is not, and could never learn the exit status itself.
//   The structured exit is computed from it and the cgroup's counters, which stay until
//   delete.
// A monitor that is gone without an exit record (killed, or its owner died with
// dieWithParent) leaves a broken record, which the next create removes too.
import { closeSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { createCgroup, openCgroup, type Cgroup } from '../cgroup/index.js';
import type { Readable, Writable } from 'node:stream';
import { enter, stream, type Spawned } from '../spawn/index.js';
import { watchExit } from '../spawn/reaper.js';
import type { ExitStatus, StdioOption } from '../spawn/spec.js';
import type { NamespaceKind } from '../sys/ns.js';
import { lockName } from '../vserver/lock.js';
import { runDir, sandboxDir } from '../vserver/paths.js';
import { readJson, writeJson } from '../vserver/context.js';
import { isLiveProcess, pidfdOpen, startTimeOf } from '../sys/proc.js';
import { onReadable } from '../sys/readiness.js';
import { compile, type Compiled } from './compile.js';
import { applyLimits, cgroupLimits, exitFrom, groupControllers, limitCounters, monitorArgs, type SandboxExit, type SandboxLimits } from './limits.js';
import { monitorOf, startMonitor, statusFile, type SandboxStdio } from './monitor.js';
import { watchCounters } from './notify.js';
import { parseSpec, SpecError, type SandboxSpec } from './spec.js';

export type { SandboxExit, ExitReason, SandboxLimits } from './limits.js';
export type { SandboxStdio } from './monitor.js';

export type SandboxStatus = 'created' | 'running' | 'stopped';

export type SandboxEvent =
  | { type: 'started'; pid: number }
  | { type: 'exec'; pid: number; argv: string[] }
  | { type: 'limit-hit'; limit: string }
  | { type: 'oom'; kills: number }
  | { type: 'exited'; exit: SandboxExit };

export interface SandboxMetrics {
  /** CPU time of the whole tree, microseconds. */
  cpuUsageUsec: number;
  memoryCurrent?: number;
  memoryPeak?: number;
  pidsCurrent?: number;
  oomKills: number;
  limitsHit: string[];
}

export interface CreateOptions {
  /** The program's stdin, stdout, stderr; default 'inherit'. */
  stdio?: readonly SandboxStdio[];
}

export interface ExecOptions {
  stdio?: StdioOption | readonly StdioOption[];
  /** Default: the sandbox's environment. */
  env?: Record<string, string | undefined>;
  /** Inside the sandbox; default /. */
  cwd?: string;
}

/** What record.json holds. */
interface SandboxRecord {
  /** The cgroup (a name for openCgroup), where the sandbox has one. */
  cgroup?: string;
  /** The creating process and its start time: while it lives, the sandbox is its own. */
  owner: { pid: number; startTime: number };
}

/** What state.json holds. */
interface SandboxState {
  id: string;
  cgroup?: string;
  monitor: { pid: number; startTime?: number };
  pid: number;
  startTime?: number;
  /** Wall clock (ms since the epoch) at the start: durations are measured from it. */
  startedAt: number;
  namespaces: NamespaceKind[];
  spec: SandboxSpec;
}

type Condition = 'absent' | 'created' | 'running' | 'stopped' | 'broken';

const base = () => join(runDir(), 'sandbox');
const cgroupName = (id: string) => `tsns-sandbox-${id}`;
let counter = 0;
/**
 * The sandboxes this process created and has not deleted, by id. The sweep leaves them
 * alone: they are no killed creates, and a monitor of theirs that vanished is their
 * object's business. get() and list() return these objects themselves.
 */
const mine = new Map<string, Sandbox>();
const readRecord = (dir: string) => readJson<SandboxRecord>(dir, 'record.json');

const NO_GROUP = 'one is made only for cgroup limits, timeoutMs, cpuTimeMs, or without a pid namespace of its own';

let ownStart: number | undefined;
const ownStartTime = () => (ownStart ??= startTimeOf(process.pid)!);

function conditionOf(dir: string): Condition {
  if (!existsSync(dir)) return 'absent';
  if (existsSync(statusFile(dir))) return 'stopped';
  const state = readJson<SandboxState>(dir, 'state.json');
  if (!state) {
    const owner = readRecord(dir)?.owner;
    return owner && startTimeOf(owner.pid) === owner.startTime ? 'created' : 'broken';
  }
  // The monitor lives until it has recorded the end.
  return isLiveProcess(state.monitor.pid, state.monitor.startTime) ? 'running' : 'broken';
}

/**
 * Kill a monitor `dir`'s start made that its state does not name (the start was killed
 * before it wrote state.json); its program goes with it (its death signal).
 */
async function killUnrecordedMonitor(dir: string): Promise<void> {
  // The monitor writes its one line with one call: an empty file is for a moment only.
  for (let tries = 0; tries < 100; tries++) {
    const found = monitorOf(dir);
    if (found === undefined) return;
    if (found !== 'writing') {
      if (isLiveProcess(found.pid, found.startTime)) process.kill(found.pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Kill and remove what a record names: a monitor not yet recorded, its cgroup (and so every process), then the record. */
async function removeRecorded(dir: string): Promise<void> {
  const unrecorded = !existsSync(join(dir, 'state.json'));
  if (unrecorded) await killUnrecordedMonitor(dir);
  const name = readRecord(dir)?.cgroup;
  if (name !== undefined) {
    try {
      const group = openCgroup(name);
      await group.kill();
      await group.remove();
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }
  // A monitor that was starting as its file was looked for names itself meanwhile: the
  // directory is not empty then, and it is killed before the next try. Once the directory
  // is gone, a monitor yet to name itself cannot, and starts nothing.
  for (let round = 0; !removeRecordFiles(dir); round++) {
    if (round === 10) return removeRecords(dir);
    if (unrecorded) await killUnrecordedMonitor(dir);
  }
}

/** What the directory of a sandbox whose end was recorded holds. */
const ENDED_FILES = ['record.json', 'monitor', 'state.json', 'exit'];

/**
 * Remove a record directory: its plain files by name (`known`, else as read), then
 * itself. rmSync's generic walk (lstat, a failed rmdir, readdir, each file) cost more than
 * the rest of a delete. False when a file came meanwhile (ENOTEMPTY).
 */
function removeRecordFiles(dir: string, known?: readonly string[]): boolean {
  try {
    for (const file of known ?? readdirSync(dir)) unlinkSync(join(dir, file));
    rmdirSync(dir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A name missing from `known` (a start that failed half-way), or one more than it: read then.
    if (known && (code === 'ENOENT' || code === 'ENOTEMPTY')) return removeRecordFiles(dir);
    if (code === 'ENOTEMPTY') return false;
    // Gone already (another process deleted it), or not what a sandbox writes: the walk then.
    if (code !== 'ENOENT') rmSync(dir, { recursive: true, force: true });
  }
  return true;
}

/** Remove a record directory, whatever it holds (`known`: what it should). */
function removeRecords(dir: string, known?: readonly string[]): void {
  if (!removeRecordFiles(dir, known)) rmSync(dir, { recursive: true, force: true });
}

/** Remove what killed creates and vanished monitors left (nobody else will). */
async function sweep(): Promise<void> {
  let ids: string[];
  try {
    ids = readdirSync(base());
  } catch {
    return;
  }
  for (const id of ids) {
    if (mine.has(id) || conditionOf(join(base(), id)) !== 'broken') continue;
    const lock = await lockName('sandbox', id, 'exclusive');
    try {
      if (conditionOf(join(base(), id)) === 'broken') await removeRecorded(join(base(), id));
    } finally {
      lock.release();
    }
  }
}

/** Resolves once `dir`'s monitor, not this process's child, has ended. */
function foreignEnd(dir: string, monitor: SandboxState['monitor']): Promise<void> {
  const ended = () => existsSync(statusFile(dir)) || !existsSync(dir) || !isLiveProcess(monitor.pid, monitor.startTime);
  return new Promise((resolve) => {
    if (ended()) return resolve();
    // The exit record's rename is watched; a monitor killed before it writes one is seen
    // through a pidfd (readable once it has ended), opened before its identity is checked
    // again so that a reused pid cannot stand in for it.
    let watcher: FSWatcher | undefined;
    let pidfd: number | undefined;
    let unwatchPid = () => {};
    try {
      watcher = watch(dir, () => check()).on('error', () => check());
    } catch {
      // the directory went meanwhile (deleted elsewhere): check() sees it
    }
    try {
      const fd = pidfdOpen(monitor.pid);
      pidfd = fd;
      unwatchPid = onReadable(fd, () => check());
    } catch {
      // gone already (ESRCH): check() sees it
    }
    function check() {
      if (!ended()) return;
      watcher?.close();
      unwatchPid();
      if (pidfd !== undefined) closeSync(pidfd);
      pidfd = undefined;
      unwatchPid = () => {};
      resolve();
    }
    check();
  });
}

export class Sandbox {
  readonly id: string;
  /** The program's stdin, stdout and stderr where create() asked for a 'pipe' (once started); else null. */
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  private readonly dir: string;
  private spec: SandboxSpec;
  private readonly compiled: Compiled;
  private readonly group: Cgroup | undefined;
  private readonly stdio: readonly SandboxStdio[];
  private state: SandboxState | undefined;
  private deleted = false;
  /** The monitor's end, where this process started it (and so reaps it). */
  private monitorExited: Promise<ExitStatus> | undefined;
  private exited: Promise<SandboxExit> | undefined;
  /** The exit is recorded and collected: the program's pid names nothing of this sandbox any more. */
  private ended = false;
  /** The monitor's exit record was there (so each of ENDED_FILES is). */
  private recorded = false;
  private readonly history: SandboxEvent[] = [];
  private readonly listeners = new Set<() => void>();
  /** Stops the watching of the cgroup's counters (notify.ts), once events() has started it. */
  private unwatch: (() => void) | undefined;
  private seen = { oomKills: 0, limitsHit: [] as string[] };

  private constructor(id: string, spec: SandboxSpec, compiled: Compiled, group: Cgroup | undefined, stdio: readonly SandboxStdio[], state?: SandboxState) {
    this.id = id;
    this.dir = sandboxDir(id);
    this.spec = spec;
    this.compiled = compiled;
    this.group = group;
    this.stdio = stdio;
    this.state = state;
  }

  /**
   * Check `spec` (a SpecError naming the field, with nothing made), then record the
   * sandbox and make its cgroup with the limits, where it needs one. The program runs at
   * start().
   */
  static async create(spec: SandboxSpec | unknown, options: CreateOptions = {}): Promise<Sandbox> {
    const parsed = parseSpec(spec);
    if (!parsed.process?.args) throw new SpecError('process.args', 'a sandbox needs a program (got undefined)');
    const compiled = compile(parsed); // what the schema cannot see (roots not built yet...), before anything is made
    const limits = cgroupLimits(parsed.limits);
    const controllers = groupControllers(limits, parsed.limits, compiled.spawn.namespaces?.includes('pid') ?? false);
    const id = parsed.id ?? `sb-${process.pid}-${Date.now().toString(36)}-${counter++}`;
    await sweep();
    // A generated id is this process's alone; a given one may race a create or delete elsewhere.
    const lock = parsed.id === undefined ? undefined : await lockName('sandbox', id, 'exclusive');
    const dir = sandboxDir(id);
    try {
      const was = conditionOf(dir);
      if (was !== 'absent') throw new SpecError('id', `sandbox ${JSON.stringify(id)} exists already (${was}): delete it first`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeJson(dir, 'record.json', { ...(controllers ? { cgroup: cgroupName(id) } : {}), owner: { pid: process.pid, startTime: ownStartTime() } } satisfies SandboxRecord);
      let group: Cgroup | undefined;
      try {
        if (controllers) {
          group = createCgroup(cgroupName(id), { controllers });
          applyLimits(group, limits);
          monitorArgs(group, parsed.limits); // a time limit this host cannot measure fails here
        }
      } catch (err) {
        await group?.remove().catch(() => {});
        removeRecords(dir);
        throw err;
      }
      const sandbox = new Sandbox(id, parsed, compiled, group, options.stdio ?? ['inherit', 'inherit', 'inherit']);
      mine.set(id, sandbox);
      return sandbox;
    } finally {
      lock?.release();
    }
  }

  /** Every recorded sandbox that is running or stopped (not yet deleted), and this process's created ones, by id. */
  static async list(): Promise<Sandbox[]> {
    let ids: string[];
    try {
      ids = readdirSync(base()).sort();
    } catch {
      return [];
    }
    const out: Sandbox[] = [];
    for (const id of ids) {
      const found = await Sandbox.get(id).catch(() => undefined);
      if (found) out.push(found);
    }
    return out;
  }

  /** A started sandbox by id, from any process: running, or stopped with its exit recorded; or one this process created. */
  static async get(id: string): Promise<Sandbox> {
    const own = mine.get(id);
    if (own) return own;
    const dir = sandboxDir(id);
    const was = conditionOf(dir);
    const state = readJson<SandboxState>(dir, 'state.json');
    if (was === 'absent' || was === 'broken' || !state) throw new Error(`sandbox ${JSON.stringify(id)}: ${was === 'created' ? 'not started yet (by another process)' : 'no such sandbox'}`);
    let group: Cgroup | undefined;
    try {
      group = state.cgroup === undefined ? undefined : openCgroup(state.cgroup);
    } catch {
      group = undefined;
    }
    return new Sandbox(id, state.spec, compile(state.spec), group, [], state);
  }

  /**
   * Run the program under its monitor, in its cgroup. No lock: until state.json is
   * written, no other process can get() this sandbox.
   */
  async start(): Promise<void> {
    if (this.state) throw new Error(`sandbox ${JSON.stringify(this.id)} was started already`);
    if (this.deleted) throw new Error(`sandbox ${JSON.stringify(this.id)} was deleted`);
    const startedAt = Date.now();
    let state: SandboxState | undefined;
    let written = false;
    const { monitor, pid, pipes } = startMonitor({ ...this.compiled.spawn, cgroups: this.group?.dirs }, this.compiled.argv, {
      dir: this.dir,
      args: monitorArgs(this.group, this.spec.limits),
      dieWithParent: this.spec.process?.dieWithParent ?? false,
      stdio: this.stdio,
      // The state, ready under another name while the program builds its root: renamed
      // once it runs (a start that fails leaves only that name, which no reader looks at).
      onPids: (monitor, pid) => {
        state = this.stateFor(monitor, pid, startedAt);
        try {
          writeJson(this.dir, 'state.next.json', state);
          written = true;
        } catch {
          // written below, where a failure is thrown
        }
      },
    });
    this.monitorExited = watchExit(monitor);
    [this.stdin, this.stdout, this.stderr] = [stream(pipes[0] ?? null, false), stream(pipes[1] ?? null, true), stream(pipes[2] ?? null, true)];
    this.state = state ?? this.stateFor(monitor, pid, startedAt);
    if (written) renameSync(join(this.dir, 'state.next.json'), join(this.dir, 'state.json'));
    else writeJson(this.dir, 'state.json', this.state);
    this.emit({ type: 'started', pid });
  }

  /** What state.json holds for the program `pid` under `monitor`. */
  private stateFor(monitor: number, pid: number, startedAt: number): SandboxState {
    return {
      id: this.id, ...(this.group ? { cgroup: this.group.name } : {}),
      monitor: { pid: monitor, startTime: startTimeOf(monitor) },
      pid, startTime: startTimeOf(pid), startedAt,
      namespaces: [...(this.compiled.spawn.namespaces ?? [])],
      spec: this.spec,
    };
  }

  /** created, running or stopped, and the program's pid once started. */
  status(): { status: SandboxStatus; pid?: number } {
    const was = conditionOf(this.dir);
    const status: SandboxStatus = !this.state ? (was === 'created' ? 'created' : 'stopped') : was === 'running' ? 'running' : 'stopped';
    return this.state ? { status, pid: this.state.pid } : { status };
  }

  /** Run a second program inside: the sandbox's cgroup first, then its namespaces (joined, as a context's joiners). */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<Spawned> {
    const state = this.state;
    if (!state || conditionOf(this.dir) !== 'running' || !isLiveProcess(state.pid, state.startTime))
      throw new Error(`sandbox ${JSON.stringify(this.id)} is not running`);
    const child = enter(state.pid, state.namespaces, argv, {
      cgroups: this.group?.dirs.filter((d) => existsSync(d)),
      cwdInside: options.cwd ?? '/',
      noNewPrivs: this.compiled.spawn.noNewPrivs,
      finalSteps: this.compiled.spawn.finalSteps,
      landlock: this.compiled.spawn.landlock,
      securitySteps: this.compiled.spawn.securitySteps,
      env: options.env ?? this.compiled.spawn.env,
      stdio: options.stdio,
    });
    this.emit({ type: 'exec', pid: child.pid, argv: [...argv] });
    return child;
  }

  /** `signal` to the program, then after `timeoutMs` SIGKILL to the whole tree; the exit. */
  async stop(options: { signal?: NodeJS.Signals | number; timeoutMs?: number } = {}): Promise<SandboxExit> {
    const state = this.state;
    if (!state) throw new Error(`sandbox ${JSON.stringify(this.id)} was not started`);
    if (conditionOf(this.dir) === 'running' && isLiveProcess(state.pid, state.startTime)) {
      try {
        process.kill(state.pid, options.signal ?? 'SIGTERM');
      } catch {
        // ended meanwhile
      }
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        this.wait().then(() => true),
        new Promise<false>((r) => { timer = setTimeout(() => r(false), options.timeoutMs ?? 10_000); }),
      ]);
      clearTimeout(timer);
      // A pid 1 ignores what it has no handler for: the whole tree goes then.
      if (!ended) await this.killTree(state);
    }
    return this.wait();
  }

  /** SIGKILL to every process of the sandbox: its cgroup's, or else its pid namespace's (whose pid 1 takes the rest along). */
  private async killTree(state: SandboxState): Promise<void> {
    if (this.group?.exists()) await this.group.kill();
    else if (!this.ended && isLiveProcess(state.pid, state.startTime)) process.kill(state.pid, 'SIGKILL');
  }

  /** How the program ended: the monitor's record and the cgroup's counters. */
  wait(): Promise<SandboxExit> {
    if (!this.state) return Promise.reject(new Error(`sandbox ${JSON.stringify(this.id)} was not started`));
    return (this.exited ??= this.collect(this.state));
  }

  private async collect(state: SandboxState): Promise<SandboxExit> {
    if (this.monitorExited) await this.monitorExited;
    else await foreignEnd(this.dir, state.monitor);
    // The monitor's kill of what the program left (cgroup.kill) completes after it has
    // gone: an exit means that nothing of the tree runs any more.
    if (this.group?.exists()) await this.group.kill();
    const file = statusFile(this.dir);
    const recorded = statSync(file, { throwIfNoEntry: false });
    const exit: SandboxExit = recorded
      ? exitFrom(readFileSync(file, 'utf8'), recorded.mtimeMs, state.startedAt, this.group)
      // The monitor went without a record: its death signal took the program along.
      : { reason: 'signaled', code: null, signal: 'SIGKILL', durationMs: Date.now() - state.startedAt, cpuMs: 0, limitsHit: [] };
    this.ended = true;
    this.recorded = recorded !== undefined;
    this.pollCounters(exit);
    if (exit.reason === 'oom' && this.seen.oomKills === 0) this.emit({ type: 'oom', kills: 1 });
    this.emit({ type: 'exited', exit });
    this.unwatch?.();
    return exit;
  }

  /** Change cgroup limits (time limits are the monitor's, fixed at start). */
  update(limits: SandboxLimits): void {
    const merged = parseSpec({ ...this.spec, limits: { ...this.spec.limits, ...limits } });
    if (this.state) {
      for (const field of ['timeoutMs', 'cpuTimeMs', 'rlimits'] as const)
        if (limits[field] !== undefined) throw new SpecError(`limits.${field}`, 'is fixed once the sandbox has started');
    }
    if (!this.group) throw new SpecError('limits', `sandbox ${JSON.stringify(this.id)} has no cgroup to change (${NO_GROUP})`);
    applyLimits(this.group, cgroupLimits(limits));
    this.spec = merged;
    if (this.state) {
      this.state.spec = merged;
      writeJson(this.dir, 'state.json', this.state);
    }
  }

  /** Usage from the cgroup: CPU time, memory now and at its peak, tasks, OOM kills and limits hit. */
  metrics(): SandboxMetrics {
    if (!this.group) throw new Error(`sandbox ${JSON.stringify(this.id)} has no cgroup to measure (${NO_GROUP})`);
    if (!this.group.exists()) throw new Error(`sandbox ${JSON.stringify(this.id)} has no cgroup any more`);
    const s = this.group.stats();
    const counters = limitCounters(this.group);
    return { cpuUsageUsec: s.cpuUsageUsec ?? 0, memoryCurrent: s.memoryCurrent, memoryPeak: s.memoryPeak, pidsCurrent: s.pidsCurrent, ...counters };
  }

  /**
   * started, exec, limit-hit, oom, exited: from the beginning, each iterator on its own; it
   * ends after exited. limit-hit and oom come as the kernel notifies them (notify.ts); the
   * exit as the monitor ends.
   */
  async *events(): AsyncGenerator<SandboxEvent> {
    if (this.state && this.group && !this.unwatch && !this.history.some((e) => e.type === 'exited')) {
      this.unwatch = watchCounters(this.group, () => this.pollCounters());
      // What changed before the watching began.
      this.pollCounters();
    }
    if (this.state) void this.wait().catch(() => {});
    for (let at = 0; ; at++) {
      while (at >= this.history.length) await new Promise<void>((r) => this.listeners.add(r));
      const event = this.history[at];
      yield event;
      if (event.type === 'exited') return;
    }
  }

  /** Remove the sandbox: what runs is killed, then its cgroup and records go. */
  async delete(): Promise<void> {
    // Once started, another process may get() it and delete it too.
    const lock = this.state ? await lockName('sandbox', this.id, 'exclusive') : undefined;
    try {
      if (this.state) {
        await this.killTree(this.state);
        await this.wait();
      }
      if (this.group?.exists()) await this.group.remove();
      removeRecords(this.dir, this.recorded ? ENDED_FILES : undefined);
      mine.delete(this.id);
      this.deleted = true;
    } finally {
      lock?.release();
    }
  }

  private emit(event: SandboxEvent): void {
    this.history.push(event);
    for (const wake of this.listeners) wake();
    this.listeners.clear();
  }

  /** New OOM kills and newly hit limits since the last look, as events. */
  private pollCounters(exit?: SandboxExit): void {
    if (!this.group?.exists()) return;
    const { oomKills, limitsHit } = limitCounters(this.group);
    for (const limit of [...limitsHit, ...(exit?.limitsHit ?? [])]) {
      if (this.seen.limitsHit.includes(limit)) continue;
      this.seen.limitsHit.push(limit);
      this.emit({ type: 'limit-hit', limit });
    }
    if (oomKills > this.seen.oomKills) this.emit({ type: 'oom', kills: oomKills });
    this.seen.oomKills = Math.max(this.seen.oomKills, oomKills);
  }
}
