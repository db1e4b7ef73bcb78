/*
 * tsns-monitor: what stays beside a Sandbox's program (src/sandbox/monitor.ts), in the
 * role conmon has for Podman. It holds no copy of Node's memory (a forked Node would count
 * some 40 MB per sandbox); it clones the program's process with the plan's namespace
 * flags, and the clone performs the plan with the runner the library and the tools share.
 * Then it waits, enforces the wall-clock and CPU-time limits, records how the program
 * ended, and kills whatever the program left in its cgroup. A Node process that restarts
 * is no longer the parent and could not learn the exit; this process is, and writes it
 * down.
 *
 * One server per Node process (-S), exec'd once: an exec per sandbox cost more than the
 * rest of Node's part of a start. For each start Node sends it one message on fd 3 (a
 * SOCK_SEQPACKET socket), and it clones one monitor per sandbox, a copy of itself of some
 * 100 kB, with CLONE_PARENT: the monitor is Node's child as an exec'd one was (Node reaps
 * it and learns its end through SIGCHLD; a dieWithParent monitor's death signal is about
 * Node), and a monitor per sandbox keeps each one's crash safety apart (a monitor killed
 * takes only its own program along; the server killed takes none). At the socket's EOF
 * (Node gone) the server ends; the monitors live on. ps shows the server as
 * "tsns-monitor -S", a monitor as "tsns-monitor -M" (its copy of the server's arguments).
 *
 * A message: NUL-terminated strings, the first the positions (0-5, comma-separated) of
 * the descriptors attached with SCM_RIGHTS, the second the number of arguments, then a
 * monitor's arguments; after them the plan itself where PLAN_FILE is "-" (a plan too
 * large for one message comes as a file, removed once read):
 *   [-t MS] [-c MS -u FILE|-n FILE] [-k FILE] [-f FILE] [-p FILE]... [-g] [-d]
 *   CLONE_FLAGS PLAN_FILE STATUS_FILE
 *   -t  wall-clock limit            -c  CPU-time limit of the cgroup, read from
 *   -u  cgroup2 cpu.stat (usage_usec)   -n  v1 cpuacct.usage (nanoseconds)
 *   -k  cgroup.kill                 -f  v1 freezer.state      -p  a cgroup.procs file
 *   -d  dieWithParent: SIGKILL when Node goes
 *   fds 0-2: the program's stdio. fd 3: the report pipe to Node: REPORT_PID with index -1
 *   (the monitor's own pid), REPORT_PID (the program's pid), then the runner's records;
 *   EOF once the program has exec'd or died.
 *   -g: fd 4 is the reply pipe from Node, where the program waits at a sync step while
 *   Node does the parent's part (id-map ranges); only the program keeps it. fd 5: a
 *   Landlock ruleset made by Node, for the program.
 * Before it reads the plan, a monitor writes "PID STARTTIME\n" to the file `monitor`
 * beside STATUS_FILE: what a start killed before Node recorded the monitor leaves is
 * found there (and a monitor whose directory is gone already starts nothing).
 * STATUS_FILE: "STATUS REASON\n", the wait status in decimal and why it ended
 * (exited: by itself or a signal from outside; timeout; cpu), written to a temporary
 * file and renamed, so that a reader never sees half of it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "runner.h"

static void record(const char *file, int status, const char *reason)
{
	char tmp[4096], text[64];
	int fd;
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	snprintf(text, sizeof(text), "%d %s\n", status, reason);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0 || rename(tmp, file) < 0)
		_exit(1);
}

static uint8_t *read_plan(const char *file, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || !(buf = malloc((size_t)st.st_size + 1)))
		return NULL;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0 && !(r < 0 && errno == EINTR))
			return NULL;
		if (r > 0)
			got += (size_t)r;
	}
	close(fd);
	unlink(file);   /* it holds the program's environment */
	*len = got;
	return buf;
}

/* The plan that came in the start's message (PLAN_FILE "-"): this monitor's copy of it. */
static uint8_t *inline_plan;
static size_t inline_len;

/* Node's pid: every monitor's parent (CLONE_PARENT), what a death signal is about. */
static pid_t node;
/* The server's "-S" in its own argument memory: a monitor shows "-M" there (ps, /proc/PID/cmdline). */
static char *role;

/* Field 22 of /proc/self/stat (clock ticks after boot): with the pid, this process's identity. */
static unsigned long long own_start_time(void)
{
	char buf[1024], *at;
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field;
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Counted after the command, which may hold spaces and parentheses. */
	at = strrchr(buf, ')');
	for (field = 2; at && field < 22; field++)
		at = strchr(at + 1, ' ');
	return at ? strtoull(at + 1, NULL, 10) : 0;
}

