// A group's removal as plan steps, for the parent a stage's fork leaves waiting: it runs
// them once the program has ended, with no Node process left to do it.
import type { Step } from '../native/plan.js';
import type { Cgroup } from './group.js';

/** Kill what is left in `group` (cgroup.kill: forks included, cgroup2 5.14+), then remove it. */
export function removalSteps(group: Cgroup): Step[] {
  const u = group.unifiedDir;
  return [
    ...(u ? [{ op: 'writeFile', path: `${u}/cgroup.kill`, data: '1' } as Step] : []),
    ...group.dirs.map((path): Step => ({ op: 'remove', path })),
  ];
}
