// What bwrap puts around its program: the init that reaps inside a new pid namespace (and
// holds --lock-file's locks), and the namespace ids --info-fd and --json-status-fd give.
import { statSync } from 'node:fs';
import { NAMESPACES, type NamespaceKind } from '../sys/ns.js';
import { FORK, type Step } from '../native/plan.js';

/**
 * The steps, at the start of the program's last ones (before seccomp, Landlock and its
 * death signal), that leave bwrap's init behind: the locks are taken first, by the process
 * that stays (POSIX locks belong to a process, and a fork's child has none of them), which
 * then drops every capability, as bwrap's init does, and passes SIGTERM and SIGHUP on
 * (the terminal's SIGINT reaches the program by itself).
 * --lock-file's paths and --sync-fd's descriptor are what it holds.
 */
export function initSteps(lockFiles: readonly string[], syncFd?: number): Step[] {
  return [
    ...lockFiles.map((path): Step => ({ op: 'lockFile', path })),
    { op: 'init', mode: FORK.forward | FORK.ignoreInt, initSteps: 1 },
    { op: 'capset', sets: { effective: 0n, permitted: 0n, inheritable: 0n } },
    // --sync-fd: the init's copy keeps it open while the sandbox lives; the program has none.
    ...(syncFd === undefined ? [] : [{ op: 'close', fd: syncFd } as Step]),
  ];
}

/**
 * bwrap's `"NAME-namespace": INODE` fields for process `pid`: the mount namespace and the
 * new ones among `fresh`, in bwrap's order (by their /proc/PID/ns file name), without
 * the user namespace (bwrap leaves it out). A namespace that cannot be read is left out.
 */
export function namespaceIds(pid: number, fresh: readonly NamespaceKind[]): Record<string, number> {
  const ids: Record<string, number> = {};
  const files = NAMESPACES.filter((n) => n.kind === 'mount' || (n.kind !== 'user' && fresh.includes(n.kind))).map((n) => n.file).sort();
  for (const file of files) {
    try {
      ids[`${file}-namespace`] = statSync(`/proc/${pid}/ns/${file}`).ino;
    } catch {
      // gone already, as bwrap's namespace_ids_read skips it
    }
  }
  return ids;
}
