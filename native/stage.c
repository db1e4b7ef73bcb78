/*
 * tsns native stage: the steps that must run in a fresh single-threaded process, between
 * clone and exec. Node is multithreaded, and the kernel refuses a multithreaded caller
 * unshare(CLONE_NEWUSER) and setns into user and mount namespaces; unshare(CLONE_NEWNS)
 * would move one thread only. So TypeScript writes a plan (plan.h), and this file clones a
 * child that performs it step by step and execs. Policy - which steps, in which order, with
 * which arguments - is all TypeScript's; nothing here decides anything.
 *
 * The child reports on the report pipe: READY at a SYNC step (then waits for one byte on
 * the go pipe), or ERROR with the step's index and errno, after which it exits. A successful
 * exec closes the pipe (it is close-on-exec), which the parent reads as success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include "plan.h"

#define STACK_SIZE (256 * 1024)

struct step {
	uint32_t op;
	uint32_t nint;
	int64_t *ints;
	uint32_t nstr;
	char **strs;          /* nstr pointers, then a NULL */
	const char *trace;
};

struct stage {
	struct step *steps;
	uint32_t nsteps;
	int report_fd, go_fd, explain_fd;
	sigset_t mask;        /* the caller's, restored in the child */
};

static const unsigned expected_ints[TSNS_OP_MAX + 1] = {
	[TSNS_OP_WRITE_FILE] = 0, [TSNS_OP_UNSHARE] = 1, [TSNS_OP_SETNS] = 2, [TSNS_OP_MOUNT] = 1,
	[TSNS_OP_UMOUNT2] = 1, [TSNS_OP_PIVOT_ROOT] = 0, [TSNS_OP_CHROOT] = 0, [TSNS_OP_CHDIR] = 0,
	[TSNS_OP_FCHDIR] = 1, [TSNS_OP_SETHOSTNAME] = 0, [TSNS_OP_SETDOMAINNAME] = 0,
	[TSNS_OP_SETGID] = 1, [TSNS_OP_SETUID] = 1, [TSNS_OP_PRCTL] = 3, [TSNS_OP_CAPSET] = 3,
	[TSNS_OP_DUP2] = 2, [TSNS_OP_SYNC] = 0, [TSNS_OP_FORK] = 0, [TSNS_OP_MKDIR] = 1,
	[TSNS_OP_SETSID] = 0, [TSNS_OP_EXEC] = 2,
};
static const unsigned expected_strs[TSNS_OP_MAX + 1] = {
	[TSNS_OP_WRITE_FILE] = 2, [TSNS_OP_MOUNT] = 4, [TSNS_OP_UMOUNT2] = 1, [TSNS_OP_PIVOT_ROOT] = 2,
	[TSNS_OP_CHROOT] = 1, [TSNS_OP_CHDIR] = 1, [TSNS_OP_SETHOSTNAME] = 1, [TSNS_OP_SETDOMAINNAME] = 1,
	[TSNS_OP_MKDIR] = 1,
};

static int take_u32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
	if (end - *p < 4)
		return -1;
	memcpy(out, *p, 4);
	*p += 4;
	return 0;
}

static int take_str(const uint8_t **p, const uint8_t *end, char **out)
{
	uint32_t len;
	if (take_u32(p, end, &len))
		return -1;
	if (len == UINT32_MAX) {
		*out = NULL;
		return 0;
	}
	if ((size_t)(end - *p) < (size_t)len + 1 || (*p)[len] != '\0')
		return -1;
	*out = (char *)*p;
	*p += len + 1;
	return 0;
}

