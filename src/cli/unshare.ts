// ts-unshare: util-linux unshare(1) on the tsns spawn API.
import { runProgram } from './run.js';
import { program, runTool, applyExplain, repeatable, takeOptionalValues, ToolError } from './common.js';
import { NAMESPACES, type NamespaceKind } from '../sys/ns.js';
import type { IdMap, IdRange, Propagation, SpawnSpec } from '../spawn/spec.js';
import { readFileSync } from 'node:fs';
import { lookupGroup, lookupUser, MAX_ID, passwdEntry, setIdNumber, strtoul } from './ids.js';
import { reasonOf } from '../sys/errors.js';

const OPTIONAL_VALUES: Record<string, string> = {
  ...Object.fromEntries(NAMESPACES.map((n) => [n.long, ''])),
  'kill-child': '',
  'mount-proc': '',
  'mount-binfmt': '',
};

/** A --map-users/--map-groups value: a range, or one of the words util-linux reads. */
type RangeArg = IdRange | 'auto' | 'subids' | 'all';

interface Options {
  explain?: boolean;
  fork?: boolean;
  forwardSignals?: boolean;
  killChild?: boolean;
  mountProc?: boolean;
  mapUser?: number;
  mapGroup?: number;
  mapUsers?: RangeArg[];
  mapGroups?: RangeArg[];
  mapSubids?: boolean;
  owner?: { uid: number; gid: number };
  mountBinfmt?: boolean;
  loadInterp?: string;
  clearEnv?: boolean;
  whitelistEnv?: string[];
  mapRootUser?: boolean;
  mapCurrentUser?: boolean;
  mapAuto?: boolean;
  propagation?: string;
  setgroups?: string;
  keepCaps?: boolean;
  root?: string;
  wd?: string;
  setuid?: bigint;
  setgid?: bigint;
  monotonic?: number;
  boottime?: number;
  [kind: string]: unknown;
}

/**
 * OUTER,INNER,COUNT as util-linux reads it, element by element: an empty element, a
 * fourth, or one that is (uid_t)-1 ends it as "too many elements". A number util-linux
 * would truncate to 32 bits (4294967296 became 0), or a range past the last id, is refused.
 */
function parseRange(s: string): IdRange {
  const parts = s.split(',');
  const ids = parts.map((p, k) => {
    if (k >= 3 || p === '') throw new ToolError(`too many elements for mapping '${s}'`);
    const n = strtoul(p, 'could not parse ID');
    if ((n & 0xffffffffn) === 0xffffffffn) throw new ToolError(`too many elements for mapping '${s}'`);
    if (n > BigInt(MAX_ID)) throw new ToolError(`could not parse ID: '${p}': Numerical result out of range`);
    return Number(n);
  });
  if (ids.length < 3) throw new ToolError(`mapping '${s}' contains only ${ids.length} elements`);
  const [outside, inside, count] = ids;
  if (count === 0 || outside + count - 1 > MAX_ID || inside + count - 1 > MAX_ID) throw new ToolError(`invalid mapping '${s}': ${count === 0 ? 'no ids' : 'the range passes the last id, 4294967294'}`);
  return { inside, outside, count };
}

/**
 * INNER:OUTER:COUNT, util-linux 2.39's order (that of uid_map), where a colon is given;
 * otherwise the 2.38 form OUTER,INNER,COUNT, read (and refused) as 2.38 reads it.
 */
function parseRangeArg(s: string, previous: RangeArg[] = []): RangeArg[] {
  if (s === 'auto' || s === 'subids' || s === 'all') return [...previous, s];
  if (!s.includes(':')) return [...previous, parseRange(s)];
  const m = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(s);
  const [inside, outside, count] = m ? m.slice(1).map(Number) : [];
  if (!m || count === 0 || outside + count - 1 > MAX_ID || inside + count - 1 > MAX_ID) throw new ToolError(`invalid mapping '${s}'`);
  return [...previous, { inside, outside, count }];
}

