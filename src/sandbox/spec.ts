// SandboxSpec: the one description of a sandbox, for the library, spec files (YAML or
// JSON) and ts-sandbox's flags alike. The zod schema is the source: the TypeScript type is
// inferred from it, and schema/sandbox.schema.json is generated from it for editors.
// A superset of what the OCI runtime maps onto it (five capability sets, OCI seccomp,
// umask, masked and read-only paths, sysctl, devices, hooks, a console).
// zod/mini, not zod: its API is functions, which a bundler drops when unused; every method of
// a classic schema refers to all of zod, so each bundle that parses specs (and ts-oci's
// start-up snapshot) carried all of it.
import * as z from 'zod/mini';
import './zod-english.js';
import { SpecError } from './errors.js';

export { SpecError };

const MAX_ID = 4294967294; // 2^32-1 is (uid_t)-1: "no change" to the kernel, never an id

/** An integer from `min` to `max`. */
const intIn = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
const id = intIn(0, MAX_ID);
const absPath = z.string().check(z.minLength(1), z.refine((p) => p.startsWith('/') && !p.includes('\0'), 'an absolute path without NUL bytes'));
const anyPath = z.string().check(z.minLength(1), z.refine((p) => !p.includes('\0'), 'a path without NUL bytes'));
const mode = intIn(0, 0o7777);
const fd = intIn(0, 1 << 20);
const count = z.int().check(z.minimum(0));
const positiveInt = z.int().check(z.minimum(1));
const errno = intIn(1, 4095);
const flag = z.optional(z.boolean());
const names = z.optional(z.array(z.string().check(z.minLength(1))));
/** Sizes as numbers of bytes or with a suffix: 512M, 1.5G, 64k. */
export const size = z.union([count, z.string().check(z.regex(/^\d+(\.\d+)?[kKmMgGtT]?$/, 'a size such as 512M, 1G or 4096'))]);

// ---------------------------------------------------------------- namespaces

export const NAMESPACE_KINDS = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup', 'time'] as const;

/** new: its own; host: the caller's; a path or an fd: joined (setns). */
const namespace = z.union([z.enum(['new', 'host']), z.strictObject({ path: absPath }), z.strictObject({ fd })]);

const idRange = z.strictObject({ inside: id, outside: id, count: intIn(1, MAX_ID) });
/** root: the caller's id is 0 inside; current: it stays itself; a number: it becomes that; or ranges. */
const idMap = z.union([z.enum(['root', 'current']), id, z.array(idRange).check(z.minLength(1), z.maxLength(340))]);

// ---------------------------------------------------------------- filesystem

/** Per-mount flags bubblewrap users ask for. */
const mountFlags = {
  nosuid: flag,
  nodev: flag,
  noexec: flag,
};

/** bubblewrap's vocabulary, one operation each, performed in order inside the new root. */
export const mountOp = z.discriminatedUnion('type', [
  /** --bind, --ro-bind, --dev-bind and their -try forms; --bind-fd/--ro-bind-fd with `fd`. */
  z.strictObject({
    type: z.literal('bind'), source: z.optional(anyPath), fd: z.optional(fd), dest: absPath,
    readOnly: flag, devices: flag, try: flag, ...mountFlags,
  }),
  z.strictObject({ type: z.literal('remount-ro'), dest: absPath }),
  z.strictObject({ type: z.literal('tmpfs'), dest: absPath, size: z.optional(size), perms: z.optional(mode), ...mountFlags }),
  z.strictObject({ type: z.literal('proc'), dest: absPath }),
  /** A minimal /dev: null, zero, full, random, urandom, tty, a devpts, shm, the std* links. */
  z.strictObject({ type: z.literal('dev'), dest: absPath }),
  z.strictObject({ type: z.literal('mqueue'), dest: absPath }),
  z.strictObject({ type: z.literal('dir'), dest: absPath, perms: z.optional(mode) }),
  z.strictObject({ type: z.literal('symlink'), target: anyPath, dest: absPath }),
  z.strictObject({ type: z.literal('chmod'), dest: absPath, perms: mode }),
  /** --file, --bind-data, --ro-bind-data: from `data` or from descriptor `fd`. */
  z.strictObject({
    type: z.literal('file'), dest: absPath, data: z.optional(z.string()), fd: z.optional(fd),
    perms: z.optional(mode), bind: flag, readOnly: flag,
  }),
  /** --overlay-src... then --overlay RWSRC WORKDIR, --tmp-overlay or --ro-overlay. */
  z.strictObject({
    type: z.literal('overlay'), dest: absPath, lower: z.array(anyPath).check(z.minLength(1)),
    upper: z.optional(anyPath), work: z.optional(anyPath), tmp: flag, readOnly: flag,
  }),
  /** Any other filesystem (OCI's mounts): sysfs, devpts, cgroup, with mount(8)-style options. */
  z.strictObject({ type: z.literal('mount'), fstype: z.string().check(z.minLength(1)), source: z.optional(z.string()), dest: absPath, options: z.optional(z.array(z.string())) }),
]);
export type MountOp = z.infer<typeof mountOp>;

