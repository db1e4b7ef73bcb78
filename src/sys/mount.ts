// Mounts and roots: mount, umount2, pivot_root, chroot, chdir.
import { check, fn, rawSyscall, SYS } from './libc.js';
import { cstr, flagNames } from './format.js';

/** linux/mount.h */
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;

export const MOUNT_FLAGS: Record<string, number> = {
  MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC,
  MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC, MS_SILENT, MS_UNBINDABLE,
  MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_RELATIME, MS_STRICTATIME, MS_LAZYTIME,
};

/** umount2 flags */
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;

/** mount_setattr(2): apply to the whole tree below the path, submounts included. */
export const AT_RECURSIVE = 0x8000;
/** mount_setattr(2)'s MOUNT_ATTR_* (linux/mount.h). */
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;
export const MNT_EXPIRE = 4;
export const UMOUNT_NOFOLLOW = 8;
export const UMOUNT_FLAGS: Record<string, number> = { MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW };

export function mountArgs(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): string {
  return `${cstr(source)}, ${cstr(target)}, ${cstr(fstype)}, ${flagNames(flags, MOUNT_FLAGS)}, ${cstr(data)}`;
}

/**
 * mount(2). In the Node process this acts in Node's mount namespace; mounts for a sandbox
 * belong in its spawn plan instead.
 */
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check('mount', mountArgs(source, target, fstype, flags, data), () =>
    fn('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)')(
      source, target, fstype, flags, data));
}

export function umount2(target: string, flags = 0): void {
  check('umount2', `${cstr(target)}, ${flagNames(flags, UMOUNT_FLAGS)}`, () =>
    fn('int umount2(const char *target, int flags)')(target, flags));
}

export function pivotRoot(newRoot: string, putOld: string): void {
  check('pivot_root', `${cstr(newRoot)}, ${cstr(putOld)}`, () =>
    rawSyscall()(SYS.pivot_root, 'const char *', newRoot, 'const char *', putOld));
}

export function chroot(path: string): void {
  check('chroot', cstr(path), () => fn('int chroot(const char *path)')(path));
}

export function chdir(path: string): void {
  check('chdir', cstr(path), () => fn('int chdir(const char *path)')(path));
}
