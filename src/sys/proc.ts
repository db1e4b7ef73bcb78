// Process identity and lifecycle: hostnames, uids/gids/groups, pidfd_open, kill, waitpid.
import { check, fn, rawSyscall, SYS } from './libc.js';
import { cstr } from './format.js';
import { readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command ([0] is the state), or undefined when there is no such process. */
export function statFields(pid: number): string[] | undefined {
  try {
    // Counted after the command, which may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Field 22 of /proc/PID/stat (clock ticks after boot), or undefined when there is no such
 * process: with the pid, what tells a process from a later one that reused its pid.
 */
export function startTimeOf(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields && Number(fields[19]);
}

/**
 * Whether `pid` is still the process that started at `startTime` and has not ended: a
 * zombie has (an orphan waits for a reaper that may be slow, and a zombie init's
 * namespaces take no new members). One read of /proc/PID/stat answers both.
 */
export function isLiveProcess(pid: number, startTime: number | undefined): boolean {
  const fields = statFields(pid);
  return fields !== undefined && fields[0] !== 'Z' && Number(fields[19]) === startTime;
}

export function sethostname(name: string): void {
  const len = Buffer.byteLength(name);
  check('sethostname', `${cstr(name)}, ${len}`, () => fn('int sethostname(const char *name, size_t len)')(name, len));
}

export function setdomainname(name: string): void {
  const len = Buffer.byteLength(name);
  check('setdomainname', `${cstr(name)}, ${len}`, () => fn('int setdomainname(const char *name, size_t len)')(name, len));
}

/*
 * glibc's setuid/setgid/setgroups change every thread of the process (it signals them);
 * the native stage uses the raw calls in its single-threaded child instead.
 */
export function setuid(uid: number): void {
  check('setuid', String(uid), () => fn('int setuid(uint32_t uid)')(uid));
}

export function setgid(gid: number): void {
  check('setgid', String(gid), () => fn('int setgid(uint32_t gid)')(gid));
}

export function setgroups(groups: number[]): void {
  check('setgroups', `${groups.length}, [${groups.join(', ')}]`, () =>
    fn('int setgroups(size_t size, const uint32_t *list)')(groups.length, groups.length ? groups : null));
}

/** A pidfd for `pid` (close-on-exec). */
export function pidfdOpen(pid: number, flags = 0): number {
  return check('pidfd_open', `${pid}, ${flags}`, () => rawSyscall()(SYS.pidfd_open, 'int', pid, 'unsigned int', flags), 'plumbing');
}

export function kill(pid: number, signal: number): void {
  check('kill', `${pid}, ${signal}`, () => fn('int kill(int pid, int sig)')(pid, signal));
}

export const WNOHANG = 1;

export interface WaitResult {
  pid: number;
  /** the raw wait status */
  status: number;
}

/** waitpid(2); with WNOHANG, pid is 0 while the child runs. */
export function waitpid(pid: number, options = 0): WaitResult {
  const status = [0];
  const r = check('waitpid', `${pid}, ..., ${options === WNOHANG ? 'WNOHANG' : options}`, () =>
    fn('int waitpid(int pid, _Out_ int *status, int options)')(pid, status, options), 'plumbing');
  return { pid: r, status: status[0] };
}

/** Decode a wait status into an exit code or a terminating signal. */
export function decodeWaitStatus(status: number): { code: number | null; signal: number | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: sig };
}