const absPaths = z.optional(z.array(absPath));

const filesystem = z.strictObject({
  /**
   * The new root. tmpfs (default): an empty tmpfs that is pivot_root'ed, as bwrap's, filled
   * by `mounts`. A path: that directory (OCI's root.path), pivot_root'ed. host: the
   * caller's root, in a private mount namespace (mounts still apply).
   */
  root: z.optional(z.union([z.literal('tmpfs'), z.literal('host'), z.strictObject({ path: absPath, readOnly: flag })])),
  mounts: z.optional(z.array(mountOp).check(z.maxLength(4096))),
  /** OCI maskedPaths and readonlyPaths (paths inside). */
  maskedPaths: absPaths,
  readonlyPaths: absPaths,
  /** runc's /proc protections (default true): read-only /proc/sys and friends, kcore and friends masked. */
  protectProc: flag,
  /** Mount propagation of the root: OCI rootfsPropagation. */
  propagation: z.optional(z.enum(['private', 'slave', 'shared', 'unbindable'])),
});

// ---------------------------------------------------------------- limits

export const RLIMITS = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'] as const;
const rlimitValue = z.union([count, z.literal('unlimited')]);
const rlimit = z.strictObject({ soft: rlimitValue, hard: rlimitValue });
const weight = z.optional(intIn(1, 10000));

const limits = z.strictObject({
  rlimits: z.optional(z.partialRecord(z.enum(RLIMITS), rlimit)),
  /** cgroup memory limit, and memory plus swap. */
  memory: z.optional(size),
  memorySwap: z.optional(size),
  pids: z.optional(intIn(1, 4194304)),
  /** CPU bandwidth in cores (0.5 = half a core). */
  cpu: z.optional(z.number().check(z.positive(), z.maximum(4096))),
  /** Relative CPU weight (cgroup2's 1..10000). */
  cpuWeight: weight,
  /** Relative IO weight (cgroup2's 1..10000; blkio.weight 10..1000 on v1). */
  ioWeight: weight,
  /** Wall clock: the whole tree is killed after this long. */
  timeoutMs: z.optional(positiveInt),
  /** CPU time of the whole tree (the cgroup's), then it is killed. */
  cpuTimeMs: z.optional(positiveInt),
});

// ---------------------------------------------------------------- security

const capName = z.string().check(z.regex(/^(cap_)?[a-z_]+$|^(CAP_)?[A-Z_]+$|^\d+$|^ALL$|^all$/, 'a capability name such as CAP_NET_ADMIN, net_admin or ALL'));
const capNames = z.optional(z.array(capName));
const capSets = z.strictObject({
  bounding: capNames,
  effective: capNames,
  inheritable: capNames,
  permitted: capNames,
  ambient: capNames,
});

export const SECCOMP_ACTIONS = ['allow', 'errno', 'kill', 'kill-process', 'trap', 'log', 'trace'] as const;
/** A 64-bit argument value: a number, or a decimal string beyond 2^53. */
const u64 = z.union([count, z.string().check(z.regex(/^\d{1,20}$/, 'a decimal number'))]);
const seccompArg = z.strictObject({
  index: intIn(0, 5),
  value: u64,
  valueTwo: z.optional(u64),
  op: z.enum(['NE', 'LT', 'LE', 'EQ', 'GE', 'GT', 'MASKED_EQ']),
});
const seccompRule = z.strictObject({
  names: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
  action: z.enum(SECCOMP_ACTIONS),
  errno: z.optional(errno),
  args: z.optional(z.array(seccompArg).check(z.maxLength(6))),
});
const seccomp = z.strictObject({
  /** The default profile (container runtimes' spirit: no new user namespaces, clone3 ENOSYS...). */
  profile: z.optional(z.enum(['default', 'none'])),
  /** By name: these fail with `errno` (default EPERM), or kill when action is kill. */
  deny: names,
  action: z.optional(z.enum(['errno', 'kill', 'kill-process', 'trap', 'log'])),
  errno: z.optional(errno),
  /** By name: only these (and what the program needs to start) are allowed. */
  allow: names,
  defaultAction: z.optional(z.enum(SECCOMP_ACTIONS)),
  defaultErrno: z.optional(errno),
  /** Log what the filter would deny instead of denying it. */
  log: flag,
  /** OCI's syscalls rules, with argument conditions. */
  rules: z.optional(z.array(seccompRule)),
  architectures: z.optional(z.array(z.string())),
  flags: z.optional(z.array(z.string())),
  /** A name libseccomp does not know: an error, or ignored (OCI's rule, for OCI configs). */
  unknownSyscalls: z.optional(z.enum(['error', 'ignore'])),
});

