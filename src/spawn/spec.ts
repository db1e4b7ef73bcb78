// What a caller asks of spawn(): the typed boundary of the sandbox API.
import type { NamespaceKind } from '../sys/ns.js';
import type { Step } from '../native/plan.js';

/** One line of a uid_map/gid_map: ids inside, ids outside, how many. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

/**
 * How ids map into a new user namespace:
 * - 'root': the caller's id becomes 0 inside (unshare -r)
 * - 'current': the caller's id stays itself (unshare -c)
 * - a number: the caller's id becomes that id inside (--map-user)
 * - ranges: written by the parent (it needs CAP_SETUID/CAP_SETGID there, else newuidmap/newgidmap)
 */
export type IdMap = 'root' | 'current' | number | IdRange[];

export type Propagation = 'private' | 'slave' | 'shared' | 'unchanged';

export type StdioOption = 'inherit' | 'pipe' | 'ignore' | number;

/**
 * A namespace to join with setns(2): a /proc/PID/ns/KIND file or a file one was
 * bind-mounted on; with `parent`, the user namespace that owns the one `path` names
 * (ioctl NS_GET_USERNS, nsenter --user-parent). Or the network namespace of a socket
 * that process `pid` (numbered as the caller sees it) holds as descriptor `fd`
 * (pidfd_getfd(2) and ioctl SIOCGSKNS, nsenter --net-socket).
 */
export type JoinTarget =
  | { kind: NamespaceKind; path: string; parent?: boolean }
  | { kind: 'net'; socket: { pid: number; fd: number } };

