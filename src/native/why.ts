// --explain=why: the reason for each step of a plan, one short clause after the call.
import type { Step } from './plan.js';
import { cstr } from '../sys/format.js';
import {
  CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS,
} from '../sys/ns.js';
import { MNT_DETACH, MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE, MS_SHARED } from '../sys/mount.js';
import { PR_CAP_AMBIENT, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG } from '../sys/prctl.js';

const UNSHARE_WHY: [number, string][] = [
  [CLONE_NEWUSER, 'own user and group ids: root inside maps to an ordinary id outside'],
  [CLONE_NEWNS, "own mount table, so mounts made here (a new /proc) never touch the host's"],
  [CLONE_NEWUTS, 'own hostname and domain name'],
  [CLONE_NEWIPC, 'own System V IPC objects and POSIX message queues'],
  [CLONE_NEWNET, 'own network stack: only a loopback device, down'],
  [CLONE_NEWPID, 'own pid numbers: the next child made is pid 1 (this process keeps its pid)'],
  [CLONE_NEWCGROUP, "the current cgroup becomes the root of what /proc/self/cgroup shows"],
  [CLONE_NEWTIME, 'own monotonic and boottime clock offsets, for the children made next'],
];

const SETNS_WHY: [number, string][] = [
  [CLONE_NEWUSER, "join the target's user namespace first: it owns the others and grants the capabilities inside"],
  [CLONE_NEWNS, "see the target's mounts (the root and working directory are set after)"],
  [CLONE_NEWUTS, "take the target's hostname"],
  [CLONE_NEWIPC, "share the target's IPC objects"],
  [CLONE_NEWNET, "use the target's network stack"],
  [CLONE_NEWPID, 'children made after this are in the target\'s pid namespace (this process stays where it is)'],
  [CLONE_NEWCGROUP, "see the cgroup tree from the target's root"],
  [CLONE_NEWTIME, "the children made next see the target's clocks"],
];

function byFlag(table: [number, string][], flags: number): string | undefined {
  const parts = table.filter(([bit]) => (flags & bit) !== 0).map(([, why]) => why);
  return parts.length ? parts.join('; ') : undefined;
}

function mountWhy(step: Extract<Step, { op: 'mount' }>): string | undefined {
  const f = step.flags;
  if ((f & (MS_PRIVATE | MS_SLAVE | MS_SHARED)) && !(f & MS_BIND)) {
    return (f & MS_PRIVATE)
      ? 'stop mount and unmount events from passing between this namespace and the host'
      : (f & MS_SLAVE) ? "receive the host's mount events but send none back" : 'share mount events with peers';
  }
  if (f & MS_REMOUNT) return (f & MS_RDONLY) ? 'make it read-only' : 'change its flags';
  // Quoted as the call's arguments are: a path's newline would otherwise start a forged line.
  if (f & MS_BIND) return `make ${cstr(step.source)} visible at ${cstr(step.target)}${(f & MS_REC) ? ', submounts included' : ''}`;
  switch (step.fstype) {
    case 'proc': return "a /proc for this pid namespace: it lists only the processes in it";
    case 'tmpfs': return 'an empty directory in memory';
    case 'sysfs': return 'a /sys for this network namespace';
    case 'mqueue': return "this IPC namespace's POSIX message queues";
    case 'devpts': return 'a pseudo-terminal instance of its own';
    case 'overlay': return 'layers: writes go to the upper directory, the lower ones stay untouched';
    case 'cgroup': case 'cgroup2': return 'a cgroup hierarchy, seen from this cgroup namespace';
    default: return undefined;
  }
}

/** Why a /proc or cgroup file is written: for the stage's writes and the planner's alike. */
export function fileWhy(path: string, data: string): string | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1);
  switch (name) {
    case 'uid_map': return 'map user ids inside to ids outside: without a map, ids show as nobody';
    case 'gid_map': return 'map group ids inside to ids outside';
    case 'setgroups': return data === 'deny' ? 'an unprivileged gid_map needs setgroups(2) denied first' : 'allow setgroups(2) inside';
    case 'cgroup.procs': return data === '0' ? 'move this process into the group: its children are born there' : `move process ${cstr(data)} into the group`;
    case 'cgroup.subtree_control': return 'let the children of this group use these controllers (cgroup2 hands them down)';
    case 'cgroup.kill': return 'kill every process of the group and its descendants at once';
    case 'cgroup.freeze': case 'freezer.state': return 'stop or resume every process of the group';
    default: return name.includes('.') ? `the group's ${cstr(name)} limit` : undefined;
  }
}

