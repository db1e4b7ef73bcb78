// The plan handed to the native stage (native/stage.c): typed steps here, a byte stream there.
// The opcodes and the record layout are defined here and mirrored in native/plan.h
// (test/plan-table.test.ts cross-checks the two).
import { readSync } from 'node:fs';
import { cstr, flagNames } from '../sys/format.js';
import type { ExplainMode } from '../sys/explain.js';
import { cloneFlagNames } from '../sys/ns.js';
import { mountArgs, UMOUNT_FLAGS } from '../sys/mount.js';
import { whyOf } from './why.js';
import { prctlArgs } from '../sys/prctl.js';
import { capsetArgs, type CapSets } from '../sys/caps.js';

export const OP = {
  writeFile: 1, unshare: 2, setns: 3, mount: 4, umount2: 5, pivotRoot: 6, chroot: 7, chdir: 8,
  fchdir: 9, sethostname: 10, setdomainname: 11, setgroups: 12, setgid: 13, setuid: 14, prctl: 15,
  capset: 16, stdio: 17, sync: 18, fork: 19, mkdir: 20, setsid: 21, exec: 22, open: 23, remove: 24, note: 25,
  symlink: 26, chmod: 27, mountSetattr: 28, seccomp: 29, landlock: 30, setrlimit: 31, umask: 32, closeFrom: 33,
  createFile: 34, mknod: 35, landlockRuleset: 36, watch: 37, exitJson: 38, init: 39, lockFile: 40, close: 41,
  pidfdOpen: 50, pidfdGetfd: 51, nsIoctl: 52,
  // 70-79: the OCI runtime's (ts-oci create)
  detach: 70, fifoWait: 71, connect: 72, console: 73, hook: 74, lookup: 75,
} as const;

/** NS_IOCTL's two requests (native/plan.h): each returns a namespace descriptor. */
export const NS_GET_USERNS = 0xb701;
export const SIOCGSKNS = 0x894c;

/** FORK's mode bits (native/plan.h enum tsns_fork); INIT takes forward and ignoreInt. */
export const FORK = { blockIntTerm: 1, forward: 2, stops: 4, reportPid: 8, closeFds: 16, ignoreInt: 32, initStatus: 64 } as const;

/** What the child writes to the report pipe (native/plan.h enum tsns_report). */
export const REPORT_READY = 1;
export const REPORT_ERROR = 2;
export const REPORT_EXEC = 3;
export const REPORT_PID = 4;
/** Replies to READY and ERROR: go on, or else the status to exit with. */
export const REPLY_GO = -1;
/** The tool stage's first message from its planner (native/tool.c). */
export const PLANNER_PLAN = -2;
export const PLANNER_PLAN_EXPLAIN = -3;

/**
 * One report record (plan.h): {kind, step index, value}, or undefined at EOF. Read with
 * plain fs calls, so that the tools' planner needs no koffi.
 */
export function readRecord(fd: number): { kind: number; index: number; value: number } | undefined {
  const rec = Buffer.alloc(12);
  for (let got = 0; got < 12;) {
    let n: number;
    try {
      n = readSync(fd, rec, got, 12 - got, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINTR' || (err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return undefined;
    }
    if (n === 0) return undefined;
    got += n;
  }
  return { kind: rec.readInt32LE(0), index: rec.readInt32LE(4), value: rec.readInt32LE(8) };
}

/** i32 values, little-endian: replies to the child, the planner's messages. */
export function int32s(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, k) => b.writeInt32LE(v, 4 * k));
  return b;
}

