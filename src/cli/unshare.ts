// ts-unshare: util-linux unshare(1) on the tsns spawn API.
import { runProgram } from './run.js';
import { program, runTool, applyExplain, takeOptionalValues, ToolError } from './common.js';
import { NAMESPACES, type NamespaceKind } from '../sys/ns.js';
import type { IdMap, IdRange, Propagation, SpawnSpec } from '../spawn/spec.js';
import { lookupGroup, lookupUser, parseId, passwdEntry } from './ids.js';

const OPTIONAL_VALUES: Record<string, string> = {
  ...Object.fromEntries(NAMESPACES.map((n) => [n.long, ''])),
  'kill-child': '',
  'mount-proc': '',
};

interface Options {
  explain?: boolean;
  fork?: boolean;
  forwardSignals?: boolean;
  killChild?: boolean;
  mountProc?: boolean;
  mapUser?: string;
  mapGroup?: string;
  mapUsers?: string;
  mapGroups?: string;
  mapRootUser?: boolean;
  mapCurrentUser?: boolean;
  mapAuto?: boolean;
  propagation?: string;
  setgroups?: string;
  keepCaps?: boolean;
  root?: string;
  wd?: string;
  setuid?: string;
  setgid?: string;
  monotonic?: string;
  boottime?: string;
  [kind: string]: unknown;
}

function parseRange(s: string): IdRange {
  const parts = s.split(',');
  if (parts.length > 3) throw new ToolError(`too many elements for mapping '${s}'`);
  if (parts.length < 3) throw new ToolError(`mapping '${s}' contains only ${parts.length} elements`);
  const [outside, inside, count] = parts.map((p) => parseId(p, 'could not parse ID'));
  return { inside, outside, count };
}

function parseOffset(s: string, what: string): number {
  if (!/^-?\d+$/.test(s)) throw new ToolError(`failed to parse ${what} offset: '${s}'`);
  return Number(s);
}