function prctlWhy(option: number): string | undefined {
  switch (option) {
    case PR_SET_NO_NEW_PRIVS: return 'no exec can raise privileges again (setuid bits, file capabilities); lets an unprivileged filter in';
    case PR_SET_PDEATHSIG: return 'die when the parent dies';
    case PR_CAPBSET_DROP: return 'drop from the bounding set: no exec can bring it back';
    case PR_SET_KEEPCAPS: return 'keep the permitted capabilities across the uid change';
    case PR_CAP_AMBIENT: return 'ambient capabilities survive the exec of an ordinary program';
    default: return undefined;
  }
}

/** The reason for a step, or undefined where the call says it all. */
export function whyOf(step: Step): string | undefined {
  switch (step.op) {
    case 'unshare': return byFlag(UNSHARE_WHY, step.flags);
    case 'setns': return byFlag(SETNS_WHY, step.nstype);
    case 'open': return step.path.includes('/ns/') ? 'hold the namespace now, before entering any changes what paths mean' : undefined;
    case 'mount': return mountWhy(step);
    case 'umount2': return (step.flags & MNT_DETACH) ? 'detach the old root: no path leads back to the host' : undefined;
    case 'pivotRoot': return "the new root becomes this mount namespace's /; the old one is stacked below, to be detached";
    case 'chroot': return "change this process's / only: root with CAP_SYS_CHROOT can climb out (not isolation)";
    case 'chdir': case 'fchdir': return 'the working directory, resolved in the new root';
    case 'sethostname': return 'changes only this UTS namespace';
    case 'setdomainname': return 'changes only this UTS namespace';
    case 'setgroups': return 'the supplementary groups the program keeps';
    case 'setgid': return 'the group id, real, effective and saved alike';
    case 'setuid': return 'the user id, real, effective and saved alike: capabilities go unless kept';
    case 'prctl': return prctlWhy(step.option);
    case 'capset': return 'the capabilities this process keeps (and the program, after its exec)';
    case 'lockFile': return 'a lock held as long as the sandbox lives, for whoever waits on the file';
    case 'fork': return 'the program goes on in a child (a new pid namespace takes children only); this process waits, finishes what is left, and ends as the child did';
    case 'pidfdOpen': return 'a handle on the process that stays valid even if its pid is reused';
    case 'pidfdGetfd': return "a copy of the target's descriptor, taken through its pidfd";
    case 'nsIoctl': return step.request === 0xb701 ? 'the user namespace that owns it: the one to join' : "the socket's network namespace: the one to join";
    case 'detach': return "the container's process outlives this one: it becomes a child of the caller's subreaper (Podman's conmon)";
    case 'fifoWait': return "set up, the program not yet run: wait for `start` to write the fifo";
    case 'connect': return "the caller's console socket, reached before the root changes";
    case 'console': return "a terminal of the container's own devpts: its master goes to the caller, its slave becomes fds 0-2";
    case 'lookup': return 'the program looked up before create returns, as runc does: a missing one fails create, not start';
    case 'hook': return step.inHostRoot ? "an OCI createContainer hook: in the container's namespaces, its root not yet changed, the path as the runtime sees it"
      : "an OCI startContainer hook: in the container, after start, before its program";
    case 'init': return "bwrap's init: this process stays as pid 1, reaps orphans and ends as the program does";
    case 'mkdir': return 'a mount point';
    case 'setsid': return 'a session of its own: no controlling terminal to inject keystrokes through (TIOCSTI)';
    case 'exec': return 'become the program: same pid, descriptors and signal mask';
    case 'remove': return 'clean up what this run made';
    case 'writeFile': return fileWhy(step.path, step.data);
    case 'mountSetattr': return 'read-only recursively: submounts included, which MS_REMOUNT alone misses';
    case 'seccomp': return 'the system call filter: from here on the kernel checks every call';
    case 'landlock': return 'file access limited to the rules, for this process and its children';
    case 'setrlimit': return 'a resource limit the program cannot raise past the hard value';
    case 'umask': return 'the permissions taken away from new files';
    case 'createFile': return 'a file made for the sandbox';
    case 'mknod': return 'a device node, in a /dev of its own';
    case 'symlink': return undefined;
    default: return undefined;
  }
}
