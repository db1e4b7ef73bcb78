// bubblewrap's command line as a SandboxSpec, and back. Parsed the way bwrap 0.11's
// parse_args_recurse() does: options in order, each at most once per loop turn, `--args FD`
// inserting NUL-separated arguments read from FD, `--` or the first non-option ending the
// options, --perms/--size/--overlay-src modifying the option that follows. Messages are
// bwrap's own words (the CLI puts "ts-sandbox: " before them). Pure: the only input from
// outside is `readFd` (for --args) and the caller's ids (for bwrap's --uid/--gid check).
import { RLIMITS, type MountOp, type SandboxSpec } from './spec.js';

/** A command line bwrap would refuse: one line in its words, exit 1. */
export class BwrapArgError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BwrapArgError';
  }
}

/** What ts-sandbox does around the spec (bwrap's descriptors, and our own flags). */
export interface ToolOptions {
  help?: boolean;
  version?: boolean;
  dryRun?: boolean;
  explain?: boolean;
  /** MODE of --explain=MODE (why, all). */
  explainMode?: string;
  specFile?: string;
  infoFd?: number;
  jsonStatusFd?: number;
  blockFd?: number;
  /** --userns-block-fd: the caller writes the id maps; the child waits for this descriptor first. */
  usernsBlockFd?: number;
  /** --userns2: the user namespace the program switches to once its root is built. */
  userns2?: number;
  /** --lock-file: read-locked inside the sandbox by its init while the sandbox lives. */
  lockFiles: string[];
  /** --argv0: the program's argv[0]. */
  argv0?: string;
  /** --level-prefix: "<3>" before each message (syslog's priority, as bwrap's). */
  levelPrefix?: boolean;
  /** --assert-userns-disabled: accepted, not checked (docs/ts-sandbox.md). */
  assertUsernsDisabled?: boolean;
  /** --exec-label, --file-label: accepted where there is no SELinux to apply them to. */
  labels: string[];
}

export interface ParsedArgs {
  /** The flags that change the sandbox, as a partial spec, merged by toSpec(). */
  flags: Flags;
  tool: ToolOptions;
  /** The program and its arguments. */
  command: string[];
}

type Env = { clear: boolean; set: Record<string, string>; unset: string[] };

interface Flags {
  unshare: Set<'user' | 'user-try' | 'ipc' | 'pid' | 'net' | 'uts' | 'cgroup' | 'cgroup-try'>;
  shareNet: boolean;
  userns?: number;
  pidns?: number;
  uid?: number;
  gid?: number;
  hostname?: string;
  chdir?: string;
  env?: Env;
  mounts: MountOp[];
  seccompFd?: number;
  addSeccompFds: number[];
  syncFd?: number;
  newSession?: boolean;
  dieWithParent?: boolean;
  asPid1?: boolean;
  capAdd: string[];
  capDrop: string[];
  disableUserns?: boolean;
  limits: NonNullable<SandboxSpec['limits']>;
  seccompDeny: string[];
  seccompAllow: string[];
  seccompDefault?: boolean;
  landlockRo: string[];
  landlockRw: string[];
  net?: NonNullable<SandboxSpec['network']>;
}

/** strtol(s, &end, 10) as bwrap checks it: all of s, and not negative (nor past int). */
function strtolInt(s: string): number | undefined {
  if (!/^[\t\n\v\f\r ]*[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s.trim());
  return n < 0 || n > 0x7fffffff ? undefined : n;
}

/** strtoul(s, &end, 8) <= 07777, as --perms and --chmod read it. */
function octalMode(s: string): number | undefined {
  if (!/^[\t\n\v\f\r ]*\+?[0-7]+$/.test(s)) return undefined;
  const n = parseInt(s.trim().replace(/^\+/, ''), 8);
  return n > 0o7777 ? undefined : n;
}

/** strtoull(s, &end, 0) as --size reads it: decimal, 0x hex or 0 octal, first char a digit. */
function sizeBytes(s: string): bigint | undefined {
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return BigInt(s);
  if (/^0[0-7]*$/.test(s)) return BigInt('0o' + (s.slice(1) || '0'));
  if (/^[1-9]\d*$/.test(s)) return BigInt(s);
  return undefined;
}

const MAX_TMPFS_BYTES = (1n << 63n) - 1n; // SIZE_MAX >> 1 on 64-bit

/** Bytes as the schema takes them: a number where exact, else the decimal string. */
const bytesValue = (n: bigint): number | string => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString());

