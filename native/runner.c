/*
 * tsns step runner: performs a plan (plan.h) in a single-threaded process, step by step,
 * and execs. Policy - which steps, in which order, with which arguments - is all
 * TypeScript's; nothing here decides anything.
 *
 * The parser runs in the parent (before clone, or before the tool stage acts) and does
 * every allocation; the runner may run in a child that shares Node's memory (CLONE_VM) or
 * copies it, so it calls only async-signal-safe functions and raw system calls: no malloc,
 * no stdio, no glibc fork() (its atfork handlers take locks that Node's absent threads may
 * hold in a copy).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include "runner.h"

#define VARIABLE 0xffffffffu

static const uint32_t fixed_ints[TSNS_OP_MAX + 1] = {
#define X(name, code, ints, strs, nulls) [code] = (uint32_t)(ints),
	TSNS_OPS(X)
#undef X
};
static const uint32_t fixed_strs[TSNS_OP_MAX + 1] = {
#define X(name, code, ints, strs, nulls) [code] = (uint32_t)(strs),
	TSNS_OPS(X)
#undef X
};
/* The codes a row defines: the table has gaps (plan.h), which are no op. */
static const uint8_t known_op[TSNS_OP_MAX + 1] = {
#define X(name, code, ints, strs, nulls) [code] = 1,
	TSNS_OPS(X)
#undef X
};
static const uint32_t null_mask[TSNS_OP_MAX + 1] = {
#define X(name, code, ints, strs, nulls) [code] = (nulls),
	TSNS_OPS(X)
#undef X
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
	if ((size_t)(end - *p) < (size_t)len + 1 || (*p)[len] != '\0' || memchr(*p, '\0', len))
		return -1;
	*out = (char *)*p;
	*p += len + 1;
	return 0;
}

/* The per-op checks of a parsed record: counts, NULLs and value ranges. */
static int check_step(struct step *s)
{
	const int64_t *i = s->ints;
	if (fixed_ints[s->op] != VARIABLE && s->nint != fixed_ints[s->op])
		return -EINVAL;
	if (fixed_strs[s->op] != VARIABLE && s->nstr != fixed_strs[s->op])
		return -EINVAL;
	for (uint32_t k = 0; k < s->nstr; k++)
		if (!s->strs[k] && !(k < 32 && (null_mask[s->op] >> k) & 1) && s->op != TSNS_OP_EXEC && s->op != TSNS_OP_HOOK)
			return -EINVAL;
	switch (s->op) {
	case TSNS_OP_SETGROUPS: {
		gid_t *gids;
		if (s->nint > TSNS_MAX_GROUPS)
			return -EINVAL;
		gids = malloc((s->nint ? s->nint : 1) * sizeof(gid_t));
		if (!gids)
			return -ENOMEM;
		s->scratch = gids;
		for (uint32_t k = 0; k < s->nint; k++) {
			if (i[k] < 0 || i[k] > 0xfffffffeLL)
				return -EINVAL;
			gids[k] = (gid_t)i[k];
		}
		return 0;
	}
	case TSNS_OP_SETUID:
	case TSNS_OP_SETGID:
		/* (uid_t)-1 means "unchanged" to the kernel: it must never reach it as an id. */
		return i[0] < 0 || i[0] > 0xfffffffeLL ? -EINVAL : 0;
	case TSNS_OP_STDIO:
		if (s->nint == 0 || s->nint > TSNS_MAX_STDIO)
			return -EINVAL;
		for (uint32_t k = 0; k < s->nint; k++)
			if (i[k] < -2 || i[k] > INT32_MAX)
				return -EINVAL;
		s->scratch = calloc(s->nint, sizeof(int));
		return s->scratch ? 0 : -ENOMEM;
	case TSNS_OP_OPEN:
		return i[1] < 0 || i[1] >= TSNS_MAX_SLOTS ? -EINVAL : 0;
	case TSNS_OP_SETNS:
	case TSNS_OP_FCHDIR:
		return i[0] < -TSNS_MAX_SLOTS || i[0] > INT32_MAX ? -EINVAL : 0;
	case TSNS_OP_FORK:
		return i[0] < 0 || i[0] > 127 || i[1] < 0 || i[1] >= NSIG || i[2] < 0 || i[2] >= TSNS_MAX_STEPS ? -EINVAL : 0;
	case TSNS_OP_SECCOMP:
		/* A sock_fprog for the raw call, filled here: the runner may not allocate. */
		if (s->nint < 2 || s->nint - 1 > TSNS_MAX_FILTER || i[0] < 0 || i[0] > 0xff)
			return -EINVAL;
		s->scratch = malloc(sizeof(struct sock_fprog));
		if (!s->scratch)
			return -ENOMEM;
		((struct sock_fprog *)s->scratch)->len = (unsigned short)(s->nint - 1);
		((struct sock_fprog *)s->scratch)->filter = (struct sock_filter *)(s->ints + 1);
		return 0;
	case TSNS_OP_LANDLOCK:
	case TSNS_OP_FIFO_WAIT:
		return i[0] < -TSNS_MAX_SLOTS || i[0] > INT32_MAX ? -EINVAL : 0;
	case TSNS_OP_CONNECT:
		return i[0] < 0 || i[0] >= TSNS_MAX_SLOTS || strlen(s->strs[0]) >= sizeof(((struct sockaddr_un *)0)->sun_path) ? -EINVAL : 0;
	case TSNS_OP_CONSOLE:
		return i[0] < -TSNS_MAX_SLOTS || i[0] > INT32_MAX || i[1] < 0 || i[1] > 0xffff || i[2] < 0 || i[2] > 0xffff ? -EINVAL : 0;
	case TSNS_OP_LANDLOCK_RULESET:
		if (s->nint != 3 + (uint64_t)s->nstr || i[0] <= 0 || i[1] < 0 || i[2] < 0 || i[2] >= TSNS_MAX_SLOTS)
			return -EINVAL;
		for (uint32_t k = 3; k < s->nint; k++)
			if (i[k] < 0)
				return -EINVAL;
		return 0;
	case TSNS_OP_SETRLIMIT:
		return i[0] < 0 || i[0] >= RLIMIT_NLIMITS || i[1] < -1 || i[2] < -1 ? -EINVAL : 0;
	case TSNS_OP_WATCH:
		return i[0] < 0 || i[1] < 0 || i[2] < 0 || i[2] > 1 || (i[1] > 0 && !s->strs[0]) ? -EINVAL : 0;
	case TSNS_OP_CHMOD:
	case TSNS_OP_UMASK:
		return i[0] < 0 || i[0] > 07777 ? -EINVAL : 0;
	case TSNS_OP_CLOSE_FROM:
		return i[0] < 3 || i[0] > INT32_MAX ? -EINVAL : 0;
	case TSNS_OP_EXIT_JSON:
		return i[0] < 0 || i[0] > INT32_MAX ? -EINVAL : 0;
	case TSNS_OP_INIT:
		return i[0] < 0 || i[0] > 127 || i[1] < 0 || i[1] >= TSNS_MAX_STEPS ? -EINVAL : 0;
	case TSNS_OP_CLOSE:
		return i[0] < 0 || i[0] > INT32_MAX ? -EINVAL : 0;
	case TSNS_OP_CREATE_FILE:
		return i[0] < 0 || i[0] > 07777 || i[1] < -1 || i[1] > INT32_MAX || (i[1] < 0) != (s->strs[1] != NULL) ? -EINVAL : 0;
	case TSNS_OP_MKNOD:
		return i[0] < 0 || i[0] > 0xffffffffLL || i[1] < 0 ? -EINVAL : 0;
	case TSNS_OP_MOUNT_SETATTR:
		return i[0] < 0 || i[0] > INT32_MAX || i[1] < 0 || i[2] < 0 || i[3] < 0 ? -EINVAL : 0;
	case TSNS_OP_PIDFD_OPEN:
		return i[0] < 1 || i[0] > INT32_MAX || i[1] < 0 || i[1] >= TSNS_MAX_SLOTS ? -EINVAL : 0;
	case TSNS_OP_PIDFD_GETFD:
		return i[0] < -TSNS_MAX_SLOTS || i[0] > INT32_MAX || i[1] < 0 || i[1] > INT32_MAX || i[2] < 0 || i[2] >= TSNS_MAX_SLOTS ? -EINVAL : 0;
	case TSNS_OP_NS_IOCTL:
		/* Only the requests that return a namespace descriptor: any other ioctl is no step. */
		if (i[1] != TSNS_NS_GET_USERNS && i[1] != TSNS_SIOCGSKNS)
			return -EINVAL;
		return i[0] < -TSNS_MAX_SLOTS || i[0] > INT32_MAX || i[2] < 0 || i[2] >= TSNS_MAX_SLOTS ? -EINVAL : 0;
	case TSNS_OP_LOOKUP:
		return s->nstr < 1 || i[0] < 0 || i[0] > 1 ? -EINVAL : 0;
	case TSNS_OP_HOOK:
		if (i[1] < -TSNS_MAX_SLOTS || i[1] > INT32_MAX || i[2] < 0 || i[2] > INT32_MAX / 1000 || i[3] < 0 || i[3] > 1 ||
		    s->nstr < 1 || s->strs[0] == NULL || s->strs[0][0] != '/')
			return -EINVAL;
		/* argv and env as EXEC's */
		__attribute__((fallthrough));
	case TSNS_OP_EXEC:
		if (i[0] < 1 || (uint64_t)i[0] + 2 > s->nstr || s->strs[0] == NULL || s->strs[i[0] + 1] != NULL)
			return -EINVAL;
		for (uint32_t k = 0; k < s->nstr; k++)
			if (!s->strs[k] && k != (uint64_t)i[0] + 1)
				return -EINVAL;
		return 0;
	}
	return 0;
}

