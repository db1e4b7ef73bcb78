// A root that cannot be left, and a /proc that cannot reach past its pid namespace: the
// steps bubblewrap and runc take, for spawn()'s `pivotRoot` and `protectProc`.
//
// chroot(2) only moves the process's root: whoever keeps CAP_SYS_CHROOT can chroot into a
// subdirectory and walk `..` out of the old one. pivot_root(2) inside a private mount
// namespace replaces the namespace's root instead, and once the old root is detached no
// path leads back to the host; a process that joins the namespace later (setns) lands on
// the new root too.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT } from '../sys/mount.js';
import type { Step } from '../native/plan.js';

/** runc's readonlyPaths below /proc: kernel-wide settings writable by root without CAP_SYS_ADMIN (core_pattern runs a program on the host). */
export const PROC_READONLY = ['bus', 'fs', 'irq', 'sys', 'sysrq-trigger'] as const;
/** runc's maskedPaths below /proc: kernel memory, other users' keys, timers and hardware. */
export const PROC_MASKED = ['acpi', 'asound', 'kcore', 'keys', 'latency_stats', 'timer_list', 'timer_stats', 'sched_debug', 'scsi'] as const;

/**
 * Bind `root` onto itself (a mount of its own, with what is mounted below it), run
 * `inside` (steps that still see the host, with paths under root), then make it the root:
 * pivot_root(".", ".") stacks the old root on the new one, and detaching it leaves no
 * put_old directory behind (pivot_root(2), NOTES).
 */
export function pivotSteps(root: string, inside: Step[]): Step[] {
  return [
    { op: 'mount', source: root, target: root, fstype: null, flags: MS_BIND | MS_REC },
    ...inside,
    { op: 'chdir', path: root },
    { op: 'pivotRoot', newRoot: '.', putOld: '.' },
    { op: 'umount2', target: '.', flags: MNT_DETACH },
  ];
}

/**
 * After a fresh proc is mounted at `dir`: the read-only and masked paths runc sets up.
 * Files are masked with the caller's /dev/null (so the mask is made before a pivot, while
 * the host's /dev/null is reachable, and nothing inside the root can swap it); directories
 * with an empty read-only tmpfs. Which entries exist is read from this /proc: it is the same
 * kernel. `devNull` is where the caller's /dev/null is at that moment (the Sandbox builds its
 * root with the host's tree at /oldroot).
 */
export function protectProcSteps(dir: string, devNull = '/dev/null'): Step[] {
  const steps: Step[] = [];
  for (const name of PROC_READONLY) {
    if (!entryOf(name)) continue;
    const target = join(dir, name);
    steps.push(
      { op: 'mount', source: target, target, fstype: null, flags: MS_BIND | MS_REC },
      { op: 'mount', source: null, target, fstype: null, flags: MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC },
    );
  }
  for (const name of PROC_MASKED) {
    const entry = entryOf(name);
    if (!entry) continue;
    const target = join(dir, name);
    steps.push(entry === 'dir'
      ? { op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, data: 'size=0' }
      : { op: 'mount', source: devNull, target, fstype: null, flags: MS_BIND });
  }
  return steps;
}

/**
 * What /proc/NAME is in this kernel, if it has one. Looked up on every plan: a module
 * loaded since (sound, scsi) adds its entry. Most of the list is missing on most kernels,
 * so a missing entry is an answer, not a thrown error (an exception each cost more than
 * the stat).
 */
function entryOf(name: string): 'dir' | 'file' | undefined {
  try {
    const st = statSync(`/proc/${name}`, { throwIfNoEntry: false });
    return st === undefined ? undefined : st.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}
