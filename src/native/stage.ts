// Runs a plan in a fresh single-threaded child through native/build/libtsns.so.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { koffi, fn } from '../sys/libc.js';
import { SysError } from '../sys/errors.js';
import { explain, explaining } from '../sys/explain.js';
import { close, pipe2, read, write } from '../sys/io.js';
import { cloneFlagNames, CLONE_VFORK, CLONE_VM } from '../sys/ns.js';
import { waitpid } from '../sys/proc.js';
import { describe, encodePlan, REPORT_ERROR, REPORT_READY, type Step } from './plan.js';

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

type SpawnFn = (plan: Buffer, len: number, flags: number, reportFd: number, goFd: number, explainFd: number) => number;
let nativeSpawn: SpawnFn | undefined;
let explainFd = -1;

function native(): SpawnFn {
  if (!nativeSpawn) {
    if (!existsSync(NATIVE_LIBRARY)) throw new NativeMissingError();
    const lib = koffi().load(NATIVE_LIBRARY);
    nativeSpawn = lib.func('int tsns_spawn(const uint8_t *plan, size_t len, unsigned long flags, int report_fd, int go_fd, int explain_fd)');
  }
  return nativeSpawn!;
}

/** A close-on-exec copy of stderr for the child's --explain lines: the plan may redirect fd 2. */
function explainTarget(): number {
  if (!explaining()) return -1;
  if (explainFd < 0) explainFd = fn('int fcntl(int fd, int cmd, int arg)')(2, 1030 /* F_DUPFD_CLOEXEC */, 3);
  return explainFd;
}

function readReport(fd: number): Buffer {
  for (;;) {
    try {
      return read(fd, 12);
    } catch (err) {
      if (!(err instanceof SysError && err.code === 'EINTR')) throw err;
    }
  }
}

export interface StageOptions {
  /** clone(2) namespace flags for the child itself */
  cloneFlags: number;
  /** Called, with the child's pid, each time the child reaches a `sync` step. */
  onSync?: (pid: number, index: number) => void;
}

/**
 * Clone a child that performs `steps` and return its pid once it has exec'd (or ended,
 * for a plan without exec). A failed step throws StepError after the child is reaped.
 * Plans without `sync` and `fork` steps take the fast path: the child borrows this
 * process's memory (CLONE_VM|CLONE_VFORK) instead of copying it, and this call returns
 * when it has exec'd.
 */
export function runStage(steps: readonly Step[], options: StageOptions): number {
  const spawn = native();
  const plan = encodePlan(steps);
  const needsParent = steps.some((s) => s.op === 'sync' || s.op === 'fork');
  const flags = options.cloneFlags | (needsParent ? 0 : CLONE_VM | CLONE_VFORK);
  const [reportRead, reportWrite] = pipe2();
  const [goRead, goWrite] = needsParent ? pipe2() : [-1, -1];
  explain(`clone(${cloneFlagNames(flags)}|SIGCHLD) <unfinished ...>`);
  const pid = spawn(plan, plan.length, flags, reportWrite, goRead, explainTarget());
  close(reportWrite);
  if (goRead >= 0) close(goRead);
  if (pid < 0) {
    close(reportRead);
    if (goWrite >= 0) close(goWrite);
    explain(`<... clone resumed>) = -1`);
    throw new SysError('clone', `${cloneFlagNames(flags)}|SIGCHLD`, -pid);
  }
  explain(`<... clone resumed>) = ${pid}`);
  try {
    for (;;) {
      const rec = readReport(reportRead);
      if (rec.length < 12) return pid;
      const [kind, index, errno] = [rec.readInt32LE(0), rec.readInt32LE(4), rec.readInt32LE(8)];
      if (kind === REPORT_READY) {
        options.onSync?.(pid, index);
        write(goWrite, 'g');
      } else if (kind === REPORT_ERROR) {
        const err = new StepError(steps[index], errno);
        explain(`[child] ${err.syscall}(${err.args}) = -1 ${err.code} (${err.reason})`);
        throw err;
      }
    }
  } catch (err) {
    // Whatever failed, the child must not run on half set up.
    fn('int kill(int pid, int sig)')(pid, 9);
    waitpid(pid);
    throw err;
  } finally {
    close(reportRead);
    if (goWrite >= 0) close(goWrite);
  }
}
