// A SandboxSpec becomes what spawn() and the tools' stage run: a SpawnSpec whose root is
// built by compiled steps (filesystem.ts), whose last steps are the policies and whose
// security steps are placed by no_new_privs (policy.ts), plus what must exist around the
// process (its cgroup limits, limits.ts).
// Policy lives here and in those modules; the stage only performs the steps.
import { NAMESPACES, type NamespaceKind } from '../sys/ns.js';
import type { IdMap, JoinTarget, SpawnSpec } from '../spawn/spec.js';
import { idToTake } from '../spawn/idmap.js';
import type { Step } from '../native/plan.js';
import type { SandboxSpec } from './spec.js';
import { filesystemSteps } from './filesystem.js';
import { dropCapsOf, policySteps, securitySteps } from './policy.js';
import { landlockRules } from './landlock.js';

/** Namespaces a sandbox gets when its spec names none: all but time, as bwrap --unshare-all. */
export const DEFAULT_NAMESPACES: readonly NamespaceKind[] = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup'];

export interface Compiled {
  spawn: SpawnSpec;
  /** The program to run. */
  argv: string[];
}

function namespaces(spec: SandboxSpec): { fresh: NamespaceKind[]; join: JoinTarget[] } {
  const given = spec.namespaces;
  let fresh: NamespaceKind[] = [];
  const join: JoinTarget[] = [];
  for (const { kind } of NAMESPACES) {
    const how = given ? given[kind] ?? 'host' : DEFAULT_NAMESPACES.includes(kind) ? 'new' : 'host';
    if (how === 'new') fresh.push(kind);
    else if (typeof how === 'object') join.push({ kind, path: 'path' in how ? how.path : `/proc/self/fd/${how.fd}` });
  }
  // The network setting wins over the namespace table: none and veth need a new one.
  const net = spec.network?.mode;
  if ((net === 'none' || net === 'veth') && !fresh.includes('net')) fresh.push('net');
  if (net === 'host' || net === 'ns') fresh = fresh.filter((k) => k !== 'net');
  if (net === 'ns') join.push({ kind: 'net', path: (spec.network as { path: string }).path });
  return { fresh, join };
}

/** The caller's environment as it is now: each read of process.env crosses into C++. */
function callerEnvironment(): Record<string, string | undefined> {
  // Keys, then one get each: a spread also asks each key's descriptor (twice the crossings).
  const from = process.env;
  const env: Record<string, string | undefined> = {};
  for (const name of Object.keys(from)) env[name] = from[name];
  return env;
}

/** The environment: the caller's, or none (clearEnv), then set, then unset. */
function environment(p: SandboxSpec['process']): Record<string, string | undefined> {
  const env = p?.clearEnv ? {} : callerEnvironment();
  Object.assign(env, p?.env ?? {});
  for (const name of p?.unsetEnv ?? []) delete env[name];
  return env;
}

/**
 * Id-map ranges that leave the caller's own ids out (newuidmap's 0 -> 100000) make the
 * child the overflow ids inside, and a file it makes on a filesystem of its own (the
 * staging tmpfs of its root) cannot be owned: EOVERFLOW. So it takes mapped ids before
 * building its root, as runc's nsexec becomes root in the namespace; process.uid and gid
 * still apply after. (ts-unshare leaves the overflow ids, as util-linux does.)
 */
function mappedIdSteps(spec: SandboxSpec, newUser: boolean): Step[] {
  if (!newUser) return [];
  const steps: Step[] = [];
  const gid = Array.isArray(spec.gidMap) ? idToTake(spec.gidMap, process.getegid!()) : undefined;
  const uid = Array.isArray(spec.uidMap) ? idToTake(spec.uidMap, process.geteuid!()) : undefined;
  if (gid !== undefined) steps.push({ op: 'setgid', gid });
  if (uid !== undefined) steps.push({ op: 'setuid', uid });
  return steps;
}

/**
 * Compile `spec` (already checked by parseSpec) for `argv` (the spec's process.args when
 * empty). Throws a SpecError for what the schema cannot see (paths that must exist, names
 * this kernel lacks).
 */
export function compile(spec: SandboxSpec, argv: readonly string[] = []): Compiled {
  const { fresh, join } = namespaces(spec);
  const p = spec.process ?? {};
  const newUser = fresh.includes('user');
  // In a new user namespace the caller's ids map to themselves unless the spec says otherwise.
  const idMap = (m: IdMap | undefined): IdMap | undefined => (m !== undefined ? m : newUser ? 'current' : undefined);
  const spawn: SpawnSpec = {
    namespaces: fresh,
    join: join.length ? join : undefined,
    forkAfterJoin: join.some((t) => t.kind === 'pid') || undefined,
    uidMap: idMap(spec.uidMap as IdMap | undefined),
    gidMap: idMap(spec.gidMap as IdMap | undefined),
    hostname: spec.hostname,
    domainname: spec.domainname,
    rootSteps: fresh.includes('mount') ? [...mappedIdSteps(spec, newUser), ...filesystemSteps(spec, fresh)] : undefined,
    finalSteps: policySteps(spec),
    landlock: spec.security?.landlock && landlockRules(spec.security.landlock),
    securitySteps: securitySteps(spec),
    cwd: undefined,
    cwdInside: p.cwd,
    uid: p.uid,
    gid: p.gid,
    groups: p.groups,
    dropCaps: dropCapsOf(spec),
    noNewPrivs: spec.security?.noNewPrivs ?? true,
    setsid: p.newSession,
    deathSignal: p.dieWithParent ? 'SIGKILL' : undefined,
    env: environment(p),
  };
  const program = argv.length ? [...argv] : [...(p.args ?? [])];
  return { spawn, argv: program };
}