/* Parse in the parent, before clone, so a malformed plan fails with EINVAL and no child. */
static int parse(const uint8_t *buf, size_t len, struct stage *st)
{
	const uint8_t *p = buf, *end = buf + len;
	uint32_t cap = 16;
	st->steps = calloc(cap, sizeof(*st->steps));
	st->nsteps = 0;
	while (st->steps && p < end) {
		struct step *s;
		char *trace;
		if (st->nsteps == cap) {
			struct step *grown = realloc(st->steps, 2 * cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			st->steps = grown;
			cap *= 2;
		}
		s = &st->steps[st->nsteps++];
		memset(s, 0, sizeof(*s));
		if (take_u32(&p, end, &s->op) || s->op == 0 || s->op > TSNS_OP_MAX)
			return -EINVAL;
		if (take_u32(&p, end, &s->nint) || (size_t)(end - p) / 8 < s->nint)
			return -EINVAL;
		s->ints = malloc((s->nint + 1) * sizeof(int64_t));
		if (!s->ints)
			return -ENOMEM;
		memcpy(s->ints, p, s->nint * sizeof(int64_t));
		p += s->nint * sizeof(int64_t);
		if (take_u32(&p, end, &s->nstr) || s->nstr > (size_t)(end - p) / 4)
			return -EINVAL;
		s->strs = calloc(s->nstr + 1, sizeof(char *));
		if (!s->strs)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->nstr; i++)
			if (take_str(&p, end, &s->strs[i]))
				return -EINVAL;
		if (take_str(&p, end, &trace))
			return -EINVAL;
		s->trace = trace;
		/* Counts are fixed per op, but for the lists: SETGROUPS's ints and EXEC's strings. */
		if (s->op != TSNS_OP_SETGROUPS && s->nint != expected_ints[s->op])
			return -EINVAL;
		if (s->op == TSNS_OP_EXEC) {
			if (s->ints[0] < 1 || s->nstr < (uint64_t)s->ints[0] + 2 || s->strs[0] == NULL ||
			    s->strs[s->ints[0] + 1] != NULL)
				return -EINVAL;
		} else if (s->nstr != expected_strs[s->op]) {
			return -EINVAL;
		}
	}
	return st->steps ? 0 : -ENOMEM;
}

static void release(struct stage *st)
{
	for (uint32_t i = 0; st->steps && i < st->nsteps; i++) {
		free(st->steps[i].ints);
		free(st->steps[i].strs);
	}
	free(st->steps);
}

/* --- child side: async-signal-safe calls only (the child may share Node's memory) --- */

static void put(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void explain(const struct stage *st, const struct step *s, long result)
{
	char num[24], *q = num + sizeof(num) - 1;
	unsigned long v = result < 0 ? -(unsigned long)result : (unsigned long)result;
	if (st->explain_fd < 0 || !s->trace || !*s->trace)
		return;
	*q = '\0';
	do
		*--q = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (result < 0)
		*--q = '-';
	put(st->explain_fd, "[child] ");
	put(st->explain_fd, s->trace);
	put(st->explain_fd, " = ");
	put(st->explain_fd, q);
	put(st->explain_fd, "\n");
}

static void report(const struct stage *st, int32_t kind, uint32_t index, int err)
{
	int32_t rec[3] = { kind, (int32_t)index, err };
	ssize_t r;
	do
		r = write(st->report_fd, rec, sizeof(rec));
	while (r < 0 && errno == EINTR);
}

static int write_file(const char *path, const char *data)
{
	size_t n = strlen(data);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;
	if (fd < 0)
		return -1;
	w = write(fd, data, n);
	if (w < 0 || (size_t)w != n) {
		int e = w < 0 ? errno : EIO;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

static int capset_masks(const int64_t *m)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)((uint64_t)m[0] >> (32 * i));
		data[i].permitted = (uint32_t)((uint64_t)m[1] >> (32 * i));
		data[i].inheritable = (uint32_t)((uint64_t)m[2] >> (32 * i));
	}
	return (int)syscall(SYS_capset, &hdr, data);
}

/* execvpe(3) with the plan's own environment's PATH, not ours: the program is looked up
 * inside whatever root the plan has entered. */
static int exec_step(const struct step *s)
{
	const char *file = s->strs[0];
	char **argv = &s->strs[1];
	char **envp = &s->strs[s->ints[0] + 2];
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char buf[4096];
	int seen_eacces = 0;

	if (!s->ints[1] || strchr(file, '/')) {
		execve(file, argv, envp);
		return -1;
	}
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	for (const char *dir = path; ; ) {
		const char *colon = strchrnul(dir, ':');
		size_t dlen = (size_t)(colon - dir), flen = strlen(file);
		if (dlen + flen + 2 <= sizeof(buf)) {
			memcpy(buf, dir, dlen);
			buf[dlen] = '/';
			memcpy(buf + (dlen ? dlen + 1 : 0), file, flen + 1);
			if (!dlen)
				memcpy(buf, file, flen + 1);
			execve(buf, argv, envp);
			if (errno == EACCES)
				seen_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE)
				return -1;
		}
		if (!*colon)
			break;
		dir = colon + 1;
	}
	errno = seen_eacces ? EACCES : ENOENT;
	return -1;
}

/* FORK: the process that stays behind waits for the new one and ends the way it ended. */
static int continue_as_child(const struct stage *st)
{
	int status;
	pid_t pid = fork();
	if (pid <= 0)
		return pid;
	close(st->report_fd);
	if (st->go_fd >= 0)
		close(st->go_fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		kill(getpid(), WTERMSIG(status));
		_exit(128 + WTERMSIG(status));
	}
	_exit(WEXITSTATUS(status));
}

