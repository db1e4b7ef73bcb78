// SpawnSpec -> the child's steps, in the order util-linux unshare and nsenter take them.
import { readFileSync, constants as fsConstants } from 'node:fs';
import { basename, join } from 'node:path';
import { NAMESPACES, namespaceInfo, CLONE_NEWNS, CLONE_NEWTIME, type NamespaceKind } from '../sys/ns.js';
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE } from '../sys/mount.js';
import { PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG } from '../sys/prctl.js';
import { capLastCap, processCaps } from '../sys/caps.js';
import { signalByName } from '../sys/signals.js';
import { FORK, NS_GET_USERNS, SIOCGSKNS, type Step } from '../native/plan.js';
import { singleId } from './idmap.js';
import { pivotSteps, protectProcSteps } from './root.js';
import type { SpawnSpec } from './spec.js';

const { O_RDONLY } = fsConstants;
const PROPAGATION = { private: MS_PRIVATE, slave: MS_SLAVE, shared: MS_SHARED } as const;
/** Where a binfmt_misc instance goes by default, and where an F-flagged one is loaded before a chroot. */
export const BINFMT_MISC = '/proc/sys/fs/binfmt_misc';
/**
 * Slots for the descriptors a plan derives (a pidfd, a socket, a namespace), counted down
 * from the last: the tools' `open` steps count up from 0 (openInPlan).
 */
const DERIVED_SLOT = 63;
const CAP_SETGID = 6n;

/** What the parent must do at the child's sync step. */
export interface ParentWork {
  uidRanges: boolean;
  gidRanges: boolean;
  persist: boolean;
  prepare: boolean;
}

export interface ChildPlan {
  cloneFlags: number;
  steps: Step[];
  parent: ParentWork;
  /** The index of the sync step right after the in-place fork (InPlace.fork.sync), if any. */
  forkSync?: number;
}

/** fds the parent opened for the child; closed by the caller after the spawn. */
export interface ChildFds {
  /** per join target, in order (-1-k: slot k of an `open` step of the plan itself); -1 for a socket's, which the plan derives */
  join: number[];
  root?: number;
  cwd?: number;
  /** child fd -> parent fd to dup onto it, 'inherit', or 'close' */
  stdio: (number | 'inherit' | 'close')[];
  /** The child's descriptor of the Landlock ruleset the parent made (rulesetInParent), whose rules it adds at the `sync` marked for them. */
  ruleset?: number;
}

/** The slot of a ruleset the child builds itself: the last one, as `open` steps take theirs from 0 upward. */
const RULESET_SLOT = 63;

/**
 * Whether the parent makes spec.landlock's ruleset (and adds its rules at a sync step):
 * not in place (the tools' stage has no such parent), nor after a fork (which process
 * reached the sync would be a race between two reports).
 */
export function rulesetInParent(spec: SpawnSpec, inPlace?: InPlace): boolean {
  return spec.landlock !== undefined && !inPlace && !(spec.forkAfterJoin && spec.join?.some((t) => t.kind === 'pid'));
}

/** The Landlock steps where the security steps go: restrict_self with the parent's ruleset, or the child's own. */
function landlockSteps(spec: SpawnSpec, fds: ChildFds): Step[] {
  const l = spec.landlock;
  if (!l) return [];
  // The descriptor must not outlive the restriction into the program (it may not be close-on-exec here: the monitor's is).
  if (fds.ruleset !== undefined) return [{ op: 'landlock', fd: fds.ruleset }, { op: 'closeFrom', first: fds.ruleset }];
  return [
    { op: 'landlockRuleset', handled: l.handled, fileAccess: l.fileAccess, slot: RULESET_SLOT, rules: [...l.rules] },
    { op: 'landlock', fd: -1 - RULESET_SLOT },
  ];
}

/**
 * The tools' variant: the plan runs in the tool's own process (native/tool.c), which
 * becomes the program, so there is no clone: namespaces are unshared in one call as
 * util-linux does, paths to join are opened by the plan itself, and a fork (with the
 * parent's behaviour) is a step.
 */
