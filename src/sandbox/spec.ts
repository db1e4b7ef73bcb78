// SandboxSpec: the one description of a sandbox, for the library, spec files (YAML or
// JSON) and ts-sandbox's flags alike. The zod schema is the source: the TypeScript type is
// inferred from it, and schema/sandbox.schema.json is generated from it for editors.
// A superset of what the OCI runtime maps onto it (five capability sets, OCI seccomp,
// umask, masked and read-only paths, sysctl, devices, hooks, a console).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SpecError } from './errors.js';

export { SpecError };

const MAX_ID = 4294967294; // 2^32-1 is (uid_t)-1: "no change" to the kernel, never an id

const id = z.int().min(0).max(MAX_ID);
const absPath = z.string().min(1).refine((p) => p.startsWith('/') && !p.includes('\0'), 'an absolute path without NUL bytes');
const anyPath = z.string().min(1).refine((p) => !p.includes('\0'), 'a path without NUL bytes');
const mode = z.int().min(0).max(0o7777);
const fd = z.int().min(0).max(1 << 20);
/** Sizes as numbers of bytes or with a suffix: 512M, 1.5G, 64k. */
export const size = z.union([z.int().min(0), z.string().regex(/^\d+(\.\d+)?[kKmMgGtT]?$/, 'a size such as 512M, 1G or 4096')]);

// ---------------------------------------------------------------- namespaces

export const NAMESPACE_KINDS = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup', 'time'] as const;

/** new: its own; host: the caller's; a path or an fd: joined (setns). */
const namespace = z.union([z.enum(['new', 'host']), z.strictObject({ path: absPath }), z.strictObject({ fd })]);

const idRange = z.strictObject({ inside: id, outside: id, count: z.int().min(1).max(MAX_ID) });
/** root: the caller's id is 0 inside; current: it stays itself; a number: it becomes that; or ranges. */
const idMap = z.union([z.enum(['root', 'current']), id, z.array(idRange).min(1).max(340)]);

// ---------------------------------------------------------------- filesystem

/** Per-mount flags bubblewrap users ask for. */
const mountFlags = {
  nosuid: z.boolean().optional(),
  nodev: z.boolean().optional(),
  noexec: z.boolean().optional(),
};

/** bubblewrap's vocabulary, one operation each, performed in order inside the new root. */
export const mountOp = z.discriminatedUnion('type', [
  /** --bind, --ro-bind, --dev-bind and their -try forms; --bind-fd/--ro-bind-fd with `fd`. */
  z.strictObject({
    type: z.literal('bind'), source: anyPath.optional(), fd: fd.optional(), dest: absPath,
    readOnly: z.boolean().optional(), devices: z.boolean().optional(), try: z.boolean().optional(), ...mountFlags,
  }),
  z.strictObject({ type: z.literal('remount-ro'), dest: absPath }),
  z.strictObject({ type: z.literal('tmpfs'), dest: absPath, size: size.optional(), perms: mode.optional(), ...mountFlags }),
  z.strictObject({ type: z.literal('proc'), dest: absPath }),
  /** A minimal /dev: null, zero, full, random, urandom, tty, a devpts, shm, the std* links. */
  z.strictObject({ type: z.literal('dev'), dest: absPath }),
  z.strictObject({ type: z.literal('mqueue'), dest: absPath }),
  z.strictObject({ type: z.literal('dir'), dest: absPath, perms: mode.optional() }),
  z.strictObject({ type: z.literal('symlink'), target: anyPath, dest: absPath }),
  z.strictObject({ type: z.literal('chmod'), dest: absPath, perms: mode }),
  /** --file, --bind-data, --ro-bind-data: from `data` or from descriptor `fd`. */
  z.strictObject({
    type: z.literal('file'), dest: absPath, data: z.string().optional(), fd: fd.optional(),
    perms: mode.optional(), bind: z.boolean().optional(), readOnly: z.boolean().optional(),
  }),
  /** --overlay-src... then --overlay RWSRC WORKDIR, --tmp-overlay or --ro-overlay. */
  z.strictObject({
    type: z.literal('overlay'), dest: absPath, lower: z.array(anyPath).min(1),
    upper: anyPath.optional(), work: anyPath.optional(), tmp: z.boolean().optional(), readOnly: z.boolean().optional(),
  }),
  /** Any other filesystem (OCI's mounts): sysfs, devpts, cgroup, with mount(8)-style options. */
  z.strictObject({ type: z.literal('mount'), fstype: z.string().min(1), source: z.string().optional(), dest: absPath, options: z.array(z.string()).optional() }),
]);
export type MountOp = z.infer<typeof mountOp>;