static long run_step(const struct stage *st, const struct step *s)
{
	const int64_t *i = s->ints;
	char **v = s->strs;
	char byte;
	switch (s->op) {
	case TSNS_OP_WRITE_FILE: return write_file(v[0], v[1]);
	case TSNS_OP_UNSHARE: return unshare((int)i[0]);
	case TSNS_OP_SETNS: return setns((int)i[0], (int)i[1]);
	case TSNS_OP_MOUNT: return mount(v[0], v[1], v[2], (unsigned long)i[0], v[3]);
	case TSNS_OP_UMOUNT2: return umount2(v[0], (int)i[0]);
	case TSNS_OP_PIVOT_ROOT: return syscall(SYS_pivot_root, v[0], v[1]);
	case TSNS_OP_CHROOT: return chroot(v[0]);
	case TSNS_OP_CHDIR: return chdir(v[0]);
	case TSNS_OP_FCHDIR: return fchdir((int)i[0]);
	case TSNS_OP_SETHOSTNAME: return sethostname(v[0], strlen(v[0]));
	case TSNS_OP_SETDOMAINNAME: return setdomainname(v[0], strlen(v[0]));
	case TSNS_OP_SETGROUPS: {
		gid_t gids[s->nint ? s->nint : 1];
		for (uint32_t k = 0; k < s->nint; k++)
			gids[k] = (gid_t)i[k];
		/* The raw call: glibc's wrapper would signal Node's other threads (shared memory). */
		return syscall(SYS_setgroups, (size_t)s->nint, gids);
	}
	case TSNS_OP_SETGID: return syscall(SYS_setresgid, (gid_t)i[0], (gid_t)i[0], (gid_t)i[0]);
	case TSNS_OP_SETUID: return syscall(SYS_setresuid, (uid_t)i[0], (uid_t)i[0], (uid_t)i[0]);
	case TSNS_OP_PRCTL: return prctl((int)i[0], (unsigned long)i[1], (unsigned long)i[2], 0UL, 0UL);
	case TSNS_OP_CAPSET: return capset_masks(i);
	case TSNS_OP_DUP2:
		if (i[0] == i[1])
			return fcntl((int)i[0], F_SETFD, 0);
		return dup2((int)i[0], (int)i[1]);
	case TSNS_OP_SYNC:
		report(st, TSNS_REPORT_READY, (uint32_t)(s - st->steps), 0);
		if (read(st->go_fd, &byte, 1) != 1)
			_exit(1);   /* the parent gave up on us; it reports why */
		return 0;
	case TSNS_OP_FORK:
		return continue_as_child(st);
	case TSNS_OP_MKDIR:
		if (mkdir(v[0], (mode_t)i[0]) < 0 && errno != EEXIST)
			return -1;
		return 0;
	case TSNS_OP_SETSID: return setsid();
	case TSNS_OP_EXEC: return exec_step(s);
	}
	errno = EINVAL;
	return -1;
}

static int child_main(void *arg)
{
	const struct stage *st = arg;
	struct sigaction dfl;

	/* Node's handlers live in memory we may share: none may run here, nor survive exec. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &st->mask, NULL);

	for (uint32_t k = 0; k < st->nsteps; k++) {
		const struct step *s = &st->steps[k];
		long r;
		errno = 0;
		r = run_step(st, s);
		if (r < 0) {
			int err = errno;
			report(st, TSNS_REPORT_ERROR, k, err);
			_exit(s->op == TSNS_OP_EXEC ? (err == ENOENT ? 127 : 126) : 1);
		}
		explain(st, s, r);
	}
	_exit(0);   /* a plan without EXEC: the steps were the point */
}

/*
 * Clone a child with `flags` (clone(2) flags; SIGCHLD is added) that runs `plan`.
 * Returns the child's pid, or -errno: EINVAL for a malformed plan, else clone's error.
 * With CLONE_VM|CLONE_VFORK this returns once the child has exec'd or died.
 */
int tsns_spawn(const uint8_t *plan, size_t len, unsigned long flags, int report_fd, int go_fd, int explain_fd)
{
	struct stage st = { .report_fd = report_fd, .go_fd = go_fd, .explain_fd = explain_fd };
	sigset_t all;
	char *stack;
	int pid, err;

	err = parse(plan, len, &st);
	if (err) {
		release(&st);
		return err;
	}
	stack = malloc(STACK_SIZE);
	if (!stack) {
		release(&st);
		return -ENOMEM;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &st.mask);
	pid = clone(child_main, stack + STACK_SIZE, (int)(flags | SIGCHLD), &st);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &st.mask, NULL);
	free(stack);
	release(&st);
	return pid < 0 ? -err : pid;
}
