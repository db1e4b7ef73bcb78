// Shared by the cgroup tests: a unique name per run, a root check, and teardown that
// removes every group a test made, even when the test failed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Test } from 'tap';
import { openCgroup, type Cgroup, type GroupOptions } from '../../src/cgroup/index.js';

let n = 0;
/** tsns-test-<pid>-<label>-<n>: unique per test run and per call. */
export function uniqueName(label: string): string {
  return `tsns-test-${process.pid}-${label}-${++n}`;
}

/** Why cgroup tests cannot run for real here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (process.geteuid?.() !== 0) return 'needs root to create cgroups';
  if (!existsSync('/sys/fs/cgroup')) return 'no /sys/fs/cgroup';
  return undefined;
}

/** Kill and remove the group named `name` when the test ends, whether it passed or not. */
export function cleanUp(t: Test, name: string, options?: GroupOptions): void {
  t.teardown(async () => {
    let g: Cgroup;
    try {
      g = openCgroup(name, options);
    } catch {
      return; // removed by the test itself
    }
    await g.kill({ timeout: 3000 }).catch(() => {});
    await g.remove({ timeout: 3000 });
  });
}

/** A shell child, SIGKILLed after `seconds` at the latest and at teardown. */
export function startChild(t: Test, script: string, seconds = 20): ChildProcess {
  const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000);
  timer.unref();
  t.teardown(() => {
    clearTimeout(timer);
    child.kill('SIGKILL');
  });
  return child;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