/** UID:GID of --owner; (uid_t)-1 would mean "no owner" to util-linux, so it is no id here either. */
function parseOwner(s: string): { uid: number; gid: number } {
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(s);
  if (!m || Number(m[1]) > MAX_ID || Number(m[2]) > MAX_ID) throw new ToolError('failed to parse owner');
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** Every id the caller's own namespace maps, one to one (--map-users=all), from its uid_map or gid_map. */
function passThrough(file: '/proc/self/uid_map' | '/proc/self/gid_map'): IdRange[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ToolError(`could not open '${file}': ${reasonOf(err)}`);
  }
  return text.split('\n').map((l) => l.trim().split(/\s+/).map(Number)).filter((f) => f.length === 3 && f.every(Number.isInteger))
    .map(([start, , count]) => ({ inside: start, outside: start, count }));
}

/** A uid_map/gid_map whose lines overlap inside or outside is refused by the kernel (EINVAL): say which. */
function checkOverlap(lines: readonly IdRange[], option: string): void {
  for (let a = 0; a < lines.length; a++) {
    for (let b = a + 1; b < lines.length; b++) {
      for (const side of ['inside', 'outside'] as const) {
        const [x, y] = [lines[a], lines[b]];
        if (x[side] < y[side] + y.count && y[side] < x[side] + x.count) {
          throw new ToolError(`${option}: the ids ${x.outside}-${x.outside + x.count - 1} -> ${x.inside}-${x.inside + x.count - 1} and ${y.outside}-${y.outside + y.count - 1} -> ${y.inside}-${y.inside + y.count - 1} overlap ${side} the namespace`);
        }
      }
    }
  }
}

/** strtos64_or_err, as util-linux reads a clock offset. */
function parseOffset(s: string, what: string): number {
  const m = /^[\t\n\v\f\r ]*[+-]?\d+$/.exec(s);
  if (!m) throw new ToolError(`failed to parse ${what} offset: '${s}'`);
  const n = BigInt(s.trim());
  if (n > 2n ** 63n - 1n || n < -(2n ** 63n)) throw new ToolError(`failed to parse ${what} offset: '${s}': Numerical result out of range`);
  return Number(n);
}