/* "PID STARTTIME\n" in `monitor` beside the status file; fails once the directory is gone. */
static int record_self(const char *status_file)
{
	char path[4096], text[64];
	const char *slash = strrchr(status_file, '/');
	int fd, len;
	if (!slash || (size_t)(slash - status_file) + sizeof("/monitor") > sizeof(path))
		return -1;
	memcpy(path, status_file, (size_t)(slash - status_file));
	strcpy(path + (slash - status_file), "/monitor");
	len = snprintf(text, sizeof(text), "%d %llu\n", (int)getpid(), own_start_time());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int monitor(int argc, char **argv)
{
	struct tsns_watch w;
	const char *reason, *status_file;
	struct stage st;
	struct sigaction ign;
	sigset_t mask;
	uint8_t *plan;
	size_t len;
	unsigned long flags;
	int alive[2], opt, status, go = 0, die = 0;
	pid_t pid;

	memset(&w, 0, sizeof(w));
	while ((opt = getopt(argc, argv, "+t:c:u:n:k:f:p:gd")) != -1) {
		switch (opt) {
		case 't': w.timeout_ms = atoll(optarg); break;
		case 'c': w.cpu_ms = atoll(optarg); break;
		case 'u': w.cpu_file = optarg; w.cpu_is_ns = 0; break;
		case 'n': w.cpu_file = optarg; w.cpu_is_ns = 1; break;
		case 'k': w.kill_file = optarg; break;
		case 'f': w.freezer_file = optarg; break;
		case 'p': if (w.nprocs < TSNS_WATCH_MAX_PROCS) w.procs_files[w.nprocs++] = optarg; break;
		case 'g': go = 1; break;
		case 'd': die = 1; break;
		default: return 2;
		}
	}
	if (argc - optind != 3 || (w.cpu_ms && !w.cpu_file))
		return 2;
	/* First, so that Node reaps this process whatever happens next. */
	{
		int32_t rec[3] = { TSNS_REPORT_PID, -1, (int32_t)getpid() };
		if (write(3, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			return 1;
	}
	/* Node's death takes a dieWithParent sandbox along: it may have come before the prctl. */
	if (die && (prctl(PR_SET_PDEATHSIG, (unsigned long)SIGKILL, 0UL, 0UL, 0UL) < 0 || getppid() != node))
		return 1;
	/* Its own session: a terminal's signals to Node's group are not the monitor's. */
	setsid();
	/* Dumpable until the program is cloned, as an exec'd monitor was: the program's
	 * process writes its own /proc files before its exec (the server is not dumpable). */
	prctl(PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL);
	flags = strtoul(argv[optind], NULL, 0);
	status_file = argv[optind + 2];
	if (record_self(status_file) < 0)
		return 1;
	if (strcmp(argv[optind + 1], "-") == 0) {
		plan = inline_plan;
		len = inline_len;
	} else {
		plan = read_plan(argv[optind + 1], &len);
	}
	memset(&st, 0, sizeof(st));
	if (!plan || tsns_parse(plan, len, &st) != 0)
		return 1;
	/* The report pipe must close at the program's exec: EOF tells Node it runs. */
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0 || (go && fcntl(4, F_SETFD, FD_CLOEXEC) < 0))
		return 1;
	st.report_fd = 3;
	st.go_fd = go ? 4 : -1;
	st.explain_fd = -1;
	st.label = "[monitor] ";
	sigprocmask(SIG_SETMASK, NULL, &st.mask);
	/* Only this process holds the write end: the program sees it hang up if we are gone
	 * before its death signal is in place. */
	if (pipe2(alive, O_CLOEXEC) < 0)
		return 1;
	/* Blocked across the clone, so that no signal is handled in the child before it has
	 * reset every disposition. */
	sigfillset(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		struct pollfd pfd = { .fd = alive[0], .events = POLLIN };
		struct sigaction dfl;
		close(alive[1]);
		/* Without this process nobody records the end: the program goes with it. */
		prctl(PR_SET_PDEATHSIG, (unsigned long)SIGKILL, 0UL, 0UL, 0UL);
		if (poll(&pfd, 1, 0) > 0)
			_exit(1);
		close(alive[0]);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &dfl, NULL);
		sigprocmask(SIG_SETMASK, &st.mask, NULL);
		tsns_run(&st);
	}
	if (pid < 0) {
		int32_t rec[3] = { TSNS_REPORT_ERROR, 0, errno };
		(void)!write(3, rec, sizeof(rec));
		return 1;
	}
	{
		int32_t rec[3] = { TSNS_REPORT_PID, 0, pid };
		(void)!write(3, rec, sizeof(rec));
	}
	close(3);
	/* Node's reply is the program's to read; EOF there, once Node is gone, ends it. */
	if (go)
		close(4);
	close(alive[0]);
	/* The program's stdio is its own: a pipe to Node must end when the program's
	 * processes close it, not when this process does. */
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int fd = 0; null >= 0 && fd < 3; fd++)
			if (fd != null)
				dup2(null, fd);
		if (null > 2)
			close(null);
	}
	/* The terminal's signals and a stop are the program's business; this process only
	 * watches. Its root view of the host must not be read from inside either. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	sigprocmask(SIG_SETMASK, &st.mask, NULL);
	prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
	reason = tsns_watch(pid, &w, &status);
	record(status_file, status, reason);
	/* What the program left (a daemon it started, with no pid namespace) goes too. */
	if (w.kill_file)
		tsns_kill_tree(pid, &w);
	return 0;
}

