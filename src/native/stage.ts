// Runs a plan in a fresh single-threaded child through native/build/libtsns.so (native/spawn.c).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { koffi, fn } from '../sys/libc.js';
import { SysError } from '../sys/errors.js';
import { explain, explaining, explainMode } from '../sys/explain.js';
import { close, pipe2, write } from '../sys/io.js';
import { cloneFlagNames, CLONE_NEWTIME, CLONE_VFORK, CLONE_VM } from '../sys/ns.js';
import { decodeWaitStatus, waitpid } from '../sys/proc.js';
import { describe, encodePlan, int32s, readRecord, REPLY_GO, REPORT_ERROR, REPORT_EXEC, REPORT_PID, REPORT_READY, type Step } from './plan.js';

export const NATIVE_LIBRARY = fileURLToPath(new URL('../../native/build/libtsns.so', import.meta.url));

/** The native stage is not built. */
export class NativeMissingError extends Error {
  constructor() {
    super(`the native stage is not built (${NATIVE_LIBRARY} is missing): run \`npm install\` or \`make -C native\` in the tsns package`);
    this.name = 'NativeMissingError';
  }
}

/** A step of the plan failed in the child. */
export class StepError extends SysError {
  readonly step: Step;
  constructor(step: Step, errno: number) {
    const { call, args } = describe(step);
    super(call, args, errno);
    this.step = step;
  }
}

type SpawnFn = (plan: Buffer, len: number, flags: number, reportFd: number, goFd: number, explainFd: number, reportRead: number, goWrite: number) => number;
let nativeSpawn: SpawnFn | undefined;
let explainFd = -1;

function native(): SpawnFn {
  if (!nativeSpawn) {
    if (!existsSync(NATIVE_LIBRARY)) throw new NativeMissingError();
    const lib = koffi().load(NATIVE_LIBRARY);
    nativeSpawn = lib.func('int tsns_spawn(const uint8_t *plan, size_t len, unsigned long flags, int report_fd, int go_fd, int explain_fd, int report_read, int go_write)');
  }
  return nativeSpawn!;
}

/** A close-on-exec copy of stderr for the child's --explain lines: the plan may redirect fd 2. */
function explainTarget(): number {
  if (!explaining()) return -1;
  if (explainFd < 0) explainFd = fn('int fcntl(int fd, int cmd, int arg)')(2, 1030 /* F_DUPFD_CLOEXEC */, 3);
  return explainFd;
}

/** The child ended before its exec, without saying why (a signal, most likely). */
export class StageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StageError';
  }
}

export interface StageOptions {
  /** clone(2) namespace flags for the child itself */
  cloneFlags: number;
  /** Called, with the child's pid, each time the child reaches a `sync` step. */
  onSync?: (pid: number, index: number) => void;
  /** Called with the program's pid where a fork step makes it another process than the child. */
  onPid?: (pid: number) => void;
}

/** Joining a time namespace needs a process that shares its memory with no other. */
function needsOwnMemory(steps: readonly Step[]): boolean {
  return steps.some((s) => s.op === 'sync' || s.op === 'fork' || (s.op === 'setns' && s.nstype === CLONE_NEWTIME));
}

/**
 * Clone a child that performs `steps` and return its pid once it has exec'd (or ended,
 * for a plan without exec). A failed step throws StepError after the child is reaped.
 * Plans that need nothing from the parent take the fast path: the child borrows this
 * process's memory (CLONE_VM|CLONE_VFORK) instead of copying it, and this call returns
 * when it has exec'd.
 */
export function runStage(steps: readonly Step[], options: StageOptions): number {
  const spawn = native();
  const plan = encodePlan(steps, explainMode());
  const ownMemory = needsOwnMemory(steps);
  const flags = options.cloneFlags | (ownMemory ? 0 : CLONE_VM | CLONE_VFORK);
  const [reportRead, reportWrite] = pipe2();
  const [goRead, goWrite] = ownMemory ? pipe2() : [-1, -1];
  explain(`clone(${cloneFlagNames(flags)}|SIGCHLD) <unfinished ...>`);
  const pid = spawn(plan, plan.length, flags, reportWrite, goRead, explainTarget(), reportRead, goWrite);
  close(reportWrite);
  if (goRead >= 0) close(goRead);
  if (pid < 0) {
    close(reportRead);
    if (goWrite >= 0) close(goWrite);
    explain(`<... clone resumed>) = -1`);
    throw new SysError('clone', `${cloneFlagNames(flags)}|SIGCHLD`, -pid);
  }
  explain(`<... clone resumed>) = ${pid}`);
  const hasExec = steps.some((s) => s.op === 'exec');
  let execing = false;
  try {
    for (;;) {
      const rec = readRecord(reportRead);
      if (!rec) {
        if (!hasExec || execing) return pid;
        const { code, signal } = decodeWaitStatus(waitpid(pid).status);
        throw new StageError(`the child ended before it ran the program (${signal ? `signal ${signal}` : `status ${code}`})`);
      }
      if (rec.kind === REPORT_READY) {
        options.onSync?.(pid, rec.index);
        try {
          write(goWrite, int32s(REPLY_GO));
        } catch (err) {
          // The child is gone already (EPIPE): the next read says how.
          if (!(err instanceof SysError && err.code === 'EPIPE')) throw err;
        }
      } else if (rec.kind === REPORT_ERROR) {
        throw new StepError(steps[rec.index], rec.value);
      } else if (rec.kind === REPORT_EXEC) {
        execing = true;
      } else if (rec.kind === REPORT_PID) {
        options.onPid?.(rec.value);
      }
    }
  } catch (err) {
    // Whatever failed, the child must not run on half set up.
    if (!(err instanceof StageError)) {
      fn('int kill(int pid, int sig)')(pid, 9);
      waitpid(pid);
    }
    throw err;
  } finally {
    close(reportRead);
    if (goWrite >= 0) close(goWrite);
  }
}