int tsns_parse(const uint8_t *buf, size_t len, struct stage *st)
{
	const uint8_t *p = buf, *end = buf + len;
	uint32_t cap = 16;
	for (int k = 0; k < TSNS_MAX_SLOTS; k++)
		st->slots[k] = -1;
	st->steps = calloc(cap, sizeof(*st->steps));
	st->nsteps = 0;
	if (!st->steps)
		return -ENOMEM;
	while (p < end) {
		struct step *s;
		char *trace;
		int err;
		if (st->nsteps == TSNS_MAX_STEPS)
			return -EINVAL;
		if (st->nsteps == cap) {
			struct step *grown = realloc(st->steps, 2 * cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			memset(grown + cap, 0, cap * sizeof(*grown));
			st->steps = grown;
			cap *= 2;
		}
		s = &st->steps[st->nsteps++];
		if (take_u32(&p, end, &s->op) || s->op == 0 || s->op > TSNS_OP_MAX || !known_op[s->op])
			return -EINVAL;
		if (take_u32(&p, end, &s->nint) || (size_t)(end - p) / 8 < s->nint)
			return -EINVAL;
		s->ints = malloc(((size_t)s->nint + 1) * sizeof(int64_t));
		if (!s->ints)
			return -ENOMEM;
		memcpy(s->ints, p, (size_t)s->nint * sizeof(int64_t));
		p += (size_t)s->nint * sizeof(int64_t);
		if (take_u32(&p, end, &s->nstr) || s->nstr > TSNS_MAX_STRS || s->nstr > (size_t)(end - p) / 4)
			return -EINVAL;
		s->strs = calloc((size_t)s->nstr + 1, sizeof(char *));
		if (!s->strs)
			return -ENOMEM;
		for (uint32_t k = 0; k < s->nstr; k++)
			if (take_str(&p, end, &s->strs[k]))
				return -EINVAL;
		if (take_str(&p, end, &trace) || !trace)
			return -EINVAL;
		s->trace = trace;
		err = check_step(s);
		if (err)
			return err;
	}
	/* A fork's parent steps (an init's own) must all be there. */
	for (uint32_t k = 0; k < st->nsteps; k++)
		if ((st->steps[k].op == TSNS_OP_FORK && (uint64_t)st->steps[k].ints[2] >= st->nsteps - k) ||
		    (st->steps[k].op == TSNS_OP_INIT && (uint64_t)st->steps[k].ints[1] >= st->nsteps - k))
			return -EINVAL;
	return 0;
}

void tsns_release(struct stage *st)
{
	for (uint32_t k = 0; st->steps && k < st->nsteps; k++) {
		free(st->steps[k].ints);
		free(st->steps[k].strs);
		free(st->steps[k].scratch);
	}
	free(st->steps);
	st->steps = NULL;
}

/* --- the running side: async-signal-safe calls only --- */

static void put_n(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* An --explain line, built in memory and written by one write(2): the lines of two
 * processes (an init and its program) must not interleave byte by byte. */
struct line {
	char b[4096];
	size_t n;
};

static void add(struct line *l, const char *s)
{
	size_t k = strlen(s);
	if (k > sizeof(l->b) - 1 - l->n)
		k = sizeof(l->b) - 1 - l->n;   /* a longer line is cut, never split across writes */
	memcpy(l->b + l->n, s, k);
	l->n += k;
}

static void add_num(struct line *l, long v)
{
	char num[24], *q = num + sizeof(num) - 1;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	*q = '\0';
	do
		*--q = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--q = '-';
	add(l, q);
}

/* A C string as strace quotes it. */
static void add_quoted(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	add(l, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char e[5] = { '\\', 0, 0, 0, 0 };
		if (*c == '"' || *c == '\\')
			e[1] = (char)*c;
		else if (*c == '\n')
			e[1] = 'n';
		else if (*c == '\t')
			e[1] = 't';
		else if (*c < 0x20 || *c >= 0x7f) {
			e[1] = 'x';
			e[2] = hex[*c >> 4];
			e[3] = hex[*c & 15];
		} else {
			e[0] = (char)*c;
		}
		add(l, e);
	}
	add(l, "\"");
}

static void add_result(struct line *l, long result, int err)
{
	add(l, " = ");
	add_num(l, result);
	if (result < 0) {
#ifdef __GLIBC__
		const char *name = strerrorname_np(err), *desc = strerrordesc_np(err);
#else
		/* musl (the monitor's libc where it is there) has no errno names; the monitor
		 * never explains, and the library and the tools are built with glibc. */
		const char *name = NULL, *desc = NULL;
		(void)err;
#endif
		add(l, " ");
		add(l, name ? name : "E?");
		if (desc) {
			add(l, " (");
			add(l, desc);
			add(l, ")");
		}
	}
}

/* One call of a trace, up to `end`: \x01 stands for the descriptor the step used (known
 * only here: a slot's, or the one the step's open returned), \x02 for the file exec'd. */
static void add_call(struct line *l, const struct stage *st, const char *from, const char *end, const char *file)
{
	char one[2] = { 0, 0 };
	add(l, st->label);
	for (const char *c = from; c < end; c++) {
		if (*c == '\x01')
			add_num(l, st->call_fd);
		else if (*c == '\x02')
			add_quoted(l, file);
		else {
			one[0] = *c;
			add(l, one);
		}
	}
}

static void add_reason(struct line *l, const char *why)
{
	if (*why) {
		add(l, "   # ");
		add(l, why + 1);
	}
}

/* The line and its newline, in one write. */
static void send_to(int fd, struct line *l)
{
	l->b[l->n++] = '\n';
	put_n(fd, l->b, l->n);
	l->n = 0;
}

static void send_line(const struct stage *st, struct line *l)
{
	send_to(st->explain_fd, l);
}

/*
 * A step's trace is what strace would show: a line per call, '\n' between them (an
 * open+write shows both, the open's result being the descriptor), then after a '\t' the
 * reason (--explain=why). A call that failed ends the lines; the ones after it never ran.
 */
static void explain(const struct stage *st, const struct step *s, long result, int err)
{
	const char *t = s->trace, *why, *nl;
	struct line l = { .n = 0 };
	if (st->explain_fd < 0 || !t || !*t)
		return;
	why = strchrnul(t, '\t');
	nl = memchr(t, '\n', (size_t)(why - t));
	if (nl) {
		add_call(&l, st, t, nl, NULL);
		add_result(&l, st->call_fd, err);
		if (st->call_fd < 0) {
			add_reason(&l, why);
			send_line(st, &l);
			return;
		}
		send_line(st, &l);
		t = nl + 1;
	}
	add_call(&l, st, t, why, NULL);
	add_result(&l, result, err);
	add_reason(&l, why);
	send_line(st, &l);
}

/* The line of an execve about to be made (a success never returns to say it), then that of
 * its failure. */
static void explain_exec(const struct stage *st, const struct step *s, const char *file, int err)
{
	const char *t = s->trace, *why;
	struct line l = { .n = 0 };
	if (st->explain_fd < 0 || !t || !*t)
		return;
	if (*t == '\x03')
		t++;
	why = strchrnul(t, '\t');
	add_call(&l, st, t, why, file);
	if (err)
		add_result(&l, -1, err);
	else
		add_reason(&l, why);
	send_line(st, &l);
}

static void report(const struct stage *st, int32_t kind, uint32_t index, int32_t value)
{
	int32_t rec[3] = { kind, (int32_t)index, value };
	ssize_t r;
	if (st->report_fd < 0)
		return;
	/* A socket (the tool's planner) that is gone must not raise SIGPIPE: the stage's
	 * dispositions are the program's. A pipe (the library) is written as such. */
	do
		r = send(st->report_fd, rec, sizeof(rec), MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == ENOTSOCK)
		do
			r = write(st->report_fd, rec, sizeof(rec));
		while (r < 0 && errno == EINTR);
}

/* The parent's reply to READY or ERROR; `fallback` when it is gone (EOF or error). */
static int32_t reply(const struct stage *st, int32_t fallback)
{
	int32_t v;
	size_t got = 0;
	if (st->go_fd < 0)
		return fallback;
	while (got < sizeof(v)) {
		ssize_t r = read(st->go_fd, (char *)&v + got, sizeof(v) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (st->parent_gone)
				st->parent_gone();
			return fallback;
		}
		got += (size_t)r;
	}
	if (st->after_reply)
		st->after_reply();
	return v;
}

/* Only the parent holds the report pipe's read end: once it is gone, writing would fail. */
static int parent_gone(const struct stage *st)
{
	struct pollfd pfd = { .fd = st->report_fd, .events = POLLOUT };
	return st->report_fd >= 0 && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLERR | POLLHUP));
}