/** Destinations are inside the new root; bwrap prefixes a relative one with it too. */
const inside = (dest: string) => (dest.startsWith('/') ? dest : `/${dest}`);

function positive(s: string, option: string, what: string): number {
  const n = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || !(n > 0)) throw new BwrapArgError(`${option} takes ${what}, not '${s}'`);
  return n;
}

/** NAME=SOFT[:HARD]: SOFT and HARD a number or unlimited/infinity; HARD defaults to SOFT. */
function rlimit(s: string): [(typeof RLIMITS)[number], { soft: number | 'unlimited'; hard: number | 'unlimited' }] {
  const m = /^(?:RLIMIT_)?([A-Za-z]+)=([^:]+)(?::(.+))?$/.exec(s);
  const name = m?.[1].toLowerCase() as (typeof RLIMITS)[number] | undefined;
  if (!m || !RLIMITS.includes(name!)) throw new BwrapArgError(`--rlimit takes NAME=SOFT[:HARD] with NAME one of ${RLIMITS.join(', ')}, not '${s}'`);
  const value = (v: string) => {
    if (v === 'unlimited' || v === 'infinity') return 'unlimited' as const;
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new BwrapArgError(`--rlimit ${name}: '${v}' is not a number or unlimited`);
    return Number(v);
  };
  const soft = value(m[2]);
  return [name!, { soft, hard: m[3] === undefined ? soft : value(m[3]) }];
}

function network(s: string): NonNullable<SandboxSpec['network']> {
  if (s === 'none' || s === 'host') return { mode: s };
  if (s.startsWith('veth:')) return { mode: 'veth', address: s.slice(5) };
  if (s.startsWith('ns:')) return { mode: 'ns', path: s.slice(3) };
  throw new BwrapArgError(`--net takes none, host, veth:IP/PREFIX or ns:PATH, not '${s}'`);
}

/** The most arguments bwrap takes, --args included (its hardening against huge inputs). */
const MAX_ARGS = 9000;

/**
 * Parse a bwrap (plus ts-sandbox) command line. `readFd` reads a descriptor to its end
 * (for --args). Throws BwrapArgError in bwrap's words.
 */