/** One step of the child's life between clone and exec. */
export type Step =
  | { op: 'writeFile'; path: string; data: string }
  | { op: 'unshare'; flags: number }
  /** fd: a descriptor, or -1-k for slot k of an `open` step */
  | { op: 'setns'; fd: number; nstype: number; path?: string }
  | { op: 'mount'; source: string | null; target: string; fstype: string | null; flags: number; data?: string | null }
  | { op: 'umount2'; target: string; flags: number }
  | { op: 'pivotRoot'; newRoot: string; putOld: string }
  | { op: 'chroot'; path: string }
  | { op: 'chdir'; path: string }
  | { op: 'fchdir'; fd: number; path?: string }
  | { op: 'sethostname'; name: string }
  | { op: 'setdomainname'; name: string }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setgid'; gid: number }
  | { op: 'setuid'; uid: number }
  | { op: 'prctl'; option: number; arg2?: number; arg3?: number }
  | { op: 'capset'; sets: CapSets }
  /** fd k becomes a copy of sources[k] ('keep': stays, made inheritable; 'close'); any permutation works */
  | { op: 'stdio'; sources: (number | 'keep' | 'close')[] }
  /** Open a path now (close-on-exec) into slot k, for a later setns or fchdir (fd -1-k). */
  | { op: 'open'; path: string; flags: number; slot: number }
  /**
   * Report "ready" to the parent and wait until it has done its part (id maps, bind mounts;
   * `for: 'landlock'`: the rules of the ruleset it made, from paths in the child's root).
   */
  | { op: 'sync'; for?: 'landlock' }
  /**
   * Go on in a new child; the old one waits and exits as it does (FORK mode bits; the
   * child's death signal). The next `parentSteps` steps are the old one's, run after the
   * child has ended (a failed one is skipped); the child goes on after them.
   */
  | { op: 'fork'; mode: number; deathSignal: number; parentSteps?: number }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'setsid' }
  | { op: 'exec'; file: string; argv: string[]; env: string[]; search: boolean }
  /** rmdir, or unlink a file; EBUSY is retried for 2 s (a cgroup just emptied), ENOENT is success. */
  | { op: 'remove'; path: string }
  /**
   * A fork's parent step: print `message` when the child's end matches `signal` (0: any;
   * n: it died of n; -n: it did not) and the number after "key " in `file` is above `above`.
   */
  | { op: 'note'; signal: number; above: number; file: string; key: string; message: string }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'chmod'; path: string; mode: number }
  /** mount_setattr(2): flags (AT_RECURSIVE...), MOUNT_ATTR_* to set and to clear, propagation. */
  | { op: 'mountSetattr'; path: string; flags: number; set: number; clear: number; propagation: number }
  /** Install a compiled seccomp filter: its sock_filter instructions, 8 bytes each (seccomp(2) flags). */
  | { op: 'seccomp'; flags: number; filter: Buffer }
  /** landlock_restrict_self(2) with a ruleset descriptor (or -1-k for slot k). */
  | { op: 'landlock'; fd: number }
  /** prlimit(0, resource, {soft, hard}); -1 is RLIM_INFINITY. */
  | { op: 'setrlimit'; resource: number; soft: number; hard: number }
  | { op: 'umask'; mask: number }
  /** Every descriptor from `first` on closes at exec (close_range CLOSE_RANGE_CLOEXEC). */
  | { op: 'closeFrom'; first: number }
  /** A new file (O_EXCL, no symlink followed) holding `data`, or what descriptor `fd` reads to its end. */
  | { op: 'createFile'; path: string; mode: number; data?: string; fd?: number }
  | { op: 'mknod'; path: string; mode: number; dev: number }
  /**
   * A Landlock ruleset handling `handled` (LANDLOCK_ACCESS_FS_*), made in the child from
   * paths as it sees them, into slot `slot` (for `landlock` with -1-slot). A path that is
   * no directory keeps only the `fileAccess` rights of its access.
   */
  | { op: 'landlockRuleset'; handled: number; fileAccess: number; slot: number; rules: { path: string; access: number }[] }
  /**
   * Limits the next fork's parent enforces while it waits: wall-clock and CPU time (of the
   * group whose cpu.stat, or v1 cpuacct.usage, is `cpuFile`); when one strikes it says its
   * note on fd 2 and kills the tree (`killFile`: cgroup.kill; else the child).
   */
  | { op: 'watch'; timeoutMs: number; cpuMs: number; cpuFile: string | null; cpuNs: boolean; killFile: string | null; timeoutNote: string | null; cpuNote: string | null }
  /** A fork's parent step: bwrap's `{ "exit-code": N }` line on descriptor `fd` (--json-status-fd). */
  | { op: 'exitJson'; fd: number }
  /**
   * bwrap's init: the program goes on in a child (pid 2 in a new pid namespace); this
   * process runs the next `initSteps` steps, passes signals on (FORK's forward and
   * ignoreInt bits), reaps every child until the program has ended and ends as it did.
   */
  | { op: 'init'; mode: number; initSteps?: number }
  /** Open `path` read-only and read-lock it (F_SETLK) for this process's life (bwrap --lock-file). */
  | { op: 'lockFile'; path: string }
  /** close(2) one descriptor here (one not open is no error): after an init, the program's copy (bwrap --sync-fd). */
  | { op: 'close'; fd: number }
  /** pidfd_open(2) of `pid` (as this process's pid namespace numbers it) into slot `slot`. */
  | { op: 'pidfdOpen'; pid: number; slot: number }
  /** pidfd_getfd(2): a copy of descriptor `targetFd` of the process `pidfd` (or -1-k: slot k) names, into `slot`. */
  | { op: 'pidfdGetfd'; pidfd: number; targetFd: number; slot: number; pid?: number }
  /** ioctl(fd, NS_GET_USERNS or SIOCGSKNS): the namespace descriptor it returns, into `slot`. */
  | { op: 'nsIoctl'; fd: number; request: typeof NS_GET_USERNS | typeof SIOCGSKNS; slot: number; path?: string }
  /**
   * Go on in a new child that outlives this process (ts-oci create): the parent reports the
   * child's pid, waits for the child's fifoWait (or its end), and exits with the reply to
   * that READY (REPLY_GO: 0), or as the child ended.
   */
  | { op: 'detach' }
  /**
   * Report READY (value 0), and after a detach let its parent go and close the report
   * channel; then block until one byte can be read from `fd` (a fifo opened O_RDWR; -1-k
   * for slot k): the OCI runtime's `start`. With no report channel left, a later failure
   * is said on fd 2.
   */
  | { op: 'fifoWait'; fd: number }
  /** A unix stream socket connected to `path` (close-on-exec), into slot `slot`. */
  | { op: 'connect'; path: string; slot: number }
  /**
   * The OCI console: a pty of the devpts this process sees, its master sent over socket
   * `fd` (-1-k: slot k) with SCM_RIGHTS, the slave made fds 0-2 and the controlling
   * terminal (after a setsid); the window size set where rows and columns are not 0.
   */
  | { op: 'console'; fd: number; rows: number; columns: number }
  /**
   * An OCI hook in the container's namespaces, run in a child and waited for: the state on
   * stdin (fd, or -1-slot, read from its start); `inHostRoot`: chrooted to /oldroot (the
   * host's tree mid-build), so that its path resolves as in the runtime's view.
   */
  | { op: 'hook'; path: string; argv: string[]; env: string[]; stdin: number; timeoutSec: number; inHostRoot: boolean }
  /** Fails where an exec of `file` (its PATH searched in `env`'s) would find no program: runc's create checks ahead. */
  | { op: 'lookup'; file: string; search: boolean; env: string[] };