/* open, write, close: the bytes written (the open's descriptor goes to --explain). */
static long write_file(struct stage *st, const char *path, const char *data)
{
	size_t n = strlen(data);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;
	st->call_fd = fd;
	if (fd < 0)
		return -1;
	w = write(fd, data, n);
	if (w < 0 || (size_t)w != n) {
		int e = w < 0 ? errno : EIO;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd) < 0 ? -1 : (long)w;
}

/* A new file with `mode`, holding `data` or what can be read from `from` (bwrap --file). */
static int create_file(const char *path, int mode, const char *data, int from)
{
	char buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	for (;;) {
		const char *q = data;
		ssize_t n = data ? (ssize_t)strlen(data) : read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			close(fd);
			errno = e;
			return n < 0 ? -1 : fd;   /* the descriptor it was, for --explain */
		}
		if (!data)
			q = buf;
		while (n > 0) {
			ssize_t w = write(fd, q, (size_t)n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				int e = w < 0 ? errno : EIO;
				close(fd);
				errno = e;
				return -1;
			}
			q += w;
			n -= w;
		}
		if (data) {
			close(fd);
			return fd;
		}
	}
}

struct tsns_mount_attr {   /* struct mount_attr of <linux/mount.h>, which older headers lack */
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

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

static int fd_of(const struct stage *st, int64_t v)
{
	if (v >= 0)
		return (int)v;
	return st->slots[-1 - v];
}

/* A new descriptor (or -1) into a slot, closing what the slot held. */
static int to_slot(struct stage *st, int64_t slot, int fd)
{
	if (fd < 0)
		return -1;
	if (st->slots[slot] >= 0)
		close(st->slots[slot]);
	st->slots[slot] = fd;
	return fd;   /* the kernel's result, for --explain */
}

/* linux/landlock.h, spelled out: the build host's headers may predate it. */
struct tsns_landlock_ruleset_attr { uint64_t handled_access_fs; };
struct tsns_landlock_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
#define TSNS_LANDLOCK_RULE_PATH_BENEATH 1

/*
 * A Landlock ruleset built here, from paths as this process sees them (inside its root),
 * into a slot for LANDLOCK. A path that is no directory takes only the file rights of
 * its access (the kernel refuses directory rights on a file).
 */
static int landlock_ruleset(struct stage *st, const struct step *s)
{
	struct tsns_landlock_ruleset_attr attr = { (uint64_t)s->ints[0] };
	int rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0U);
	if (rfd < 0)
		return -1;
	for (uint32_t k = 0; k < s->nstr; k++) {
		struct stat sb;
		struct tsns_landlock_path_beneath rule;
		int fd = open(s->strs[k], O_PATH | O_CLOEXEC), err = 0;
		if (fd < 0 || fstat(fd, &sb) < 0)
			err = errno;
		if (!err) {
			rule.allowed_access = (uint64_t)s->ints[3 + k] & (S_ISDIR(sb.st_mode) ? ~0ULL : (uint64_t)s->ints[1]);
			rule.parent_fd = fd;
			if (syscall(SYS_landlock_add_rule, rfd, TSNS_LANDLOCK_RULE_PATH_BENEATH, &rule, 0U) < 0)
				err = errno;
		}
		if (fd >= 0)
			close(fd);
		if (err) {
			close(rfd);
			errno = err;
			return -1;
		}
	}
	if (st->slots[s->ints[2]] >= 0)
		close(st->slots[s->ints[2]]);
	st->slots[s->ints[2]] = rfd;
	return 0;
}

