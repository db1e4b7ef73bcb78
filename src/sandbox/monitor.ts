// Starting a sandbox's program under its monitor (native/monitor.c). One monitor server
// per Node process, exec'd on first use on the fast clone path (no copy of Node's memory
// stays); each start is one message to it with the program's descriptors attached, and
// it clones a monitor for the sandbox as this process's child. The monitor clones the
// program with the plan's namespace flags and runs the rest of the plan there, reporting
// over fd 3 as the library's child does. It waits, enforces the time limits and records
// the end in the sandbox's directory, whether or not this Node lives.
import { existsSync, closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { NATIVE_LIBRARY, runStage, StepError, StageError } from '../native/stage.js';
import { encodePlan, int32s, readRecord, REPLY_GO, REPORT_ERROR, REPORT_PID, REPORT_READY, type Step } from '../native/plan.js';
import { check, fn, koffi } from '../sys/libc.js';
import { SysError } from '../sys/errors.js';
import { close, pipe2, write } from '../sys/io.js';
import { waitpid } from '../sys/proc.js';
import { setUpStdio, syncWork } from '../spawn/index.js';
import { makeRuleset } from '../spawn/landlock.js';
import { childFds, childPlan, openInPlan, rulesetInParent } from '../spawn/steps.js';
import type { SpawnSpec } from '../spawn/spec.js';

export const MONITOR = fileURLToPath(new URL('../../native/build/tsns-monitor', import.meta.url));

/** stdin, stdout, stderr of the program: the caller's, /dev/null, a pipe to this process, or a descriptor. */
export type SandboxStdio = 'inherit' | 'ignore' | 'pipe' | number;

export interface MonitorStart {
  /** The record directory: the plan is handed over there, the status written there. */
  dir: string;
  /** tsns-monitor's options (limits.ts monitorArgs). */
  args: string[];
  /** SIGKILL of this process kills the monitor (and with it the program). */
  dieWithParent: boolean;
  stdio: readonly SandboxStdio[];
  /**
   * Called once the monitor's and the program's pids are known, while the program's
   * process still builds its root: what is done there costs the start nothing. It must
   * not throw.
   */
  onPids?: (monitor: number, pid: number) => void;
}

/** The file the monitor records the program's end in. */
export const statusFile = (dir: string) => join(dir, 'exit');

/** The file a monitor names itself in ("PID STARTTIME"), before it reads its plan. */
const selfFile = (dir: string) => join(dir, 'monitor');

/**
 * The monitor that `dir`'s start made, as it named itself: what a start killed before it
 * recorded the monitor's pid leaves running. 'writing' while the monitor writes the file.
 */
export function monitorOf(dir: string): { pid: number; startTime: number } | 'writing' | undefined {
  let text: string;
  try {
    text = readFileSync(selfFile(dir), 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+)\n$/.exec(text);
  return m ? { pid: Number(m[1]), startTime: Number(m[2]) } : 'writing';
}

/**
 * The monitor server of this process: its pid (a child of ours), our end of its socket,
 * and the longest message it takes (its buffer, or the socket's send buffer if smaller).
 */
let server: { pid: number; socket: number; messageMax: number } | undefined;

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const { EPIPE, EBADF, ECONNRESET } = constants.errno;
const F_DUPFD_CLOEXEC = 1030;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;

/** Exec the server with the other end of a fresh socket on its fd 3, in a session of its own. */
function startServer(): { pid: number; socket: number; messageMax: number } {
  if (!existsSync(MONITOR)) throw new Error(`the sandbox monitor is not built (${MONITOR} is missing): run \`npm install\` or \`make -C native\``);
  const sv = [0, 0];
  check('socketpair', 'AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC, 0, [...]', () =>
    fn('int socketpair(int domain, int type, int protocol, _Out_ int *sv)')(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 'plumbing');
  // Never on 0-2 (this process closed one of them): a sandbox that inherits this
  // process's stdio would hold the server's socket, and could start monitors of its own.
  if (sv[0] <= 2) {
    const low = sv[0];
    sv[0] = check('fcntl', `${low}, F_DUPFD_CLOEXEC, 3`, () => fn('int fcntl(int fd, int cmd, int arg)')(low, F_DUPFD_CLOEXEC, 3), 'plumbing');
    close(low);
  }
  const nul = openSync('/dev/null', 'r+');
  try {
    const pid = runStage([
      { op: 'stdio', sources: [nul, nul, nul, sv[1]] },
      { op: 'setsid' },
      { op: 'exec', file: MONITOR, argv: [MONITOR, '-S'], env: [], search: false },
    ], { cloneFlags: 0 });
    // A message longer than the send buffer (less the kernel's 32 bytes) is EMSGSIZE.
    const sndbuf = [0];
    check('getsockopt', `${sv[0]}, SOL_SOCKET, SO_SNDBUF`, () =>
      fn('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *len)')(sv[0], SOL_SOCKET, SO_SNDBUF, sndbuf, [4]), 'plumbing');
    return { pid, socket: sv[0], messageMax: Math.min(MESSAGE_MAX, sndbuf[0] - 32) };
  } catch (err) {
    close(sv[0]);
    throw err;
  } finally {
    closeSync(nul);
    close(sv[1]);
  }
}

let sendFds: ((sock: number, data: Buffer, len: number, fds: number[], nfds: number) => number) | undefined;

/** The server's message buffer (native/monitor.c serve): a plan that does not fit comes as a file. */
const MESSAGE_MAX = 65535;

/** The server, started if this process has none (or it was gone). */
function theServer(): { pid: number; socket: number; messageMax: number } {
  return (server ??= startServer());
}

/** A start's message: the descriptors' positions, the arguments, then the plan (if inline). */
function message(at: readonly number[], args: readonly string[], plan?: Buffer): Buffer {
  const head = Buffer.from(`${at.join(',')}\0${args.length}\0${args.map((a) => `${a}\0`).join('')}`);
  return plan ? Buffer.concat([head, plan]) : head;
}

/**
 * One start to the server: `text` (message()) with `fds` attached. A server that is gone
 * (killed) is reaped and replaced once; a descriptor of this process's stdio that is
 * closed is left closed in the program (`at` then names fewer).
 */
function requestStart(text: (at: readonly number[]) => Buffer, fds: number[], at: number[]): void {
  sendFds ??= koffi().load(NATIVE_LIBRARY).func('int tsns_send_fds(int sock, const uint8_t *data, size_t len, const int *fds, int nfds)');
  for (let attempt = 0; ; attempt++) {
    const data = text(at);
    const { socket, pid } = theServer();
    const r = sendFds(socket, data, data.length, fds, fds.length);
    if (r === 0) return;
    if ((r === -EPIPE || r === -ECONNRESET) && attempt === 0) {
      close(socket);
      try {
        waitpid(pid);
      } catch {
        // reaped elsewhere
      }
      server = undefined;
      continue;
    }
    if (r === -EBADF && attempt === 0) {
      const open = fds.map((fd, k) => at[k] > 2 || fd !== at[k] || existsSync(`/proc/self/fd/${fd}`));
      fds = fds.filter((_, k) => open[k]);
      at = at.filter((_, k) => open[k]);
      continue;
    }
    throw new SysError('sendmsg', `${socket}, {${data.length} bytes, SCM_RIGHTS [${fds.join(', ')}]}, MSG_NOSIGNAL`, -r);
  }
}

export interface MonitorStarted {
  monitor: number;
  /** The program's pid. */
  pid: number;
  /** This process's ends of the 'pipe' stdio, per fd (null for none). */
  pipes: (number | null)[];
}

/** Start `argv` as `spec` describes under a new monitor. */
export function startMonitor(spec: SpawnSpec, argv: readonly string[], options: MonitorStart): MonitorStarted {
  // Paths to join are opened by the program's process itself, as in the tools' stage.
  const opens: Step[] = [];
  const fds = childFds(spec, [], openInPlan(opens));
  // A Landlock ruleset made here reaches the program through the monitor as fd 5, after
  // the report and reply pipes; its rules are added from here at a sync step.
  const inParent = rulesetInParent(spec);
  if (inParent) fds.ruleset = 5;
  const plan = childPlan({ ...spec, deathSignal: undefined }, argv, fds);
  // Id-map ranges (and the rest of a parent's part) are written from here while the
  // program waits at its sync step for a reply on a pipe the monitor passes on (-g).
  const sync = inParent || Object.values(plan.parent).some(Boolean);
  const steps = [...opens, ...plan.steps];
  const encoded = encodePlan(steps, null);
  const planFile = join(options.dir, 'plan');
  const stdio = setUpStdio([...options.stdio.slice(0, 3)]);
  const [reportRead, reportWrite] = pipe2();
  let [goRead, goWrite] = sync ? pipe2() : [-1, -1];
  // 'inherit' (and 'close', which a sandbox's stdio never asks for): this process's own.
  const sources = stdio.fds.map((s, k) => (s === 'inherit' || s === 'close' ? k : s));
  while (sources.length < 3) sources.push(sources.length);
  const ruleset = inParent ? makeRuleset(spec.landlock!, 0) : undefined;
  const fdsOut = [...sources, reportWrite, ...(sync ? [goRead] : []), ...(ruleset !== undefined ? [ruleset] : [])];
  const args = (planArg: string) => [...options.args, ...(sync ? ['-g'] : []), ...(options.dieWithParent ? ['-d'] : []), String(plan.cloneFlags), planArg, statusFile(options.dir)];
  // The plan goes in the message (it holds the environment: no file has it even briefly),
  // unless a large environment makes it too long for one.
  try {
    const inline = message([0, 1, 2, 3, 4, 5], args('-'), encoded).length <= theServer().messageMax;
    if (!inline) writeFileSync(planFile, encoded, { mode: 0o600 });
    requestStart((at) => (inline ? message(at, args('-'), encoded) : message(at, args(planFile))), fdsOut, fdsOut.map((_, k) => k));
  } catch (err) {
    for (const fd of stdio.parentEnds) if (fd !== null) close(fd);
    if (ruleset !== undefined) close(ruleset);
    if (goWrite >= 0) close(goWrite);
    close(reportRead);
    rmSync(planFile, { force: true });
    throw err;
  } finally {
    close(reportWrite);
    if (sync) close(goRead);
    for (const fd of stdio.toClose) closeSync(fd);
  }
  let monitor: number | undefined;
  let pid: number | undefined;
  let told = false;
  let failure: unknown;
  let execd = false;
  let waitingAt: number | undefined;
  let undo = () => {};
  try {
    for (let rec = readRecord(reportRead); rec; rec = readRecord(reportRead)) {
      // The monitor names itself first (index -1), then the program.
      if (rec.kind === REPORT_PID && rec.index === -1) monitor = rec.value;
      else if (rec.kind === REPORT_PID) pid = rec.value;
      else if (rec.kind === REPORT_READY) waitingAt = rec.index;
      else if (rec.kind === REPORT_ERROR) {
        failure ??= new StepError(steps[rec.index], rec.value);
        // A failed step waits for a word from its parent: EOF lets it end as it would alone.
        if (goWrite >= 0) close(goWrite);
        goWrite = -1;
      } else execd = true;
      if (!told && monitor !== undefined && pid !== undefined) {
        told = true;
        options.onPids?.(monitor, pid);
      }
      // The monitor reports the program's pid, which the parent's part needs, in a race with the program's READY.
      if (waitingAt !== undefined && pid !== undefined) {
        const at = waitingAt;
        waitingAt = undefined;
        let reply = REPLY_GO;
        try {
          const undoThis = syncWork(spec, steps, plan.parent, pid, at, ruleset);
          const before = undo;
          undo = () => { undoThis(); before(); };
        } catch (err) {
          failure ??= err;
          reply = 1; // the program's exit status before its exec
        }
        try {
          write(goWrite, int32s(reply));
        } catch (err) {
          // The program is gone already (EPIPE): its monitor's record says how.
          if (!(err instanceof SysError && err.code === 'EPIPE')) throw err;
        }
      }
    }
  } finally {
    close(reportRead);
    if (goWrite >= 0) close(goWrite);
    if (ruleset !== undefined) close(ruleset);
  }
  if (failure || pid === undefined || !execd || monitor === undefined) {
    undo();
    for (const fd of stdio.parentEnds) if (fd !== null) close(fd);
    // The monitor records the failed start and ends at once: reap it, and drop its records
    // (a start tried again writes them anew).
    if (monitor !== undefined) waitpid(monitor);
    rmSync(statusFile(options.dir), { force: true });
    rmSync(selfFile(options.dir), { force: true });
    rmSync(planFile, { force: true });
  }
  if (failure) throw failure;
  if (monitor === undefined || pid === undefined || !execd) throw new StageError('the sandbox\'s program ended before it ran (its monitor could not start it)');
  return { monitor, pid, pipes: stdio.parentEnds };
}