export function parseArgs(argv: readonly string[], readFd: (fd: number) => Buffer): ParsedArgs {
  const flags: Flags = {
    unshare: new Set(), shareNet: false, mounts: [], addSeccompFds: [], capAdd: [], capDrop: [], limits: {},
    seccompDeny: [], seccompAllow: [], landlockRo: [], landlockRw: [],
  };
  const tool: ToolOptions = { labels: [], lockFiles: [] };
  let total = argv.length;
  let nextPerms: number | undefined;
  let nextSize: bigint | undefined;
  const overlaySrc: string[] = [];
  const env = (): Env => (flags.env ??= { clear: false, set: {}, unset: [] });

  const parse = (args: readonly string[], inFile: boolean): string[] => {
    if (total > MAX_ARGS) throw new BwrapArgError(`Exceeded maximum number of arguments ${MAX_ARGS}`);
    let i = 0;
    const take = (n: number, arg: string): string[] => {
      if (args.length - i - 1 < n) {
        const words = n === 1 ? (['--argv0', '--chdir', '--remount-ro'].includes(arg) ? 'one argument' : 'an argument') : n === 2 ? 'two arguments' : 'three arguments';
        throw new BwrapArgError(`${arg} takes ${words}`);
      }
      const vals = args.slice(i + 1, i + 1 + n);
      i += n;
      return vals;
    };
    const fdArg = (arg: string): number => {
      const [v] = take(1, arg);
      const fd = strtolInt(v);
      if (fd === undefined) throw new BwrapArgError(`Invalid fd: ${v}`);
      return fd;
    };
    /** A mode for what this option creates: --perms's, else the option's default. */
    const perms = (): number | undefined => {
      const p = nextPerms;
      nextPerms = undefined;
      return p;
    };
    const overlay = (): string[] => overlaySrc.splice(0);
    for (; i < args.length; i++) {
      const arg = args[i];
      switch (arg) {
        case '--help': tool.help = true; return [];
        case '--version': tool.version = true; return [];
        case '--args': {
          if (inFile) throw new BwrapArgError('--args not supported in arguments file');
          const fd = fdArg(arg);
          let data: Buffer;
          try {
            data = readFd(fd);
          } catch (err) {
            throw new BwrapArgError(`Can't read --args data: ${(err as Error).message}`);
          }
          const inserted = data.length ? data.toString('utf8').replace(/\0$/, '').split('\0') : [];
          total += inserted.length;
          // Options in the file count as if they stood here; bwrap ignores what follows a
          // non-option there (the command belongs on the command line).
          parse(inserted, true);
          if (tool.help || tool.version) return [];
          break;
        }
        case '--level-prefix': tool.levelPrefix = true; break;
        case '--unshare-all':
          for (const k of ['user-try', 'ipc', 'pid', 'uts', 'cgroup-try', 'net'] as const) flags.unshare.add(k);
          flags.shareNet = false;
          break;
        case '--unshare-user': case '--unshare-user-try': case '--unshare-ipc': case '--unshare-pid':
        case '--unshare-net': case '--unshare-uts': case '--unshare-cgroup': case '--unshare-cgroup-try':
          flags.unshare.add(arg.slice('--unshare-'.length) as never);
          if (arg === '--unshare-net') flags.shareNet = false;
          break;
        case '--share-net': flags.shareNet = true; break;
        case '--chdir': [flags.chdir] = take(1, arg); break;
        case '--disable-userns': flags.disableUserns = true; break;
        case '--assert-userns-disabled': tool.assertUsernsDisabled = true; break;
        case '--remount-ro': flags.mounts.push({ type: 'remount-ro', dest: inside(take(1, arg)[0]) }); break;
        case '--bind': case '--bind-try': case '--ro-bind': case '--ro-bind-try': case '--dev-bind': case '--dev-bind-try': {
          const [source, dest] = take(2, arg);
          flags.mounts.push({
            type: 'bind', source, dest: inside(dest),
            ...(arg.startsWith('--ro-') ? { readOnly: true } : {}),
            ...(arg.startsWith('--dev-') ? { devices: true } : {}),
            ...(arg.endsWith('-try') ? { try: true } : {}),
          });
          break;
        }
        case '--bind-fd': case '--ro-bind-fd': {
          // bwrap words both as --bind-fd.
          if (args.length - i - 1 < 2) throw new BwrapArgError('--bind-fd takes two arguments');
          const fd = fdArg(arg);
          const [dest] = take(1, arg);
          flags.mounts.push({ type: 'bind', fd, dest: inside(dest), ...(arg === '--ro-bind-fd' ? { readOnly: true } : {}) });
          break;
        }
        case '--overlay-src': overlaySrc.push(take(1, arg)[0]); break;
        case '--overlay': {
          if (args.length - i - 1 < 3) throw new BwrapArgError('--overlay takes three arguments');
          if (!overlaySrc.length) throw new BwrapArgError('--overlay requires at least one --overlay-src');
          const [upper, work, dest] = take(3, arg);
          flags.mounts.push({ type: 'overlay', dest: inside(dest), lower: overlay(), upper, work });
          break;
        }
        case '--tmp-overlay': case '--ro-overlay': {
          const [dest] = take(1, arg);
          const ro = arg === '--ro-overlay';
          if (overlaySrc.length < (ro ? 2 : 1)) throw new BwrapArgError(`${arg} requires at least ${ro ? 'two' : 'one'} --overlay-src`);
          flags.mounts.push({ type: 'overlay', dest: inside(dest), lower: overlay(), ...(ro ? { readOnly: true } : { tmp: true }) });
          break;
        }
        case '--exec-label': case '--file-label': tool.labels.push(take(1, arg)[0]); break;
        case '--proc': case '--dev': case '--mqueue':
          flags.mounts.push({ type: arg.slice(2) as 'proc' | 'dev' | 'mqueue', dest: inside(take(1, arg)[0]) });
          break;
        case '--tmpfs': {
          const [dest] = take(1, arg);
          const p = perms();
          const size = nextSize;
          nextSize = undefined;
          flags.mounts.push({ type: 'tmpfs', dest: inside(dest), ...(p !== undefined ? { perms: p } : {}), ...(size !== undefined ? { size: bytesValue(size) } : {}) });
          break;
        }
        case '--dir': {
          const [dest] = take(1, arg);
          const p = perms();
          flags.mounts.push({ type: 'dir', dest: inside(dest), ...(p !== undefined ? { perms: p } : {}) });
          break;
        }
        case '--file': case '--bind-data': case '--ro-bind-data': {
          if (args.length - i - 1 < 2) throw new BwrapArgError(`${arg} takes two arguments`);
          const fd = fdArg(arg);
          const [dest] = take(1, arg);
          // bwrap's modes when --perms is not given: 0666 for --file, mkstemp's 0600 for the binds.
          const p = perms() ?? (arg === '--file' ? 0o666 : 0o600);
          flags.mounts.push({
            type: 'file', dest: inside(dest), fd, perms: p,
            ...(arg !== '--file' ? { bind: true } : {}), ...(arg === '--ro-bind-data' ? { readOnly: true } : {}),
          });
          break;
        }
        case '--symlink': {
          const [target, dest] = take(2, arg);
          flags.mounts.push({ type: 'symlink', target, dest: inside(dest) });
          break;
        }
        case '--sync-fd': flags.syncFd = fdArg(arg); break;
        case '--block-fd': tool.blockFd = fdArg(arg); break;
        case '--info-fd': tool.infoFd = fdArg(arg); break;
        case '--userns-block-fd': tool.usernsBlockFd = fdArg(arg); break;
        case '--userns2': tool.userns2 = fdArg(arg); break;
        case '--lock-file': tool.lockFiles.push(take(1, arg)[0]); break;
        case '--argv0': [tool.argv0] = take(1, arg); break;
        case '--json-status-fd': tool.jsonStatusFd = fdArg(arg); break;
        case '--seccomp':
          if (args.length - i - 1 < 1) throw new BwrapArgError('--seccomp takes an argument');
          if (flags.addSeccompFds.length) throw new BwrapArgError('--seccomp cannot be combined with --add-seccomp-fd');
          flags.seccompFd = fdArg(arg);
          break;
        case '--add-seccomp-fd':
          if (args.length - i - 1 < 1) throw new BwrapArgError('--add-seccomp-fd takes an argument');
          if (flags.seccompFd !== undefined) throw new BwrapArgError('--add-seccomp-fd cannot be combined with --seccomp');
          flags.addSeccompFds.push(fdArg(arg));
          break;
        case '--userns': flags.userns = fdArg(arg); break;
        case '--pidns': flags.pidns = fdArg(arg); break;
        case '--clearenv': flags.env = { clear: true, set: {}, unset: [] }; break;
        case '--setenv': {
          const [name, value] = take(2, arg);
          const e = env();
          e.set[name] = value;
          e.unset = e.unset.filter((n) => n !== name);
          break;
        }
        case '--unsetenv': {
          const [name] = take(1, arg);
          const e = env();
          delete e.set[name];
          if (!e.unset.includes(name)) e.unset.push(name);
          break;
        }
        case '--uid': case '--gid': {
          const [v] = take(1, arg);
          const n = strtolInt(v);
          if (n === undefined) throw new BwrapArgError(`Invalid ${arg.slice(2)}: ${v}`);
          flags[arg === '--uid' ? 'uid' : 'gid'] = n;
          break;
        }
        case '--hostname': [flags.hostname] = take(1, arg); break;
        case '--new-session': flags.newSession = true; break;
        case '--die-with-parent': flags.dieWithParent = true; break;
        case '--as-pid-1': flags.asPid1 = true; break;
        case '--cap-add': case '--cap-drop': {
          const [cap] = take(1, arg);
          if (!/^((cap_)?[a-z_]+|(CAP_)?[A-Z_]+|all|ALL)$/.test(cap)) throw new BwrapArgError(`unknown cap: ${cap}`);
          (arg === '--cap-add' ? flags.capAdd : flags.capDrop).push(cap);
          break;
        }
        case '--perms': {
          const [v] = take(1, arg);
          if (nextPerms !== undefined) throw new BwrapArgError('--perms given twice for the same action');
          nextPerms = octalMode(v);
          if (nextPerms === undefined) throw new BwrapArgError('--perms takes an octal argument <= 07777');
          break;
        }
        case '--size': {
          const [v] = take(1, arg);
          if (nextSize !== undefined) throw new BwrapArgError('--size given twice for the same action');
          const n = sizeBytes(v);
          if (n === undefined || n === 0n || n > (1n << 64n) - 1n) throw new BwrapArgError('--size takes a non-zero number of bytes');
          if (n > MAX_TMPFS_BYTES) throw new BwrapArgError(`--size (for tmpfs) is limited to ${MAX_TMPFS_BYTES}`);
          nextSize = n;
          break;
        }
        case '--chmod': {
          const [mode, path] = take(2, arg);
          const p = octalMode(mode);
          if (p === undefined) throw new BwrapArgError('--chmod takes an octal argument <= 07777');
          flags.mounts.push({ type: 'chmod', dest: inside(path), perms: p });
          break;
        }
        // ts-sandbox's own: limits, policies by name, the network, a spec file.
        case '--memory': flags.limits.memory = take(1, arg)[0]; break;
        case '--pids': {
          const [v] = take(1, arg);
          if (!/^\d+$/.test(v) || Number(v) < 1) throw new BwrapArgError(`--pids takes a number of processes, not '${v}'`);
          flags.limits.pids = Number(v);
          break;
        }
        case '--cpu': flags.limits.cpu = positive(take(1, arg)[0], arg, 'a number of cores'); break;
        case '--timeout': flags.limits.timeoutMs = Math.ceil(positive(take(1, arg)[0], arg, 'seconds') * 1000); break;
        case '--cpu-time': flags.limits.cpuTimeMs = Math.ceil(positive(take(1, arg)[0], arg, 'seconds') * 1000); break;
        case '--rlimit': {
          const [name, value] = rlimit(take(1, arg)[0]);
          flags.limits.rlimits = { ...flags.limits.rlimits, [name]: value };
          break;
        }
        case '--seccomp-deny': case '--seccomp-allow':
          (arg === '--seccomp-deny' ? flags.seccompDeny : flags.seccompAllow).push(...take(1, arg)[0].split(',').filter(Boolean));
          break;
        case '--seccomp-default': flags.seccompDefault = true; break;
        case '--landlock-ro': flags.landlockRo.push(take(1, arg)[0]); break;
        case '--landlock-rw': flags.landlockRw.push(take(1, arg)[0]); break;
        case '--net': flags.net = network(take(1, arg)[0]); break;
        case '--spec': [tool.specFile] = take(1, arg); break;
        case '--dry-run': tool.dryRun = true; break;
        case '--explain': tool.explain = true; break;
        case '--': return [...args.slice(i + 1)];
        default:
          if (arg.startsWith('--explain=')) {
            tool.explain = true;
            tool.explainMode = arg.slice('--explain='.length);
            break;
          }
          if (arg.startsWith('-')) throw new BwrapArgError(`Unknown option ${arg}`);
          return [...args.slice(i)];
      }
      // A modifier not taken by the option right after it was meant for another option.
      if (arg !== '--perms' && arg !== '--size') {
        if (nextPerms !== undefined) throw new BwrapArgError('--perms must be followed by an option that creates a file');
        if (nextSize !== undefined) throw new BwrapArgError('--size must be followed by --tmpfs');
      }
      if (arg !== '--overlay-src' && overlaySrc.length) throw new BwrapArgError(OVERLAY_SRC_DANGLING);
    }
    return [];
  };
  const command = parse(argv, false);
  if (overlaySrc.length) throw new BwrapArgError(OVERLAY_SRC_DANGLING);
  return { flags, tool, command };
}

