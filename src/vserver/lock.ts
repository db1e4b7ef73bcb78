// Per-name locks for contexts and vservers: flock(2) on a file under RUN/lock, which the
// kernel releases when its holder dies, so a SIGKILLed tool never leaves a name locked.
// start and stop hold it exclusively; joiners hold it shared until their program runs,
// so that a stop waits for a join in progress but never for a program that runs.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { flock, LOCK_EX, LOCK_NB, LOCK_SH } from '../sys/io.js';
import { runDir } from './paths.js';

export interface NameLock {
  release(): void;
}

/** Wait (without blocking the event loop) until the lock on `kind`/`name` is ours. */
export async function lockName(kind: 'vserver' | 'ctx' | 'sandbox', name: string, mode: 'exclusive' | 'shared'): Promise<NameLock> {
  const dir = join(runDir(), 'lock');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Lock files stay: removing one would let two holders lock two different files.
  const fd = openSync(join(dir, `${kind}.${name}`), 'a', 0o600);
  const op = (mode === 'exclusive' ? LOCK_EX : LOCK_SH) | LOCK_NB;
  try {
    for (let wait = 5; !flock(fd, op); wait = Math.min(wait * 2, 100)) await new Promise((r) => setTimeout(r, wait));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let held = true;
  return {
    release() {
      if (held) closeSync(fd);
      held = false;
    },
  };
}
