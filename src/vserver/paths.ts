// Where contexts and vservers keep their records. Each kind has a directory of its own,
// so that no name of one can address a record of the other.
import { join } from 'node:path';

/** $TSNS_RUN_DIR, default /run/tsns. */
export function runDir(): string {
  return process.env.TSNS_RUN_DIR || '/run/tsns';
}

/** The record directory of ts-chcontext's named context NAME. */
export function contextDir(name: string): string {
  return join(runDir(), 'ctx', name);
}

/** Records of anonymous contexts, by the pid of the tool that made them. */
export function anonDir(name: string): string {
  return join(runDir(), 'anon', name);
}

/** The record directory of vserver NAME. */
export function vserverDir(name: string): string {
  return join(runDir(), 'vserver', name);
}

/** The record directory of Sandbox ID (src/sandbox/sandbox.ts). */
export function sandboxDir(id: string): string {
  return join(runDir(), 'sandbox', id);
}