const filesystem = z.strictObject({
  /**
   * The new root. tmpfs (default): an empty tmpfs that is pivot_root'ed, as bwrap's, filled
   * by `mounts`. A path: that directory (OCI's root.path), pivot_root'ed. host: the
   * caller's root, in a private mount namespace (mounts still apply).
   */
  root: z.union([z.literal('tmpfs'), z.literal('host'), z.strictObject({ path: absPath, readOnly: z.boolean().optional() })]).optional(),
  mounts: z.array(mountOp).max(4096).optional(),
  /** OCI maskedPaths and readonlyPaths (paths inside). */
  maskedPaths: z.array(absPath).optional(),
  readonlyPaths: z.array(absPath).optional(),
  /** runc's /proc protections (default true): read-only /proc/sys and friends, kcore and friends masked. */
  protectProc: z.boolean().optional(),
  /** Mount propagation of the root: OCI rootfsPropagation. */
  propagation: z.enum(['private', 'slave', 'shared', 'unbindable']).optional(),
});

// ---------------------------------------------------------------- limits

export const RLIMITS = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'] as const;
const rlimitValue = z.union([z.int().min(0), z.literal('unlimited')]);
const rlimit = z.strictObject({ soft: rlimitValue, hard: rlimitValue });

const limits = z.strictObject({
  rlimits: z.partialRecord(z.enum(RLIMITS), rlimit).optional(),
  /** cgroup memory limit, and memory plus swap. */
  memory: size.optional(),
  memorySwap: size.optional(),
  pids: z.int().min(1).max(4194304).optional(),
  /** CPU bandwidth in cores (0.5 = half a core). */
  cpu: z.number().positive().max(4096).optional(),
  /** Relative CPU weight (cgroup2's 1..10000). */
  cpuWeight: z.int().min(1).max(10000).optional(),
  /** Relative IO weight (cgroup2's 1..10000; blkio.weight 10..1000 on v1). */
  ioWeight: z.int().min(1).max(10000).optional(),
  /** Wall clock: the whole tree is killed after this long. */
  timeoutMs: z.int().min(1).optional(),
  /** CPU time of the whole tree (the cgroup's), then it is killed. */
  cpuTimeMs: z.int().min(1).optional(),
});

// ---------------------------------------------------------------- security

const capName = z.string().regex(/^(cap_)?[a-z_]+$|^(CAP_)?[A-Z_]+$|^\d+$|^ALL$|^all$/, 'a capability name such as CAP_NET_ADMIN, net_admin or ALL');
const capSets = z.strictObject({
  bounding: z.array(capName).optional(),
  effective: z.array(capName).optional(),
  inheritable: z.array(capName).optional(),
  permitted: z.array(capName).optional(),
  ambient: z.array(capName).optional(),
});

export const SECCOMP_ACTIONS = ['allow', 'errno', 'kill', 'kill-process', 'trap', 'log', 'trace'] as const;
/** A 64-bit argument value: a number, or a decimal string beyond 2^53. */
const u64 = z.union([z.int().min(0), z.string().regex(/^\d{1,20}$/, 'a decimal number')]);
const seccompArg = z.strictObject({
  index: z.int().min(0).max(5),
  value: u64,
  valueTwo: u64.optional(),
  op: z.enum(['NE', 'LT', 'LE', 'EQ', 'GE', 'GT', 'MASKED_EQ']),
});
const seccompRule = z.strictObject({
  names: z.array(z.string().min(1)).min(1),
  action: z.enum(SECCOMP_ACTIONS),
  errno: z.int().min(1).max(4095).optional(),
  args: z.array(seccompArg).max(6).optional(),
});
const seccomp = z.strictObject({
  /** The default profile (container runtimes' spirit: no new user namespaces, clone3 ENOSYS...). */
  profile: z.enum(['default', 'none']).optional(),
  /** By name: these fail with `errno` (default EPERM), or kill when action is kill. */
  deny: z.array(z.string().min(1)).optional(),
  action: z.enum(['errno', 'kill', 'kill-process', 'trap', 'log']).optional(),
  errno: z.int().min(1).max(4095).optional(),
  /** By name: only these (and what the program needs to start) are allowed. */
  allow: z.array(z.string().min(1)).optional(),
  defaultAction: z.enum(SECCOMP_ACTIONS).optional(),
  defaultErrno: z.int().min(1).max(4095).optional(),
  /** Log what the filter would deny instead of denying it. */
  log: z.boolean().optional(),
  /** OCI's syscalls rules, with argument conditions. */
  rules: z.array(seccompRule).optional(),
  architectures: z.array(z.string()).optional(),
  flags: z.array(z.string()).optional(),
  /** A name libseccomp does not know: an error, or ignored (OCI's rule, for OCI configs). */
  unknownSyscalls: z.enum(['error', 'ignore']).optional(),
});

