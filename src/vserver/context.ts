// Security contexts in the Linux-VServer sense, built from namespaces and a cgroup:
// a process tree with its own pid, uts, ipc and mount namespaces (optionally net), its own
// /proc, a cgroup, and a reduced capability set. A context can be persisted under a
// directory (RUN/ctx/N for ts-chcontext, RUN/NAME for ts-vserver) so that other tools
// join it later, and torn down again leaving nothing behind.
//
// Persistence, and why it takes this shape:
// - uts, ipc, pid (and net) are bind-mounted onto DIR/ns/KIND (spawn's `persist`): their
//   inodes identify the context, so a recycled pid can never be mistaken for its init.
// - the mount namespace is not bind-mounted: that needs DIR on a private mount (else the
//   bind makes a reference loop the kernel refuses) and would pin the namespace after its
//   init died. It is joined through /proc/INIT/ns/mnt while the init runs; a pid namespace
//   cannot take new processes once its init is gone anyway, so nothing is lost.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, renameSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { runDir } from './paths.js';
import { isLiveProcess, startTimeOf } from '../sys/proc.js';

export { startTimeOf };
import { AT_RECURSIVE, MNT_DETACH, MOUNT_ATTR, MS_NODEV, MS_NOEXEC, MS_NOSUID, umount2 } from '../sys/mount.js';
import { protectProcSteps } from '../spawn/root.js';
import type { NamespaceKind } from '../sys/ns.js';
import type { SpawnSpec, StdioOption } from '../spawn/spec.js';
import type { Step } from '../native/plan.js';
import type { Spawned } from '../spawn/index.js';
import type { Cgroup } from '../cgroup/index.js';

export { runDir, contextDir, anonDir, vserverDir } from './paths.js';

/** A context's name: what util-vserver's numeric ids and vserver names have in common. */
export function checkContextName(name: string, what = 'context'): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(name))
    throw new TypeError(`invalid ${what} name '${name}': use letters, digits, '_', '.' and '-'`);
}

/**
 * What a start is about to make, written to DIR/record.json before it makes anything
 * (write-ahead): a start killed at any moment leaves what destroyContext needs.
 */
export interface ContextRecord {
  /** The cgroup (a name for openCgroup). */
  cgroup: string;
  /** The process making the context, and its start time: while it lives, the start is in progress. */
  owner: { pid: number; startTime: number };
}

/** What is recorded in DIR/state.json about a running context. */
export interface ContextState {
  name: string;
  /** The init (pid 1 inside), as seen from the host. */
  pid: number;
  /** Its start time (clock ticks after boot, /proc/PID/stat field 22): tells a reused pid apart. */
  startTime: number;
  /** The init's pid namespace (its inode): where nothing is bind-mounted, what tells a reused pid apart. */
  pidNs?: number;
  /** Namespace kinds bind-mounted under DIR/ns/. */
  persisted: NamespaceKind[];
  /** The context's cgroup (a name for openCgroup) and the directories joiners enter. */
  cgroup: string;
  cgroupDirs: string[];
  hostname?: string;
  /** chroot of the context, if any (joiners take /proc/INIT/root). */
  root?: string;
  dropCaps: number[];
  noNewPrivs: boolean;
  /** The seccomp profile of its processes, which joiners get too. */
  seccomp?: 'default';
  /** The host end of its veth pair, when it has a network. */
  hostDev?: string;
  /** Anything the owner (ts-vserver) wants to keep with it. */
  extra?: Record<string, unknown>;
}