/* The runner's own descriptors must survive any stdio layout: move them above it. */
static int lift(int *fd, int above)
{
	int moved;
	if (*fd < 0 || *fd >= above)
		return 0;
	moved = fcntl(*fd, F_DUPFD_CLOEXEC, above);
	if (moved < 0)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

/*
 * fd k of the program becomes a copy of ints[k] (-1: fd k stays, inheritable; -2: closed). Every
 * source is first copied above the layout, so that no dup2 overwrites a source a later
 * one needs: any permutation works, as in child_process.
 */
static int stdio_step(struct stage *st, const struct step *s)
{
	int n = (int)s->nint, *tmp = s->scratch;
	if (lift(&st->report_fd, n) || lift(&st->go_fd, n) || lift(&st->explain_fd, n))
		return -1;
	for (int k = 0; k < TSNS_MAX_SLOTS; k++)
		if (lift(&st->slots[k], n))
			return -1;
	for (int k = 0; k < n; k++) {
		tmp[k] = -1;
		if (s->ints[k] >= 0 && (tmp[k] = fcntl((int)s->ints[k], F_DUPFD_CLOEXEC, n)) < 0)
			return -1;
	}
	for (int k = 0; k < n; k++) {
		if (s->ints[k] == -2) {
			close(k);
			continue;
		}
		if (tmp[k] < 0) {
			if (fcntl(k, F_SETFD, 0) < 0 && errno != EBADF)
				return -1;
			continue;
		}
		if (dup2(tmp[k], k) < 0)
			return -1;
		close(tmp[k]);
	}
	return 0;
}

/* execve, shown as strace would: each try of a PATH search is a call of its own. */
static int explained_execve(const struct stage *st, const struct step *s, const char *file, char **argv, char **envp, int is_try)
{
	int err;
	if (st->explain_fd >= 0 && access(file, X_OK) == 0)
		explain_exec(st, s, file, 0);   /* announced: a success does not return to say so */
	execve(file, argv, envp);
	err = errno;
	/* A PATH search's misses are plumbing: shown when the trace starts with \x03 (--explain=all). */
	if (!is_try || (err != ENOENT && err != ENOTDIR && err != EACCES && err != ESTALE) || (s->trace && s->trace[0] == '\x03'))
		explain_exec(st, s, file, err);
	errno = err;
	return -1;
}

/* The PATH a plan's program is searched on: its own environment's, not ours (the program
 * is looked up inside whatever root the plan has entered), else execvpe(3)'s default. */
static const char *plan_path(char *const *envp)
{
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

const char *tsns_path_candidate(const char **dir, const char *file, char *buf, size_t len)
{
	while (*dir) {
		const char *at = *dir, *colon = strchrnul(at, ':');
		size_t dlen = (size_t)(colon - at), flen = strlen(file);
		*dir = *colon ? colon + 1 : NULL;
		if (dlen + flen + 2 > len)
			continue;
		if (dlen) {
			memcpy(buf, at, dlen);
			buf[dlen] = '/';
			memcpy(buf + dlen + 1, file, flen + 1);
		} else {
			memcpy(buf, file, flen + 1);
		}
		return buf;
	}
	return NULL;
}

/* execvpe(3) on the plan's PATH. */
static int exec_step(const struct stage *st, const struct step *s)
{
	const char *file = s->strs[0], *dir;
	char **argv = &s->strs[1];
	char **envp = &s->strs[s->ints[0] + 2];
	char buf[4096];
	int seen_eacces = 0;

	if (!s->ints[1] || strchr(file, '/'))
		return explained_execve(st, s, file, argv, envp, 0);
	for (dir = plan_path(envp); tsns_path_candidate(&dir, file, buf, sizeof(buf)); ) {
		explained_execve(st, s, buf, argv, envp, 1);
		if (errno == EACCES)
			seen_eacces = 1;
		else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE)
			return -1;
	}
	errno = seen_eacces ? EACCES : ENOENT;
	return -1;
}

int tsns_runnable(const char *file)
{
	struct stat st;
	if (stat(file, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return access(file, X_OK);
}

/* LOOKUP: what EXEC's search would find, looked up ahead (runc's create fails for a
 * program that is not there, rather than its start). */
static int lookup_step(const struct step *s)
{
	const char *file = s->strs[0], *dir;
	char buf[4096];
	int seen_eacces = 0;

	if (!s->ints[0] || strchr(file, '/'))
		return tsns_runnable(file);
	for (dir = plan_path(&s->strs[1]); tsns_path_candidate(&dir, file, buf, sizeof(buf)); ) {
		if (tsns_runnable(buf) == 0)
			return 0;
		if (errno == EACCES)
			seen_eacces = 1;
	}
	errno = seen_eacces ? EACCES : ENOENT;
	return -1;
}

static long run_step(struct stage *st, const struct step *s);
static volatile pid_t forward_to;
/* How the child of a FORK ended, for the parent's NOTE steps; -1 before. */
static int child_status = -1;
/* In a FORK's child with INIT_STATUS: where its INIT writes the program's wait status. */
static int init_status_fd = -1;

static void forward(int sig)
{
	if (forward_to > 0)
		kill(forward_to, sig);
}

/* End the way the child ended: its status, or the same signal with its default action. */
__attribute__((noreturn)) static void exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		sigset_t one;
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(sig, &dfl, NULL);
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WEXITSTATUS(status));
}

/* Pass SIGTERM and SIGHUP (and SIGINT, unless IGNORE_INT) on to `pid` (FORWARD). */
static void forward_signals(int mode, pid_t pid)
{
	struct sigaction sa;
	sigset_t block;
	if (!(mode & TSNS_FORK_FORWARD))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	forward_to = pid;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (mode & TSNS_FORK_IGNORE_INT)
		sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
}

/* What stays behind a fork: its reports and replies are the child's from now on, so its
 * ends of the channel go (EOF on them then means the child exec'd), and its own writes
 * (explain, NOTE) must not end it when fd 2's reader has gone. */
static void stay_behind(struct stage *st)
{
	struct sigaction ign;
	/* It may hold a copy of Node, the caller's privileges, or (an init) run before the
	 * program's seccomp and Landlock steps: nothing in there may ptrace it or read it
	 * through /proc. */
	prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
	if (st->go_fd >= 0 && st->go_fd != st->report_fd)
		close(st->go_fd);
	if (st->report_fd >= 0)
		close(st->report_fd);
	st->go_fd = st->report_fd = -1;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, NULL);
}

