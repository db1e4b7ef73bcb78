// The spec's Landlock section: a ruleset that handles every filesystem right this kernel's
// ABI knows, so that only the listed paths (and what lies below them) keep any. The paths
// are the sandbox's own (inside its root): spawn() makes the ruleset and adds their rules
// from the parent once the child's root is in place, and the child restricts itself where
// the security steps go (src/spawn/landlock.ts; the tools' stage builds it in the child).
import { ACCESS_FS, FILE_ACCESS, handledAccess, landlockAbi } from '../sys/landlock.js';
import type { LandlockRules } from '../spawn/spec.js';
import { SpecError } from './errors.js';
import type { SandboxSpec } from './spec.js';

type LandlockSpec = NonNullable<NonNullable<SandboxSpec['security']>['landlock']>;

/** Read and run: what a read-only path keeps. */
const READ_ONLY = ACCESS_FS.execute | ACCESS_FS.readFile | ACCESS_FS.readDir;

export function landlockRules(l: LandlockSpec, field = 'security.landlock'): LandlockRules {
  const abi = landlockAbi();
  if (!abi) throw new SpecError(field, 'this kernel has no Landlock (not built in, or not in its lsm= list)');
  const handled = handledAccess(abi);
  return {
    handled,
    fileAccess: FILE_ACCESS & handled,
    rules: [
      ...(l.ro ?? []).map((path) => ({ path, access: READ_ONLY })),
      ...(l.rw ?? []).map((path) => ({ path, access: handled })),
    ],
  };
}
