// The planner's side of the tools' stage (native/tool.c). bin/ts-NAME runs the stage,
// which starts this Node program and, once handed a plan, performs it in its own process
// and execs the program in place. Here: send the plan, act at its sync step (what
// util-linux's helper child does), and word any failure the way the tool words it.
import { writeSync } from 'node:fs';
import {
  encodePlan, int32s, readRecord, PLANNER_PLAN, PLANNER_PLAN_EXPLAIN, REPLY_GO, REPORT_ERROR, REPORT_EXEC, REPORT_PID, REPORT_READY, type Step,
} from '../native/plan.js';
import type { SpawnSpec } from '../spawn/spec.js';
import { explaining, explainMode, setExplainLabel } from '../sys/explain.js';
import type { InPlace } from '../spawn/steps.js';

let stageFd: number | undefined;
let pidFromEnv: string | undefined;

/**
 * Take the stage's variables out of the environment (the program must not inherit them).
 * runTool calls it first, not this module's load: a tool whose heap is a start-up
 * snapshot (scripts/bundle.mjs) loaded its modules when the snapshot was built.
 */
export function takeStageEnv(): void {
  const fromEnv = process.env.TSNS_STAGE_FD;
  pidFromEnv = process.env.TSNS_STAGE_PID;
  delete process.env.TSNS_STAGE_FD;
  delete process.env.TSNS_STAGE_PID;
  // The stage kept Node from loading these certificates (tool.c); the program gets them.
  const ca = process.env.TSNS_STAGE_CA_CERTS;
  delete process.env.TSNS_STAGE_CA_CERTS;
  if (ca !== undefined) process.env.NODE_EXTRA_CA_CERTS = ca;
  stageFd = fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : undefined;
  // The Node side of a tool is the stage's child, planning what the stage will do.
  if (stageFd !== undefined) setExplainLabel('[planner] ');
}

/** The stage's pid: the program's, or (after a fork step) that of the parent that waits for it. */
export function stagePid(): number | undefined {
  return stageFd !== undefined && pidFromEnv !== undefined && /^\d+$/.test(pidFromEnv) ? Number(pidFromEnv) : undefined;
}
let planSent = false;
let finished = false;

/** Whether this planner was started by the stage (bin/ts-NAME) rather than run alone. */
export function hasStage(): boolean {
  return stageFd !== undefined;
}

/** Whether the stage is gone: killed, its socket closed under us. */
const stageGone = (err: unknown) => ['EPIPE', 'ECONNRESET'].includes((err as NodeJS.ErrnoException).code ?? '');

/** Write to the stage; false if it is gone (the caller then undoes what it made, and says nothing: nobody waits). */
function send(bytes: Buffer): boolean {
  try {
    for (let at = 0; at < bytes.length;) at += writeSync(stageFd!, bytes, at);
    return true;
  } catch (err) {
    if (stageGone(err)) return false;
    throw err;
  }
}

/** The stage's next record; undefined at EOF, which a stage that is gone gives too. */
function receive(): ReturnType<typeof readRecord> {
  try {
    return readRecord(stageFd!);
  } catch (err) {
    if (stageGone(err)) return undefined;
    throw err;
  }
}

/** Whether the stage still waits to be told a status (no plan was sent). */
export function stageWaitsForStatus(): boolean {
  return stageFd !== undefined && !planSent && !finished;
}

/** Tell the stage to exit with `code` (the tool ended without running a program). */
export function finishStage(code: number): void {
  if (!stageWaitsForStatus()) return;
  finished = true;
  send(int32s(code & 0xff));
}

export interface InPlaceOptions {
  /** Turns a failure into what to report (a ToolError in the tool's words). */
  failure: (err: unknown) => unknown;
  /** Prints a failure and gives the status to end with (runTool's reporter). */
  report: (err: unknown) => number;
  /** Undoes what the planner made before the plan, if the program never runs. */
  cleanup?: () => void;
  /** Told the pid of a fork's child (FORK.reportPid), as seen here. */
  onPid?: (pid: number) => void;
}

/**
 * Hand the stage the plan for `spec` and serve it until the program runs (then this
 * process has nothing left to do) or a step fails (then it says why, and the stage exits
 * with the status it is told).
 */
export async function execInPlace(spec: SpawnSpec, argv: readonly string[], inPlace: InPlace, options: InPlaceOptions): Promise<number> {
  const { childFds, childPlan, openInPlan } = await import('../spawn/steps.js');
  // Paths to join (and nsenter's root and cwd) are opened by the stage before it enters
  // anything: this process is not the one that enters.
  const opens: Step[] = [];
  const plan = childPlan(spec, argv, childFds(spec, [], openInPlan(opens)), inPlace);
  const { parentWork } = plan.parent.uidRanges || plan.parent.gidRanges || plan.parent.persist || plan.parent.prepare
    ? await import('../spawn/index.js')
    : { parentWork: undefined };
  const forkSync = plan.forkSync === undefined ? undefined : opens.length + plan.forkSync;
  return servePlan([...opens, ...plan.steps], options, (pid, index) => {
    if (index !== forkSync) return parentWork!(spec, plan.parent, pid);
    inPlace.atForkSync?.();
    return () => {};
  });
}

/**
 * Hand the stage `steps` and serve them: `atSync` does the parent's part at a sync step
 * (the child's pid, the step's index) and returns its undo. Resolves once the program runs or a step has failed (said).
 */
export async function servePlan(steps: Step[], options: InPlaceOptions, atSync?: (pid: number, index: number) => () => void): Promise<number> {
  const { StepError } = await import('../native/stage.js');
  const bytes = encodePlan(steps, explainMode());
  planSent = true;
  if (!send(Buffer.concat([int32s(explaining() ? PLANNER_PLAN_EXPLAIN : PLANNER_PLAN, bytes.length), bytes]))) {
    options.cleanup?.();
    return 1;
  }

  let execing = false;
  let unpersist = () => {};
  const undo = () => {
    unpersist();
    options.cleanup?.();
  };
  for (;;) {
    const rec = receive();
    if (!rec) {
      // EOF: the program runs (the socket closed at its exec), or the stage was killed
      // before, and what was made for it must go.
      if (!execing) undo();
      return 0;
    }
    if (rec.kind === REPORT_READY) {
      try {
        const undoThis = atSync!(rec.value, rec.index);
        const before = unpersist;
        unpersist = () => {
          undoThis();
          before();
        };
        // A stage gone meanwhile: the next receive() sees it, and undoes.
        send(int32s(REPLY_GO));
      } catch (err) {
        undo();
        send(int32s(options.report(options.failure(err))));
        return 1;
      }
    } else if (rec.kind === REPORT_ERROR) {
      undo();
      send(int32s(options.report(options.failure(new StepError(steps[rec.index], rec.value)))));
      return 1;
    } else if (rec.kind === REPORT_EXEC) {
      execing = true;
    } else if (rec.kind === REPORT_PID) {
      options.onPid?.(rec.value);
    }
  }
}
