// Starting a sandbox's program under its monitor (native/monitor.c). Node execs
// tsns-monitor on the fast clone path (no copy of Node's memory stays); the monitor
// clones the program with the plan's namespace flags and runs the rest of the plan there,
// reporting over fd 3 as the library's child does. The monitor waits, enforces the time
// limits and records the end in the sandbox's directory, whether or not this Node lives.
import { existsSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runStage, StepError, StageError } from '../native/stage.js';
import { encodePlan, int32s, readRecord, REPLY_GO, REPORT_ERROR, REPORT_PID, REPORT_READY, type Step } from '../native/plan.js';
import { PR_SET_PDEATHSIG } from '../sys/prctl.js';
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
}

/** The file the monitor records the program's end in. */
export const statusFile = (dir: string) => join(dir, 'exit');

/**
 * The monitors started for record directory `dir` (their last argument is its status
 * file): what a start killed before it recorded the monitor's pid leaves running.
 */
export function monitorsOf(dir: string): number[] {
  const wanted = `${statusFile(dir)}\0`;
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return argv.startsWith(`${MONITOR}\0`) && argv.endsWith(wanted);
    } catch {
      return false; // ended meanwhile
    }
  }).map(Number);
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
  if (!existsSync(MONITOR)) throw new Error(`the sandbox monitor is not built (${MONITOR} is missing): run \`npm install\` or \`make -C native\``);
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
  const planFile = join(options.dir, 'plan');
  writeFileSync(planFile, encodePlan(steps, null), { mode: 0o600 });
  const stdio = setUpStdio([...options.stdio.slice(0, 3)]);
  const [reportRead, reportWrite] = pipe2();
  let [goRead, goWrite] = sync ? pipe2() : [-1, -1];
  const sources = stdio.fds.map((s): number | 'keep' => (s === 'inherit' || s === 'close' ? 'keep' : s));
  while (sources.length < 3) sources.push('keep');
  const ruleset = inParent ? makeRuleset(spec.landlock!, 0) : undefined;
  const outer: Step[] = [
    { op: 'stdio', sources: [...sources, reportWrite, ...(sync ? [goRead] : []), ...(ruleset !== undefined ? [ruleset] : [])] },
    ...(options.dieWithParent ? [{ op: 'prctl', option: PR_SET_PDEATHSIG, arg2: 9 } as Step] : []),
    // Its own session: a terminal's signals to this process's group are not the monitor's.
    { op: 'setsid' },
    { op: 'exec', file: MONITOR, argv: [MONITOR, ...options.args, ...(sync ? ['-g'] : []), String(plan.cloneFlags), planFile, statusFile(options.dir)], env: [], search: false },
  ];
  let monitor: number;
  try {
    monitor = runStage(outer, { cloneFlags: 0 });
  } catch (err) {
    for (const fd of stdio.parentEnds) if (fd !== null) close(fd);
    if (ruleset !== undefined) close(ruleset);
    throw err;
  } finally {
    close(reportWrite);
    if (sync) close(goRead);
    for (const fd of stdio.toClose) closeSync(fd);
  }
  let pid: number | undefined;
  let failure: unknown;
  let execd = false;
  let waitingAt: number | undefined;
  let undo = () => {};
  try {
    for (let rec = readRecord(reportRead); rec; rec = readRecord(reportRead)) {
      if (rec.kind === REPORT_PID) pid = rec.value;
      else if (rec.kind === REPORT_READY) waitingAt = rec.index;
      else if (rec.kind === REPORT_ERROR) {
        failure ??= new StepError(steps[rec.index], rec.value);
        // A failed step waits for a word from its parent: EOF lets it end as it would alone.
        if (goWrite >= 0) close(goWrite);
        goWrite = -1;
      } else execd = true;
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
  if (failure || pid === undefined || !execd) {
    undo();
    for (const fd of stdio.parentEnds) if (fd !== null) close(fd);
    // The monitor records the failed start and ends at once: reap it, and drop its record.
    waitpid(monitor);
    rmSync(statusFile(options.dir), { force: true });
  }
  if (failure) throw failure;
  if (pid === undefined || !execd) throw new StageError('the sandbox\'s program ended before it ran (its monitor could not start it)');
  return { monitor, pid, pipes: stdio.parentEnds };
}
