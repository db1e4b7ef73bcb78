// The sandbox's policies as the last plan steps before the exec (SpawnSpec.finalSteps):
// umask and rlimits.
import type { Step } from '../native/plan.js';
import { RLIMITS, type SandboxSpec } from './spec.js';

/** RLIMIT_* numbers of <sys/resource.h>, by the spec's names. */
const RLIMIT: Record<(typeof RLIMITS)[number], number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9,
  locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

const limit = (v: number | 'unlimited') => (v === 'unlimited' ? -1 : v);

export function policySteps(spec: SandboxSpec): Step[] {
  const steps: Step[] = [];
  if (spec.process?.umask !== undefined) steps.push({ op: 'umask', mask: spec.process.umask });
  for (const [name, l] of Object.entries(spec.limits?.rlimits ?? {}) as [keyof typeof RLIMIT, { soft: number | 'unlimited'; hard: number | 'unlimited' }][]) {
    steps.push({ op: 'setrlimit', resource: RLIMIT[name], soft: limit(l.soft), hard: limit(l.hard) });
  }
  return steps;
}