/* A fork's child: which parent its death signal is about. In another pid namespace the
 * parent has no pid here (0: unknown); one that is not `self` has gone already (-1). */
static void note_parent(struct stage *st, pid_t self)
{
	pid_t pp = getppid();
	st->parent = pp == 0 ? 0 : pp == self ? self : -1;
}

/*
 * FORK: go on in a new child; this process waits for it and ends as it ended. A raw
 * clone, not glibc's fork(): in a copy of Node, fork()'s atfork handlers would take
 * malloc's locks, which threads absent from the copy may hold forever.
 */
static int fork_step(struct stage *st, const struct step *s)
{
	int mode = (int)s->ints[0], deathsig = (int)s->ints[1];
	int alive[2] = { -1, -1 }, init_status[2] = { -1, -1 }, reported[2] = { -1, -1 };
	sigset_t block, before;
	pid_t pid, self = getpid();
	int status;

	/* A pipe only the parent holds open: the child sees it hang up if the parent is gone
	 * before its death signal was set. */
	if (deathsig && pipe2(alive, O_CLOEXEC) < 0)
		return -1;
	if ((mode & TSNS_FORK_INIT_STATUS) && pipe2(init_status, O_CLOEXEC) < 0)
		return -1;
	/* The child's next report must not overtake its pid's: it waits until that is sent. */
	if ((mode & TSNS_FORK_REPORT_PID) && pipe2(reported, O_CLOEXEC) < 0)
		return -1;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (mode & TSNS_FORK_BLOCK_INT_TERM)
		sigprocmask(SIG_BLOCK, &block, &before);
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		st->label = "[child] ";
		if (reported[0] >= 0) {
			char b;
			close(reported[1]);
			while (read(reported[0], &b, 1) < 0 && errno == EINTR)
				;
			close(reported[0]);
		}
		note_parent(st, self);
		if (init_status[0] >= 0) {
			close(init_status[0]);
			init_status_fd = init_status[1];
		}
		if (mode & TSNS_FORK_BLOCK_INT_TERM)
			sigprocmask(SIG_SETMASK, &before, NULL);
		if (deathsig) {
			struct pollfd pfd = { .fd = alive[0], .events = POLLIN };
			close(alive[1]);
			if (prctl(PR_SET_PDEATHSIG, (unsigned long)deathsig, 0UL, 0UL, 0UL) < 0)
				return -1;
			if (poll(&pfd, 1, 0) > 0)
				_exit(1);   /* the parent ended before the death signal was in place */
			close(alive[0]);
		}
		return 0;
	}
	st->label = "[parent] ";
	if (mode & TSNS_FORK_REPORT_PID) {
		report(st, TSNS_REPORT_PID, (uint32_t)(s - st->steps), pid);
		close(reported[0]);
		close(reported[1]);   /* EOF: the child goes on */
	}
	stay_behind(st);
	if (alive[0] >= 0)
		close(alive[0]);
	if (init_status[1] >= 0)
		close(init_status[1]);
	if (mode & TSNS_FORK_CLOSE_FDS)
		syscall(SYS_close_range, 3U, ~0U, 0U);  /* a copy of Node's descriptors must not live on here */
	forward_signals(mode, pid);
	if (st->watching) {
		tsns_watch(pid, &st->watch, &status);
	} else {
		for (;;) {
			pid_t r = waitpid(pid, &status, (mode & TSNS_FORK_STOPS) ? WUNTRACED : 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				_exit(1);
			}
			if (!WIFSTOPPED(status))
				break;
			kill(getpid(), SIGSTOP);
			kill(pid, SIGCONT);
		}
	}
	/* An init in the child says how its program ended; nothing read: the init itself
	 * ended first (killed, or a step failed). */
	if (init_status[0] >= 0) {
		int from_init;
		ssize_t r;
		do
			r = read(init_status[0], &from_init, sizeof(from_init));
		while (r < 0 && errno == EINTR);
		if (r == (ssize_t)sizeof(from_init))
			status = from_init;
	}
	child_status = status;
	for (int64_t k = 1, kept = 0; k <= s->ints[2]; k++) {
		long r;
		/* Once a removal failed (a group still busy), no later one runs: the run's record,
		 * removed last, must outlive what it names, for the next run to sweep both. */
		if (kept && s[k].op == TSNS_OP_REMOVE)
			continue;
		errno = 0;
		r = run_step(st, s + k);
		explain(st, s + k, r, errno);
		kept |= r < 0 && s[k].op == TSNS_OP_REMOVE;
	}
	exit_like(status);
}

/*
 * INIT: bwrap's do_init. The program goes on in a child; this process runs its own steps,
 * then reaps every child (orphans of a pid namespace come to its pid 1) until the program
 * has ended, and ends as it did: through the FORK's INIT_STATUS pipe where there is one,
 * since a pid 1's own signal is ignored. Ending takes the namespace's other processes
 * with it where it is a pid 1.
 */
