// Namespaces: the one table every tool derives its options, clone flags and /proc paths from.
import { check, fn } from './libc.js';
import { flagNames } from './format.js';

/** linux/sched.h */
export const CLONE_NEWTIME = 0x00000080;
export const CLONE_VM = 0x00000100;
export const CLONE_FS = 0x00000200;
export const CLONE_FILES = 0x00000400;
export const CLONE_VFORK = 0x00004000;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const CLONE_FLAGS: Record<string, number> = {
  CLONE_NEWTIME, CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_VFORK, CLONE_NEWNS, CLONE_NEWCGROUP,
  CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

export type NamespaceKind = 'user' | 'cgroup' | 'ipc' | 'uts' | 'net' | 'pid' | 'mount' | 'time';

export interface NamespaceInfo {
  kind: NamespaceKind;
  /** clone(2)/unshare(2)/setns(2) flag */
  flag: number;
  /** file under /proc/PID/ns/ */
  file: string;
  /** the file a process's children will be in, where it differs (pid, time) */
  forChildren?: string;
  /** util-linux short option */
  short: string;
  /** util-linux long option */
  long: string;
}

/**
 * In setns order, as nsenter(1) enters them: the user namespace first, so that its
 * capabilities apply to the rest; the mount namespace late, since entering it changes
 * what the /proc paths of the others resolve to.
 */
export const NAMESPACES: readonly NamespaceInfo[] = [
  { kind: 'user', flag: CLONE_NEWUSER, file: 'user', short: 'U', long: 'user' },
  { kind: 'cgroup', flag: CLONE_NEWCGROUP, file: 'cgroup', short: 'C', long: 'cgroup' },
  { kind: 'ipc', flag: CLONE_NEWIPC, file: 'ipc', short: 'i', long: 'ipc' },
  { kind: 'uts', flag: CLONE_NEWUTS, file: 'uts', short: 'u', long: 'uts' },
  { kind: 'net', flag: CLONE_NEWNET, file: 'net', short: 'n', long: 'net' },
  { kind: 'pid', flag: CLONE_NEWPID, file: 'pid', forChildren: 'pid_for_children', short: 'p', long: 'pid' },
  { kind: 'mount', flag: CLONE_NEWNS, file: 'mnt', short: 'm', long: 'mount' },
  { kind: 'time', flag: CLONE_NEWTIME, file: 'time', forChildren: 'time_for_children', short: 'T', long: 'time' },
];

export function namespaceInfo(kind: NamespaceKind): NamespaceInfo {
  const info = NAMESPACES.find((n) => n.kind === kind);
  if (!info) throw new TypeError(`unknown namespace kind: ${kind}`);
  return info;
}

/** The kind whose clone flag is `flag` (as NS_GET_NSTYPE returns it). */
export function kindOfFlag(flag: number): NamespaceKind | undefined {
  return NAMESPACES.find((n) => n.flag === flag)?.kind;
}

/** OR of the clone flags of `kinds`. */
export function flagsOf(kinds: Iterable<NamespaceKind>): number {
  let flags = 0;
  for (const k of kinds) flags |= namespaceInfo(k).flag;
  return flags;
}

export function cloneFlagNames(flags: number): string {
  return flagNames(flags, CLONE_FLAGS);
}

/**
 * unshare(2) in the calling thread. From Node this only works for namespaces that do not
 * require a single-threaded caller (not user; mount and uts affect this thread alone):
 * use spawn() to start a process in new namespaces.
 */
export function unshare(flags: number): void {
  check('unshare', cloneFlagNames(flags), () => fn('int unshare(int flags)')(flags));
}

/** setns(2) in the calling thread; `nstype` 0 accepts any kind. */
export function setns(fd: number, nstype = 0): void {
  check('setns', `${fd}, ${nstype ? cloneFlagNames(nstype) : '0'}`, () => fn('int setns(int fd, int nstype)')(fd, nstype));
}

/** linux/nsfs.h: _IO(0xb7, n) */
export const NS_GET_USERNS = 0xb701;
export const NS_GET_PARENT = 0xb702;
export const NS_GET_NSTYPE = 0xb703;
export const NS_GET_OWNER_UID = 0xb704;

function nsIoctl(fd: number, request: number, name: string): number {
  return check('ioctl', `${fd}, ${name}`, () => fn('int ioctl(int fd, unsigned long request, ...)')(fd, request));
}

/** An fd (close it) for the user namespace that owns the namespace behind `fd`. */
export function nsGetUserns(fd: number): number {
  return nsIoctl(fd, NS_GET_USERNS, 'NS_GET_USERNS');
}

/** An fd (close it) for the parent of the pid or user namespace behind `fd`. */
export function nsGetParent(fd: number): number {
  return nsIoctl(fd, NS_GET_PARENT, 'NS_GET_PARENT');
}

/** The kind of the namespace behind `fd`. */
export function nsGetType(fd: number): NamespaceKind {
  const flag = nsIoctl(fd, NS_GET_NSTYPE, 'NS_GET_NSTYPE');
  const kind = kindOfFlag(flag);
  if (!kind) throw new Error(`NS_GET_NSTYPE returned an unknown type ${flag}`);
  return kind;
}

/** The uid (in the caller's user namespace) that owns the user namespace behind `fd`. */
export function nsGetOwnerUid(fd: number): number {
  const out = [0];
  check('ioctl', `${fd}, NS_GET_OWNER_UID`, () =>
    fn('int ioctl(int fd, unsigned long request, _Out_ uint32_t *uid)')(fd, NS_GET_OWNER_UID, out));
  return out[0];
}
