// The end of every tool that runs a program: spawn it, wait for it, end as it ended.
import type { Spawned } from '../spawn/index.js';
import type { ExitStatus, SpawnSpec } from '../spawn/spec.js';
import type { InPlace } from '../spawn/steps.js';
import { exitLike, reportError } from './common.js';
import { execInPlace, hasStage } from './stage.js';

export interface RunOptions {
  /** Turns a spawn failure into what to throw; default: util-linux wording. */
  failure?: (err: unknown) => unknown;
  /**
   * Runs once the program has ended, or its spawn failed (to remove what the tool made).
   * In place (through the stage), only if the program never ran.
   */
  cleanup?: () => void;
  /** How the stage forks, where it does (unshare --fork, nsenter into a pid namespace). */
  inPlace?: InPlace;
  /** In place: told the pid of the fork's child (FORK.reportPid). */
  onPid?: (pid: number) => void;
}

/** Signals sent to us by pid are meant for the program; we go on waiting and end as it does. */
const FORWARDED = ['SIGTERM', 'SIGHUP'] as const;

/**
 * How `child` ends. SIGINT from the terminal reaches the program by itself (it is in our
 * process group), so we only ignore it, as util-linux does; SIGTERM and SIGHUP are passed on.
 */
export async function waitForProgram(child: Spawned): Promise<ExitStatus> {
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', ignore);
  for (const s of FORWARDED) process.on(s, forward);
  try {
    return await child.exited;
  } finally {
    process.off('SIGINT', ignore);
    for (const s of FORWARDED) process.off(s, forward);
  }
}

/** Spawn `argv` per `spec`; a failure is thrown in the words `failure` gives it (util-linux's by default). */
export async function startProgram(spec: SpawnSpec, argv: readonly string[], failure?: (err: unknown) => unknown): Promise<Spawned> {
  const { spawn } = await import('../spawn/index.js');
  const { spawnFailure } = await import('./messages.js');
  try {
    return spawn(spec, argv);
  } catch (err) {
    throw (failure ?? spawnFailure)(err);
  }
}

/**
 * Run the program: in place through the stage when started as bin/ts-NAME (the program
 * takes over the tool's process), else spawn, wait, clean up, and resolve to the exit
 * status to leave with.
 */
export async function runProgram(spec: SpawnSpec, argv: readonly string[], options: RunOptions = {}): Promise<number> {
  if (hasStage()) {
    const { spawnFailure } = await import('./messages.js');
    return execInPlace(spec, argv, options.inPlace ?? {}, { failure: options.failure ?? spawnFailure, report: reportError, cleanup: options.cleanup, onPid: options.onPid });
  }
  let child;
  try {
    child = await startProgram(spec, argv, options.failure);
  } catch (err) {
    options.cleanup?.();
    throw err;
  }
  const status = await waitForProgram(child);
  options.cleanup?.();
  return exitLike(status);
}