#define MAX_FDS 6
#define MAX_ARGS 64

/*
 * The received descriptors at the positions the message names, inheritable, and nothing
 * else open (the server's socket least of all: its EOF tells the server Node is gone).
 * Each goes through a copy above the range first, so that any permutation works.
 */
static int place(const int *fds, const int *at, int n)
{
	int high[MAX_FDS];
	for (int k = 0; k < n; k++)
		if ((high[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 64)) < 0)
			return -1;
	if (syscall(SYS_close_range, 0U, 63U, 0U) < 0)
		return -1;
	for (int k = 0; k < n; k++)
		if (dup2(high[k], at[k]) < 0)
			return -1;
	return (int)syscall(SYS_close_range, 64U, ~0U, 0U);
}

/* One start: a monitor cloned as Node's child, with the message's descriptors, arguments and plan. */
static void start(char *text, size_t len, const int *fds, int nfds)
{
	char *argv[MAX_ARGS + 1];
	int at[MAX_FDS], argc = 0, report = -1;
	char *s = text, *end = text + len;
	long nargs;
	pid_t pid;

	/* The positions, then the arguments. */
	for (int k = 0; k < nfds; k++) {
		at[k] = (int)strtol(s, &s, 10);
		if (at[k] < 0 || at[k] >= MAX_FDS || (k + 1 < nfds && *s++ != ','))
			return;
		if (at[k] == 3)
			report = fds[k];
	}
	if (report < 0 || *s++ != '\0')
		return;
	nargs = strtol(s, &s, 10);
	if (nargs < 0 || nargs >= MAX_ARGS || *s++ != '\0')
		return;
	argv[argc++] = "tsns-monitor";
	for (long k = 0; k < nargs; k++, s += strlen(s) + 1) {
		if (s >= end)
			return;
		argv[argc++] = s;
	}
	argv[argc] = NULL;
	/* What follows is the plan, where PLAN_FILE is "-". */
	inline_plan = (uint8_t *)s;
	inline_len = s < end ? (size_t)(end - s) : 0;
	pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		role[1] = 'M';
		_exit(place(fds, at, nfds) < 0 ? 1 : monitor(argc, argv));
	}
	if (pid < 0) {
		int32_t rec[3] = { TSNS_REPORT_ERROR, 0, errno };
		(void)!write(report, rec, sizeof(rec));
	}
}

/* Serve Node on fd 3 until its EOF. */
static int serve(void)
{
	static char text[65536];
	struct sigaction ign;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	/* A report pipe whose reader is gone must not end the server. */
	sigaction(SIGPIPE, &ign, NULL);
	/* Nor the terminal's signals: Node's group is not this session. */
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
	node = getppid();
	for (;;) {
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		} ctl;
		struct iovec iov = { text, sizeof(text) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof(ctl.space) };
		struct cmsghdr *c;
		int fds[MAX_FDS], nfds = 0;
		ssize_t n = recvmsg(3, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				if (nfds < MAX_FDS)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
		text[n] = '\0';
		/* A cut message starts nothing: Node sees the report pipe end without a pid. */
		if (!(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
			start(text, (size_t)n, fds, nfds);
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
	}
}

int main(int argc, char **argv)
{
	int type = 0;
	socklen_t len = sizeof(type);
	if (argc != 2 || strcmp(argv[1], "-S") != 0) {
		fprintf(stderr, "usage: tsns-monitor -S (started by a Sandbox, a socket on fd 3)\n");
		return 2;
	}
	if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
		fprintf(stderr, "tsns-monitor: fd 3 is not a Sandbox's SOCK_SEQPACKET socket (it is started by a Sandbox)\n");
		return 2;
	}
	role = argv[1];
	return serve();
}