async function main(): Promise<number> {
  const { argv, values } = takeOptionalValues(process.argv.slice(2), OPTIONAL_VALUES);
  const cmd = program('ts-unshare', 'Run a program with some namespaces unshared from the parent.')
    .usage('[options] [<program> [<argument>...]]')
    .argument('[program...]');
  for (const n of NAMESPACES) cmd.option(`-${n.short}, --${n.long}`, `unshare ${n.kind} namespace (--${n.long}=<file> keeps it)`);
  cmd
    .option('-f, --fork', 'fork before launching <program>')
    .option('--forward-signals', 'forward SIGINT, SIGTERM and SIGHUP to the forked child (with --fork)')
    .option('--map-user <uid>', 'map current user to uid (implies --user)')
    .option('--map-group <gid>', 'map current group to gid (implies --user)')
    .option('-r, --map-root-user', 'map current user to root (implies --user)')
    .option('-c, --map-current-user', 'map current user to itself (implies --user)')
    .option('--map-auto', 'map users and groups automatically (implies --user)')
    .option('--map-users <outeruid,inneruid,count>', 'map count users from outeruid to inneruid (implies --user)')
    .option('--map-groups <outergid,innergid,count>', 'map count groups from outergid to innergid (implies --user)')
    .option('--kill-child', 'when dying, kill the forked child (implies --fork); --kill-child=<signame>, default SIGKILL')
    .option('--mount-proc', 'mount proc filesystem first (implies --mount); --mount-proc=<dir>')
    .option('--propagation <slave|shared|private|unchanged>', 'modify mount propagation in mount namespace')
    .option('--setgroups <allow|deny>', 'control the setgroups syscall in user namespaces')
    .option('--keep-caps', 'retain capabilities granted in user namespaces')
    .option('-R, --root <dir>', 'run the command with root directory set to <dir>')
    .option('-w, --wd <dir>', 'change working directory to <dir>')
    .option('-S, --setuid <uid>', 'set uid in entered namespace')
    .option('-G, --setgid <gid>', 'set gid in entered namespace')
    .option('--monotonic <offset>', 'set clock monotonic offset (seconds) in time namespaces')
    .option('--boottime <offset>', 'set clock boottime offset (seconds) in time namespaces');
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);

  const kinds = new Set<NamespaceKind>();
  const persist: Partial<Record<NamespaceKind, string>> = {};
  for (const n of NAMESPACES) {
    if (o[n.long.replace(/-(.)/g, (_, c: string) => c.toUpperCase())]) kinds.add(n.kind);
    const file = values.get(n.long);
    if (file !== undefined) persist[n.kind] = file;
  }
  const spec: SpawnSpec = { persist };
  let fork = Boolean(o.fork);
  let deathSignal: string | undefined;
  if (o.killChild) {
    fork = true;
    deathSignal = values.get('kill-child') ?? 'SIGKILL';
  }
  if (o.mountProc) {
    kinds.add('mount');
    spec.mountProc = values.get('mount-proc') ?? true;
  }
  const me = { uid: process.geteuid!(), gid: process.getegid!() };
  let uidMap: IdMap | undefined, gidMap: IdMap | undefined;
  let uidRanges: IdRange[] | undefined, gidRanges: IdRange[] | undefined;
  if (o.mapUser !== undefined) uidMap = lookupUser(o.mapUser, 'failed to parse uid');
  if (o.mapGroup !== undefined) gidMap = lookupGroup(o.mapGroup, 'failed to parse gid');
  if (o.mapRootUser) { uidMap = 'root'; gidMap = 'root'; }
  if (o.mapCurrentUser) { uidMap = 'current'; gidMap = 'current'; }
  const { subidRange, mapLines } = await import('../spawn/idmap.js');
  const userName = () => {
    const pw = passwdEntry(me.uid);
    if (!pw) throw new ToolError(`you (user ${me.uid}) don't exist.`);
    return { name: pw.name, uid: me.uid };
  };
  if (o.mapUsers !== undefined) uidRanges = [o.mapUsers === 'auto' ? subidRange('/etc/subuid', userName()) : parseRange(o.mapUsers)];
  if (o.mapGroups !== undefined) gidRanges = [o.mapGroups === 'auto' ? subidRange('/etc/subgid', userName()) : parseRange(o.mapGroups)];
  if (o.mapAuto) {
    uidRanges = [subidRange('/etc/subuid', userName())];
    gidRanges = [subidRange('/etc/subgid', userName())];
  }
  if (uidMap !== undefined || gidMap !== undefined || uidRanges || gidRanges) kinds.add('user');
  // Ranges are written by us; the caller's own id, if also asked for, joins them.
  const single = (map: IdMap | undefined, own: number) =>
    map === undefined || Array.isArray(map) ? undefined : { inside: map === 'root' ? 0 : map === 'current' ? own : map, outside: own };
  spec.uidMap = uidRanges ? mapLines(uidRanges, single(uidMap, me.uid)) : uidMap;
  spec.gidMap = gidRanges ? mapLines(gidRanges, single(gidMap, me.gid)) : gidMap;

  if (o.setgroups !== undefined) {
    if (o.setgroups !== 'allow' && o.setgroups !== 'deny') throw new ToolError(`unsupported --setgroups argument '${o.setgroups}'`);
    spec.setgroups = o.setgroups;
  }
  if (o.propagation !== undefined) {
    if (!['slave', 'shared', 'private', 'unchanged'].includes(o.propagation)) throw new ToolError(`unsupported propagation mode: ${o.propagation}`);
    spec.propagation = o.propagation as Propagation;
  }
  if (o.setuid !== undefined) spec.uid = parseId(o.setuid, 'failed to parse uid');
  if (o.setgid !== undefined) spec.gid = parseId(o.setgid, 'failed to parse gid');
  if (o.monotonic !== undefined || o.boottime !== undefined) {
    if (!kinds.has('time')) throw new ToolError('options --monotonic and --boottime require unsharing of a time namespace (-t)');
    spec.timeOffsets = {
      monotonic: o.monotonic === undefined ? undefined : parseOffset(o.monotonic, 'monotonic'),
      boottime: o.boottime === undefined ? undefined : parseOffset(o.boottime, 'boottime'),
    };
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
