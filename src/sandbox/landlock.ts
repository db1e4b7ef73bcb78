// The spec's Landlock section: a ruleset that handles every filesystem right this kernel's
// ABI knows, so that only the listed paths (and what lies below them) keep any, made in
// the child from the paths it sees (inside its root) and applied right after, once
// no_new_privs is set (else restrict_self needs CAP_SYS_ADMIN).
import type { Step } from '../native/plan.js';
import { ACCESS_FS, FILE_ACCESS, handledAccess, landlockAbi } from '../sys/landlock.js';
import { SpecError } from './errors.js';
import type { SandboxSpec } from './spec.js';

type LandlockSpec = NonNullable<NonNullable<SandboxSpec['security']>['landlock']>;

/** The ruleset's slot: the last one, as the plan's `open` steps take theirs from 0 upward. */
const SLOT = 63;

/** Read and run: what a read-only path keeps. */
const READ_ONLY = ACCESS_FS.execute | ACCESS_FS.readFile | ACCESS_FS.readDir;

export function landlockSteps(l: LandlockSpec, field = 'security.landlock'): Step[] {
  const abi = landlockAbi();
  if (!abi) throw new SpecError(field, 'this kernel has no Landlock (not built in, or not in its lsm= list)');
  const handled = handledAccess(abi);
  const rules = [
    ...(l.ro ?? []).map((path) => ({ path, access: READ_ONLY })),
    ...(l.rw ?? []).map((path) => ({ path, access: handled })),
  ];
  return [
    { op: 'landlockRuleset', handled, fileAccess: FILE_ACCESS & handled, slot: SLOT, rules },
    { op: 'landlock', fd: -1 - SLOT },
  ];
}
