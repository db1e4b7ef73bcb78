// The end of every tool that runs a program: spawn it, wait for it, end as it ended.
import type { SpawnSpec } from '../spawn/spec.js';
import { exitLike } from './common.js';

export interface RunOptions {
  /** Turns a spawn failure into what to throw; default: util-linux wording. */
  failure?: (err: unknown) => unknown;
  /** Runs once the program has ended, or its spawn failed (to remove what the tool made). */
  cleanup?: () => void;
}

/** Signals sent to us by pid are meant for the program; we go on waiting and end as it does. */
const FORWARDED = ['SIGTERM', 'SIGHUP'] as const;

/**
 * Spawn `argv` per `spec` and resolve to the exit status to leave with. SIGINT from the
 * terminal reaches the program by itself (it is in our process group), so we only
 * ignore it, as util-linux does; SIGTERM and SIGHUP are passed on.
 */
export async function runProgram(spec: SpawnSpec, argv: readonly string[], options: RunOptions = {}): Promise<number> {
  const { spawn } = await import('../spawn/index.js');
  const { spawnFailure } = await import('./messages.js');
  let child;
  try {
    child = spawn(spec, argv);
  } catch (err) {
    options.cleanup?.();
    throw (options.failure ?? spawnFailure)(err);
  }
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', ignore);
  for (const s of FORWARDED) process.on(s, forward);
  try {
    const status = await child.exited;
    options.cleanup?.();
    return exitLike(status);
  } finally {
    process.off('SIGINT', ignore);
    for (const s of FORWARDED) process.off(s, forward);
  }
}
