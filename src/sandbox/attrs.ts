// mount_setattr(2)'s flags (linux/mount.h), for the plan's mountSetattr step.

/** Apply to the whole tree below the path, submounts included. */
export const AT_RECURSIVE = 0x8000;

export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;
