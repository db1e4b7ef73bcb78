/*
 * The plan a TypeScript caller hands to the native stage. Mirrors src/native/plan.ts:
 * the opcodes and the record layout are defined there first; change both together
 * (test/plan-table.test.ts cross-checks this table with plan.ts).
 *
 * A plan is a sequence of records, all integers little-endian:
 *   u32 op; u32 nint; i64 ints[nint]; u32 nstr; nstr * (u32 len; bytes[len]; NUL);
 *   u32 tracelen; bytes[tracelen]; NUL
 * A string of len 0xffffffff is NULL (and has no bytes and no NUL); only the strings an
 * op marks in its NULL mask may be NULL.
 */
#ifndef TSNS_PLAN_H
#define TSNS_PLAN_H

/* X(name, code, ints, strs, nullmask): ints/strs are the fixed counts, -1 where the op
 * takes a list (checked by the parser per op); bit k of nullmask lets string k be NULL. */
#define TSNS_OPS(X) \
	X(WRITE_FILE,     1,  0,  2, 0x0)  /* s: path, data */ \
	X(UNSHARE,        2,  1,  0, 0x0)  /* i: flags */ \
	X(SETNS,          3,  2,  0, 0x0)  /* i: fd (or -1-slot), nstype */ \
	X(MOUNT,          4,  1,  4, 0xd)  /* i: flags; s: source, target, fstype, data */ \
	X(UMOUNT2,        5,  1,  1, 0x0)  /* i: flags; s: target */ \
	X(PIVOT_ROOT,     6,  0,  2, 0x0)  /* s: new_root, put_old */ \
	X(CHROOT,         7,  0,  1, 0x0)  /* s: path */ \
	X(CHDIR,          8,  0,  1, 0x0)  /* s: path */ \
	X(FCHDIR,         9,  1,  0, 0x0)  /* i: fd (or -1-slot) */ \
	X(SETHOSTNAME,   10,  0,  1, 0x0)  /* s: name */ \
	X(SETDOMAINNAME, 11,  0,  1, 0x0)  /* s: name */ \
	X(SETGROUPS,     12, -1,  0, 0x0)  /* i: gids (at most 65536) */ \
	X(SETGID,        13,  1,  0, 0x0)  /* i: gid (real, effective and saved) */ \
	X(SETUID,        14,  1,  0, 0x0)  /* i: uid (real, effective and saved) */ \
	X(PRCTL,         15,  3,  0, 0x0)  /* i: option, arg2, arg3 */ \
	X(CAPSET,        16,  3,  0, 0x0)  /* i: effective, permitted, inheritable (64-bit masks) */ \
	X(STDIO,         17, -1,  0, 0x0)  /* i: per fd 0..n-1 its source fd, -1: keep it (clear close-on-exec), -2: close it */ \
	X(SYNC,          18,  0,  0, 0x0)  /* report READY, wait for the parent's reply */ \
	X(FORK,          19,  3,  0, 0x0)  /* i: TSNS_FORK_* mode bits, death signal of the child (0: none), n: the next n steps are the parent's */ \
	X(MKDIR,         20,  1,  1, 0x0)  /* i: mode; s: path (EEXIST is success) */ \
	X(SETSID,        21,  0,  0, 0x0)  /* (none) */ \
	X(EXEC,          22,  2, -1, 0x0)  /* i: argc, search PATH; s: file, argv[argc], NULL, env... */ \
	X(OPEN,          23,  2,  1, 0x0)  /* i: open flags, slot; s: path (opened close-on-exec) */ \
	X(REMOVE,        24,  0,  1, 0x0)  /* s: path (rmdir, or unlink a file; EBUSY retried for 2 s; ENOENT is success) */ \
	X(NOTE,          25,  2,  3, 0x0)  /* i: signal (0: any end; n > 0: the child died of n; n < 0: it did not die of -n), above; s: file, key, message */ \
	X(SYMLINK,       26,  0,  2, 0x0)  /* s: target, linkpath */ \
	X(CHMOD,         27,  1,  1, 0x0)  /* i: mode; s: path */ \
	X(MOUNT_SETATTR, 28,  4,  1, 0x0)  /* i: flags (AT_RECURSIVE...), attr_set, attr_clr, propagation; s: path */ \
	X(SECCOMP,       29, -1,  0, 0x0)  /* i: flags, then the filter: one struct sock_filter per int (at most 4096) */ \
	X(LANDLOCK,      30,  1,  0, 0x0)  /* i: ruleset fd (or -1-slot): landlock_restrict_self */ \
	X(SETRLIMIT,     31,  3,  0, 0x0)  /* i: resource, soft, hard (-1: RLIM_INFINITY) */ \
	X(UMASK,         32,  1,  0, 0x0)  /* i: mask */ \
	X(CLOSE_FROM,    33,  1,  0, 0x0)  /* i: first fd: it and every one above close at exec (the report channel lives until then) */ \
	X(CREATE_FILE,   34,  2,  2, 0x2)  /* i: mode, source fd (-1: none); s: path, data (NULL: copy the fd) */ \
	X(MKNOD,         35,  2,  1, 0x0)  /* i: mode (type and permissions), dev; s: path */ \
	X(LANDLOCK_RULESET, 36, -1, -1, 0x0)  /* i: handled_access_fs, file rights, slot, then per path its rights; s: paths (a Landlock ruleset into the slot) */ \
	X(WATCH,         37,  3,  4, 0xf)  /* i: wall-clock ms, CPU ms (0: none), CPU file unit (0: cpu.stat usec, 1: cpuacct.usage ns); s: CPU file, cgroup.kill, timeout note, CPU note: the next FORK's parent enforces them */ \
	X(EXIT_JSON,     38,  1,  0, 0x0)  /* i: fd: a fork's parent step writing bwrap's { "exit-code": N } (128+signal for a killed child) */ \
	X(INIT,          39,  2,  0, 0x0)  /* i: TSNS_FORK_* mode bits (FORWARD, IGNORE_INT), n: the next n steps are the init's: go on in a child; this process reaps every child and ends as that one did */ \
	X(LOCK_FILE,     40,  0,  1, 0x0)  /* s: path: opened read-only and read-locked (F_SETLK) for this process's life (bwrap --lock-file) */ \
	X(CLOSE,         41,  1,  0, 0x0)  /* i: fd: closed here (one not open is no error): an init's copy stays (bwrap --sync-fd) */ \
	X(PIDFD_OPEN,    50,  2,  0, 0x0)  /* i: pid, slot: pidfd_open(pid) into the slot */ \
	X(PIDFD_GETFD,   51,  3,  0, 0x0)  /* i: pidfd (or -1-slot), that process's fd, slot: a copy of its descriptor into the slot */ \
	X(NS_IOCTL,      52,  3,  0, 0x0)  /* i: fd (or -1-slot), request (NS_GET_USERNS or SIOCGSKNS only), slot: the namespace descriptor it gives, into the slot */ \
	X(DETACH,        70,  0,  0, 0x0)  /* go on in a new child that outlives this process: it reports the child's pid, waits for a FIFO_WAIT (or the child's end), then exits with the parent's reply (or as the child ended) */ \
	X(FIFO_WAIT,     71,  1,  0, 0x0)  /* i: fd (or -1-slot) of a fifo opened O_RDWR: report READY (after a DETACH: let its parent go, drop the report channel), block until one byte can be read */ \
	X(CONNECT,       72,  1,  1, 0x0)  /* i: slot; s: path: a unix stream socket connected to path (close-on-exec), into the slot */ \
	X(CONSOLE,       73,  3,  0, 0x0)  /* i: socket fd (or -1-slot), rows, columns (0: unset): a pty from /dev/ptmx, its master sent over the socket (SCM_RIGHTS), the slave made fds 0-2 and the controlling terminal */ \
	X(HOOK,          74,  4, -1, 0x0)  /* i: argc, stdin fd (or -1-slot), timeout seconds (0: none), 1: chrooted to /oldroot; s: path (absolute), argv[argc], NULL, env...: an OCI hook run in a child and waited for (failure: errno, or TSNS_HOOK_EXITED|status, TSNS_HOOK_KILLED|signal, ETIMEDOUT) */ \
	X(LOOKUP,        75,  1, -1, 0x0)  /* i: search PATH; s: file, env...: fails (ENOENT, EACCES) where EXEC would find no program to run */

