// Virtual private servers on namespaces: a config, a root filesystem, and a context
// (./context.ts) persisted under RUN/NAME that outlives the tool that started it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  condition, contextProcesses, destroyContext, isAlive, joinSpec, readState, startContext, checkContextName,
  type Condition, type ContextState, type JoinOptions,
} from './context.js';
import { lockName, type NameLock } from './lock.js';
import { runDir, vserverDir } from './paths.js';
import type { Spawned } from '../spawn/index.js';
import type { SpawnSpec } from '../spawn/spec.js';
import { configuredNames, loadConfig, type VserverConfig } from './config.js';

export { ConfigError, loadConfig, parseConfig, confDir, rootBase, configFile, type VserverConfig } from './config.js';
export { buildBusybox, buildDebootstrap } from './build.js';

/** A failure worded for the user (not running, running already, private...). */
export class VserverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VserverError';
  }
}

/** Environment of processes inside: nothing from the caller leaks in. */
export const INSIDE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', TERM: process.env.TERM ?? 'dumb', SHELL: '/bin/sh' };

/** The default init: runs until TERM (the trap makes pid 1 take the signal at all). */
export const DEFAULT_INIT = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 1 & wait $!; done'];

export { vserverDir };

export function cgroupName(name: string): string {
  return `tsns-vs-${name}`;
}

/** The running state of NAME, or undefined when it is stopped. */
export function running(name: string): ContextState | undefined {
  const dir = vserverDir(name);
  const state = readState(dir);
  return state && isAlive(state, dir) ? state : undefined;
}

/**
 * Start NAME: cgroup with limits, new namespaces (net too), chroot into ROOTDIR, secure
 * capabilities minus S_CAPS, hostname, the chbind network and nice; the init runs
 * detached (setsid, no stdio) and the state goes to RUN/NAME.
 */
export async function start(name: string, argv: readonly string[] = []): Promise<ContextState> {
  checkContextName(name, 'vserver');
  const cfg = await loadConfig(name);
  const lock = await lockName('vserver', name, 'exclusive');
  try {
    return await startLocked(name, cfg, argv);
  } finally {
    lock.release();
  }
}

async function startLocked(name: string, cfg: VserverConfig, argv: readonly string[]): Promise<ContextState> {
  if (running(name)) throw new VserverError(`vserver ${name} is running already`);
  if (!existsSync(join(cfg.rootdir, 'bin', 'sh')) && !argv.length) {
    throw new VserverError(`no root filesystem at ${cfg.rootdir} (no bin/sh): run 'ts-vserver ${name} build --busybox'`);
  }
  const { resolveCapDrop } = await import('../sandbox/caps.js');
  const dropCaps = resolveCapDrop({ secure: true, keep: cfg.caps });
  const init = argv.length ? [...argv] : DEFAULT_INIT;
  // ULIMIT: applied by the shell inside, which then becomes the init itself (exec keeps pid 1).
  const program = cfg.ulimit.length ? ['/bin/sh', '-c', `ulimit ${cfg.ulimit.join(' ')} || exit 1; exec "$@"`, 'init', ...init] : init;
  await loadNetwork();
  const started = await startContext({
    name,
    dir: vserverDir(name),
    cgroup: cgroupName(name),
    hostname: cfg.hostname,
    net: true,
    network: (pid) => network(pid, cfg),
    limits: { memory: cfg.memory, pids: cfg.pids, cpu: cfg.cpu },
    root: cfg.rootdir,
    dropCaps,
    noNewPrivs: true,
    // No new user namespaces: inside one, root would get back every capability dropped here.
    seccomp: 'default',
    nice: cfg.nice,
    fakeinit: true,
    detached: true,
    env: INSIDE_ENV,
    extra: { private: cfg.flags.includes('private'), ips: cfg.ips },
  }, program);
  // An init that dies at once (a bad ULIMIT, a command that fails) is a failed start: clean up.
  await new Promise((r) => setTimeout(r, 100));
  if (!isAlive(started.state, vserverDir(name))) {
    const status = await started.sandbox.exited;
    await started.destroy({ timeoutMs: 0 });
    throw new VserverError(`vserver ${name}: init ended at once (${status.signal ?? `exit status ${status.code}`})`);
  }
  return started.state;
}

/** The chbind part: addresses on a veth pair, or only a loopback that is up. */
function network(pid: number, cfg: VserverConfig): { hostDev?: string; cleanup?: () => void } | void {
  // Loaded before spawn() by start(): prepare hooks are synchronous.
  if (cfg.ips.length === 0) return net!.ipBatch({ pid }, ['link set lo up']);
  return net!.setupChbind(pid, { ips: cfg.ips, bcast: cfg.bcast, dev: cfg.dev });
}

let net: (typeof import('../net/chbind.js') & typeof import('../net/iproute.js')) | undefined;

