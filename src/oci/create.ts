// ts-oci create and run: config.json -> the Sandbox's plan, performed by the native stage
// in the tool's own process. create ends with the container's process detached (a child
// of the caller's subreaper, as runc leaves it) and blocked on exec.fifo; run keeps the
// stage as its waiting parent and starts it at once.
import { constants as fs, closeSync, mkdirSync, openSync, readdirSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FORK, type Step } from '../native/plan.js';
import { CLONE_NEWCGROUP } from '../sys/ns.js';
import { consoleSteps, runcOrder } from './order.js';
import { ConfigError, parseConfig, readJson } from './config.js';
import { mapConfig } from './mapping.js';
import type { SandboxSpec } from '../sandbox/spec.js';
import type { Hierarchy, Layout } from '../cgroup/index.js';
import { alive, containerDir, defaultCgroupName, fifoPath, OCI_VERSION, processStat, readState, stateJson, StateError, statusOf, writeState, type StateRecord } from './state.js';
import { destroy, ownerName, release, remove } from './lifecycle.js';
import { HookError, hookFailure, insideHooks, runHooks } from './hooks.js';

export interface CreateOptions {
  root: string;
  id: string;
  bundle?: string;
  pidFile?: string;
  consoleSocket?: string;
  /** ts-oci run: wait for the program, then remove the container. */
  run?: boolean;
  /** run --detach: as create, then start. */
  detach?: boolean;
}

/** BUNDLE/config.json, checked. */
export function readConfig(bundle: string) {
  return parseConfig(readJson(`${bundle}/config.json`, 'config.json'));
}

/**
 * The group: an absolute cgroupsPath is taken from each hierarchy's root, as runc and the
 * runtime-spec do (Podman's /libpod_parent/libpod-ID); a relative one, or the default
 * (defaultCgroupName), below the caller's own group.
 */
function cgroupPlace(path: string | undefined, root: string, id: string, layout: Layout): { name: string; layout: Layout } {
  if (path === undefined || path === '') return { name: defaultCgroupName(root, id), layout };
  if (/^[^/]*:[^/]*:/.test(path)) throw new ConfigError('linux.cgroupsPath', `"${path}": a systemd slice:prefix:name path, and ts-oci has no --systemd-cgroup`);
  const name = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!name) throw new ConfigError('linux.cgroupsPath', `"${path}": names no group`);
  if (!path.startsWith('/')) return { name, layout };
  const fromRoot = (h: Hierarchy): Hierarchy => ({ ...h, base: h.mount });
  return { name, layout: { ...layout, unified: layout.unified && fromRoot(layout.unified), v1: layout.v1.map(fromRoot) } };
}

/**
 * Claim ID: its record is written in a directory of this process's own under ROOT and
 * renamed into place, so that a container's directory never lacks its record and two
 * creates of one ID cannot both win. Only where the ID is taken (by a record a killed
 * create left, which goes first, or by a live container) is ROOT locked (flock: released
 * if we die), which needs koffi: the common path spares its loading.
 */
