// The order runc gives a container's last steps, applied to a compiled Sandbox plan, and
// the wait on a fifo before the program: shared by create and exec.
import type { Step } from '../native/plan.js';
import type { SpawnSpec } from '../spawn/spec.js';
import { PR_CAPBSET_DROP, PR_SET_KEEPCAPS } from '../sys/prctl.js';

/**
 * Move the bounding-set cut (while CAP_SETPCAP is still held) and PR_SET_KEEPCAPS (the
 * permitted set survives the change of uid, so the exact sets can be set after it) before
 * the ids; without no_new_privs, the seccomp filter too (it needs CAP_SYS_ADMIN then, and
 * the rest must pass it); then the wait on fifo slot `fifoSlot`, before the capability
 * sets (and a filter under no_new_privs): the wait is ours. `console`: the pty's steps,
 * right before the wait.
 */
export function runcOrder(spawn: SpawnSpec, noNewPrivs: boolean, fifoSlot: number, console: Step[] = []): void {
  let finalSteps = [...(spawn.finalSteps ?? [])];
  const bounding = finalSteps.filter((s) => s.op === 'prctl' && s.option === PR_CAPBSET_DROP);
  finalSteps = finalSteps.filter((s) => !bounding.includes(s));
  const early: Step[] = [...bounding, { op: 'prctl', option: PR_SET_KEEPCAPS, arg2: 1 }];
  const filterAt = finalSteps.findIndex((s) => s.op === 'seccomp');
  if (!noNewPrivs && filterAt >= 0) early.push(...finalSteps.splice(filterAt, 1));
  // Joining (exec) has no root steps: these then come right before the ids all the same.
  spawn.rootSteps = [...(spawn.rootSteps ?? []), ...early];
  // The console is sent during create (the caller waits for it), after setsid: it becomes the controlling terminal.
  spawn.finalSteps = [...console, { op: 'fifoWait', fd: -1 - fifoSlot }, ...finalSteps];
}

/**
 * The OCI console: `terminal` needs --console-socket and the socket needs `terminal`,
 * as runc has it. The socket is connected before the root changes (its path is the
 * host's), into the next slot of `opens`; the pty is made later, in the container.
 */
export function consoleSteps(terminal: boolean, socket: string | undefined, size: { height: number; width: number } | undefined, opens: Step[]): Step[] {
  if (terminal && socket === undefined) throw new ConsoleError('process.terminal needs --console-socket');
  if (!terminal && socket !== undefined) throw new ConsoleError('--console-socket is only valid with process.terminal');
  if (!terminal) return [];
  const slot = opens.length;
  opens.push({ op: 'connect', path: socket!, slot });
  return [{ op: 'console', fd: -1 - slot, rows: Math.min(size?.height ?? 0, 0xffff), columns: Math.min(size?.width ?? 0, 0xffff) }];
}

/** A console asked for the wrong way round (one line, exit 1). */
export class ConsoleError extends Error {
  override name = 'ConsoleError';
}
