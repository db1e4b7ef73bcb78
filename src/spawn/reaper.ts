// Exit statuses of children the native stage started: libuv does not know them, so it
// will not reap them. On SIGCHLD each pending pid is tried with waitpid(WNOHANG).
import { decodeWaitStatus, waitpid, WNOHANG } from '../sys/proc.js';
import type { ExitStatus } from './spec.js';
import { signalName } from '../sys/signals.js';

const pending = new Map<number, (status: ExitStatus) => void>();
let keepAlive: NodeJS.Timeout | undefined;

function reapAll(): void {
  for (const [pid, resolve] of pending) {
    let r;
    try {
      r = waitpid(pid, WNOHANG);
    } catch {
      r = { pid, status: 0xff00 }; // already reaped elsewhere (ECHILD): report failure
    }
    if (r.pid !== pid) continue;
    pending.delete(pid);
    const { code, signal } = decodeWaitStatus(r.status);
    resolve({ code, signal: signal === null ? null : signalName(signal) ?? null });
  }
  if (pending.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

let listening = false;

/** A promise of how `pid` (our child) ends. */
export function watchExit(pid: number): Promise<ExitStatus> {
  return new Promise((resolve) => {
    pending.set(pid, resolve);
    // The listener stays once there (a signal handle holds no event loop open): starting
    // and stopping libuv's for each of many sequential spawns costs them time.
    if (!listening) {
      process.on('SIGCHLD', reapAll);
      listening = true;
    }
    if (!keepAlive) {
      // Only holds the event loop open while children run (Node's signal handles do not),
      // never fires in practice. No polling is needed: a SIGCHLD that arrives while one is
      // being handled is delivered again, and each delivery looks at every pending pid.
      keepAlive = setInterval(() => {}, 2 ** 31 - 1);
    }
    // The child may already have ended before we listened.
    setImmediate(reapAll);
  });
}