const security = z.strictObject({
  /** no_new_privs (default true). */
  noNewPrivs: flag,
  /** ts-reducecap's names: add to and drop from what the sandbox would have. */
  capAdd: capNames,
  capDrop: capNames,
  /** OCI's five sets, exactly. */
  capabilities: z.optional(capSets),
  seccomp: z.optional(seccomp),
  /**
   * Compiled seccomp filters (bwrap's --seccomp and --add-seccomp-fd): descriptors whose
   * bytes are sock_filter programs, read before the start and installed in order after `seccomp`.
   */
  seccompFilters: z.optional(z.array(fd)),
  /** Landlock (where the kernel has it): only these paths, read-only or read-write. */
  landlock: z.optional(z.strictObject({ ro: absPaths, rw: absPaths })),
  /** OCI's, refused when set: tsns runs no LSM profile. */
  apparmorProfile: z.optional(z.string()),
  selinuxLabel: z.optional(z.string()),
});

// ---------------------------------------------------------------- process

const processSpec = z.strictObject({
  /** argv; ts-sandbox's command line gives it otherwise. */
  args: z.optional(z.array(z.string().check(z.refine((a) => !a.includes('\0'), 'no NUL bytes'))).check(z.minLength(1))),
  /** Start from an empty environment, then `env`, then `unsetEnv`. */
  clearEnv: flag,
  env: z.optional(z.record(z.string(), z.string())),
  unsetEnv: z.optional(z.array(z.string())),
  cwd: z.optional(absPath),
  uid: z.optional(id),
  gid: z.optional(id),
  groups: z.optional(z.array(id).check(z.maxLength(65536))),
  umask: z.optional(mode),
  /** OOM score adjustment (-1000..1000). */
  oomScoreAdj: z.optional(intIn(-1000, 1000)),
  /** The sandbox dies when the process that made it dies (bwrap --die-with-parent). */
  dieWithParent: flag,
  /** setsid (bwrap --new-session). */
  newSession: flag,
  /** The program is pid 1 (bwrap --as-pid-1); else ts-sandbox makes bwrap's init pid 1 and the program pid 2 (a Sandbox's program is pid 1 either way). */
  asPid1: flag,
  /** Descriptors besides 0-2 that the program keeps; every other one is closed. */
  keepFds: z.optional(z.array(fd)),
  /** A pseudo-terminal (OCI process.terminal): its master goes to `consoleSocket`. */
  terminal: flag,
  consoleSocket: z.optional(absPath),
});

// ---------------------------------------------------------------- network

const network = z.union([
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({ mode: z.literal('host') }),
  /** A veth pair with this address inside (ts-chbind's path). */
  z.strictObject({ mode: z.literal('veth'), address: z.string().check(z.regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'ADDRESS/PREFIX')), hostDev: z.optional(z.string()) }),
  /** An existing network namespace (bubblewrap's #61). */
  z.strictObject({ mode: z.literal('ns'), path: absPath }),
]);

// ---------------------------------------------------------------- OCI extras

const hook = z.strictObject({ path: absPath, args: z.optional(z.array(z.string())), env: z.optional(z.array(z.string())), timeout: z.optional(positiveInt) });
const device = z.strictObject({
  type: z.enum(['c', 'b', 'u', 'p']), path: absPath, major: z.optional(count), minor: z.optional(count),
  fileMode: z.optional(mode), uid: z.optional(id), gid: z.optional(id),
});

// ---------------------------------------------------------------- the spec

export const sandboxSpec = z.strictObject({
  /** Where the sandbox is recorded and what Sandbox.get finds it by. */
  id: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (at most 64)'))),
  namespaces: z.optional(z.partialRecord(z.enum(NAMESPACE_KINDS), namespace)),
  uidMap: z.optional(idMap),
  gidMap: z.optional(idMap),
  hostname: z.optional(z.string().check(z.minLength(1), z.maxLength(64), z.refine((h) => !/[\s/]/.test(h), 'no "/" or white space'))),
  domainname: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  filesystem: z.optional(filesystem),
  limits: z.optional(limits),
  security: z.optional(security),
  process: z.optional(processSpec),
  network: z.optional(network),
  sysctl: z.optional(z.record(z.string().check(z.regex(/^[a-z0-9_.\-/]+$/)), z.string())),
  devices: z.optional(z.array(device)),
  hooks: z.optional(z.partialRecord(z.enum(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']), z.array(hook))),
  /** Free-form labels, kept with the sandbox's record. */
  annotations: z.optional(z.record(z.string(), z.string())),
});

export type SandboxSpec = z.infer<typeof sandboxSpec>;

function describe(value: unknown): string {
  const text = typeof value === 'bigint' ? `${value}n` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Check `input` against the schema: the spec, or a SpecError for the first problem. */
export function parseSpec(input: unknown): SandboxSpec {
  const r = sandboxSpec.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
  const value = valueAt(input, issue.path);
  const shown = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => `'${k}'`).join(', ')}` : `${issue.message} (got ${describe(value)})`;
  throw new SpecError(path, shown);
}
