// The order runc gives a container's last steps, applied to a compiled Sandbox plan, and
// the wait on a fifo before the program: shared by create and exec.
import type { Step } from '../native/plan.js';
import type { SpawnSpec } from '../spawn/spec.js';
import { PR_CAPBSET_DROP, PR_SET_KEEPCAPS } from '../sys/prctl.js';

/**
 * Move the bounding-set cut (while CAP_SETPCAP is still held) and PR_SET_KEEPCAPS (the
 * permitted set survives the change of uid, so the exact sets can be set after it) before
 * the ids; then the wait on fifo slot `fifoSlot`, before the capability sets: the wait is
 * ours. (The seccomp filter is placed by the spawn plan itself, in runc's order: before
 * the capability drop without no_new_privs, last with it.) `console`: the pty's steps,
 * right before the wait.
 */
export function runcOrder(spawn: SpawnSpec, fifoSlot: number, console: Step[] = []): void {
  let finalSteps = [...(spawn.finalSteps ?? [])];
  const bounding = finalSteps.filter((s) => s.op === 'prctl' && s.option === PR_CAPBSET_DROP);
  finalSteps = finalSteps.filter((s) => !bounding.includes(s));
  const early: Step[] = [...bounding, { op: 'prctl', option: PR_SET_KEEPCAPS, arg2: 1 }];
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
