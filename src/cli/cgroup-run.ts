// ts-cgroup run and exec through the stage. The stage forks first: the child joins the
// group and execs the program; the parent, small C code, waits, passes SIGTERM and SIGHUP
// on, says when the OOM killer struck, and (run) kills what the program left and removes
// the group. No Node process stays while the program runs.
//
// A run records its group before making it (RUN/cgroup/PID, PID the stage's), so that a
// run whose parent was killed leaves something the next run removes: the record of a pid
// that is gone names a group nothing will remove otherwise.
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { currentLayout, formatSize, openCgroup, type Cgroup, type Layout } from '../cgroup/index.js';
import { removalSteps } from '../cgroup/steps.js';
import { explain } from '../sys/explain.js';
import { startTimeOf } from '../sys/proc.js';
import { FORK, type Step } from '../native/plan.js';
import { runDir } from '../vserver/paths.js';
import { reportError, ToolError } from './common.js';
import { hasStage, servePlan, stagePid } from './stage.js';

interface RunRecord {
  pid: number;
  /** The pid's start time (/proc/PID/stat), so that a recycled pid is no live run. */
  start: string;
  name: string;
  /** Where the recording caller sat: the group is NAME below these, and only there. */
  bases: string[];
}

const recordDir = () => join(runDir(), 'cgroup');


function basesOf(layout: Layout): string[] {
  return [...layout.v1, ...(layout.unified ? [layout.unified] : [])].map((h) => h.base);
}

/**
 * Record the group NAME that the stage's process is about to make; the record's path,
 * or undefined where the run directory cannot be written (not root: the group then goes
 * unrecorded, as the mkdir of the group would fail anyway unless delegated).
 */
export function recordRun(name: string): string | undefined {
  const pid = stagePid()!;
  const record: RunRecord = { pid, start: String(startTimeOf(pid) ?? ''), name, bases: basesOf(currentLayout()) };
  const file = join(recordDir(), String(pid));
  try {
    mkdirSync(recordDir(), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(record) + '\n');
  } catch (err) {
    if (['EACCES', 'EPERM', 'EROFS'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
  return file;
}

/** Kill and remove the groups of recorded runs whose stage is gone (from where the caller sits). */
export async function reapRuns(): Promise<void> {
  let files: string[];
  try {
    files = readdirSync(recordDir());
  } catch {
    return;
  }
  const bases = JSON.stringify(basesOf(currentLayout()));
  for (const f of files) {
    const file = join(recordDir(), f);
    let record: RunRecord;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
    } catch {
      continue; // being written, or not ours
    }
    if (String(startTimeOf(record.pid) ?? '') === record.start || JSON.stringify(record.bases) !== bases) continue;
    explain(`ts-cgroup: run ${record.pid} is gone: removing its group ${record.name}`);
    try {
      const group = openCgroup(record.name);
      await group.kill({ timeout: 2000 });
      await group.remove({ timeout: 2000 });
    } catch (err) {
      // Gone already (ENOENT); anything else keeps the record for a later run.
      if ((err as { code?: string }).code !== 'ENOENT') continue;
    }
    unlinkSync(file);
  }
}

/** The parent's NOTE steps: the OOM line, worded for how the program ended (said as `tool`). */
export function oomNotes(group: Cgroup, argv: readonly string[], before: number, tool = 'ts-cgroup'): Step[] {
  let mem: { dir: string; version: 1 | 2 };
  try {
    mem = group.dirFor('memory');
  } catch {
    return []; // no memory controller: no OOM killer of the group's own
  }
  const max = group.stats().memoryMax;
  const limit = max === undefined || max === 'max' ? '' : ` (limit ${formatSize(max)})`;
  const file = `${mem.dir}/${mem.version === 2 ? 'memory.events' : 'memory.oom_control'}`;
  const kill = constants.signals.SIGKILL;
  return [
    { op: 'note', signal: kill, above: before, file, key: 'oom_kill', message: `${tool}: ${argv[0]} was killed: out of memory${limit}` },
    { op: 'note', signal: -kill, above: before, file, key: 'oom_kill', message: `${tool}: a process of ${argv[0]} was killed: out of memory${limit}` },
  ];
}

/** The parent's steps that take the group away (what the program left is killed first), and its record. */
export function removal(group: Cgroup, record: string | undefined): Step[] {
  return [...removalSteps(group), ...(record ? [{ op: 'remove', path: record } as Step] : [])];
}

export interface InGroupOptions {
  /** Remove the group once the program has ended (run without --keep); its record with it. */
  remove?: { record?: string };
  /** The group's OOM kill count before the program: only later kills are reported. */
  oomBefore: number;
}

/**
 * Run argv in `group` through the stage: fork, join, exec; the parent waits and ends as the
 * program did. Resolves once the program runs, or to the status of a failed step (said).
 */
export async function runInGroup(group: Cgroup, argv: readonly string[], options: InGroupOptions): Promise<number> {
  if (!hasStage()) throw new ToolError('run and exec need the native stage: start them as bin/ts-cgroup');
  const { childPlan } = await import('../spawn/steps.js');
  const { spawnFailure } = await import('./messages.js');
  const parent = [...oomNotes(group, argv, options.oomBefore), ...(options.remove ? removal(group, options.remove.record) : [])];
  const steps: Step[] = [
    // SIGINT from the terminal reaches the program by itself (same process group); a
    // parent killed takes the program with it, and the next run removes the group.
    { op: 'fork', mode: FORK.forward | FORK.ignoreInt, deathSignal: constants.signals.SIGKILL, parentSteps: parent.length },
    ...parent,
    // The child joins, not the stage: the parent that stays must not hold the group.
    ...childPlan({ cgroups: group.dirs }, argv, { join: [], stdio: [] }, {}).steps,
  ];
  return servePlan(steps, {
    failure: spawnFailure,
    report: reportError,
    cleanup: () => {
      // The stage went before its fork; after it, its parent removes the group.
      if (options.remove) void group.remove({ timeout: 0 }).catch(() => {});
      if (options.remove?.record) rmSync(options.remove.record, { force: true });
    },
  });
}