/** A hook step's failures other than an errno (native/plan.h). */
export const HOOK_EXITED = 0x10000;
export const HOOK_KILLED = 0x20000;

/** The call a step makes and its strace-style arguments, for --explain and SysError. */
export function describe(step: Step): { call: string; args: string } {
  switch (step.op) {
    case 'writeFile': return { call: 'write', args: `${cstr(step.path)}, ${cstr(step.data)}` };
    case 'unshare': return { call: 'unshare', args: cloneFlagNames(step.flags) };
    case 'setns': return { call: 'setns', args: `${step.path ? cstr(step.path) : step.fd}, ${cloneFlagNames(step.nstype)}` };
    case 'mount': return { call: 'mount', args: mountArgs(step.source, step.target, step.fstype, step.flags, step.data ?? null) };
    case 'umount2': return { call: 'umount2', args: `${cstr(step.target)}, ${flagNames(step.flags, UMOUNT_FLAGS)}` };
    case 'pivotRoot': return { call: 'pivot_root', args: `${cstr(step.newRoot)}, ${cstr(step.putOld)}` };
    case 'chroot': return { call: 'chroot', args: cstr(step.path) };
    case 'chdir': return { call: 'chdir', args: cstr(step.path) };
    case 'fchdir': return { call: 'fchdir', args: step.path ? cstr(step.path) : String(step.fd) };
    case 'sethostname': return { call: 'sethostname', args: `${cstr(step.name)}, ${Buffer.byteLength(step.name)}` };
    case 'setdomainname': return { call: 'setdomainname', args: `${cstr(step.name)}, ${Buffer.byteLength(step.name)}` };
    case 'setgroups': return { call: 'setgroups', args: `${step.gids.length}, [${step.gids.join(', ')}]` };
    case 'setgid': return { call: 'setresgid', args: `${step.gid}, ${step.gid}, ${step.gid}` };
    case 'setuid': return { call: 'setresuid', args: `${step.uid}, ${step.uid}, ${step.uid}` };
    case 'prctl': return { call: 'prctl', args: prctlArgs(step.option, step.arg2, step.arg3) };
    case 'capset': return { call: 'capset', args: capsetArgs(step.sets) };
    case 'stdio': return { call: 'dup2', args: step.sources.map((s, fd) => (s === 'close' ? `close(${fd})` : `${s === 'keep' ? fd : s}->${fd}`)).join(', ') };
    case 'open': return { call: 'open', args: `${cstr(step.path)}, ${step.flags}` };
    case 'sync': return { call: 'read', args: 'go-pipe (waiting for the parent)' };
    case 'fork': return { call: 'clone', args: 'SIGCHLD' };
    case 'mkdir': return { call: 'mkdir', args: `${cstr(step.path)}, 0${step.mode.toString(8)}` };
    case 'setsid': return { call: 'setsid', args: '' };
    case 'exec': return { call: 'execve', args: `${cstr(step.file)}, [${step.argv.map(cstr).join(', ')}], [/* ${step.env.length} vars */]` };
    case 'remove': return { call: 'remove', args: cstr(step.path) };
    case 'note': return { call: 'note', args: `${cstr(step.file)}, ${cstr(step.key)} > ${step.above}, ${cstr(step.message)}` };
    case 'symlink': return { call: 'symlink', args: `${cstr(step.target)}, ${cstr(step.path)}` };
    case 'chmod': return { call: 'chmod', args: `${cstr(step.path)}, 0${step.mode.toString(8)}` };
    case 'mountSetattr': return { call: 'mount_setattr', args: `AT_FDCWD, ${cstr(step.path)}, ${step.flags}, {attr_set=${step.set}, attr_clr=${step.clear}, propagation=${step.propagation}}` };
    case 'seccomp': return { call: 'seccomp', args: `SECCOMP_SET_MODE_FILTER, ${step.flags}, {len=${step.filter.length / 8}, filter=...}` };
    case 'landlock': return { call: 'landlock_restrict_self', args: `${step.fd}, 0` };
    case 'setrlimit': return { call: 'prlimit64', args: `0, ${step.resource}, {rlim_cur=${step.soft < 0 ? 'RLIM_INFINITY' : step.soft}, rlim_max=${step.hard < 0 ? 'RLIM_INFINITY' : step.hard}}, NULL` };
    case 'umask': return { call: 'umask', args: `0${step.mask.toString(8)}` };
    case 'closeFrom': return { call: 'close_range', args: `${step.first}, ~0U, CLOSE_RANGE_CLOEXEC` };
    case 'createFile': return { call: 'open', args: `${cstr(step.path)}, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0${step.mode.toString(8)}` };
    case 'mknod': return { call: 'mknod', args: `${cstr(step.path)}, 0${step.mode.toString(8)}, ${step.dev}` };
    case 'landlockRuleset': return {
      call: 'landlock_create_ruleset',
      args: `{handled_access_fs=0x${step.handled.toString(16)}}, [${step.rules.map((r) => `${cstr(r.path)}: 0x${r.access.toString(16)}`).join(', ')}] -> slot ${step.slot}`,
    };
    case 'exitJson': return { call: 'write', args: `${step.fd}, "{ \\"exit-code\\": N }\\n"` };
    case 'init': return { call: 'clone', args: 'SIGCHLD (init: reaps until the program ends)' };
    case 'lockFile': return { call: 'fcntl', args: `open(${cstr(step.path)}, O_RDONLY|O_NOCTTY|O_NONBLOCK), F_SETLK, {F_RDLCK}` };
    case 'close': return { call: 'close', args: String(step.fd) };
    case 'pidfdOpen': return { call: 'pidfd_open', args: `${step.pid}, 0 -> slot ${step.slot}` };
    case 'pidfdGetfd': return { call: 'pidfd_getfd', args: `${step.pid === undefined ? step.pidfd : `pidfd of ${step.pid}`}, ${step.targetFd}, 0 -> slot ${step.slot}` };
    case 'nsIoctl': return { call: 'ioctl', args: `${step.path ? cstr(step.path) : step.fd}, ${step.request === NS_GET_USERNS ? 'NS_GET_USERNS' : 'SIOCGSKNS'} -> slot ${step.slot}` };
    case 'detach': return { call: 'clone', args: 'SIGCHLD (detached)' };
    case 'fifoWait': return { call: 'read', args: `${step.fd}, 1 (waiting for start)` };
    case 'connect': return { call: 'connect', args: `AF_UNIX, ${cstr(step.path)}` };
    case 'console': return { call: 'sendmsg', args: `${step.fd}, /dev/ptmx's master (SCM_RIGHTS)` };
    case 'lookup': return { call: 'lookup', args: `${cstr(step.file)}${step.search ? ' on PATH' : ''}` };
    case 'hook': return { call: 'hook', args: `${step.inHostRoot ? 'chroot("/oldroot"), ' : ''}execve(${cstr(step.path)}, [${step.argv.map(cstr).join(', ')}], /* ${step.env.length} vars */), waited${step.timeoutSec ? ` at most ${step.timeoutSec} s` : ''}` };
    case 'watch': return { call: 'watch', args: `timeout=${step.timeoutMs}ms, cpu=${step.cpuMs}ms, ${step.cpuFile ? cstr(step.cpuFile) : 'NULL'}, ${step.killFile ? cstr(step.killFile) : 'NULL'}` };
  }
}