/** Load the network part ahead of a start (prepare hooks are synchronous). */
export async function loadNetwork(): Promise<void> {
  net ??= { ...(await import('../net/chbind.js')), ...(await import('../net/iproute.js')) };
}

/**
 * Stop NAME: TERM to init, wait, kill the cgroup, unmount, remove the veth and records.
 * False when nothing of it was there. A half-made vserver (its start was killed) and an
 * init that died on its own leave records, mounts and a group: those go too.
 */
export async function stop(name: string, options: { timeoutMs?: number } = {}): Promise<boolean> {
  checkContextName(name, 'vserver');
  const lock = await lockName('vserver', name, 'exclusive');
  try {
    const dir = vserverDir(name);
    if (!existsSync(dir)) return false;
    await destroyContext(readState(dir), dir, { timeoutMs: options.timeoutMs ?? 5000 });
    return true;
  } finally {
    lock.release();
  }
}

function runningOrThrow(name: string): ContextState {
  const state = running(name);
  if (!state) throw new VserverError(`vserver ${name} is not running`);
  return state;
}

/**
 * What entering NAME takes, under a shared lock on its name: a stop waits until the
 * holder releases it, once its program runs (the tools' stage: when the planner ends).
 */
export async function prepareExec(name: string, options: JoinOptions = {}): Promise<{ spec: SpawnSpec; lock: NameLock }> {
  checkContextName(name, 'vserver');
  const lock = await lockName('vserver', name, 'shared');
  try {
    const state = runningOrThrow(name);
    if (state.extra?.private) throw new VserverError(`vserver ${name} is private (S_FLAGS private): it cannot be entered`);
    const spec = await joinSpec(state, vserverDir(name), { env: INSIDE_ENV, cwd: '/', ...options });
    // No descriptor of the caller's beyond stdio goes in: one on a host directory would
    // be a way out of the root (fchdir), as runc exec and lxc-attach know.
    spec.finalSteps = [{ op: 'closeFrom', first: 3 }, ...(spec.finalSteps ?? [])];
    return { spec, lock };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Run argv inside NAME: all its namespaces, its root, its cgroup and capability limits. */
export async function exec(name: string, argv: readonly string[], options: JoinOptions = {}): Promise<Spawned> {
  const { spec, lock } = await prepareExec(name, options);
  try {
    const { spawn } = await import('../spawn/index.js');
    return spawn(spec, argv);
  } finally {
    lock.release();
  }
}

/** Processes of NAME with pids as seen inside. */
export function ps(name: string): ReturnType<typeof contextProcesses> {
  return contextProcesses(runningOrThrow(name));
}

/** Send `signal` to the process NAME knows as `insidePid` (vkill). */
export function kill(name: string, insidePid: number, signal: NodeJS.Signals | number = 'SIGTERM'): void {
  const p = ps(name).find((x) => x.inside === insidePid);
  if (!p) throw new VserverError(`vserver ${name} has no process ${insidePid}`);
  process.kill(p.pid, signal);
}

export interface VserverStatus {
  name: string;
  running: boolean;
  /** broken: a killed start or an init that died left something that `stop` removes. */
  condition: Condition;
  pid?: number;
  procs?: number;
  memory?: number;
  ips: string[];
  hostname?: string;
  onboot?: boolean;
  /** The config could not be read (its error). */
  error?: string;
}

export async function status(name: string): Promise<VserverStatus> {
  let cfg: VserverConfig | undefined;
  let error: string | undefined;
  try {
    cfg = await loadConfig(name);
  } catch (err) {
    error = (err as Error).message;
  }
  const state = running(name);
  const out: VserverStatus = { name, running: Boolean(state), condition: condition(vserverDir(name)), ips: cfg?.ips ?? [], hostname: cfg?.hostname, onboot: cfg?.onboot, error };
  if (state) {
    out.pid = state.pid;
    out.procs = contextProcesses(state).length;
    out.hostname = state.hostname;
    out.ips = (state.extra?.ips as string[] | undefined) ?? out.ips;
    try {
      const { openCgroup } = await import('../cgroup/index.js');
      out.memory = openCgroup(state.cgroup).stats().memoryCurrent;
    } catch {
      // no memory figures on this host
    }
  }
  return out;
}

/** Every vserver: configured ones and running ones (a config may be gone while it runs). */
export async function list(): Promise<VserverStatus[]> {
  const names = new Set(configuredNames());
  try {
    for (const d of readdirSync(join(runDir(), 'vserver'))) names.add(d);
  } catch {
    // nothing runs
  }
  return Promise.all([...names].sort().map((n) => status(n)));
}

/** Names of configured vservers with ONBOOT=yes. */
export async function onbootNames(): Promise<string[]> {
  const out: string[] = [];
  for (const n of configuredNames()) {
    try {
      if ((await loadConfig(n)).onboot) out.push(n);
    } catch {
      // reported when started by name
    }
  }
  return out;
}