enum tsns_op {
#define TSNS_OP_ENUM(name, code, ints, strs, nulls) TSNS_OP_##name = code,
	TSNS_OPS(TSNS_OP_ENUM)
#undef TSNS_OP_ENUM
	TSNS_OP_MAX = 75
};

/* Codes are not contiguous (42-49 and 53-69 are unused; 70-79 are the OCI runtime's): the parser refuses a code no row defines. */

/* NS_IOCTL's requests: the two ioctls that hand back a namespace descriptor. */
#define TSNS_NS_GET_USERNS 0xb701   /* _IO(0xb7, 0x1): the user namespace owning a namespace */
#define TSNS_SIOCGSKNS 0x894c       /* the network namespace of a socket */
/* HOOK's failures other than an errno (errnos stay below 4096). */
#define TSNS_HOOK_EXITED 0x10000    /* | the exit status */
#define TSNS_HOOK_KILLED 0x20000    /* | the signal */

/* FORK's mode bits. */
enum tsns_fork {
	TSNS_FORK_BLOCK_INT_TERM = 1,  /* the parent blocks SIGINT and SIGTERM (unshare --fork) */
	TSNS_FORK_FORWARD = 2,         /* the parent passes SIGINT, SIGTERM and SIGHUP on (--forward-signals) */
	TSNS_FORK_STOPS = 4,           /* a stopped child stops the parent too (nsenter) */
	TSNS_FORK_REPORT_PID = 8,      /* report the child's pid (REPORT_PID); the child goes on once it is sent */
	TSNS_FORK_CLOSE_FDS = 16,      /* the parent keeps no descriptor but the report pipe */
	TSNS_FORK_IGNORE_INT = 32,     /* with FORWARD: SIGINT is not passed on (the terminal sends it to the child too) */
	TSNS_FORK_INIT_STATUS = 64     /* the child's INIT hands up its program's wait status: a pid 1 cannot die of its own signal */
};

