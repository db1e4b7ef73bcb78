// Running iproute2 synchronously: spawn()'s prepare hook cannot wait for a promise, and
// a child configuring the network from inside would need the caller's netns too.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { explainExec } from '../sys/explain.js';
import { NetError } from './errors.js';

// Where `ip` and `nsenter` live when PATH lacks the sbin directories (a user's PATH often does).
const FALLBACK_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const found = new Map<string, string>();

/** The path of a program, from PATH or the usual system directories. */
export function findProgram(name: string, pkg: string): string {
  let path = found.get(name);
  if (path) return path;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...FALLBACK_DIRS]) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      path = join(dir, name);
      break;
    } catch { /* try the next directory */ }
  }
  if (!path) throw new NetError(`${name} not found: install ${pkg}`);
  found.set(name, path);
  return path;
}

/** Where the commands run: the caller's network namespace, or that of a process. */
export type Where = 'here' | { pid: number };

/**
 * Run `ip` commands (each without the leading "ip") as one `ip -batch`, which stops at the
 * first failure. Throws a NetError naming the failed command and what ip said.
 */
export function ipBatch(where: Where, commands: readonly string[]): void {
  if (commands.length === 0) return;
  const ip = findProgram('ip', 'iproute2');
  const [file, args] = where === 'here'
    ? [ip, ['-batch', '-']]
    // nsenter enters only the network namespace: the mount namespace (and so `ip`) stays ours.
    : [findProgram('nsenter', 'util-linux'), [`--net=/proc/${where.pid}/ns/net`, '--', ip, '-batch', '-']];
  const prefix = where === 'here' ? 'ip' : `nsenter --net=/proc/${where.pid}/ns/net ip`;
  // One `ip -batch` runs them all; each is shown as the command it stands for.
  for (const c of commands) explainExec([prefix, c]);
  try {
    execFileSync(file, args, { input: commands.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: Buffer; code?: string; signal?: string };
    const said = String(e.stderr ?? '').trim();
    // ip -batch ends its complaint with "Command failed -:N", N counting input lines from 1.
    const line = /Command failed -:(\d+)/.exec(said);
    const failed = line ? commands[Number(line[1]) - 1] : commands.join('; ');
    const why = said.split('\n').filter((l) => l && !/^Command failed/.test(l)).join(': ')
      || (e.code === 'ETIMEDOUT' ? 'timed out' : e.signal ? `killed by ${e.signal}` : (err as Error).message);
    throw new NetError(`${prefix} ${failed}: ${why.replace(/^Error: /, '')}`, { step: `${prefix} ${failed}`, detail: why, cause: err });
  }
}
