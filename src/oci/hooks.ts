// The runtime-spec's hooks. Those that run in the runtime's namespaces are run from here:
// prestart and createRuntime (create fails if one does), poststart and poststop (a failure
// is a warning; the rest go on). Those that run in the container's are steps of its plan
// (insideHooks): createContainer in its namespaces before its root changes (create fails
// if one does), startContainer after start, before its program (the container ends if one
// fails). Each gets the container's state on stdin.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { MS_MOVE } from '../sys/mount.js';
import { HOOK_EXITED, HOOK_KILLED, type Step } from '../native/plan.js';
import type { StepError } from '../native/stage.js';
import { signalName } from '../sys/signals.js';

export interface Hook { path: string; args?: string[]; env?: string[]; timeout?: number }
export type HookPhase = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';
type Hooks = Partial<Record<HookPhase | 'createContainer' | 'startContainer', Hook[]>>;

/** Run `hooks` of `phase` in order with `state` on stdin: an Error for the first that fails, or (warnOnly) a line on stderr each. */
export function runHooks(phase: HookPhase, hooks: readonly Hook[] | undefined, state: Record<string, unknown>, warnOnly: boolean): void {
  if (!hooks?.length) return;
  // Loaded here, not at start-up: child_process brings net, dgram and streams along.
  const { spawnSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  hooks.forEach((hook, k) => {
    const env = Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const r = spawnSync(hook.path, (hook.args ?? [hook.path]).slice(1), {
      argv0: hook.args?.[0] ?? hook.path, env, input: JSON.stringify(state),
      stdio: ['pipe', 'inherit', 'inherit'], timeout: hook.timeout !== undefined ? hook.timeout * 1000 : undefined,
    });
    // A hook that does not read the state closes its stdin: EPIPE is no failure of its own.
    const error = (r.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE' ? undefined : r.error;
    const why = error ? (error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `timed out after ${hook.timeout} s` : error.message
      : r.signal ? `killed by ${r.signal}` : r.status !== 0 ? `exited with status ${r.status}` : undefined;
    if (!why) return;
    const message = `hooks.${phase}[${k}]: ${hook.path} ${why}`;
    if (!warnOnly) throw new HookError(message);
    process.stderr.write(`ts-oci: warning: ${message}\n`);
  });
}

/** A prestart or createRuntime hook that failed: create fails with it. */
export class HookError extends Error {
  override name = 'HookError';
}

/** Where the plan keeps the state files' descriptors: below the ruleset's 63 (spawn/steps.ts), far above the open steps' own. */
const SLOT = { createContainer: 62, startContainer: 61 } as const;

/**
 * createContainer and startContainer hooks as steps. The state goes in a file per phase,
 * written at create's sync step (writeStates) and opened right after it. createContainer
 * hooks run before the old root is detached, chrooted to it (/oldroot: the host's tree, as
 * the runtime resolves their paths) with the container's root moved meanwhile to ROOTFS
 * there, where runc has it, so that what a hook mounts into it is the container's.
 */
export function insideHooks(hooks: Hooks, rootfs: string, dir: string) {
  const names = new Map<Step, string>();
  const stepsOf = (phase: keyof typeof SLOT, inHostRoot: boolean): Step[] => (hooks[phase] ?? []).map((h, k) => {
    const step: Step = { op: 'hook', path: h.path, argv: h.args ?? [h.path], env: h.env ?? [], stdin: -1 - SLOT[phase], timeoutSec: h.timeout ?? 0, inHostRoot };
    names.set(step, `hooks.${phase}[${k}]: ${h.path}`);
    return step;
  });
  const create = stepsOf('createContainer', true);
  const start = stepsOf('startContainer', false);
  const file = (phase: keyof typeof SLOT) => join(dir, `hook-${phase}.json`);
  const phases = (['createContainer', 'startContainer'] as const).filter((p) => hooks[p]?.length);
  const atRootfs = `/oldroot${rootfs}`;
  return {
    names,
    /** The state files, which run's removal of the container names too. */
    files: phases.map(file),
    opens: phases.map((p): Step => ({ op: 'open', path: file(p), flags: 0, slot: SLOT[p] })),
    afterStart: start,
    /** ROOT_STEPS with the createContainer hooks before the old root goes. */
    beforePivot(rootSteps: readonly Step[]): Step[] {
      if (!create.length) return [...rootSteps];
      const at = rootSteps.findIndex((s) => s.op === 'umount2' && s.target === '/oldroot');
      // Every root the Sandbox builds ends so (filesystem.ts): anything else is a bug here.
      if (at < 0) throw new Error('createContainer hooks: the plan detaches no old root');
      return [
        ...rootSteps.slice(0, at),
        { op: 'mount', source: '/newroot', target: atRootfs, fstype: null, flags: MS_MOVE },
        ...create,
        { op: 'mount', source: atRootfs, target: '/newroot', fstype: null, flags: MS_MOVE },
        ...rootSteps.slice(at),
      ];
    },
    /** The state each phase's hooks read: creating, then created (runc's). */
    writeStates(state: Record<string, unknown>): void {
      for (const p of phases) writeFileSync(file(p), JSON.stringify({ ...state, status: p === 'createContainer' ? 'creating' : 'created' }), { mode: 0o600 });
    },
  };
}

/** A hook step's failure in the words runHooks uses for the others. */
export function hookFailure(name: string, err: StepError): string {
  const value = err.errno;
  const signal = signalName(value & 0xffff);
  const timeout = err.step.op === 'hook' ? err.step.timeoutSec : 0;
  const why = value >= HOOK_KILLED ? `killed by ${signal ?? `signal ${value & 0xffff}`}`
    : value >= HOOK_EXITED ? `exited with status ${value & 0xffff}`
      : err.code === 'ETIMEDOUT' ? `timed out after ${timeout} s` : err.reason;
  return `${name} ${why}`;
}