export interface SpawnSpec {
  /** New namespaces for the child. */
  namespaces?: readonly NamespaceKind[];
  /**
   * With a new pid namespace: true (default) makes the child its pid 1, like
   * `unshare --fork`; false unshares it in the child so only the child's children are
   * inside, like `unshare` without --fork.
   */
  pidInit?: boolean;
  /** Namespaces to join, in the given order (see NAMESPACES for the usual order). */
  join?: readonly JoinTarget[];
  /** After joining a pid namespace, fork so the program runs inside it (nsenter's default). */
  forkAfterJoin?: boolean;
  uidMap?: IdMap;
  gidMap?: IdMap;
  setgroups?: 'allow' | 'deny';
  /** Mount propagation of / in a new mount namespace; default 'private' (recursive). */
  propagation?: Propagation;
  /** Mount a fresh proc here (true = /proc) inside the new mount namespace. */
  mountProc?: boolean | string;
  /**
   * Mount a binfmt_misc instance here (true = /proc/sys/fs/binfmt_misc) once `mountProc`
   * is mounted. Needs a new user namespace: the instance is that namespace's own (Linux
   * 6.7), where without one it would be the host's.
   */
  mountBinfmt?: boolean | string;
  /**
   * A binfmt_misc registration (`:name:type:offset:magic:mask:interpreter:flags`) written
   * to the `mountBinfmt` instance's `register`. With flag F and a `root`, it is written to
   * an instance mounted at /proc/sys/fs/binfmt_misc before entering the root, so that the
   * interpreter is opened from the caller's filesystem, as util-linux does.
   */
  binfmtRegister?: string;
  hostname?: string;
  domainname?: string;
  /** chroot(2) into this directory (then chdir to cwd or /); see `pivotRoot`. */
  root?: string;
  /**
   * Make `root` the root of the new mount namespace with pivot_root(2) and detach the old
   * one, instead of chroot(2), which a process keeping CAP_SYS_CHROOT can leave. Needs a
   * new mount namespace with 'private' or 'slave' propagation; the /proc of `mountProc`
   * is mounted (inside root) before the pivot.
   */
  pivotRoot?: boolean;
  /**
   * With `mountProc`: the fresh /proc gets runc's protections: bus, fs, irq, sys and
   * sysrq-trigger read-only; kcore, keys, timer_list and the like masked (/dev/null over
   * files, an empty read-only tmpfs over directories). With `root` it needs `pivotRoot`.
   */
  protectProc?: boolean;
  /**
   * Steps that build and enter the program's root, run once the new mount namespace's
   * propagation is set, in place of `root`, `pivotRoot` and `mountProc` (the Sandbox's
   * filesystem compiles to these: src/sandbox/).
   */
  rootSteps?: readonly Step[];
  /**
   * Steps run after ids, capabilities, no_new_privs and setsid, before the exec: umask,
   * rlimits, OCI's capability sets (src/sandbox/).
   */
  finalSteps?: readonly Step[];
  /**
   * A Landlock ruleset for the program, by paths as it will see them (inside its root).
   * spawn() makes the ruleset here; the child inherits it, this process adds the rules once
   * the child's root is in place (resolved through /proc/PID/root, never outside it), and
   * the child only calls landlock_restrict_self, where securitySteps go. Where there is no
   * such parent (the tools' stage), or a fork comes first (a pid namespace joined), the
   * child builds the ruleset itself from the same paths.
   */
  landlock?: LandlockRules;
  /**
   * The seccomp filter's steps, which follow Landlock's restrict_self. With `noNewPrivs`
   * both run last of all, after finalSteps, so that no step of ours has to pass them;
   * without it the kernel wants CAP_SYS_ADMIN for both, so they run before the bounding
   * set, the ids and the capabilities change (runc's order), and the filter then applies
   * to those steps too.
   */
  securitySteps?: readonly Step[];
  /** Directory to chdir to (an fd from open() also works for nsenter's -w). */
  cwd?: string;
  /**
   * Directory to chdir to once inside: resolved in the joined mount namespace and the new
   * root, after entering them (nsenter -W), never on the caller's side.
   */
  cwdInside?: string;
  /** The program's argv[0], where it is not the file run (bwrap --argv0). */
  argv0?: string;
  /**
   * Owner of the new user namespace: the child takes these ids (supplementary groups
   * cleared) before it makes its namespaces, all in one unshare(2), so that this user
   * holds the capabilities over them (unshare --owner). Needs CAP_SETUID and CAP_SETGID;
   * a single-id `uidMap`/`gidMap` must then be written by the parent: give it as a range.
   */
  owner?: { uid: number; gid: number };
  /** Change of ids after the namespaces are set up. */
  uid?: number;
  gid?: number;
  /** Supplementary groups; with `gid` and none given they are cleared. */
  groups?: readonly number[];
  /** Keep the capabilities of a new or joined user namespace across exec (ambient), as --keep-caps. */
  keepCaps?: boolean;
  /** Capabilities dropped from all five sets (bounding included) before exec. */
  dropCaps?: readonly number[];
  /** prctl(PR_SET_NO_NEW_PRIVS). */
  noNewPrivs?: boolean;
  /** Clock offsets (seconds) for a new time namespace. */
  timeOffsets?: { monotonic?: number; boottime?: number };
  /** Keep these namespaces after the child ends: bind-mount each onto the given file. */
  persist?: Partial<Record<NamespaceKind, string>>;
  /** Cgroup directories (one per hierarchy) the child joins before exec. */
  cgroups?: readonly string[];
  /** Signal the child gets when this process's thread that spawned it dies. */
  deathSignal?: NodeJS.Signals | number;
  /** Start a new session (setsid), detaching from the terminal. */
  setsid?: boolean;
  /** Environment for the program; default process.env. */
  env?: Record<string, string | undefined>;
  /** stdin, stdout, stderr (and more fds); default 'inherit'. */
  stdio?: StdioOption | readonly StdioOption[];
  /**
   * Runs in this process once the child's namespaces exist and before it continues
   * (e.g. to move a veth into its network namespace). Synchronous; throwing aborts the spawn.
   */
  prepare?: (pid: number) => void;
}

/** A Landlock ruleset: the rights it handles (LANDLOCK_ACCESS_FS_*), and what each path keeps. */
export interface LandlockRules {
  handled: number;
  /** The rights a path that is no directory can keep (the kernel refuses the others on a file). */
  fileAccess: number;
  rules: readonly { path: string; access: number }[];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}