async function main(): Promise<number> {
  const cmd = program('ts-unshare', 'Run a program with some namespaces unshared from the parent.')
    .usage('[options] [<program> [<argument>...]]')
    .argument('[program...]');
  for (const n of NAMESPACES) cmd.option(`-${n.short}, --${n.long}`, `unshare ${n.kind} namespace (--${n.long}=<file> keeps it)`);
  cmd
    .option('-f, --fork', 'fork before launching <program>')
    .option('--forward-signals', 'forward SIGTERM, SIGINT and SIGHUP to child (implies --fork)')
    .option('--map-user <uid>', 'map current user to uid (implies --user)', (v) => lookupUser(v, 'failed to parse uid'))
    .option('--map-group <gid>', 'map current group to gid (implies --user)', (v) => lookupGroup(v, 'failed to parse gid'))
    .option('-r, --map-root-user', 'map current user to root (implies --user)')
    .option('-c, --map-current-user', 'map current user to itself (implies --user)')
    .option('--map-auto', 'map users and groups automatically (implies --user)')
    .option('--map-subids', 'map the first block of user IDs owned by euid (implies --user)')
    .option('--map-users <inneruid:outeruid:count>', 'map count users from outeruid to inneruid (implies --user); also auto, subids, all; repeatable', parseRangeArg)
    .option('--map-groups <innergid:outergid:count>', 'map count groups from outergid to innergid (implies --user); also auto, subids, all; repeatable', parseRangeArg)
    .option('--owner <uid:gid>', 'set the user namespace owner (implies --user)', parseOwner)
    .option('--kill-child', 'when dying, kill the forked child (implies --fork); --kill-child=<signame>, default SIGKILL')
    .option('--mount-proc', 'mount proc filesystem first (implies --mount); --mount-proc=<dir>')
    .option('--mount-binfmt', 'mount binfmt filesystem first (implies --user and --mount); --mount-binfmt=<dir>')
    .option('-l, --load-interp <definition>', 'load binfmt definition in the namespace (implies --mount-binfmt)')
    .option('--propagation <slave|shared|private|unchanged>', 'modify mount propagation in mount namespace', (v) => {
      if (!['slave', 'shared', 'private', 'unchanged'].includes(v)) throw new ToolError(`unsupported propagation mode: ${v}`);
      return v;
    })
    .option('--setgroups <allow|deny>', 'control the setgroups syscall in user namespaces', (v) => {
      if (v !== 'allow' && v !== 'deny') throw new ToolError(`unsupported --setgroups argument '${v}'`);
      return v;
    })
    .option('--keep-caps', 'retain capabilities granted in user namespaces')
    .option('-R, --root <dir>', 'run the command with root directory set to <dir>')
    .option('-w, --wd <dir>', 'change working directory to <dir>')
    .option('-S, --setuid <uid>', 'set uid in entered namespace', (v) => strtoul(v, 'failed to parse uid'))
    .option('-G, --setgid <gid>', 'set gid in entered namespace', (v) => strtoul(v, 'failed to parse gid'))
    .option('--monotonic <offset>', 'set clock monotonic offset (seconds) in time namespaces', (v) => parseOffset(v, 'monotonic'))
    .option('--boottime <offset>', 'set clock boottime offset (seconds) in time namespaces', (v) => parseOffset(v, 'boottime'))
    .option('--clear-env', 'do not inherit environment variables from the calling process')
    .option('--whitelist-env <list>', 'clear environment except for specified variables (comma-separated; repeatable)', repeatable);
  // Options whose value is the next argument: takeOptionalValues must step over it.
  const takesValue = cmd.options.filter((opt) => opt.required).flatMap((opt) => [opt.short, opt.long]).filter((f): f is string => f !== undefined);
  const longs = [...cmd.options.flatMap((opt) => (opt.long ? [opt.long] : [])), '--help'];
  const { argv, values } = takeOptionalValues(process.argv.slice(2), OPTIONAL_VALUES, takesValue, longs);
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);

  const kinds = new Set<NamespaceKind>();
  const persist: Partial<Record<NamespaceKind, string>> = {};
  for (const n of NAMESPACES) {
    if (o[n.long.replace(/-(.)/g, (_, c: string) => c.toUpperCase())]) kinds.add(n.kind);
    const file = values.get(n.long);
    // util-linux's bind mount fails on an empty name (we would try to make the file).
    if (file === '') throw new ToolError(`mount /proc/self/ns/${n.file} on  failed: No such file or directory`);
    if (file !== undefined) persist[n.kind] = file;
  }
  const spec: SpawnSpec = { persist };
  // --forward-signals implies --fork, as in util-linux master
  let fork = Boolean(o.fork || o.forwardSignals);
  let deathSignal: string | undefined;
  if (o.killChild) {
    fork = true;
    deathSignal = values.get('kill-child') ?? 'SIGKILL';
  }
  if (o.mountProc) {
    kinds.add('mount');
    spec.mountProc = values.get('mount-proc') ?? true;
    if (spec.mountProc === '') throw new ToolError('mount  failed: No such file or directory');
  }
  // binfmt_misc has an instance per user namespace (Linux 6.7): both are implied. At the
  // default place, under /proc/sys, it needs a /proc of the new namespaces too.
  if (o.mountBinfmt || o.loadInterp !== undefined) {
    kinds.add('mount');
    kinds.add('user');
    const dir = values.get('mount-binfmt');
    if (dir === '') throw new ToolError('mount  failed: No such file or directory');
    spec.mountBinfmt = dir ?? true;
    if (dir === undefined) spec.mountProc ??= true;
    if (o.loadInterp !== undefined) spec.binfmtRegister = o.loadInterp;
  }
  const me = { uid: process.geteuid!(), gid: process.getegid!() };
  let uidMap: IdMap | undefined, gidMap: IdMap | undefined;
  let uidRanges: IdRange[] | undefined, gidRanges: IdRange[] | undefined;
  if (o.mapUser !== undefined) uidMap = o.mapUser;
  if (o.mapGroup !== undefined) gidMap = o.mapGroup;
  if (o.mapRootUser) { uidMap = 'root'; gidMap = 'root'; }
  if (o.mapCurrentUser) { uidMap = 'current'; gidMap = 'current'; }
  const { subidRange, mapLines } = await import('../spawn/idmap.js');
  const userName = () => {
    const pw = passwdEntry(me.uid);
    if (!pw) throw new ToolError(`you (user ${me.uid}) don't exist.`);
    return { name: pw.name, uid: me.uid };
  };
  const ranges = (args: RangeArg[], which: 'uid' | 'gid') => args.flatMap((a) => {
    if (a === 'all') return passThrough(`/proc/self/${which}_map`);
    if (a === 'auto' || a === 'subids') return [subidRange(`/etc/sub${which}`, userName(), a === 'subids')];
    return [a];
  });
  if (o.mapUsers !== undefined) uidRanges = ranges(o.mapUsers, 'uid');
  if (o.mapGroups !== undefined) gidRanges = ranges(o.mapGroups, 'gid');
  if (o.mapAuto || o.mapSubids) {
    uidRanges = [...(uidRanges ?? []), ...ranges([o.mapSubids ? 'subids' : 'auto'], 'uid')];
    gidRanges = [...(gidRanges ?? []), ...ranges([o.mapSubids ? 'subids' : 'auto'], 'gid')];
  }
  if (o.owner) {
    // The stage takes the owner's ids before it unshares: the map of one id is then
    // written by the planner, which still may, as util-linux's helper does.
    spec.owner = o.owner;
    if (uidMap !== undefined) uidRanges ??= [];
    if (gidMap !== undefined) gidRanges ??= [];
  }
  if (uidMap !== undefined || gidMap !== undefined || uidRanges || gidRanges || o.owner) kinds.add('user');
  // Ranges are written by us; the caller's own id, if also asked for, joins them.
  const single = (map: IdMap | undefined, own: number) =>
    map === undefined || Array.isArray(map) ? undefined : { inside: map === 'root' ? 0 : map === 'current' ? own : map, outside: own };
  spec.uidMap = uidRanges ? mapLines(uidRanges, single(uidMap, me.uid)) : uidMap;
  spec.gidMap = gidRanges ? mapLines(gidRanges, single(gidMap, me.gid)) : gidMap;
  if (Array.isArray(spec.uidMap)) checkOverlap(spec.uidMap, '--map-users');
  if (Array.isArray(spec.gidMap)) checkOverlap(spec.gidMap, '--map-groups');

  if (o.setgroups !== undefined) spec.setgroups = o.setgroups as 'allow' | 'deny';
  if (o.propagation !== undefined) spec.propagation = o.propagation as Propagation;
  // util-linux's order at the end: setgid before setuid.
  if (o.setgid !== undefined) spec.gid = setIdNumber(o.setgid, 'setgid');
  if (o.setuid !== undefined) spec.uid = setIdNumber(o.setuid, 'setuid');
  if (o.monotonic !== undefined || o.boottime !== undefined) {
    if (!kinds.has('time')) throw new ToolError('options --monotonic and --boottime require unsharing of a time namespace (-t)');
    spec.timeOffsets = { monotonic: o.monotonic, boottime: o.boottime };
  }
  if (o.clearEnv || o.whitelistEnv) {
    const names = (o.whitelistEnv ?? []).flatMap((list) => list.split(','));
    spec.env = Object.fromEntries(names.filter((n) => process.env[n] !== undefined).map((n) => [n, process.env[n]]));
  }
  spec.root = o.root;
  spec.cwd = o.wd;
  spec.keepCaps = Boolean(o.keepCaps);
  spec.namespaces = [...kinds];
  // Without --fork the program itself stays outside a new pid namespace; its first child is init.
  spec.pidInit = fork;
  if (deathSignal !== undefined) spec.deathSignal = deathSignal as NodeJS.Signals;

  // Through the stage, the fork is its own step; the parent that stays behaves as
  // util-linux's: it ignores SIGINT and SIGTERM, or passes them on (--forward-signals).
  const { FORK } = await import('../native/plan.js');
  const { signalNumber } = await import('../spawn/steps.js');
  const inPlace = fork
    ? { fork: { mode: o.forwardSignals ? FORK.forward : FORK.blockIntTerm, deathSignal: deathSignal === undefined ? 0 : signalNumber(deathSignal) } }
    : {};
  return runProgram(spec, cmd.args, { inPlace });
}

void runTool('ts-unshare', main);