static int init_step(struct stage *st, const struct step *s)
{
	int mode = (int)s->ints[0], status;
	pid_t pid, self = getpid();
	struct sigaction dfl;

	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		st->parent = self;
		if (init_status_fd >= 0) {   /* only the init may say how the program ended */
			close(init_status_fd);
			init_status_fd = -1;
		}
		return 0;
	}
	stay_behind(st);
	st->label = "[init] ";
	prctl(PR_SET_NAME, (unsigned long)"tsns-init", 0UL, 0UL, 0UL);   /* bwrap's shows as bwrap, not as the memfd it ran from */
	/* Orphans are reaped by wait(): a SIGCHLD the caller ignored would reap them unseen. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, NULL);
	forward_signals(mode, pid);
	for (int64_t k = 1; k <= s->ints[1]; k++) {
		long r;
		errno = 0;
		r = run_step(st, s + k);
		explain(st, s + k, r, errno);
	}
	for (;;) {
		pid_t r = waitpid(-1, &status, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (r == pid)
			break;
	}
	if (init_status_fd >= 0) {
		ssize_t w;
		do
			w = write(init_status_fd, &status, sizeof(status));
		while (w < 0 && errno == EINTR);
	}
	exit_like(status);
}

/* open(2) and a read lock on the whole file, held while this process lives (bwrap's init).
 * O_NONBLOCK: a FIFO at the path (the sandbox's files may be anyone's) would otherwise hold
 * the init in open(2) for a writer, where as pid 1 it ignores the SIGTERM meant to end it;
 * O_NOCTTY: a terminal there must not become the init's. */
static int lock_file(struct stage *st, const char *path)
{
	struct flock l = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	int fd = st->call_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fcntl(fd, F_SETLK, &l) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return 0;
}

/* DETACH's child: the pipe whose one byte (at FIFO_WAIT) lets the parent go; -1 elsewhere. */
static int detach_ready = -1;

/*
 * DETACH: go on in a new child that outlives this process (an OCI runtime's `create`:
 * the container's process must end up a child of the caller's subreaper, with nothing of
 * ours left). This process reports the child's pid and waits until the child is set up
 * and waiting (FIFO_WAIT's byte): then it exits with the parent's reply, the caller's
 * answer. If the child ends first (a step failed), this one exits with the status the
 * parent sends it then, or else ends as the child did.
 */