export interface InPlace {
  /**
   * Fork after unsharing (unshare --fork); FORK mode bits for the parent that stays, and
   * what it does once the program has ended (removing what was made for it).
   */
  fork?: {
    mode: number; deathSignal?: number; parentSteps?: Step[]; watch?: Step;
    /** The parent's own death signal: it dies with the caller (bwrap --die-with-parent). */
    selfDeathSignal?: number;
    /** The child reports ready once its namespaces are final and waits (for --info-fd, --userns-block-fd). */
    sync?: boolean;
  };
  /** FORK mode bits for the fork after joining a pid namespace (nsenter's parent). */
  joinForkMode?: number;
  /** Done by the planner at the fork's sync (fork.sync), while the child waits. */
  atForkSync?: () => void;
  /** Instead of `fork` (or the fork after joining a pid namespace): a detach step, whose child outlives the stage (ts-oci create, exec). */
  detach?: boolean;
}

function isMountPoint(path: string): boolean {
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').some((line) => line.split(' ')[4] === path);
}

/** The program to run: argv, or $SHELL as a login shell the way util-linux starts it. */
export function programOf(argv: readonly string[], env: Record<string, string | undefined>): { file: string; argv: string[] } {
  if (argv.length) return { file: argv[0], argv: [...argv] };
  const shell = env.SHELL || '/bin/sh';
  return { file: shell, argv: ['-' + basename(shell)] };
}

/**
 * The descriptors a plan joins namespaces, changes root and changes directory by, each
 * made by `open` (a file the parent opens, or a slot the plan opens itself), in nsenter's
 * order: all before anything is entered.
 */
export function childFds(spec: SpawnSpec, stdio: ChildFds['stdio'], open: (path: string) => number): ChildFds {
  const joining = (spec.join?.length ?? 0) > 0;
  return {
    stdio,
    join: (spec.join ?? []).map((t) => ('path' in t ? open(t.path) : -1)),
    // Where namespaces are joined, paths are resolved before entering them (nsenter -r/-w).
    root: joining && spec.root !== undefined ? open(spec.root) : undefined,
    cwd: joining && spec.cwd !== undefined ? open(spec.cwd) : undefined,
  };
}

/** An `open` for childFds whose files the plan opens itself, into slots (the tools' stage). */
export function openInPlan(steps: Step[]): (path: string) => number {
  return (path) => {
    const slot = steps.length;
    steps.push({ op: 'open', path, flags: O_RDONLY, slot });
    return -1 - slot;
  };
}

