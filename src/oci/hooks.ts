// The runtime-spec's hooks that run in the runtime's namespaces: prestart and
// createRuntime (create fails if one does), poststart and poststop (a failure is a
// warning; the rest go on). Each gets the container's state on stdin. createContainer and
// startContainer, which run in the container's namespaces, are refused (mapping.ts).
import { createRequire } from 'node:module';

export interface Hook { path: string; args?: string[]; env?: string[]; timeout?: number }
export type HookPhase = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';

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