const security = z.strictObject({
  /** no_new_privs (default true). */
  noNewPrivs: z.boolean().optional(),
  /** ts-reducecap's names: add to and drop from what the sandbox would have. */
  capAdd: z.array(capName).optional(),
  capDrop: z.array(capName).optional(),
  /** OCI's five sets, exactly. */
  capabilities: capSets.optional(),
  seccomp: seccomp.optional(),
  /**
   * Compiled seccomp filters (bwrap's --seccomp and --add-seccomp-fd): descriptors whose
   * bytes are sock_filter programs, read before the start and installed in order after `seccomp`.
   */
  seccompFilters: z.array(fd).optional(),
  /** Landlock (where the kernel has it): only these paths, read-only or read-write. */
  landlock: z.strictObject({ ro: z.array(absPath).optional(), rw: z.array(absPath).optional() }).optional(),
  /** OCI's, refused when set: tsns runs no LSM profile. */
  apparmorProfile: z.string().optional(),
  selinuxLabel: z.string().optional(),
});

// ---------------------------------------------------------------- process

const processSpec = z.strictObject({
  /** argv; ts-sandbox's command line gives it otherwise. */
  args: z.array(z.string().refine((a) => !a.includes('\0'), 'no NUL bytes')).min(1).optional(),
  /** Start from an empty environment, then `env`, then `unsetEnv`. */
  clearEnv: z.boolean().optional(),
  env: z.record(z.string(), z.string()).optional(),
  unsetEnv: z.array(z.string()).optional(),
  cwd: absPath.optional(),
  uid: id.optional(),
  gid: id.optional(),
  groups: z.array(id).max(65536).optional(),
  umask: mode.optional(),
  /** OOM score adjustment (-1000..1000). */
  oomScoreAdj: z.int().min(-1000).max(1000).optional(),
  /** The sandbox dies when the process that made it dies (bwrap --die-with-parent). */
  dieWithParent: z.boolean().optional(),
  /** setsid (bwrap --new-session). */
  newSession: z.boolean().optional(),
  /** The program is pid 1 (bwrap --as-pid-1); else ts-sandbox makes bwrap's init pid 1 and the program pid 2 (a Sandbox's program is pid 1 either way). */
  asPid1: z.boolean().optional(),
  /** Descriptors besides 0-2 that the program keeps; every other one is closed. */
  keepFds: z.array(fd).optional(),
  /** A pseudo-terminal (OCI process.terminal): its master goes to `consoleSocket`. */
  terminal: z.boolean().optional(),
  consoleSocket: absPath.optional(),
});

// ---------------------------------------------------------------- network

const network = z.union([
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({ mode: z.literal('host') }),
  /** A veth pair with this address inside (ts-chbind's path). */
  z.strictObject({ mode: z.literal('veth'), address: z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'ADDRESS/PREFIX'), hostDev: z.string().optional() }),
  /** An existing network namespace (bubblewrap's #61). */
  z.strictObject({ mode: z.literal('ns'), path: absPath }),
]);

// ---------------------------------------------------------------- OCI extras

const hook = z.strictObject({ path: absPath, args: z.array(z.string()).optional(), env: z.array(z.string()).optional(), timeout: z.int().min(1).optional() });
const device = z.strictObject({
  type: z.enum(['c', 'b', 'u', 'p']), path: absPath, major: z.int().min(0).optional(), minor: z.int().min(0).optional(),
  fileMode: mode.optional(), uid: id.optional(), gid: id.optional(),
});

// ---------------------------------------------------------------- the spec

export const sandboxSpec = z.strictObject({
  /** Where the sandbox is recorded and what Sandbox.get finds it by. */
  id: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (at most 64)').optional(),
  namespaces: z.partialRecord(z.enum(NAMESPACE_KINDS), namespace).optional(),
  uidMap: idMap.optional(),
  gidMap: idMap.optional(),
  hostname: z.string().min(1).max(64).refine((h) => !/[\s/]/.test(h), 'no "/" or white space').optional(),
  domainname: z.string().min(1).max(64).optional(),
  filesystem: filesystem.optional(),
  limits: limits.optional(),
  security: security.optional(),
  process: processSpec.optional(),
  network: network.optional(),
  sysctl: z.record(z.string().regex(/^[a-z0-9_.\-/]+$/), z.string()).optional(),
  devices: z.array(device).optional(),
  hooks: z.partialRecord(z.enum(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']), z.array(hook)).optional(),
  /** Free-form labels, kept with the sandbox's record. */
  annotations: z.record(z.string(), z.string()).optional(),
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

/** A spec file: YAML (JSON is YAML too), checked. */
export async function loadSpecFile(file: string): Promise<SandboxSpec> {
  // node:fs statically: the tools' bundles run without a loader for a built-in's import().
  const { parse } = await import('yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpecError('', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new SpecError('', `${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseSpec(data);
}
