// The sandbox's filesystem as plan steps (SpawnSpec.rootSteps): its root and bubblewrap's
// mount operations, in order.
import { MS_NODEV, MS_NOEXEC, MS_NOSUID } from '../sys/mount.js';
import type { NamespaceKind } from '../sys/ns.js';
import type { Step } from '../native/plan.js';
import { SpecError, type SandboxSpec } from './spec.js';

/** The steps that build the root of `spec` in its new mount namespace (`fresh`: its new namespaces). */
export function filesystemSteps(spec: SandboxSpec, fresh: readonly NamespaceKind[]): Step[] {
  const fs = spec.filesystem ?? {};
  const root = fs.root ?? 'host';
  if (root !== 'host') throw new SpecError('filesystem.root', `${JSON.stringify(root)} is not built yet (only 'host')`);
  const steps: Step[] = [];
  // A new pid namespace needs its own /proc, or ps shows the host's processes.
  if (fresh.includes('pid')) steps.push({ op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC });
  return steps;
}