/* A FORK's parent steps (its third int) run in the parent once the child has ended, before
 * it ends the same way; a failed one is explained and skipped, and after a failed REMOVE no
 * other REMOVE runs (a run's record, removed last, outlives the group it names, for the next
 * run to sweep). The child goes on after them.
 * NOTE is for them: it writes `message` and a newline to fd 2 when the child's end matches
 * `signal` and the number after "key " in `file` is above `above`.
 *
 * INIT is bwrap's do_init: the program goes on in a child (pid 2 in a new pid namespace)
 * while this process runs its n steps (dropping what it holds), passes signals on as the
 * mode says, and reaps every child, orphans included, until the program has ended; then
 * it ends as the program did (through a FORK's INIT_STATUS pipe where it is a pid 1). */

/* Limits the parser enforces, so that no count can exhaust the child's stack or memory. */
#define TSNS_MAX_STEPS 4096
#define TSNS_MAX_GROUPS 65536
#define TSNS_MAX_STDIO 1024
#define TSNS_MAX_STRS 262144
#define TSNS_MAX_SLOTS 64
#define TSNS_MAX_FILTER 4096   /* BPF_MAXINSNS */

/* What the stage writes to the report pipe: 3 x i32 {kind, step index, value}. */
enum tsns_report {
	TSNS_REPORT_READY = 1,     /* at a SYNC step, value = pid: waiting for the reply */
	TSNS_REPORT_ERROR = 2,     /* step failed, value = errno; then waits for a reply (an exit code) */
	TSNS_REPORT_EXEC = 3,      /* about to execve: EOF after this is a successful exec */
	TSNS_REPORT_PID = 4        /* FORK with REPORT_PID: value = the new process's pid */
};

/* Replies to READY and ERROR: one i32. GO continues; 0..255 is the status to exit with. */
#define TSNS_REPLY_GO (-1)

/* The tool stage's first message from its planner: one i32, then for PLAN a u32 length
 * and the plan's bytes. 0..255 instead: exit now with that status (help, usage errors). */
#define TSNS_PLANNER_PLAN (-2)
#define TSNS_PLANNER_PLAN_EXPLAIN (-3)

#endif