export interface ContextSpec {
  name: string;
  /** Persist under this directory; without it the context lives only as long as its init. */
  dir?: string;
  hostname?: string;
  /** Give it its own network namespace (set up by `network`). */
  net?: boolean;
  /** Runs in the spawning process before the init continues; returns the host end of a veth to record. */
  network?: (pid: number) => { hostDev?: string; cleanup?: () => void } | void;
  /** The cgroup to make for it (a name below the caller's group). */
  cgroup: string;
  limits?: { memory?: string; pids?: string; cpu?: string };
  root?: string;
  cwd?: string;
  dropCaps?: readonly number[];
  noNewPrivs?: boolean;
  /**
   * 'default': the default seccomp profile (src/sandbox/profile.ts): no new user namespaces,
   * which would give root inside back the capabilities it lost. Needs noNewPrivs (without
   * it, installing a filter needs the CAP_SYS_ADMIN a secure context has dropped).
   */
  seccomp?: 'default';
  nice?: number;
  /** true: argv is pid 1 itself (fakeinit); false: a small shell init runs it and reaps. */
  fakeinit?: boolean;
  /** The shell for the reaper init (default /bin/sh, inside root). */
  shell?: string;
  setsid?: boolean;
  stdio?: StdioOption | readonly StdioOption[];
  /** The init outlives its starter: a session of its own, /dev/null for stdio, nothing else open. */
  detached?: boolean;
  /** Sent to the init when its starter dies (a killed tool takes its context along). */
  deathSignal?: NodeJS.Signals;
  env?: Record<string, string | undefined>;
  extra?: Record<string, unknown>;
}

/** A context this process started. */
export interface StartedContext {
  sandbox: Spawned;
  state: ContextState;
  /** Tear it down: kill what is left, unmount, remove the cgroup and state (idempotent). */
  destroy(options?: { timeoutMs?: number }): Promise<void>;
}

const NS_PERSISTED: NamespaceKind[] = ['ipc', 'uts', 'net', 'pid'];

/**
 * The reaper: pid 1 must stay alive for the context to exist, and must reap orphans.
 * It runs CMD as its child with the caller's stdin (a background job would get
 * /dev/null), passes TERM/INT/HUP on, and exits with CMD's status.
 */
const REAPER = 'trap \'kill -TERM $c 2>/dev/null\' TERM; trap \'kill -INT $c 2>/dev/null\' INT; trap \'kill -HUP $c 2>/dev/null\' HUP; '
  + 'exec 3<&0; "$@" <&3 3<&- & c=$!; exec 3<&-; '
  + 'while :; do wait $c; s=$?; kill -0 $c 2>/dev/null || exit $s; done';

/**
 * stdio for a detached init: /dev/null on 0-2 and every other descriptor of ours closed,
 * those we inherited without close-on-exec among them (spawn closes 'ignore' past fd 2).
 */
function detachedStdio(): StdioOption[] {
  const top = Math.max(2, ...readdirSync('/proc/self/fd').map(Number));
  return Array.from({ length: Math.min(top + 1, 1024) }, () => 'ignore' as const);
}

/**
 * The mounts of a context without a root of its own: the host's files, a protected /proc
 * of its pid namespace, and the cgroup hierarchies read-only (in a mount namespace of the
 * init's own, below the one ts-chcontext's waiter removes the group from: steps.ts).
 * Writable, they would let root inside move itself out of its group, and so out of its
 * limits and its device list.
 */
function hostRootSteps(): Step[] {
  return [
    { op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC },
    ...protectProcSteps('/proc'),
    { op: 'mountSetattr', path: '/sys/fs/cgroup', flags: AT_RECURSIVE, set: MOUNT_ATTR.RDONLY, clear: 0, propagation: 0 },
  ];
}

/** The argv pid 1 runs. */
export function initArgv(argv: readonly string[], fakeinit: boolean, shell = '/bin/sh'): string[] {
  if (fakeinit) return [...argv];
  const cmd = argv.length ? argv : [process.env.SHELL || '/bin/sh'];
  return [shell, '-c', REAPER, 'init', ...cmd];
}


function nsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Whether the context's init still runs (the same process, in the same pid namespace). */
export function isAlive(state: ContextState, dir?: string): boolean {
  if (!isLiveProcess(state.pid, state.startTime)) return false;
  if (dir && state.persisted.includes('pid')) {
    const kept = nsInode(join(dir, 'ns', 'pid'));
    if (kept === undefined || kept !== nsInode(`/proc/${state.pid}/ns/pid`)) return false;
  } else if (state.pidNs !== undefined && state.pidNs !== nsInode(`/proc/${state.pid}/ns/pid`)) {
    return false;
  }
  return true;
}