/**
 * A step's operands. `raw` follows `ints` as more of them: bytes whose every 8 are one
 * little-endian i64 of the plan already (a filter's sock_filter instructions), copied as
 * they are: a BigInt per instruction cost a create with Podman's profile 3-5 ms.
 */
function operands(step: Step): { ints: (number | bigint)[]; raw?: Buffer; strs: (string | null)[] } {
  switch (step.op) {
    case 'writeFile': return { ints: [], strs: [step.path, step.data] };
    case 'unshare': return { ints: [step.flags], strs: [] };
    case 'setns': return { ints: [step.fd, step.nstype], strs: [] };
    case 'mount': return { ints: [step.flags], strs: [step.source, step.target, step.fstype, step.data ?? null] };
    case 'umount2': return { ints: [step.flags], strs: [step.target] };
    case 'pivotRoot': return { ints: [], strs: [step.newRoot, step.putOld] };
    case 'chroot': case 'chdir': return { ints: [], strs: [step.path] };
    case 'fchdir': return { ints: [step.fd], strs: [] };
    case 'sethostname': case 'setdomainname': return { ints: [], strs: [step.name] };
    case 'setgroups': return { ints: step.gids, strs: [] };
    case 'setgid': return { ints: [step.gid], strs: [] };
    case 'setuid': return { ints: [step.uid], strs: [] };
    case 'prctl': return { ints: [step.option, step.arg2 ?? 0, step.arg3 ?? 0], strs: [] };
    case 'capset': return { ints: [step.sets.effective, step.sets.permitted, step.sets.inheritable], strs: [] };
    case 'stdio': return { ints: step.sources.map((s) => (s === 'keep' ? -1 : s === 'close' ? -2 : s)), strs: [] };
    case 'open': return { ints: [step.flags, step.slot], strs: [step.path] };
    case 'fork': return { ints: [step.mode, step.deathSignal, step.parentSteps ?? 0], strs: [] };
    case 'sync': case 'setsid': return { ints: [], strs: [] };
    case 'mkdir': return { ints: [step.mode], strs: [step.path] };
    case 'exec': return { ints: [step.argv.length, step.search ? 1 : 0], strs: [step.file, ...step.argv, null, ...step.env] };
    case 'remove': return { ints: [], strs: [step.path] };
    case 'note': return { ints: [step.signal, step.above], strs: [step.file, step.key, step.message] };
    case 'symlink': return { ints: [], strs: [step.target, step.path] };
    case 'chmod': return { ints: [step.mode], strs: [step.path] };
    case 'mountSetattr': return { ints: [step.flags, step.set, step.clear, step.propagation], strs: [step.path] };
    case 'seccomp':
      if (step.filter.length % 8 !== 0) throw new RangeError(`a seccomp filter is whole 8-byte instructions (got ${step.filter.length} bytes)`);
      return { ints: [step.flags], raw: step.filter, strs: [] };
    case 'landlock': return { ints: [step.fd], strs: [] };
    case 'setrlimit': return { ints: [step.resource, step.soft, step.hard], strs: [] };
    case 'umask': return { ints: [step.mask], strs: [] };
    case 'closeFrom': return { ints: [step.first], strs: [] };
    case 'createFile': return { ints: [step.mode, step.fd ?? -1], strs: [step.path, step.data ?? null] };
    case 'mknod': return { ints: [step.mode, step.dev], strs: [step.path] };
    case 'landlockRuleset': return { ints: [step.handled, step.fileAccess, step.slot, ...step.rules.map((r) => r.access)], strs: step.rules.map((r) => r.path) };
    case 'watch': return { ints: [step.timeoutMs, step.cpuMs, step.cpuNs ? 1 : 0], strs: [step.cpuFile, step.killFile, step.timeoutNote, step.cpuNote] };
    case 'exitJson': return { ints: [step.fd], strs: [] };
    case 'init': return { ints: [step.mode, step.initSteps ?? 0], strs: [] };
    case 'lockFile': return { ints: [], strs: [step.path] };
    case 'close': return { ints: [step.fd], strs: [] };
    case 'pidfdOpen': return { ints: [step.pid, step.slot], strs: [] };
    case 'pidfdGetfd': return { ints: [step.pidfd, step.targetFd, step.slot], strs: [] };
    case 'nsIoctl': return { ints: [step.fd, step.request, step.slot], strs: [] };
    case 'detach': return { ints: [], strs: [] };
    case 'fifoWait': return { ints: [step.fd], strs: [] };
    case 'connect': return { ints: [step.slot], strs: [step.path] };
    case 'console': return { ints: [step.fd, step.rows, step.columns], strs: [] };
    case 'lookup': return { ints: [step.search ? 1 : 0], strs: [step.file, ...step.env] };
    case 'hook': return { ints: [step.argv.length, step.stdin, step.timeoutSec, step.inHostRoot ? 1 : 0], strs: [step.path, ...step.argv, null, ...step.env] };
  }
}