static int detach_step(struct stage *st, const struct step *s)
{
	int ready[2], go[2], status;
	char byte;
	ssize_t r;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(go, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);   /* raw: see fork_step */
	if (pid < 0) {
		int e = errno;
		close(ready[0]);
		close(ready[1]);
		close(go[0]);
		close(go[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		st->label = "[child] ";
		close(ready[0]);
		close(go[1]);
		/* The parent's pid report goes first: the caller records the pid before anything
		 * of the child's can reach it. EOF: the parent is gone, and so is whoever waits. */
		do
			r = read(go[0], &byte, 1);
		while (r < 0 && errno == EINTR);
		if (r != 1)
			_exit(1);
		close(go[0]);
		detach_ready = ready[1];
		return 0;
	}
	prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
	st->label = "[parent] ";
	close(ready[1]);
	close(go[0]);
	report(st, TSNS_REPORT_PID, (uint32_t)(s - st->steps), pid);
	while (write(go[1], "", 1) < 0 && errno == EINTR)
		;
	close(go[1]);
	do
		r = read(ready[0], &byte, 1);
	while (r < 0 && errno == EINTR);
	if (r == 1) {
		int32_t v = reply(st, 1);
		_exit(v == TSNS_REPLY_GO ? 0 : v & 0xff);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	/* The child ended before it was ready: a failure. The parent may have ended it (undoing
	 * what it made, the child's group included) before it could be told its status; then
	 * the status comes here. Else (the child took it) the parent's end is EOF. */
	{
		int32_t v;
		st->parent_gone = NULL;   /* its EOF is no failure here */
		v = reply(st, -1);
		if (v >= 0)
			_exit(v & 0xff);
	}
	exit_like(status);
}

/*
 * FIFO_WAIT: everything is set up; tell the parent (READY), then block until one byte can
 * be read from the fifo (the OCI `start`). After a DETACH, the parent is let go and the
 * report channel dropped first: nobody waits on it past this point; else the parent's
 * reply is read first, as at SYNC. This process holds
 * both ends of the fifo, so there is no EOF to mistake for a start; the fd closes at exec.
 */
static int fifo_wait_step(struct stage *st, const struct step *s)
{
	int fd = st->call_fd = fd_of(st, s->ints[0]);
	char byte = 0;
	ssize_t r;
	report(st, TSNS_REPORT_READY, (uint32_t)(s - st->steps), 0);
	if (detach_ready >= 0) {
		while (write(detach_ready, &byte, 1) < 0 && errno == EINTR)
			;
		close(detach_ready);
		detach_ready = -1;
		if (st->go_fd >= 0 && st->go_fd != st->report_fd)
			close(st->go_fd);
		if (st->report_fd >= 0)
			close(st->report_fd);
		st->go_fd = st->report_fd = -1;
	} else {
		/* As SYNC: the parent answers (it starts us itself, or tells the status to end with). */
		int32_t v = reply(st, 1);
		if (v != TSNS_REPLY_GO)
			_exit(v & 0xff);
	}
	do
		r = read(fd, &byte, 1);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = EIO;
	return r == 1 ? 0 : -1;
}

/*
 * HOOK: an OCI hook that runs in the container's namespaces (createContainer,
 * startContainer), as a child of this process: the state on stdin (its descriptor read
 * from the start), chrooted to /oldroot where i[3] says so (the host's tree as the plan
 * left it, where the hook's path resolves as in the runtime's view), killed once i[2]
 * seconds have passed.
 */
static int hook_step(struct stage *st, const struct step *s)
{
	int in = fd_of(st, s->ints[1]), failed[2], pidfd, status, err = 0, late = 0;
	sigset_t none;
	ssize_t got;
	pid_t pid;
	if (pipe2(failed, O_CLOEXEC) < 0)
		return -1;
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		close(failed[0]);
		close(failed[1]);
		return -1;
	}
	if (pid == 0) {
		close(failed[0]);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (lseek(in, 0, SEEK_SET) == 0 && dup2(in, 0) == 0 && (!s->ints[3] || (chroot("/oldroot") == 0 && chdir("/") == 0)))
			execve(s->strs[0], &s->strs[1], &s->strs[s->ints[0] + 2]);
		err = errno;
		(void)!write(failed[1], &err, sizeof(err));
		_exit(127);
	}
	close(failed[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0U);
	if (s->ints[2] && pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int r;
		while ((r = poll(&p, 1, (int)s->ints[2] * 1000)) < 0 && errno == EINTR)
			;
		if (r == 0) {
			kill(pid, SIGKILL);
			late = 1;
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	got = read(failed[0], &err, sizeof(err));
	close(failed[0]);
	if (late)
		errno = ETIMEDOUT;
	else if (got == (ssize_t)sizeof(err))
		errno = err;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	else
		errno = WIFEXITED(status) ? TSNS_HOOK_EXITED | WEXITSTATUS(status) : TSNS_HOOK_KILLED | WTERMSIG(status);
	return -1;
}

/* CONNECT: a unix stream socket connected to `path`, into slot i[0] (close-on-exec). */
static int connect_step(struct stage *st, const struct step *s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	st->call_fd = fd;
	if (fd < 0)
		return -1;
	memcpy(a.sun_path, s->strs[0], strlen(s->strs[0]));   /* the parser checked its length */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	st->slots[s->ints[0]] = fd;
	return 0;
}

/*
 * CONSOLE: the OCI console socket. A pty of the devpts this process sees (the container's,
 * after pivot_root), its master sent over the socket with its name (SCM_RIGHTS, as runc
 * sends it), its slave made fds 0, 1 and 2 and the controlling terminal (a session leader:
 * SETSID came first). The socket is closed: the caller only waits for the one message.
 */
static int console_step(struct stage *st, const struct step *s)
{
	int sock = st->call_fd = fd_of(st, s->ints[0]), master, slave, n = 0, unlock = 0;
	char name[32], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr msg;
	struct cmsghdr *c;
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return -1;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
		goto fail;
	if (s->ints[1] && s->ints[2]) {
		struct winsize ws = { .ws_row = (unsigned short)s->ints[1], .ws_col = (unsigned short)s->ints[2] };
		ioctl(master, TIOCSWINSZ, &ws);
	}
	{
		/* "/dev/pts/" and the number, without stdio */
		char digits[12];
		int k = 0, d = 0;
		do
			digits[d++] = (char)('0' + n % 10);
		while ((n /= 10) && d < 11);
		memcpy(name, "/dev/pts/", 9);
		k = 9;
		while (d)
			name[k++] = digits[--d];
		name[k] = '\0';
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		goto fail;
	memset(&msg, 0, sizeof(msg));
	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = name;
	iov.iov_len = strlen(name);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
		int e = errno;
		close(slave);
		errno = e;
		goto fail;
	}
	close(master);
	close(sock);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return -1;
	if (slave > 2)
		close(slave);
	return ioctl(0, TIOCSCTTY, 0);
fail:
	{
		int e = errno;
		close(master);
		errno = e;
	}
	return -1;
}

/* rmdir, or unlink what is no directory. A cgroup is busy for a moment after its last
 * process has exited: EBUSY is retried for up to 2 s. */
static int remove_path(const char *path)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int tries = 0; ; tries++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno == ENOTDIR)
			return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
		if (errno != EBUSY || tries == 200)
			return -1;
		nanosleep(&tick, NULL);
	}
}

/* The number after "key " at a line's start in `file` (cgroup.events, memory.events...), or -1. */
static long long keyed_value(const char *file, const char *key)
{
	char buf[4096];
	size_t klen = strlen(key), got = 0;
	ssize_t r;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < sizeof(buf) - 1 && ((r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			long long v = 0;
			for (char *d = line + klen + 1; *d >= '0' && *d <= '9'; d++)
				v = v * 10 + (*d - '0');
			return v;
		}
	}
	return -1;
}

static int note_step(const struct step *s)
{
	int64_t sig = s->ints[0];
	int died_of = child_status >= 0 && WIFSIGNALED(child_status) ? WTERMSIG(child_status) : 0;
	if ((sig > 0 && died_of != sig) || (sig < 0 && died_of == -sig) || keyed_value(s->strs[0], s->strs[1]) <= s->ints[1])
		return 0;
	struct line l = { .n = 0 };
	add(&l, s->strs[2]);
	send_to(2, &l);
	return 1;
}

/* bwrap's last --json-status-fd document: the child's exit status, 128+N for signal N. */
static int exit_json_step(const struct step *s)
{
	int fd = (int)s->ints[0];
	int code = child_status < 0 ? -1 : WIFSIGNALED(child_status) ? 128 + WTERMSIG(child_status) : WEXITSTATUS(child_status);
	struct line l = { .n = 0 };
	add(&l, "{ \"exit-code\": ");
	add_num(&l, code);
	add(&l, " }");
	send_to(fd, &l);
	return 0;
}

static long run_step(struct stage *st, const struct step *s)
{
	const int64_t *i = s->ints;
	char **v = s->strs;
	int32_t r;
	st->call_fd = -1;
	switch (s->op) {
	case TSNS_OP_WRITE_FILE: return write_file(st, v[0], v[1]);
	case TSNS_OP_UNSHARE: return unshare((int)i[0]);
	case TSNS_OP_SETNS: return setns(st->call_fd = fd_of(st, i[0]), (int)i[1]);
	case TSNS_OP_MOUNT: return mount(v[0], v[1], v[2], (unsigned long)i[0], v[3]);
	case TSNS_OP_UMOUNT2: return umount2(v[0], (int)i[0]);
	case TSNS_OP_PIVOT_ROOT: return syscall(SYS_pivot_root, v[0], v[1]);
	case TSNS_OP_CHROOT: return chroot(v[0]);
	case TSNS_OP_CHDIR: return chdir(v[0]);
	case TSNS_OP_FCHDIR: return fchdir(st->call_fd = fd_of(st, i[0]));
	case TSNS_OP_SETHOSTNAME: return sethostname(v[0], strlen(v[0]));
	case TSNS_OP_SETDOMAINNAME: return setdomainname(v[0], strlen(v[0]));
	/* Raw calls: glibc's wrappers would signal Node's other threads (shared memory). */
	case TSNS_OP_SETGROUPS: return syscall(SYS_setgroups, (size_t)s->nint, (gid_t *)s->scratch);
	case TSNS_OP_SETGID: return syscall(SYS_setresgid, (gid_t)i[0], (gid_t)i[0], (gid_t)i[0]);
	case TSNS_OP_SETUID: return syscall(SYS_setresuid, (uid_t)i[0], (uid_t)i[0], (uid_t)i[0]);
	case TSNS_OP_PRCTL:
		if (prctl((int)i[0], (unsigned long)i[1], (unsigned long)i[2], 0UL, 0UL) < 0)
			return -1;
		if (i[0] == PR_SET_PDEATHSIG && i[1] != 0 && (parent_gone(st) || (st->parent != 0 && getppid() != st->parent)))
			_exit(1);   /* the parent died before the death signal was in place */
		return 0;
	case TSNS_OP_CAPSET: return capset_masks(i);
	case TSNS_OP_STDIO: return stdio_step(st, s);
	case TSNS_OP_SYNC:
		report(st, TSNS_REPORT_READY, (uint32_t)(s - st->steps), getpid());
		r = reply(st, 1);
		if (r != TSNS_REPLY_GO)
			_exit(r & 0xff);   /* the parent gave up on us; it says why */
		return 0;
	case TSNS_OP_FORK: return fork_step(st, s);
	case TSNS_OP_DETACH: return detach_step(st, s);
	case TSNS_OP_FIFO_WAIT: return fifo_wait_step(st, s);
	case TSNS_OP_CONNECT: return connect_step(st, s);
	case TSNS_OP_HOOK: return hook_step(st, s);
	case TSNS_OP_LOOKUP: return lookup_step(s);
	case TSNS_OP_CONSOLE: return console_step(st, s);
	case TSNS_OP_MKDIR:
		if (mkdir(v[0], (mode_t)i[0]) < 0 && errno != EEXIST)
			return -1;
		return 0;
	case TSNS_OP_SETSID: return setsid();
	case TSNS_OP_EXEC:
		report(st, TSNS_REPORT_EXEC, (uint32_t)(s - st->steps), 0);
		return exec_step(st, s);
	case TSNS_OP_OPEN: {
		int fd = open(v[0], (int)i[0] | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (st->slots[i[1]] >= 0)
			close(st->slots[i[1]]);
		st->slots[i[1]] = fd;
		return fd;
	}
	case TSNS_OP_WATCH:
		st->watching = 1;
		st->watch.timeout_ms = i[0];
		st->watch.cpu_ms = i[1];
		st->watch.cpu_is_ns = (int)i[2];
		st->watch.cpu_file = v[0];
		st->watch.kill_file = v[1];
		st->watch.timeout_note = v[2];
		st->watch.cpu_note = v[3];
		return 0;
	case TSNS_OP_EXIT_JSON: return exit_json_step(s);
	case TSNS_OP_INIT: return init_step(st, s);
	case TSNS_OP_LOCK_FILE: return lock_file(st, v[0]);
	case TSNS_OP_CLOSE: return close((int)i[0]) < 0 && errno != EBADF ? -1 : 0;
	case TSNS_OP_REMOVE: return remove_path(v[0]);
	case TSNS_OP_NOTE: return note_step(s);
	case TSNS_OP_SYMLINK: return symlink(v[0], v[1]);
	case TSNS_OP_CHMOD: return chmod(v[0], (mode_t)i[0]);
	case TSNS_OP_MOUNT_SETATTR: {
		struct tsns_mount_attr attr = { (uint64_t)i[1], (uint64_t)i[2], (uint64_t)i[3], 0 };
		return syscall(SYS_mount_setattr, AT_FDCWD, v[0], (unsigned)i[0], &attr, sizeof(attr));
	}
	case TSNS_OP_SECCOMP: return syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, (unsigned)i[0], s->scratch);
	case TSNS_OP_LANDLOCK: return syscall(SYS_landlock_restrict_self, st->call_fd = fd_of(st, i[0]), 0U);
	case TSNS_OP_LANDLOCK_RULESET: return landlock_ruleset(st, s);
	case TSNS_OP_SETRLIMIT: {
		struct rlimit lim = { i[1] < 0 ? RLIM_INFINITY : (rlim_t)i[1], i[2] < 0 ? RLIM_INFINITY : (rlim_t)i[2] };
		return syscall(SYS_prlimit64, 0, (int)i[0], &lim, NULL);
	}
	case TSNS_OP_UMASK: umask((mode_t)i[0]); return 0;
	case TSNS_OP_CLOSE_FROM: return syscall(SYS_close_range, (unsigned)i[0], ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
	case TSNS_OP_CREATE_FILE: return create_file(v[0], (int)i[0], v[1], (int)i[1]);
	case TSNS_OP_MKNOD: return mknod(v[0], (mode_t)i[0], (dev_t)i[1]);
	/* Each new descriptor is close-on-exec: pidfd_open(2), pidfd_getfd(2) and both ioctls set it. */
	case TSNS_OP_PIDFD_OPEN: return to_slot(st, i[1], (int)syscall(SYS_pidfd_open, (pid_t)i[0], 0U));
	case TSNS_OP_PIDFD_GETFD: return to_slot(st, i[2], (int)syscall(SYS_pidfd_getfd, st->call_fd = fd_of(st, i[0]), (int)i[1], 0U));
	case TSNS_OP_NS_IOCTL: return to_slot(st, i[2], ioctl(st->call_fd = fd_of(st, i[0]), (unsigned long)i[1], 0));
	}
	errno = EINVAL;
	return -1;
}

/* One line on fd 2 for a step that failed with no parent to word it (after FIFO_WAIT). */
static void say_failure(const struct step *s, int err)
{
	struct line l = { .n = 0 };
	add(&l, "tsns: ");
	if (s->op == TSNS_OP_EXEC || s->op == TSNS_OP_HOOK) {
		add(&l, s->op == TSNS_OP_EXEC ? "exec " : "hook ");
		add(&l, s->strs[0]);
	} else {
		add(&l, "step (op ");
		add_num(&l, s->op);
		add(&l, ")");
	}
	add(&l, ": ");
	if (s->op == TSNS_OP_HOOK && err >= TSNS_HOOK_EXITED) {
		add(&l, err >= TSNS_HOOK_KILLED ? "killed by signal " : "exited with status ");
		add_num(&l, err & 0xffff);
	} else {
		add(&l, strerror(err));
	}
	send_to(2, &l);
}

void tsns_run(struct stage *st)
{
	for (uint32_t k = 0; k < st->nsteps; k++) {
		const struct step *s = &st->steps[k];
		long r;
		errno = 0;
		r = run_step(st, s);
		if (r < 0) {
			int err = errno;
			int fallback = s->op == TSNS_OP_EXEC ? (err == ENOENT ? 127 : 126) : 1;
			if (s->op != TSNS_OP_EXEC)   /* its tries were shown as they were made */
				explain(st, s, -1, err);
			if (st->report_fd < 0)   /* past FIFO_WAIT nobody reads reports: fd 2 is the program's log */
				say_failure(s, err);
			report(st, TSNS_REPORT_ERROR, k, err);
			_exit(reply(st, fallback) & 0xff);
		}
		explain(st, s, r, 0);
		if (s->op == TSNS_OP_FORK)
			k += (uint32_t)s->ints[2];   /* the parent's steps, not the child's */
		else if (s->op == TSNS_OP_INIT)
			k += (uint32_t)s->ints[1];   /* the init's steps, not the program's */
	}
	_exit(0);   /* a plan without EXEC: the steps were the point */
}
