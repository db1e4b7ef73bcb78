/*
 * The plan a TypeScript caller hands to the native stage. Mirrors src/native/plan.ts:
 * the opcodes and the record layout are defined there first; change both together.
 *
 * A plan is a sequence of records, all integers little-endian:
 *   u32 op; u32 nint; i64 ints[nint]; u32 nstr; nstr * (u32 len; bytes[len]; NUL);
 *   u32 tracelen; bytes[tracelen]; NUL
 * A string of len 0xffffffff is NULL (and has no bytes and no NUL).
 */
#ifndef TSNS_PLAN_H
#define TSNS_PLAN_H

enum tsns_op {
	TSNS_OP_WRITE_FILE = 1,    /* s: path, data */
	TSNS_OP_UNSHARE = 2,       /* i: flags */
	TSNS_OP_SETNS = 3,         /* i: fd, nstype */
	TSNS_OP_MOUNT = 4,         /* i: flags; s: source, target, fstype, data */
	TSNS_OP_UMOUNT2 = 5,       /* i: flags; s: target */
	TSNS_OP_PIVOT_ROOT = 6,    /* s: new_root, put_old */
	TSNS_OP_CHROOT = 7,        /* s: path */
	TSNS_OP_CHDIR = 8,         /* s: path */
	TSNS_OP_FCHDIR = 9,        /* i: fd */
	TSNS_OP_SETHOSTNAME = 10,  /* s: name */
	TSNS_OP_SETDOMAINNAME = 11,/* s: name */
	TSNS_OP_SETGROUPS = 12,    /* i: gids */
	TSNS_OP_SETGID = 13,       /* i: gid (real, effective and saved) */
	TSNS_OP_SETUID = 14,       /* i: uid (real, effective and saved) */
	TSNS_OP_PRCTL = 15,        /* i: option, arg2, arg3 */
	TSNS_OP_CAPSET = 16,       /* i: effective, permitted, inheritable (64-bit masks) */
	TSNS_OP_DUP2 = 17,         /* i: oldfd, newfd; equal fds: clear FD_CLOEXEC */
	TSNS_OP_SYNC = 18,         /* report "ready", wait for the parent's go */
	TSNS_OP_FORK = 19,         /* go on in a child; this process waits and ends as it did */
	TSNS_OP_MKDIR = 20,        /* i: mode; s: path (EEXIST is success) */
	TSNS_OP_SETSID = 21,       /* (none) */
	TSNS_OP_EXEC = 22,         /* i: argc, search PATH; s: file, argv[argc], NULL, env... */
	TSNS_OP_MAX = 22
};

/* What the child writes to the report pipe: 3 x i32. */
enum tsns_report {
	TSNS_REPORT_READY = 1,     /* at a SYNC step: waiting for go */
	TSNS_REPORT_ERROR = 2      /* step failed with errno; the child exits */
};

#endif
