// spawn(): start a program in new or joined namespaces through the native stage.
import { openSync, closeSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { runStage } from '../native/stage.js';
import { close, pipe2 } from '../sys/io.js';
import { kill as sysKill } from '../sys/proc.js';
import { mount, umount2, MNT_DETACH, MS_BIND } from '../sys/mount.js';
import { NAMESPACES, namespaceInfo, type NamespaceKind } from '../sys/ns.js';
import { childFds, childPlan, rulesetInParent, signalNumber, type ChildFds, type ParentWork } from './steps.js';
import { addRules, makeRuleset } from './landlock.js';
import type { Step } from '../native/plan.js';
import { writeChildMap } from './idmap.js';
import { watchExit } from './reaper.js';
import { validateSpawn } from './validate.js';
import type { ExitStatus, IdRange, SpawnSpec, StdioOption } from './spec.js';

export type * from './spec.js';
export { subidRange, mapLines } from './idmap.js';
export { signalNumber } from './steps.js';

/** A running sandboxed program. */
export interface Spawned {
  /** pid in the caller's pid namespace */
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Resolves when the program ends (it is reaped by then). */
  readonly exited: Promise<ExitStatus>;
  kill(signal?: NodeJS.Signals | number): void;
}

interface StdioSetup {
  fds: ChildFds['stdio'];
  /** parent ends of pipes, per child fd */
  parentEnds: (number | null)[];
  /** child ends and /dev/null fds, closed after the spawn */
  toClose: number[];
}

/** Descriptors for a child's stdio (pipes, /dev/null) from spawn()'s options; the Sandbox's monitor uses it too. */
export function setUpStdio(option: SpawnSpec['stdio']): StdioSetup {
  const list: readonly StdioOption[] = Array.isArray(option) ? option : [option ?? 'inherit', option ?? 'inherit', option ?? 'inherit'];
  const setup: StdioSetup = { fds: [], parentEnds: [], toClose: [] };
  list.forEach((o, fd) => {
    if (fd > 2 && (o === 'inherit' || o === 'ignore')) {
      // As child_process: past stdio these mean "not open" (the parent's fd of that number,
      // libuv's pipes and epoll among them, must not leak in).
      setup.fds.push('close');
      setup.parentEnds.push(null);
    } else if (o === 'inherit') {
      setup.fds.push('inherit');
      setup.parentEnds.push(null);
    } else if (o === 'ignore') {
      const devnull = openSync('/dev/null', fd === 0 ? 'r' : 'w');
      setup.fds.push(devnull);
      setup.toClose.push(devnull);
      setup.parentEnds.push(null);
    } else if (o === 'pipe') {
      const [r, w] = pipe2();
      const [mine, theirs] = fd === 0 ? [w, r] : [r, w];
      setup.fds.push(theirs);
      setup.toClose.push(theirs);
      setup.parentEnds.push(mine);
    } else {
      setup.fds.push(o);
      setup.parentEnds.push(null);
    }
  });
  return setup;
}

/** A pipe's parent end as a stream (null for none). */
export function stream(fd: number | null, readable: boolean): Socket | null {
  if (fd === null) return null;
  // Loaded on first use, not at start-up: most tools inherit stdio and never need net.
  const net = createRequire(import.meta.url)('node:net') as typeof import('node:net');
  return new net.Socket({ fd, readable, writable: !readable });
}

interface PersistedFile {
  target: string;
  /** the file did not exist: spawn made it, and removes it again */
  created: boolean;
  mounted: boolean;
}

/**
 * The namespace files persisted for a spawn in progress, by its `persist` object: a step
 * after the sync step can still fail, and then spawn()'s catch takes them back. Dropped
 * once the spawning tick is over, since a spawn that got that far has succeeded.
 */
const persistedFor = new WeakMap<object, { pid: number; files: PersistedFile[] }>();

function unpersist(files: readonly PersistedFile[]): void {
  for (const { target, created, mounted } of [...files].reverse()) {
    if (mounted) {
      try { umount2(target, MNT_DETACH); } catch { /* unmounted by someone else */ }
    }
    if (created) rmSync(target, { force: true });
  }
}

/** Whether `pid` is a process (a zombie included): ours is gone once runStage has reaped it. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Bind-mount the child's namespace files where the caller wants them kept. All or
 * nothing: on a failure, what was already mounted or created is taken back; and what was
 * done is recorded for spawn() to take back should a later step of the child fail.
 */
function persistNamespaces(pid: number, persist: Partial<Record<NamespaceKind, string>>): void {
  const files: PersistedFile[] = [];
  try {
    for (const [kind, target] of Object.entries(persist) as [NamespaceKind, string][]) {
      const info = namespaceInfo(kind);
      // A missing file is made (its directory must exist, as for any mount point).
      const file: PersistedFile = { target, created: !existsSync(target) && existsSync(dirname(target)), mounted: false };
      if (file.created) writeFileSync(target, '');
      files.push(file);
      mount(`/proc/${pid}/ns/${info.forChildren ?? info.file}`, target, null, MS_BIND);
      // Only now: a failed mount must not unmount what was on the file before.
      file.mounted = true;
    }
  } catch (err) {
    unpersist(files);
    throw err;
  }
  const record = { pid, files };
  persistedFor.set(persist, record);
  queueMicrotask(() => {
    if (persistedFor.get(persist) === record) persistedFor.delete(persist);
  });
}

/**
 * What the parent does while the child waits at its sync step. Returns what undoes the
 * persisted namespaces, for a caller whose child may still fail later (the tools' stage).
 */
export function parentWork(spec: SpawnSpec, parent: ParentWork, child: number): () => void {
  // The gid map first: a uid map can take away the capability to write it.
  if (parent.gidRanges) writeChildMap(child, 'gid', spec.gidMap as IdRange[]);
  if (parent.uidRanges) writeChildMap(child, 'uid', spec.uidMap as IdRange[]);
  let undo = () => {};
  if (parent.persist) {
    persistNamespaces(child, spec.persist!);
    const files = persistedFor.get(spec.persist!)!.files;
    undo = () => unpersist(files);
  }
  try {
    spec.prepare?.(child);
  } catch (err) {
    undo();
    throw err;
  }
  return undo;
}

/**
 * The parent's part at the child's sync step `index` of `steps`: at the one marked for
 * Landlock, the rules of `ruleset` for paths in the root of `child`; else parentWork.
 * Returns what undoes it.
 */
export function syncWork(spec: SpawnSpec, steps: readonly Step[], parent: ParentWork, child: number, index: number, ruleset: number | undefined): () => void {
  const step = steps[index];
  if (step?.op === 'sync' && step.for === 'landlock') {
    addRules(ruleset!, child, spec.landlock!);
    return () => {};
  }
  return parentWork(spec, parent, child);
}

/**
 * Start `argv` (default: $SHELL) as described by `spec`. Returns once the program has
 * been exec'd; a failure of any set-up step throws a SysError naming the step, and
 * leaves no child behind.
 */
export function spawn(spec: SpawnSpec, argv: readonly string[] = []): Spawned {
  validateSpawn(spec, argv);
  const stdio = setUpStdio(spec.stdio);
  const opened: number[] = [];
  const open = (path: string) => {
    const fd = openSync(path, 'r');
    opened.push(fd);
    return fd;
  };
  let pid: number;
  let programPid: number | undefined;
  try {
    const fds = childFds(spec, stdio.fds, open);
    if (rulesetInParent(spec)) {
      // The child's copy keeps the number (no CLONE_FILES); close-on-exec in both.
      fds.ruleset = makeRuleset(spec.landlock!, stdio.fds.length);
      opened.push(fds.ruleset);
    }
    const plan = childPlan(spec, argv, fds);
    pid = runStage(plan.steps, {
      cloneFlags: plan.cloneFlags,
      onSync: (child, index) => syncWork(spec, plan.steps, plan.parent, child, index, fds.ruleset),
      onPid: (program) => { programPid = program; },
    });
  } catch (err) {
    for (const fd of stdio.parentEnds) if (fd !== null) close(fd);
    // Failed after the namespaces were persisted (a later step, prepare, the exec): the
    // child is gone, reaped by runStage, and its bind mounts go too. A record whose child
    // still exists is an earlier, successful spawn's with the same `persist` object.
    const persisted = spec.persist && persistedFor.get(spec.persist);
    if (persisted && !processExists(persisted.pid)) {
      persistedFor.delete(spec.persist!);
      unpersist(persisted.files);
    }
    throw err;
  } finally {
    for (const fd of [...stdio.toClose, ...opened]) closeSync(fd);
  }
  // After a fork step our child waits for the program and ends as it ends; the pid we
  // hand out, and signal, is the program's.
  const exited = watchExit(pid);
  const target = programPid ?? pid;
  let done = false;
  void exited.then(() => { done = true; });
  return {
    pid: target,
    stdin: stream(stdio.parentEnds[0] ?? null, false),
    stdout: stream(stdio.parentEnds[1] ?? null, true),
    stderr: stream(stdio.parentEnds[2] ?? null, true),
    exited,
    kill(signal: NodeJS.Signals | number = 'SIGTERM') {
      if (!done) sysKill(target, signalNumber(signal));
    },
  };
}

/** Run `argv` in the namespaces of process `pid` (all of the given kinds). */
export function enter(pid: number, kinds: readonly NamespaceKind[], argv: readonly string[] = [], spec: SpawnSpec = {}): Spawned {
  return spawn({
    forkAfterJoin: true,
    ...spec,
    join: NAMESPACES.filter((n) => kinds.includes(n.kind)).map((n) => ({ kind: n.kind, path: `/proc/${pid}/ns/${n.file}` })),
  }, argv);
}
