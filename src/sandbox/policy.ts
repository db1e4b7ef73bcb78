// The sandbox's policies as plan steps. policySteps (SpawnSpec.finalSteps) run after the
// ids, capDrop's capset, no_new_privs and setsid: umask and rlimits, OCI's five capability
// sets. securitySteps (SpawnSpec.securitySteps): the seccomp filter, which follows
// Landlock's restriction (SpawnSpec.landlock, landlock.ts). src/spawn/steps.ts places both
// last of all with no_new_privs (the default), so that no step of ours has to pass the
// filter, and else before the capabilities and ids change, while the child still has the
// CAP_SYS_ADMIN both need then (runc's order).
import type { Step } from '../native/plan.js';
import { capLastCap, maskOfCaps, parseCap } from '../sys/caps.js';
import { PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAPBSET_DROP } from '../sys/prctl.js';
import { resolveCapDrop } from './caps.js';
import { seccompStep } from './seccomp.js';
import { RLIMITS, SpecError, type SandboxSpec } from './spec.js';

/** RLIMIT_* numbers of <sys/resource.h>, by the spec's names. */
const RLIMIT: Record<(typeof RLIMITS)[number], number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9,
  locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

const limit = (v: number | 'unlimited') => (v === 'unlimited' ? -1 : v);

/** Capability numbers from a list of names ("ALL" is every one), or a SpecError naming the entry. */
function capList(names: readonly string[], field: string): number[] {
  const all = Array.from({ length: capLastCap() + 1 }, (_, i) => i);
  return names.flatMap((name, k) => {
    if (name.toUpperCase() === 'ALL') return all;
    try {
      return [parseCap(name)];
    } catch {
      throw new SpecError(`${field}[${k}]`, `unknown capability '${name}'`);
    }
  });
}

type Security = NonNullable<SandboxSpec['security']>;

/**
 * capDrop and capAdd (ts-reducecap's names) as SpawnSpec.dropCaps: dropped from all five
 * sets of what the sandbox would have (in a new user namespace, every capability); capAdd
 * keeps what capDrop would take ("ALL" then "NET_BIND_SERVICE"), as reducecap's --keep.
 */
export function dropCapsOf(spec: SandboxSpec): number[] | undefined {
  const s = spec.security;
  if (!s?.capDrop?.length) return undefined;
  capList(s.capDrop, 'security.capDrop');
  capList(s.capAdd ?? [], 'security.capAdd');
  return resolveCapDrop({ cap: s.capDrop, keep: s.capAdd });
}

/**
 * OCI's five sets, exactly (a set left out is empty): the bounding set first (dropping
 * needs CAP_SETPCAP, which the capset may take away), then effective, permitted and
 * inheritable, then the ambient ones, which must be permitted and inheritable already.
 * With no_new_privs an exec keeps the permitted set within these; root's effective set
 * becomes its permitted one there, as under runc.
 */
function capabilitySteps(sets: NonNullable<Security['capabilities']>): Step[] {
  const f = 'security.capabilities';
  const bounding = new Set(capList(sets.bounding ?? [], `${f}.bounding`));
  const steps: Step[] = [];
  for (let cap = 0; cap <= capLastCap(); cap++) {
    if (!bounding.has(cap)) steps.push({ op: 'prctl', option: PR_CAPBSET_DROP, arg2: cap });
  }
  steps.push({
    op: 'capset',
    sets: {
      effective: maskOfCaps(capList(sets.effective ?? [], `${f}.effective`)),
      permitted: maskOfCaps(capList(sets.permitted ?? [], `${f}.permitted`)),
      inheritable: maskOfCaps(capList(sets.inheritable ?? [], `${f}.inheritable`)),
    },
  });
  for (const cap of new Set(capList(sets.ambient ?? [], `${f}.ambient`))) {
    steps.push({ op: 'prctl', option: PR_CAP_AMBIENT, arg2: PR_CAP_AMBIENT_RAISE, arg3: cap });
  }
  return steps;
}

export function policySteps(spec: SandboxSpec): Step[] {
  const steps: Step[] = [];
  const sec = spec.security;
  if (spec.process?.umask !== undefined) steps.push({ op: 'umask', mask: spec.process.umask });
  for (const [name, l] of Object.entries(spec.limits?.rlimits ?? {}) as [keyof typeof RLIMIT, { soft: number | 'unlimited'; hard: number | 'unlimited' }][]) {
    steps.push({ op: 'setrlimit', resource: RLIMIT[name], soft: limit(l.soft), hard: limit(l.hard) });
  }
  if (sec?.capabilities) {
    if (sec.capAdd?.length || sec.capDrop?.length) throw new SpecError('security.capabilities', 'the five sets are exact: leave capAdd and capDrop out');
    steps.push(...capabilitySteps(sec.capabilities));
  }
  return steps;
}

/** The seccomp filter's step (Landlock's, which go before it, are SpawnSpec.landlock: compile.ts). */
export function securitySteps(spec: SandboxSpec): Step[] {
  const sec = spec.security;
  const filter = sec?.seccomp && seccompStep(sec.seccomp, 'security.seccomp', sec.noNewPrivs === false);
  return filter ? [filter] : [];
}