const OVERLAY_SRC_DANGLING = '--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay';

/** clone/unshare with CLONE_NEWUSER refused, clone3 ENOSYS (its flags are out of seccomp's reach). */
const CLONE_NEWUSER = 0x10000000;
const NO_NEW_USERNS = [
  { names: ['unshare', 'clone'], action: 'errno' as const, errno: 1, args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'MASKED_EQ' as const }] },
  { names: ['clone3'], action: 'errno' as const, errno: 38 },
];

/**
 * The spec a parsed command line asks for: on top of `base` (a --spec file) when given,
 * else bwrap's defaults (an empty tmpfs root, a new mount namespace, everything else the
 * caller's). `ids`: the caller's, for bwrap's checks of --uid and --gid.
 */
export function toSpec(parsed: ParsedArgs, base?: SandboxSpec, ids = { uid: 0, gid: 0 }): SandboxSpec {
  const f = parsed.flags;
  const spec: SandboxSpec = structuredClone(base ?? { namespaces: { mount: 'new' }, filesystem: { root: 'tmpfs' } });
  const ns = { ...(spec.namespaces ?? Object.fromEntries(['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup'].map((k) => [k, 'new']))) } as NonNullable<SandboxSpec['namespaces']>;
  const un = f.unshare;
  // As root, bwrap makes a user namespace only when asked (-try: where the kernel allows, as here).
  if (un.has('user') || un.has('user-try')) ns.user = 'new';
  for (const k of ['ipc', 'pid', 'uts', 'net'] as const) if (un.has(k)) ns[k] = 'new';
  if (un.has('cgroup') || un.has('cgroup-try')) ns.cgroup = 'new';
  if (f.userns !== undefined) ns.user = { fd: f.userns };
  if (f.pidns !== undefined) ns.pid = { fd: f.pidns };
  if (f.shareNet) delete ns.net; // absent from an explicit table: the caller's
  spec.namespaces = ns;
  // A new network namespace from bwrap has its loopback up: the spec's network 'none'.
  if (un.has('net') && !f.shareNet) spec.network = { mode: 'none' };
  if (f.shareNet && spec.network?.mode === 'none') delete spec.network;
  if (f.net) spec.network = f.net;

  // bwrap's checks, after parsing, in its order.
  const newUser = ns.user === 'new';
  const tool = parsed.tool;
  if (tool.usernsBlockFd !== undefined && !un.has('user')) throw new BwrapArgError('--userns-block-fd requires --unshare-user');
  if (tool.usernsBlockFd !== undefined && tool.infoFd === undefined) throw new BwrapArgError('--userns-block-fd requires --info-fd');
  if (f.userns !== undefined && un.has('user')) throw new BwrapArgError('--userns not compatible --unshare-user');
  if (f.userns !== undefined && un.has('user-try')) throw new BwrapArgError('--userns not compatible --unshare-user-try');
  if (f.disableUserns && !newUser) throw new BwrapArgError('--disable-userns requires --unshare-user');
  if (f.disableUserns && tool.usernsBlockFd !== undefined) throw new BwrapArgError('--disable-userns is not compatible with  --userns-block-fd');
  const anyUserns = newUser || typeof ns.user === 'object';
  if (!anyUserns && f.uid !== undefined && f.uid !== ids.uid) throw new BwrapArgError('Specifying --uid requires --unshare-user or --userns');
  if (!anyUserns && f.gid !== undefined && f.gid !== ids.gid) throw new BwrapArgError('Specifying --gid requires --unshare-user or --userns');
  if (f.hostname !== undefined && ns.uts !== 'new') throw new BwrapArgError('Specifying --hostname requires --unshare-uts');
  if (f.asPid1 && ns.pid !== 'new') throw new BwrapArgError('Specifying --as-pid-1 requires --unshare-pid');
  if (f.asPid1 && tool.lockFiles.length) throw new BwrapArgError('Specifying --as-pid-1 and --lock-file is not permitted');

  // In a new user namespace bwrap maps the caller to --uid/--gid; in a joined one it switches to them.
  if (newUser) {
    if (f.uid !== undefined) spec.uidMap = f.uid;
    if (f.gid !== undefined) spec.gidMap = f.gid;
  }
  const p = { ...spec.process };
  if (!newUser && f.uid !== undefined && f.uid !== ids.uid) p.uid = f.uid;
  if (!newUser && f.gid !== undefined && f.gid !== ids.gid) p.gid = f.gid;
  if (f.hostname !== undefined) spec.hostname = f.hostname;
  if (f.chdir !== undefined) p.cwd = f.chdir;
  if (f.env) {
    if (f.env.clear) {
      p.clearEnv = true;
      p.env = {};
      p.unsetEnv = [];
    }
    p.env = { ...p.env, ...f.env.set };
    p.unsetEnv = [...new Set([...(p.unsetEnv ?? []).filter((n) => !(n in f.env!.set)), ...f.env.unset])];
    for (const n of p.unsetEnv) delete p.env[n];
    if (!Object.keys(p.env).length) delete p.env;
    if (!p.unsetEnv.length) delete p.unsetEnv;
  }
  if (f.syncFd !== undefined) p.keepFds = [...new Set([...(p.keepFds ?? []), f.syncFd])];
  if (f.newSession) p.newSession = true;
  if (f.dieWithParent) p.dieWithParent = true;
  if (f.asPid1) p.asPid1 = true;
  if (Object.keys(p).length) spec.process = p;

  if (f.mounts.length) spec.filesystem = { ...spec.filesystem, mounts: [...(spec.filesystem?.mounts ?? []), ...f.mounts] };

  const sec = { ...spec.security };
  if (f.capAdd.length) sec.capAdd = [...(sec.capAdd ?? []), ...f.capAdd];
  if (f.capDrop.length) sec.capDrop = [...(sec.capDrop ?? []), ...f.capDrop];
  const filters = f.seccompFd !== undefined ? [f.seccompFd] : f.addSeccompFds;
  if (filters.length) sec.seccompFilters = [...(sec.seccompFilters ?? []), ...filters];
  if (f.seccompDeny.length || f.seccompAllow.length || f.seccompDefault || f.disableUserns) {
    const s = { ...sec.seccomp };
    if (f.seccompDefault) s.profile = 'default';
    if (f.seccompDeny.length) s.deny = [...(s.deny ?? []), ...f.seccompDeny];
    if (f.seccompAllow.length) s.allow = [...(s.allow ?? []), ...f.seccompAllow];
    // --disable-userns: bwrap caps the count of user namespaces; here a filter refuses new ones.
    if (f.disableUserns) s.rules = [...(s.rules ?? []), ...NO_NEW_USERNS];
    sec.seccomp = s;
  }
  if (f.landlockRo.length || f.landlockRw.length) {
    sec.landlock = {
      ro: [...(sec.landlock?.ro ?? []), ...f.landlockRo],
      rw: [...(sec.landlock?.rw ?? []), ...f.landlockRw],
    };
  }
  if (Object.keys(sec).length) spec.security = sec;
  if (Object.keys(f.limits).length) spec.limits = { ...spec.limits, ...f.limits, ...(f.limits.rlimits ? { rlimits: { ...spec.limits?.rlimits, ...f.limits.rlimits } } : {}) };
  return spec;
}