export function readJson<T>(dir: string, file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Write DIR/FILE as JSON, atomically (the sandbox's records use it too). */
export function writeJson(dir: string, file: string, value: unknown): void {
  writeFileSync(join(dir, `${file}.tmp`), JSON.stringify(value, null, 2) + '\n');
  // rename is atomic: a reader never sees half a file
  renameSync(join(dir, `${file}.tmp`), join(dir, file));
}

/** The state recorded in `dir`, or undefined when there is none. */
export function readState(dir: string): ContextState | undefined {
  return readJson<ContextState>(dir, 'state.json');
}

/** What a start in `dir` recorded before it made anything, or undefined. */
export function readRecord(dir: string): ContextRecord | undefined {
  return readJson<ContextRecord>(dir, 'record.json');
}

/** Remove the bind mounts under DIR/ns and DIR itself. Unmounting drops the last reference of a dead namespace. */
function removeDir(dir: string): void {
  const nsDir = join(dir, 'ns');
  if (existsSync(nsDir)) {
    for (const f of readdirSync(nsDir)) {
      const p = join(nsDir, f);
      // A killed start may have bound a file twice: unmount until nothing is left on it.
      for (let i = 0; i < 16; i++) {
        try {
          umount2(p, MNT_DETACH);
        } catch {
          break; // not mounted (a failed start may stop before the bind)
        }
      }
      rmSync(p, { force: true });
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Is this /proc/PID still our init (same start time)? */
function sameProcess(pid: number, startTime: number): boolean {
  return startTimeOf(pid) === startTime;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * End a context and remove every trace: TERM to its init, then (after `timeoutMs`)
 * SIGKILL to the whole cgroup; then the cgroup, the namespace bind mounts, the veth
 * and the record directory. Without a state (a start that was killed half-way), what
 * DIR/record.json names is removed all the same.
 */
export async function destroyContext(state: ContextState | undefined, dir: string | undefined, options: { timeoutMs?: number; signal?: NodeJS.Signals } = {}): Promise<void> {
  const { openCgroup } = await import('../cgroup/index.js');
  const timeout = options.timeoutMs ?? 3000;
  if (state && sameProcess(state.pid, state.startTime)) {
    try {
      process.kill(state.pid, options.signal ?? 'SIGTERM');
    } catch {
      // gone already
    }
    const until = Date.now() + timeout;
    while (Date.now() < until && isLiveProcess(state.pid, state.startTime)) await sleep(50);
  }
  const cgroup = state?.cgroup ?? (dir ? readRecord(dir)?.cgroup : undefined);
  let group;
  try {
    group = cgroup === undefined ? undefined : openCgroup(cgroup);
  } catch {
    group = undefined;
  }
  // The pid namespace ends with its init: SIGKILL to the init kills every member too.
  if (state && sameProcess(state.pid, state.startTime)) {
    try {
      process.kill(state.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (group) {
    await group.kill();
    await group.remove();
  }
  if (state?.hostDev) (await import('../net/chbind.js')).removeVeth(state.hostDev);
  if (dir) removeDir(dir);
}

/** How a context's record directory stands. */
export type Condition = 'running' | 'starting' | 'broken' | 'stopped';

/**
 * running: its init runs. starting: a live owner is still making it. broken: something
 * is left of it (a killed start, an init that died on its own) that destroyContext
 * removes. stopped: nothing is there.
 */
export function condition(dir: string): Condition {
  const state = readState(dir);
  if (state && isAlive(state, dir)) return 'running';
  if (!existsSync(dir)) return 'stopped';
  const owner = readRecord(dir)?.owner;
  if (!state && owner && startTimeOf(owner.pid) === owner.startTime) return 'starting';
  return 'broken';
}


/** The steps that install a context's seccomp profile, last before the exec (none without one). */
async function seccompSteps(profile: 'default' | undefined): Promise<Step[] | undefined> {
  if (profile !== 'default') return undefined;
  // Loaded only here: libseccomp costs start-up time that contexts without a filter skip.
  return [(await import('../sandbox/seccomp.js')).defaultProfileStep()];
}

/** A context's records and cgroup, made before its init (what startContext and a tool's stage share). */
export interface PreparedContext {
  group: Cgroup;
  /** What spawns the init (argv: initArgv's). */
  spawnSpec: SpawnSpec;
  /** Record the init (state.json, when the context has a directory) and return its state. */
  started(pid: number): ContextState;
  /** Remove what was made, the init included, for a start that failed. */
  undo(kill?: () => Promise<void>): Promise<void>;
}

/**
 * Make what a context needs before its init runs: clear what a killed start left, record
 * what is about to be made (write-ahead), then the cgroup with its limits and devices.
 * `persist`: bind-mount the namespaces under DIR/ns (for that, the init must be a child
 * of this process); else joiners take /proc/INIT/ns, told apart by the pid namespace's inode.
 */
export async function prepareContext(spec: ContextSpec, persist = true): Promise<PreparedContext> {
  checkContextName(spec.name);
  const { createCgroup, openCgroup } = await import('../cgroup/index.js');
  const dir = spec.dir;
  if (dir) {
    const was = condition(dir);
    if (was === 'running') throw new ContextError(`context '${spec.name}' is running already (pid ${readState(dir)!.pid})`);
    if (was === 'starting') throw new ContextError(`context '${spec.name}' is being started by process ${readRecord(dir)!.owner.pid}`);
    // What a killed start or an init that died unattended left: clear it first.
    if (was === 'broken') await destroyContext(readState(dir), dir, { timeoutMs: 0 });
    mkdirSync(persist ? join(dir, 'ns') : dir, { recursive: true, mode: 0o700 });
    writeJson(dir, 'record.json', { cgroup: spec.cgroup, owner: { pid: process.pid, startTime: startTimeOf(process.pid)! } } satisfies ContextRecord);
  }
  // Left over by a crashed owner without state: an empty group is safe to reuse after removal.
  try {
    const stale = openCgroup(spec.cgroup);
    const procs = stale.procs();
    if (procs.length) throw new ContextError(`cgroup '${spec.cgroup}' exists and has processes: ${procs.join(' ')}`);
    await stale.remove();
  } catch (err) {
    if (err instanceof ContextError) throw err;
  }
  const group = createCgroup(spec.cgroup, { devices: true });
  let netCleanup: (() => void) | undefined;
  let hostDev: string | undefined;
  const undo = async (kill?: () => Promise<void>) => {
    await kill?.();
    try {
      netCleanup?.(); // the lease removes its veth pair
    } catch {
      // best effort: the first error is the one to report
    }
    await group.kill().catch(() => {});
    await group.remove().catch(() => {});
    if (dir) removeDir(dir);
  };
  try {
    const limits = Object.fromEntries(Object.entries(spec.limits ?? {}).filter(([, v]) => v !== undefined));
    // runc's device allow-list: the v1 devices controller's, or a BPF program on cgroup2.
    const devices = group.controls('devices') || group.unifiedDir ? (await import('../cgroup/devices.js')).DEFAULT_DEVICES : undefined;
    if (Object.keys(limits).length || devices) group.limit({ ...limits, devices });
  } catch (err) {
    await undo();
    throw err;
  }
  const kinds: NamespaceKind[] = ['ipc', 'uts', 'pid', 'mount'];
  if (spec.net) kinds.push('net');
  const persisted = dir && persist ? NS_PERSISTED.filter((k) => k !== 'net' || spec.net) : [];
  const securitySteps = await seccompSteps(spec.seccomp).catch(async (err) => { await undo(); throw err; });
  const spawnSpec: SpawnSpec = {
    namespaces: kinds,
    pidInit: true,
    hostname: spec.hostname,
    ...(spec.root === undefined
      ? { rootSteps: hostRootSteps() }
      // A root that CAP_SYS_CHROOT cannot leave, and that joiners land on (setns of the mount namespace).
      : { root: spec.root, pivotRoot: true, mountProc: true, protectProc: true }),
    cwd: spec.cwd,
    cgroups: group.dirs,
    dropCaps: spec.dropCaps,
    noNewPrivs: spec.noNewPrivs,
    // Placed by noNewPrivs: last, or before dropCaps takes the CAP_SYS_ADMIN a filter needs without it.
    securitySteps,
    setsid: spec.setsid || spec.detached,
    deathSignal: spec.deathSignal,
    stdio: spec.detached ? detachedStdio() : spec.stdio,
    env: spec.env,
    persist: persisted.length ? Object.fromEntries(persisted.map((k) => [k, join(dir!, 'ns', k)])) : undefined,
    prepare: spec.nice === undefined && !spec.network ? undefined : (pid) => {
      // Nice is inherited by every process of the context: set it on the init before it runs.
      if (spec.nice !== undefined) setPriority(pid, spec.nice);
      const lease = spec.network?.(pid);
      if (lease) {
        hostDev = lease.hostDev;
        netCleanup = lease.cleanup;
      }
    },
  };
  return {
    group,
    spawnSpec,
    undo,
    started(pid) {
      const startTime = startTimeOf(pid);
      if (startTime === undefined) throw new ContextError(`the context's init (pid ${pid}) ended at once`);
      const state: ContextState = {
        name: spec.name,
        pid,
        startTime,
        pidNs: nsInode(`/proc/${pid}/ns/pid`),
        persisted,
        cgroup: spec.cgroup,
        cgroupDirs: group.dirs,
        hostname: spec.hostname,
        root: spec.root,
        dropCaps: [...(spec.dropCaps ?? [])],
        noNewPrivs: spec.noNewPrivs ?? false,
        seccomp: spec.seccomp,
        hostDev,
        extra: spec.extra,
      };
      if (dir) writeJson(dir, 'state.json', state);
      return state;
    },
  };
}

/**
 * Start a context: make its cgroup (with limits), spawn its init in new namespaces inside
 * it, persist the namespaces and record the state. On any failure everything made so far
 * is removed again before the error is thrown.
 */
export async function startContext(spec: ContextSpec, argv: readonly string[]): Promise<StartedContext> {
  const { spawn } = await import('../spawn/index.js');
  const prepared = await prepareContext(spec);
  let sandbox: Spawned | undefined;
  try {
    sandbox = spawn(prepared.spawnSpec, initArgv(argv, spec.fakeinit ?? false, spec.shell ?? '/bin/sh'));
    const state = prepared.started(sandbox.pid);
    const started = sandbox;
    let destroyed: Promise<void> | undefined;
    return {
      sandbox: started,
      state,
      destroy: (options) => (destroyed ??= destroyContext(state, spec.dir, options)),
    };
  } catch (err) {
    const child = sandbox;
    await prepared.undo(child && (async () => {
      child.kill('SIGKILL');
      await child.exited;
    }));
    throw err;
  }
}

export interface JoinOptions {
  stdio?: StdioOption | readonly StdioOption[];
  /** As ContextSpec's: setsid, /dev/null for stdio, nothing else open. */
  detached?: boolean;
  env?: Record<string, string | undefined>;
  cwd?: string;
  setsid?: boolean;
}

/**
 * Run `argv` inside a running context: its cgroup first (before any namespace, so a
 * cgroup namespace would be rooted right), then its namespaces in setns order, fork into
 * its pid namespace, its root, and its capability limits.
 */
export async function joinContext(state: ContextState, dir: string | undefined, argv: readonly string[], options: JoinOptions = {}): Promise<Spawned> {
  const spec = await joinSpec(state, dir, options);
  const { spawn } = await import('../spawn/index.js');
  return spawn(spec, argv);
}

/** What joining a running context takes, for spawn() or a tool's stage (which runs it in place). */
export async function joinSpec(state: ContextState, dir: string | undefined, options: JoinOptions = {}): Promise<SpawnSpec> {
  if (!isAlive(state, dir)) throw new ContextError(`context '${state.name}' is not running`);
  // An init that only chrooted (started by an older tsns) would leave a joiner in the host's tree.
  if (state.root && readlinkSync(`/proc/${state.pid}/root`) !== '/') {
    throw new ContextError(`context '${state.name}' was started chrooted, not pivoted, by an older tsns: restart it before joining`);
  }
  const { NAMESPACES } = await import('../sys/ns.js');
  const pathOf = (kind: NamespaceKind, file: string) =>
    dir && state.persisted.includes(kind) ? join(dir, 'ns', kind) : `/proc/${state.pid}/ns/${file}`;
  const net = nsInode(`/proc/${state.pid}/ns/net`) !== nsInode('/proc/self/ns/net');
  const kinds: NamespaceKind[] = ['ipc', 'uts', 'pid', 'mount', ...(net ? ['net' as const] : [])];
  const join_ = NAMESPACES.filter((n) => kinds.includes(n.kind)).map((n) => ({ kind: n.kind, path: pathOf(n.kind, n.file) }));
  return {
    join: join_,
    forkAfterJoin: true,
    cgroups: state.cgroupDirs.filter((d) => existsSync(d)),
    // The init pivoted into its root: joining its mount namespace puts root and cwd there.
    // A directory is resolved only inside; nothing of the host is opened for the program.
    cwdInside: options.cwd ?? '/',
    dropCaps: state.dropCaps,
    noNewPrivs: state.noNewPrivs,
    securitySteps: await seccompSteps(state.seccomp),
    setsid: options.setsid || options.detached,
    stdio: options.detached ? detachedStdio() : options.stdio,
    env: options.env,
  };
}

/** Every persisted context under RUN/ctx, with whether it runs. */
export function listContexts(base = join(runDir(), 'ctx')): { name: string; dir: string; state?: ContextState; alive: boolean }[] {
  let names: string[] = [];
  try {
    names = readdirSync(base).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
  return names.map((name) => {
    const dir = join(base, name);
    const state = readState(dir);
    return { name, dir, state, alive: state ? isAlive(state, dir) : false };
  });
}

/**
 * Remove what is left of the contexts recorded under `base` whose init has ended and
 * whose owner is gone (a tool killed while its program ran, a detached init that ended).
 */
export async function sweepContexts(base: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(base, name);
    if (condition(dir) === 'broken') await destroyContext(readState(dir), dir, { timeoutMs: 0 });
  }
}

/** Processes of a context: host pid, pid inside, command line. From the host's /proc, no joining needed. */
export function contextProcesses(state: ContextState): { pid: number; inside: number; cmd: string; state: string }[] {
  const pidns = nsInode(`/proc/${state.pid}/ns/pid`);
  if (pidns === undefined) return [];
  const out: { pid: number; inside: number; cmd: string; state: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (nsInode(`/proc/${pid}/ns/pid`) !== pidns) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const nspid = /^NSpid:\s*(.*)$/m.exec(status)?.[1].trim().split(/\s+/) ?? [];
      const st = /^State:\s*(\S)/m.exec(status)?.[1] ?? '?';
      let cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      if (!cmd) cmd = `[${/^Name:\s*(.*)$/m.exec(status)?.[1] ?? '?'}]`;
      out.push({ pid, inside: Number(nspid[nspid.length - 1]), cmd, state: st });
    } catch {
      // ended while we looked
    }
  }
  return out.sort((a, b) => a.inside - b.inside);
}

/** A context that does not exist, runs already, or is not running. */
export class ContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContextError';
  }
}
