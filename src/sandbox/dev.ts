// A minimal /dev, bubblewrap's --dev: a tmpfs holding the harmless devices bound from the
// host (a user namespace may not mknod), the std* links, a devpts of its own and /dev/shm.
import { AT_RECURSIVE, MOUNT_ATTR, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID } from '../sys/mount.js';
import type { Step } from '../native/plan.js';
import type { Entry } from './newroot.js';

const NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;
/** Links as bwrap's (nspawn and docker make /dev/fd and /dev/core too). */
const LINKS: Record<string, string> = {
  stdin: '/proc/self/fd/0', stdout: '/proc/self/fd/1', stderr: '/proc/self/fd/2',
  fd: '/proc/self/fd', core: '/proc/kcore', ptmx: 'pts/ptmx',
};

/** What the /dev at `dir` holds, for the new root's model (pts is a mount of its own). */
export const DEV_ENTRIES: Record<string, Entry> = {
  ...Object.fromEntries(NODES.map((n) => [n, { kind: 'other' }])),
  ...Object.fromEntries(Object.entries(LINKS).map(([n, target]) => [n, { kind: 'symlink', target }])),
  shm: { kind: 'dir' }, pts: { kind: 'dir' },
};

/** The steps that make /dev at `dir` (an existing directory) from the host's devices under `hostDev`. */
export function devSteps(dir: string, hostDev: string): Step[] {
  const steps: Step[] = [{ op: 'mount', source: 'tmpfs', target: dir, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV, data: 'mode=0755' }];
  for (const name of NODES) {
    const node = `${dir}/${name}`;
    // A bind needs something to cover.
    steps.push(
      { op: 'createFile', path: node, mode: 0o444, data: '' },
      { op: 'mount', source: `${hostDev}/${name}`, target: node, fstype: null, flags: MS_BIND },
    );
  }
  // The devices keep their host mount's flags plus nosuid, as bwrap's: one recursive
  // change of the tmpfs (nosuid already) covers every bind below it, where a change per
  // device cost a system call each on every sandbox's start.
  steps.push({ op: 'mountSetattr', path: dir, flags: AT_RECURSIVE, set: MOUNT_ATTR.NOSUID, clear: 0, propagation: 0 });
  for (const [name, target] of Object.entries(LINKS)) if (name !== 'ptmx') steps.push({ op: 'symlink', target, path: `${dir}/${name}` });
  steps.push(
    { op: 'mkdir', path: `${dir}/shm`, mode: 0o755 },
    { op: 'mkdir', path: `${dir}/pts`, mode: 0o755 },
    // newinstance: its own ptys, not the host's; ptmx usable by all, through the link.
    { op: 'mount', source: 'devpts', target: `${dir}/pts`, fstype: 'devpts', flags: MS_NOSUID | MS_NOEXEC, data: 'newinstance,ptmxmode=0666,mode=620' },
    { op: 'symlink', target: LINKS.ptmx, path: `${dir}/ptmx` },
  );
  return steps;
}