/**
 * The bwrap command line that makes `spec`, where bwrap can: undefined when the spec asks
 * for what bwrap has no flag for (limits, policies by name, another root, joined
 * namespaces by path, veth networks...).
 */
export function toBwrapArgs(spec: SandboxSpec, command: readonly string[]): string[] | undefined {
  const out: string[] = [];
  const fs = spec.filesystem ?? {};
  if ((fs.root ?? 'tmpfs') !== 'tmpfs' || fs.maskedPaths || fs.readonlyPaths || fs.propagation || spec.limits || spec.sysctl || spec.devices || spec.hooks || spec.domainname) return undefined;
  const ns = spec.namespaces ?? Object.fromEntries(['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup'].map((k) => [k, 'new']));
  for (const [kind, how] of Object.entries(ns)) {
    if (kind === 'mount' || kind === 'time') {
      if ((kind === 'mount' && how !== 'new') || (kind === 'time' && how !== 'host')) return undefined;
    } else if (how === 'new') {
      if (kind !== 'net' || spec.network?.mode !== 'host') out.push(`--unshare-${kind}`);
    } else if (typeof how === 'object') {
      if (!('fd' in how) || (kind !== 'user' && kind !== 'pid')) return undefined;
      out.push(kind === 'user' ? '--userns' : '--pidns', String(how.fd));
    }
  }
  const net = spec.network?.mode;
  if (net === 'veth' || net === 'ns') return undefined;
  if (net === 'none' && !out.includes('--unshare-net')) out.push('--unshare-net');
  const ids = (m: SandboxSpec['uidMap'], flag: string) => {
    if (typeof m === 'number') out.push(flag, String(m));
    return m === undefined || m === 'current' || typeof m === 'number';
  };
  if (!ids(spec.uidMap, '--uid') || !ids(spec.gidMap, '--gid')) return undefined;
  if (spec.hostname !== undefined) out.push('--hostname', spec.hostname);
  const p = spec.process ?? {};
  if (p.args && command.length === 0) command = p.args;
  if (p.uid !== undefined) out.push('--uid', String(p.uid));
  if (p.gid !== undefined) out.push('--gid', String(p.gid));
  if (p.groups || p.umask !== undefined || p.oomScoreAdj !== undefined || p.terminal || p.keepFds && p.keepFds.length > 1) return undefined;
  if (p.cwd !== undefined) out.push('--chdir', p.cwd);
  if (p.clearEnv) out.push('--clearenv');
  for (const [k, v] of Object.entries(p.env ?? {})) out.push('--setenv', k, v);
  for (const k of p.unsetEnv ?? []) out.push('--unsetenv', k);
  if (p.keepFds?.length) out.push('--sync-fd', String(p.keepFds[0]));
  if (p.newSession) out.push('--new-session');
  if (p.dieWithParent) out.push('--die-with-parent');
  if (p.asPid1) out.push('--as-pid-1');
  for (const m of fs.mounts ?? []) {
    const mount = bwrapMount(m);
    if (!mount) return undefined;
    out.push(...mount);
  }
  const sec = spec.security ?? {};
  if (sec.capabilities || sec.landlock || sec.apparmorProfile || sec.selinuxLabel || sec.noNewPrivs === false) return undefined;
  if (sec.seccomp) return undefined;
  for (const c of sec.capAdd ?? []) out.push('--cap-add', c);
  for (const c of sec.capDrop ?? []) out.push('--cap-drop', c);
  for (const fd of sec.seccompFilters ?? []) out.push('--add-seccomp-fd', String(fd));
  return [...out, ...(command[0]?.startsWith('-') ? ['--'] : []), ...command];
}