export function childPlan(spec: SpawnSpec, argv: readonly string[], fds: ChildFds, inPlace?: InPlace): ChildPlan {
  const kinds = new Set<NamespaceKind>(spec.namespaces ?? []);
  // A fresh /proc or binfmt_misc needs a mount namespace of its own, or it would cover the caller's.
  if (spec.mountProc || spec.mountBinfmt) kinds.add('mount');
  const steps: Step[] = [];
  const euid = process.geteuid!(), egid = process.getegid!();
  // A new user namespace, or a joined one: either gives the child every capability in it.
  const userNs = kinds.has('user') || (spec.join ?? []).some((t) => t.kind === 'user');

  // stdio first: every later failure is reported over the report pipe, not fd 2.
  if (fds.stdio.length) steps.push({ op: 'stdio', sources: fds.stdio.map((from) => (from === 'inherit' ? 'keep' : from)) });

  // Cgroups before any namespace: a new cgroup namespace is rooted where the child stands.
  for (const dir of spec.cgroups ?? []) steps.push({ op: 'writeFile', path: `${dir}/cgroup.procs`, data: '0' });

  // Owner of the new user namespace: its ids before the namespaces exist (unshare --owner).
  if (spec.owner) steps.push({ op: 'setgroups', gids: [] }, { op: 'setgid', gid: spec.owner.gid }, { op: 'setuid', uid: spec.owner.uid });

  // Whether the owner of a joined user namespace denies setgroups(2) cannot be read from
  // here (no process of it is known): clear the groups before joining, as util-linux does,
  // where we may, and not again inside.
  const clearBeforeJoin = spec.gid !== undefined && !spec.groups?.length && (spec.join ?? []).some((t) => 'path' in t && t.parent) &&
    (processCaps().effective & (1n << CAP_SETGID)) !== 0n;
  if (clearBeforeJoin) steps.push({ op: 'setgroups', gids: [] });

  // Joining: paths were opened before entering anything, as nsenter does; so are the
  // descriptors derived from them or from another process's socket.
  let slot = DERIVED_SLOT;
  const joinFds = (spec.join ?? []).map((t, i) => {
    if ('socket' in t) {
      const pidfd = slot--, socket = slot--;
      steps.push(
        { op: 'pidfdOpen', pid: t.socket.pid, slot: pidfd },
        { op: 'pidfdGetfd', pidfd: -1 - pidfd, targetFd: t.socket.fd, slot: socket, pid: t.socket.pid },
        { op: 'nsIoctl', fd: -1 - socket, request: SIOCGSKNS, slot: socket, path: `fd ${t.socket.fd} of process ${t.socket.pid}` },
      );
      return { fd: -1 - socket, path: `socket ${t.socket.fd} of process ${t.socket.pid}` };
    }
    if (!t.parent) return { fd: fds.join[i], path: t.path };
    const owner = slot--;
    steps.push({ op: 'nsIoctl', fd: fds.join[i], request: NS_GET_USERNS, slot: owner, path: t.path });
    return { fd: -1 - owner, path: `the parent of ${t.path}` };
  });
  (spec.join ?? []).forEach((t, i) =>
    steps.push({ op: 'setns', fd: joinFds[i].fd, nstype: namespaceInfo(t.kind).flag, path: joinFds[i].path }));
  if (spec.forkAfterJoin && spec.join?.some((t) => t.kind === 'pid')) {
    // The library reports the program's pid and keeps none of Node's descriptors in the
    // process that waits; a tool's parent behaves as nsenter's.
    if (inPlace?.detach) {
      steps.push({ op: 'detach' });
    } else if (inPlace) {
      steps.push({ op: 'fork', mode: inPlace.joinForkMode ?? FORK.stops, deathSignal: 0 });
    } else {
      // The process that waits dies with us too; the program gets its own signal at the end.
      if (spec.deathSignal !== undefined) steps.push({ op: 'prctl', option: PR_SET_PDEATHSIG, arg2: signalNumber(spec.deathSignal) });
      steps.push({ op: 'fork', mode: FORK.reportPid | FORK.closeFds, deathSignal: 0 });
    }
  }

  // New namespaces: clone flags where the child itself must be inside; unshare in the
  // child where only its children should be (pid without init), where clone cannot
  // (time: CLONE_NEWTIME shares clone()'s exit-signal bits), or where order matters.
  // In place, or after a change of owner, everything is one unshare(2), as util-linux's.
  const oneCall = inPlace !== undefined || spec.owner !== undefined;
  let cloneFlags = 0;
  const unshareLater: number[] = [];
  for (const { kind, flag } of NAMESPACES) {
    if (!kinds.has(kind)) continue;
    if (oneCall || (kind === 'pid' && spec.pidInit === false) || kind === 'time' || (kind === 'cgroup' && spec.cgroups?.length)) {
      unshareLater.push(flag);
    } else {
      cloneFlags |= flag;
    }
  }
  if (oneCall && unshareLater.length) steps.push({ op: 'unshare', flags: unshareLater.reduce((a, f) => a | f, 0) });
  else for (const flag of unshareLater) steps.push({ op: 'unshare', flags: flag });
  if (unshareLater.includes(CLONE_NEWTIME) && spec.timeOffsets) {
    const { monotonic, boottime } = spec.timeOffsets;
    const lines = [monotonic !== undefined && `monotonic ${monotonic} 0`, boottime !== undefined && `boottime ${boottime} 0`].filter(Boolean);
    if (lines.length) steps.push({ op: 'writeFile', path: '/proc/self/timens_offsets', data: lines.join('\n') });
  }

  // Id maps: a single id the child writes itself; ranges need the parent.
  const uidRanges = Array.isArray(spec.uidMap);
  const gidRanges = Array.isArray(spec.gidMap);
  const uidSelf = singleId(spec.uidMap, euid);
  const gidSelf = singleId(spec.gidMap, egid);
  if (!uidRanges && uidSelf !== undefined) steps.push({ op: 'writeFile', path: '/proc/self/uid_map', data: `${uidSelf} ${euid} 1` });
  if (!gidRanges && gidSelf !== undefined) {
    if (spec.setgroups === 'allow') throw new TypeError('options --setgroups=allow and --map-group are mutually exclusive');
    // Since Linux 3.19 an unprivileged gid_map needs setgroups denied first.
    steps.push({ op: 'writeFile', path: '/proc/self/setgroups', data: 'deny' });
    steps.push({ op: 'writeFile', path: '/proc/self/gid_map', data: `${gidSelf} ${egid} 1` });
  }

  const parent: ParentWork = {
    uidRanges, gidRanges,
    persist: Object.keys(spec.persist ?? {}).length > 0,
    prepare: spec.prepare !== undefined,
  };
  if (parent.uidRanges || parent.gidRanges || parent.persist || parent.prepare) steps.push({ op: 'sync' });
  let forkSync: number | undefined;
  // util-linux forks after the maps and the bind mounts are in place, before the rest.
  if (inPlace?.fork) {
    const after = inPlace.fork.parentSteps ?? [];
    // A `watch` step: the limits the parent enforces while it waits (ts-sandbox --timeout).
    if (inPlace.fork.watch) steps.push(inPlace.fork.watch);
    if (inPlace.fork.selfDeathSignal) steps.push({ op: 'prctl', option: PR_SET_PDEATHSIG, arg2: inPlace.fork.selfDeathSignal });
    steps.push({ op: 'fork', mode: inPlace.fork.mode, deathSignal: inPlace.fork.deathSignal ?? 0, parentSteps: after.length }, ...after);
    // A parent with work left (removing a group, killing it at a limit) keeps the mount
    // namespace it was in: the child's mounts and pivot_root must not become its view.
    if ((after.length || inPlace.fork.watch) && kinds.has('mount')) steps.push({ op: 'unshare', flags: CLONE_NEWNS });
    if (inPlace.fork.sync) {
      forkSync = steps.length;
      steps.push({ op: 'sync' });
    }
  } else if (inPlace?.detach && !steps.some((s) => s.op === 'detach')) {
    steps.push({ op: 'detach' });
  }
  if (spec.setgroups && !(gidSelf !== undefined && !gidRanges)) steps.push({ op: 'writeFile', path: '/proc/self/setgroups', data: spec.setgroups });

  const newMount = kinds.has('mount');
  const propagation = spec.propagation ?? 'private';
  if (newMount && propagation !== 'unchanged') {
    steps.push({ op: 'mount', source: 'none', target: '/', fstype: null, flags: MS_REC | PROPAGATION[propagation] });
  }
  if (spec.hostname !== undefined) steps.push({ op: 'sethostname', name: spec.hostname });
  if (spec.domainname !== undefined) steps.push({ op: 'setdomainname', name: spec.domainname });

  const procDir = spec.mountProc ? (spec.mountProc === true ? '/proc' : spec.mountProc) : undefined;
  const procSteps = (dir: string): Step[] => [
    { op: 'mount', source: 'proc', target: dir, fstype: 'proc', flags: MS_NOSUID | MS_NOEXEC | MS_NODEV },
    ...(spec.protectProc ? protectProcSteps(dir) : []),
  ];
  const pivot = spec.pivotRoot === true && spec.root !== undefined;
  const binfmtDir = spec.mountBinfmt ? (spec.mountBinfmt === true ? BINFMT_MISC : spec.mountBinfmt) : undefined;
  const binfmtSteps = (dir: string): Step[] => [{ op: 'mount', source: 'binfmt_misc', target: dir, fstype: 'binfmt_misc', flags: MS_NOSUID | MS_NOEXEC | MS_NODEV }];
  // An interpreter with flag F is opened as it is registered: from the caller's
  // filesystem, so before entering the root, where util-linux loads it.
  const loadBeforeRoot = spec.binfmtRegister !== undefined && isFixed(spec.binfmtRegister) && spec.root !== undefined && !spec.rootSteps;
  if (loadBeforeRoot) {
    steps.push(...binfmtSteps(BINFMT_MISC), { op: 'writeFile', path: `${BINFMT_MISC}/register`, data: spec.binfmtRegister! });
  }
  if (spec.rootSteps) {
    steps.push(...spec.rootSteps);
  } else if (fds.root !== undefined) {
    steps.push({ op: 'fchdir', fd: fds.root, path: spec.root }, { op: 'chroot', path: '.' });
  } else if (pivot) {
    // /proc goes in before the pivot (the child is in its new pid namespace already), so
    // that its masks are the host's /dev/null, which nothing inside the root can replace.
    // A ROOT/proc that is a symlink out of ROOT only misplaces it in this namespace.
    steps.push(...pivotSteps(spec.root!, procDir === undefined ? [] : procSteps(join(spec.root!, procDir))));
  } else if (spec.root !== undefined) {
    steps.push({ op: 'chroot', path: spec.root });
  }
  if (fds.cwd !== undefined) steps.push({ op: 'fchdir', fd: fds.cwd, path: spec.cwd });
  else if (spec.cwd !== undefined || spec.root !== undefined) steps.push({ op: 'chdir', path: spec.cwd ?? '/' });
  if (spec.cwdInside !== undefined) steps.push({ op: 'chdir', path: spec.cwdInside });

  if (procDir !== undefined && !pivot) {
    // A proc mount on a shared /proc would propagate back to the host: make it private first.
    if (spec.root === undefined && propagation !== 'private' && isMountPoint(procDir)) {
      steps.push({ op: 'mount', source: 'none', target: procDir, fstype: null, flags: MS_PRIVATE | MS_REC });
    }
    steps.push(...procSteps(procDir));
  }
  if (binfmtDir !== undefined) {
    steps.push(...binfmtSteps(binfmtDir));
    if (spec.binfmtRegister !== undefined && !loadBeforeRoot) steps.push({ op: 'writeFile', path: `${binfmtDir}/register`, data: spec.binfmtRegister });
  }

  // The root is final: the parent adds the Landlock rules for paths as the program will see them.
  if (fds.ruleset !== undefined) steps.push({ op: 'sync', for: 'landlock' });

  // Without no_new_privs, Landlock and seccomp need CAP_SYS_ADMIN: they go in while the
  // child still has it, before anything below takes it (runc: seccomp before
  // finalizeNamespace when NoNewPrivileges is false).
  const security = [...landlockSteps(spec, fds), ...(spec.securitySteps ?? [])];
  if (!spec.noNewPrivs) steps.push(...security);

  // Capabilities and ids in runc's order: the bounding set first (dropping needs
  // CAP_SETPCAP, which a new uid takes away), then the ids, then capset last. A change to
  // a non-zero uid clears the permitted, effective and ambient sets by itself (as for
  // util-linux's -S with --keep-caps), so there is nothing left to set then.
  for (const cap of spec.dropCaps ?? []) steps.push({ op: 'prctl', option: PR_CAPBSET_DROP, arg2: cap });

  if (spec.gid !== undefined) {
    // setgroups(2) is refused where /proc/self/setgroups says deny: then there is nothing to drop.
    // So is a joined user namespace's (every `unshare -r` one); util-linux nsenter goes on there.
    const joinedDenies = (spec.join ?? []).some((t) => {
      const pid = t.kind === 'user' && 'path' in t && !t.parent ? /^\/proc\/(\d+)\/ns\/user$/.exec(t.path)?.[1] : undefined;
      try { return pid !== undefined && readFileSync(`/proc/${pid}/setgroups`, 'utf8').startsWith('deny'); } catch { return false; }
    });
    const denied = (gidSelf !== undefined && !gidRanges) || spec.setgroups === 'deny' || joinedDenies || clearBeforeJoin;
    if (!denied) steps.push({ op: 'setgroups', gids: [...(spec.groups ?? [])] });
    steps.push({ op: 'setgid', gid: spec.gid });
  } else if (spec.groups) {
    steps.push({ op: 'setgroups', gids: [...spec.groups] });
  }
  if (spec.uid !== undefined) steps.push({ op: 'setuid', uid: spec.uid });
  const capsCleared = spec.uid !== undefined && spec.uid !== 0;

  const all = (1n << BigInt(capLastCap() + 1)) - 1n;
  const drop = capMask(spec.dropCaps ?? []);
  if (spec.keepCaps && userNs && !capsCleared) {
    // Ambient capabilities survive exec; they must be permitted and inheritable first.
    const kept = all & ~drop;
    steps.push({ op: 'capset', sets: { effective: kept, permitted: kept, inheritable: kept } });
    for (let cap = 0; cap <= capLastCap(); cap++) {
      if (kept & (1n << BigInt(cap))) steps.push({ op: 'prctl', option: PR_CAP_AMBIENT, arg2: PR_CAP_AMBIENT_RAISE, arg3: cap });
    }
  } else if (drop && !capsCleared) {
    // What the child holds: everything in a new user namespace, else ours. Taking a
    // capability out of the permitted or inheritable set lowers it in the ambient set too.
    const own = userNs ? undefined : processCaps();
    const base = own ? own.permitted : all;
    steps.push({ op: 'capset', sets: { effective: base & ~drop, permitted: base & ~drop, inheritable: (own?.inheritable ?? 0n) & ~drop } });
  }
  if (spec.noNewPrivs) steps.push({ op: 'prctl', option: PR_SET_NO_NEW_PRIVS, arg2: 1 });
  // Credential changes clear the death signal, so it comes after them. A tool has no
  // parent left to watch (its fork step sets --kill-child's).
  if (spec.deathSignal !== undefined && !inPlace) steps.push({ op: 'prctl', option: PR_SET_PDEATHSIG, arg2: signalNumber(spec.deathSignal) });
  if (spec.setsid) steps.push({ op: 'setsid' });

  steps.push(...(spec.finalSteps ?? []));
  // With no_new_privs, as late as possible: the fewest calls of ours pass the filter.
  if (spec.noNewPrivs) steps.push(...security);

  const env = spec.env ?? process.env;
  const program = programOf(argv, env);
  steps.push({
    op: 'exec', file: program.file, argv: spec.argv0 === undefined ? program.argv : [spec.argv0, ...program.argv.slice(1)], search: true,
    env: Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`),
  });
  return { cloneFlags, steps, parent, forkSync };
}

/** Whether a binfmt_misc registration has flag F (its last field, flags, holds an F). */
function isFixed(registration: string): boolean {
  const colon = registration.lastIndexOf(':');
  return colon >= 0 && registration.slice(colon + 1).includes('F');
}

function capMask(caps: readonly number[]): bigint {
  return caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
}

/** A signal number from a name ("SIGTERM", "TERM") or a number. */
export function signalNumber(sig: NodeJS.Signals | string | number): number {
  if (typeof sig === 'number') return sig;
  const n = signalByName(sig);
  if (n === undefined) throw new TypeError(`unknown signal: ${sig}`);
  return n;
}