const PLUMBING = new Set<Step['op']>(['stdio', 'sync', 'closeFrom', 'note', 'watch', 'exitJson']);
const OPEN_FLAGS: Record<string, number> = {
  O_WRONLY: 0o1, O_RDWR: 0o2, O_CREAT: 0o100, O_EXCL: 0o200, O_NOCTTY: 0o400, O_TRUNC: 0o1000,
  O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000, O_CLOEXEC: 0o2000000, O_PATH: 0o10000000,
};

/** open(2) flags as strace names them (O_RDONLY is the absence of the access bits). */
function openFlags(flags: number): string {
  const names = flagNames(flags, OPEN_FLAGS);
  return (flags & 3) === 0 ? (names === '0' ? 'O_RDONLY' : `O_RDONLY|${names}`) : names;
}

/**
 * What --explain shows for a step, as native/runner.c expects it: strace's lines for the
 * calls the step makes ('\n' between two), \x01 where the descriptor goes that only the
 * stage knows (a slot's; the open's), \x02 for the file an exec tries; after '\t' the reason.
 */
function traceOf(step: Step, mode: ExplainMode): string {
  if (PLUMBING.has(step.op) && !mode.all) return '';
  let calls: string;
  switch (step.op) {
    case 'writeFile':
      calls = `openat(AT_FDCWD, ${cstr(step.path)}, O_WRONLY|O_CLOEXEC)\nwrite(\x01, ${cstr(step.data)}, ${Buffer.byteLength(step.data)})`;
      break;
    case 'open': calls = `openat(AT_FDCWD, ${cstr(step.path)}, ${openFlags(step.flags | OPEN_FLAGS.O_CLOEXEC)})`; break;
    case 'createFile': calls = `openat(AT_FDCWD, ${cstr(step.path)}, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0${step.mode.toString(8)})`; break;
    case 'setns': calls = `setns(${step.fd < 0 ? '\x01' : step.fd}, ${cloneFlagNames(step.nstype)})`; break;
    case 'fchdir': calls = `fchdir(${step.fd < 0 ? '\x01' : step.fd})`; break;
    case 'landlock': calls = `landlock_restrict_self(${step.fd < 0 ? '\x01' : step.fd}, 0)`; break;
    case 'pidfdOpen': calls = `pidfd_open(${step.pid}, 0)`; break;
    case 'pidfdGetfd': calls = `pidfd_getfd(${step.pidfd < 0 ? '\x01' : step.pidfd}, ${step.targetFd}, 0)`; break;
    case 'nsIoctl': calls = `ioctl(${step.fd < 0 ? '\x01' : step.fd}, ${step.request === NS_GET_USERNS ? 'NS_GET_USERNS' : 'SIOCGSKNS'})`; break;
    case 'lockFile': calls = `openat(AT_FDCWD, ${cstr(step.path)}, O_RDONLY|O_NOCTTY|O_NONBLOCK|O_CLOEXEC)\nfcntl(\x01, F_SETLK, {l_type=F_RDLCK, l_whence=SEEK_SET, l_start=0, l_len=0})`; break;
    case 'detach': calls = 'clone(child_stack=NULL, flags=SIGCHLD)'; break;
    case 'fifoWait': calls = `read(${step.fd < 0 ? '\x01' : step.fd}, ..., 1)`; break;
    case 'connect': calls = `socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0)\nconnect(\x01, {sa_family=AF_UNIX, sun_path=${cstr(step.path)}}, 110)`; break;
    case 'fork': case 'init': calls = 'clone(child_stack=NULL, flags=SIGCHLD)'; break;
    case 'remove': calls = `rmdir(${cstr(step.path)})`; break;
    // A PATH search's misses show with `all` (\x03 asks the stage for them).
    case 'exec': calls = `${mode.all ? '\x03' : ''}execve(\x02, [${step.argv.map(cstr).join(', ')}], /* ${step.env.length} vars */)`; break;
    default: {
      const { call, args } = describe(step);
      calls = `${call}(${args})`;
    }
  }
  const why = mode.why ? whyOf(step) : undefined;
  return why ? `${calls}\t${why}` : calls;
}

