// Shared by the parity tests: ours against util-linux's or coreutils' tool, and processes to enter.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ROOT, run, tool, type Run } from './helpers.js';

export const VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ours and theirs with the same arguments: the same stdout, exit status and stderr. */
export async function same(t: Tap.Test, name: 'unshare' | 'nsenter' | 'chroot', args: string[], why = args.join(' ')): Promise<Run> {
  const [ours, theirs] = await Promise.all([tool(`ts-${name}`, args), run(name, args)]);
  t.equal(ours.stdout, theirs.stdout, `${name} ${why}: stdout`);
  t.equal(ours.exitCode, theirs.exitCode, `${name} ${why}: exit status`);
  t.equal(ours.stderr.replaceAll(`ts-${name}`, name), theirs.stderr, `${name} ${why}: stderr`);
  return ours;
}

/** Ours alone, where util-linux differs on purpose: one line (no stack), this exit status. */
export async function ours(t: Tap.Test, name: string, args: string[], message: RegExp, exitCode = 1): Promise<void> {
  const r = await tool(`ts-${name}`, args);
  t.match(r.stderr, message, `${name} ${args.join(' ')}: message`);
  t.notMatch(r.stderr, /\n\s+at /, `${name} ${args.join(' ')}: no stack trace`);
  t.equal(r.exitCode, exitCode, `${name} ${args.join(' ')}: exit status`);
}

/**
 * A `sleep` started through `command` (util-linux unshare with some options): its pid, once
 * it runs (unshare execs it, or its forked child does). Killed when the test ends.
 */
export async function sleeper(t: Tap.Test, command: string[]): Promise<number> {
  const child = spawn(command[0], [...command.slice(1), 'sleep', '120'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  const isSleep = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0');
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 1200; i++) {
    const kids = (await run('pgrep', ['-P', String(child.pid)])).stdout.split('\n').filter(Boolean).map(Number);
    const pid = [child.pid!, ...kids].find(isSleep);
    if (pid) return pid;
    await sleep(25);
  }
  throw new Error(`${command.join(' ')} did not start`);
}

/** A process in its own mount and uts namespaces (and pid namespace, with its own /proc). */
export const nsTarget = (t: Tap.Test) => sleeper(t, ['unshare', '--mount', '--uts', '--pid', '--fork', '--kill-child', '--mount-proc']);