async function claim(root: string, record: StateRecord): Promise<void> {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const own = join(root, `${CLAIM_PREFIX}${process.pid}`);
  sweepClaims(root);
  mkdirSync(own, { mode: 0o700 });
  try {
    mkdirSync(containerDir(own, record.id), { mode: 0o700 });
    writeState(own, record);
    if (renameInto(own, root, record.id)) return;
    const { flock, LOCK_EX } = await import('../sys/io.js');
    const fd = openSync(root, fs.O_RDONLY | fs.O_DIRECTORY);
    try {
      flock(fd, LOCK_EX);
      try {
        const old = readState(root, record.id);
        if (old.ready || statusOf(root, old) !== 'stopped') throw new StateError(`container with id exists: ${record.id}`);
        await remove(root, record.id, true);
      } catch (err) {
        if (!(err instanceof StateError) || !/does not exist/.test(err.message)) throw err;
      }
      if (!renameInto(own, root, record.id)) throw new StateError(`container with id exists: ${record.id}`);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
}

/** The claim directories' names: `claim@PID`, never a container ID (checkId refuses '@'). */
const CLAIM_PREFIX = 'claim@';

/** Move FROM/ID to ROOT/ID; false where ROOT/ID exists already. */
function renameInto(from: string, root: string, id: string): boolean {
  try {
    renameSync(containerDir(from, id), containerDir(root, id));
    return true;
  } catch (err) {
    if (['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw err;
  }
}

/** Claim directories of creates killed before they finished: their process is gone. */
function sweepClaims(root: string): void {
  for (const name of readdirSync(root)) {
    if (!name.startsWith(CLAIM_PREFIX)) continue;
    const pid = Number(name.slice(CLAIM_PREFIX.length));
    // A killed planner is an orphan: a zombie until its reaper comes, which may be slow.
    if (Number.isInteger(pid) && pid > 0 && !alive(pid, undefined)) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** runc's words for a program that is not there. */
function notFound(file: string, search: boolean, err: { code: string; reason: string }): string {
  return search && !file.includes('/') && err.code === 'ENOENT' ? `exec: "${file}": executable file not found in $PATH` : `exec: "${file}": ${err.reason}`;
}

/** runc's --pid-file: written whole, then renamed into place (engines read it as soon as create exits). */
export function writePidFile(file: string, pid: number): void {
  const tmp = `${dirname(file)}/.${process.pid}.pid`;
  writeFileSync(tmp, String(pid));
  renameSync(tmp, file);
}

/**
 * The container's process joins its cgroup right after the fork (detach, or run's fork),
 * then makes its cgroup namespace there: the stage that stays, or exits, is never in the
 * group, so that removing the group (a failed create's undo, delete) never kills it
 * before it has told its caller how the create ended; and the namespace is rooted at the
 * container's group, as runc roots it.
 */
function joinAfterFork(steps: Step[], dirs: readonly string[]): Step[] {
  const fork = steps.findIndex((s) => s.op === 'detach' || s.op === 'fork');
  const unshare = steps.findIndex((s) => s.op === 'unshare');
  const out = [...steps];
  let cgroupNs: Step[] = [];
  if (unshare >= 0 && unshare < fork) {
    const u = out[unshare] as Extract<Step, { op: 'unshare' }>;
    if (u.flags & CLONE_NEWCGROUP) {
      out[unshare] = { op: 'unshare', flags: u.flags & ~CLONE_NEWCGROUP };
      cgroupNs = [{ op: 'unshare', flags: CLONE_NEWCGROUP }];
    }
  }
  // A fork's parent steps (run's removal) come right after it: the child's begin after them.
  const after = fork + 1 + (steps[fork].op === 'fork' ? (steps[fork] as Extract<Step, { op: 'fork' }>).parentSteps ?? 0 : 0);
  out.splice(after, 0, ...dirs.map((d): Step => ({ op: 'writeFile', path: `${d}/cgroup.procs`, data: '0' })), ...cgroupNs);
  return out;
}

/**
 * The mapped spec, checked and compiled. A filter compiled before for the same profile is
 * taken as it is (seccomp-cache.ts); the rest is compiled without it.
 */
async function compileSpec(sandbox: SandboxSpec) {
  const { parseSpec } = await import('../sandbox/spec.js');
  const { compile } = await import('../sandbox/compile.js');
  const { cachedFilter, filterKey, keepFilter } = await import('./seccomp-cache.js');
  const seccomp = sandbox.security?.seccomp;
  const key = seccomp && filterKey(seccomp);
  const cached = key ? cachedFilter(key) : undefined;
  const compiled = compile(parseSpec(cached ? { ...sandbox, security: { ...sandbox.security, seccomp: { profile: 'none' } } } : sandbox));
  // Where compile() puts filters: its securitySteps (before the capability drop without no_new_privs).
  if (cached) compiled.spawn.securitySteps = [...(compiled.spawn.securitySteps ?? []), cached];
  else if (key) {
    const step = compiled.spawn.securitySteps?.find((s) => s.op === 'seccomp');
    if (step) keepFilter(key, step);
  }
  return compiled;
}

export async function createContainer(o: CreateOptions): Promise<number> {
  const bundle = resolve(o.bundle ?? '.');
  const config = readConfig(bundle);
  const mapped = mapConfig(config, bundle);
  const { parseLimits, createCgroup, detectLayout, startJoinGracePeriod } = await import('../cgroup/index.js');
  parseLimits(mapped.limits);
  const callerLayout = detectLayout();
  const { name, layout } = cgroupPlace(config.linux?.cgroupsPath, o.root, o.id, callerLayout);
  // Rootless, with no limit asked, as runc: no cgroup (an unprivileged user may make
  // none); the container is then its pid namespace, which ends with its pid 1.
  const rootlessNoLimits = process.geteuid!() !== 0 && Object.keys(mapped.limits).length === 0;

  const { hasStage, servePlan } = await import('../cli/stage.js');
  if (!hasStage()) throw new StateError('ts-oci must run as bin/ts-oci (the native stage)');
  const self = processStat(process.pid)!;
  const record: StateRecord = {
    ociVersion: config.ociVersion || OCI_VERSION, id: o.id, bundle, rootfs: mapped.rootfs,
    created: new Date().toISOString(), owner: ownerName(process.geteuid!()), annotations: config.annotations,
    creator: { pid: process.pid, startTime: self.startTime }, cgroupName: name,
  };
  const hooks = config.hooks ?? {};
  if (hooks.poststart?.length || hooks.poststop?.length) record.hooks = { poststart: hooks.poststart, poststop: hooks.poststop };
  if (o.run && !o.detach && hooks.poststop?.length) throw new ConfigError('hooks.poststop', 'run removes the container itself, with no hook: use create, start and delete');
  await claim(o.root, record);
  let made = true;
  // What was made goes when the create fails. create's detached stage takes its status
  // from us once its child is gone, so everything goes at once, before the status is
  // told. run's stage ends as the child does: the child ends by itself with the status
  // it is told, and the stage then removes the container (its parent steps); here only
  // what is left after that.
  let failed = false;
  const undo = async () => {
    if (!made) return;
    made = false;
    for (let k = 0; k < 200 && alive(record.pid, record.startTime); k++) await new Promise((r) => setTimeout(r, 10));
    try {
      destroy(o.root, record);
    } catch { /* delete --force removes the rest */ }
  };
  const undoNow = () => {
    if (!made) return;
    made = false;
    try {
      destroy(o.root, record);
    } catch { /* delete --force removes the rest */ }
  };
  try {
    let dirs: string[] = [];
    if (rootlessNoLimits) {
      delete record.cgroupName;
      writeState(o.root, record);
    } else {
      // Every controller's hierarchy, as runc makes them: `update` may set any limit later.
      const options = { devices: mapped.limits.devices !== undefined, layout };
      // Parents that are missing are made too, recorded first, and removed with the container when empty.
      const parts = name.split('/');
      for (let k = 1; k < parts.length; k++) {
        try {
          record.cgroupParents = [...createCgroup(parts.slice(0, k).join('/'), options).dirs, ...(record.cgroupParents ?? [])];
          writeState(o.root, record);
        } catch (err) {
          if ((err as { code?: string }).code !== 'EEXIST') throw err;
        }
      }
      const group = createCgroup(name, options);
      dirs = record.cgroupDirs = group.dirs;
      // Its wait holds cgroup_mutex, which mkdir takes too: after the groups are made.
      startJoinGracePeriod(callerLayout);
      writeState(o.root, record);
      const { applyLimits } = await import('../sandbox/limits.js');
      applyLimits(group, mapped.limits);
    }

    // The rest is checked while the join's grace period runs; a failure removes what was made.
    const { spawn, argv } = await compileSpec(mapped.sandbox);
    // prestart and createRuntime hooks run once the namespaces exist, before the root is
    // built; there too the state for the hooks that run in the container is written.
    const inside = insideHooks(hooks, realpathSync(mapped.rootfs), containerDir(o.root, o.id));
    const sync = [...(hooks.prestart ?? []), ...(hooks.createRuntime ?? [])].length > 0 || inside.opens.length > 0;
    spawn.rootSteps = [...(sync ? [{ op: 'sync' } as Step, ...inside.opens] : []), ...mapped.preSteps, ...inside.beforePivot(spawn.rootSteps ?? [])];
    // The fifo is made and opened (both ends, so no open blocks) before the root changes.
    const fifo = fifoPath(o.root, o.id);
    const opens: Step[] = [{ op: 'mknod', path: fifo, mode: 0o010600, dev: 0 }];
    const fifoSlot = opens.length;
    opens.push({ op: 'open', path: fifo, flags: fs.O_RDWR, slot: fifoSlot });
    const console = consoleSteps(mapped.terminal, o.consoleSocket, mapped.consoleSize, opens);
    runcOrder(spawn, fifoSlot, console);

    const { childFds, childPlan, openInPlan } = await import('../spawn/steps.js');
    // run's parent, which waits, removes the container after it.
    const removal: Step[] = [
      ...dirs.map((d): Step => ({ op: 'remove', path: d })),
      ...(record.cgroupParents ?? []).map((d): Step => ({ op: 'remove', path: d })),
      { op: 'remove', path: `${containerDir(o.root, o.id)}/state.json` },
      { op: 'remove', path: `${containerDir(o.root, o.id)}/state.run` },
      ...inside.files.map((path): Step => ({ op: 'remove', path })),
      { op: 'remove', path: containerDir(o.root, o.id) },
    ];
    const inPlace = o.run && !o.detach
      ? { fork: { mode: FORK.forward | FORK.reportPid, deathSignal: 0, parentSteps: removal } }
      : { detach: true };
    const plan = childPlan(spawn, argv, childFds(spawn, [], openInPlan(opens)), inPlace);
    const steps = joinAfterFork([...opens, ...plan.steps], dirs);
    // The program is looked up before the wait, as runc's create does; startContainer
    // hooks run after start, before the program.
    const exec = steps.find((s): s is Extract<Step, { op: 'exec' }> => s.op === 'exec')!;
    const lookup: Step = { op: 'lookup', file: exec.file, search: exec.search, env: exec.env };
    steps.splice(steps.findIndex((s) => s.op === 'fifoWait'), 0, lookup);
    const waitAt = steps.findIndex((s) => s.op === 'fifoWait');
    steps.splice(waitAt + 1, 0, ...inside.afterStart);
    const hooksAt = sync ? steps.indexOf(spawn.rootSteps[0]) : -1;
    const parentWork = plan.parent.uidRanges || plan.parent.gidRanges ? (await import('../spawn/index.js')).parentWork : undefined;
    const { reportError, ToolError } = await import('../cli/common.js');
    const { StepError } = await import('../native/stage.js');
    const { spawnFailure } = await import('../cli/messages.js');

    const code = await servePlan(steps, {
      failure: (err) => (err instanceof HookError || err instanceof StateError ? new ToolError(err.message)
        : err instanceof StepError && err.step.op === 'hook' ? new ToolError(hookFailure(inside.names.get(err.step) ?? 'hook', err))
          : err instanceof StepError && err.step.op === 'lookup' ? new ToolError(notFound(err.step.file, err.step.search, err))
            : spawnFailure(err)),
      report: reportError,
      cleanup: () => (o.run && !o.detach ? (failed = made) : undoNow()),
      onPid: (pid) => {
        record.pid = pid;
        record.startTime = processStat(pid)?.startTime;
        writeState(o.root, record);
      },
    }, (pid, index) => {
      if (index === hooksAt) {
        runHooks('prestart', hooks.prestart, stateJson(o.root, record), false);
        runHooks('createRuntime', hooks.createRuntime, stateJson(o.root, record), false);
        // The pid as the container sees it, as the runtime-spec asks of hooks run there.
        inside.writeStates({ ...stateJson(o.root, record), pid: mapped.sandbox.namespaces?.pid === 'new' ? 1 : pid });
        return () => {};
      }
      if (index !== waitAt) return parentWork!(spawn, plan.parent, pid);
      record.ready = true;
      writeState(o.root, record);
      if (o.pidFile) writePidFile(o.pidFile, record.pid!);
      made = false; // the container exists: from here on, delete removes it
      if (o.run) {
        release(o.root, o.id);
        runHooks('poststart', hooks.poststart, stateJson(o.root, record), true);
      }
      return () => {};
    });
    if (failed) await undo();
    return code;
  } catch (err) {
    await undo();
    throw err;
  }
}
