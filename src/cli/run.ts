// The end of every tool that runs a program: spawn it, wait as util-linux's --fork does, end as it ended.
import type { SpawnSpec } from '../spawn/spec.js';
import { exitLike } from './common.js';

/**
 * Spawn `argv` per `spec` and resolve to the exit status to leave with. Spawn failures
 * pass through `failure` (util-linux wording by default). While the program runs, the
 * terminal's SIGINT and SIGTERM are its business: we only wait.
 */
export async function runProgram(spec: SpawnSpec, argv: readonly string[], failure?: (err: unknown) => unknown): Promise<number> {
  const { spawn } = await import('../spawn/index.js');
  const { spawnFailure } = await import('./messages.js');
  let child;
  try {
    child = spawn(spec, argv);
  } catch (err) {
    throw (failure ?? spawnFailure)(err);
  }
  const ignore = () => {};
  process.on('SIGINT', ignore).on('SIGTERM', ignore);
  const status = await child.exited;
  process.off('SIGINT', ignore).off('SIGTERM', ignore);
  return exitLike(status);
}