function bwrapMount(m: MountOp): string[] | undefined {
  if ('nosuid' in m || 'nodev' in m || 'noexec' in m) return undefined;
  const perms = (mode: number | undefined) => (mode === undefined ? [] : ['--perms', `0${mode.toString(8)}`]);
  switch (m.type) {
    case 'bind':
      if (m.fd !== undefined) return m.devices || m.try ? undefined : [m.readOnly ? '--ro-bind-fd' : '--bind-fd', String(m.fd), m.dest];
      if (m.source === undefined || (m.devices && m.readOnly)) return undefined;
      return [`--${m.readOnly ? 'ro-' : m.devices ? 'dev-' : ''}bind${m.try ? '-try' : ''}`, m.source, m.dest];
    case 'remount-ro': return ['--remount-ro', m.dest];
    case 'tmpfs':
      // --size takes bytes only; 512M has no bwrap form.
      if (m.size !== undefined && !/^\d+$/.test(String(m.size))) return undefined;
      return [...perms(m.perms), ...(m.size !== undefined ? ['--size', String(m.size)] : []), '--tmpfs', m.dest];
    case 'proc': case 'dev': case 'mqueue': return [`--${m.type}`, m.dest];
    case 'dir': return [...perms(m.perms), '--dir', m.dest];
    case 'symlink': return ['--symlink', m.target, m.dest];
    case 'chmod': return ['--chmod', `0${m.perms.toString(8)}`, m.dest];
    case 'file':
      if (m.fd === undefined) return undefined;
      return [...perms(m.perms), m.bind ? (m.readOnly ? '--ro-bind-data' : '--bind-data') : '--file', String(m.fd), m.dest];
    case 'overlay': {
      const srcs = m.lower.flatMap((l) => ['--overlay-src', l]);
      if (m.tmp) return [...srcs, '--tmp-overlay', m.dest];
      if (m.readOnly) return [...srcs, '--ro-overlay', m.dest];
      return m.upper && m.work ? [...srcs, '--overlay', m.upper, m.work, m.dest] : undefined;
    }
    case 'mount': return undefined;
  }
}