const CALLS_ONLY: ExplainMode = { why: false, all: false };

/** One i64 at `at`: a safe integer as two halves (a BigInt each cost more than the rest of a step). */
function writeInt64(buf: Buffer, v: number | bigint, at: number): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    const hi = Math.floor(v / 0x100000000);
    buf.writeUInt32LE(v - hi * 0x100000000, at);
    return buf.writeInt32LE(hi, at + 4);
  }
  return buf.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), at);
}

/** The byte stream native/stage.c parses (layout in native/plan.h); traces only when explaining. */
export function encodePlan(steps: readonly Step[], explain: ExplainMode | null = CALLS_ONLY): Buffer {
  // Sized from the strings' UTF-8 lengths, then written in one pass straight into the buffer.
  const records = steps.map((step) => {
    const { ints, raw, strs } = operands(step);
    // An empty trace prints nothing: rendering the calls only pays when they are explained.
    const trace = explain ? traceOf(step, explain) : '';
    return { op: OP[step.op], ints, raw, strs: [...strs, trace] };
  });
  let size = 0;
  for (const r of records) {
    size += 12 + 8 * r.ints.length + (r.raw?.length ?? 0);
    for (const s of r.strs) size += 4 + (s === null ? 0 : Buffer.byteLength(s) + 1);
  }
  const buf = Buffer.alloc(size);
  let at = 0;
  for (const r of records) {
    at = buf.writeUInt32LE(r.op, at);
    at = buf.writeUInt32LE(r.ints.length + (r.raw?.length ?? 0) / 8, at);
    for (const v of r.ints) at = writeInt64(buf, v, at);
    if (r.raw) at += r.raw.copy(buf, at);
    at = buf.writeUInt32LE(r.strs.length - 1, at);
    for (const s of r.strs) {
      if (s === null) {
        at = buf.writeUInt32LE(0xffffffff, at);
        continue;
      }
      const n = buf.write(s, at + 4);
      buf.writeUInt32LE(n, at);
      at += 4 + n + 1; // and the NUL, already zero
    }
  }
  return buf;
}
