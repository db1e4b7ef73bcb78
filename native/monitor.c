/*
 * tsns-monitor: what stays beside a Sandbox's program (src/sandbox/monitor.ts), in the
 * role conmon has for Podman. Node execs it, so it holds no copy of Node's memory (a
 * forked Node would count some 40 MB per sandbox); it clones the program's process with
 * the plan's namespace flags, and the clone performs the plan with the runner the library
 * and the tools share. Then it waits, enforces the wall-clock and CPU-time limits, records
 * how the program ended, and kills whatever the program left in its cgroup. A Node
 * process that restarts is no longer the parent and could not learn the exit; this
 * process is, and writes it down.
 *
 * usage: tsns-monitor [-t MS] [-c MS -u FILE|-n FILE] [-k FILE] [-f FILE] [-p FILE]... [-g]
 *                     CLONE_FLAGS PLAN_FILE STATUS_FILE
 *   -t  wall-clock limit            -c  CPU-time limit of the cgroup, read from
 *   -u  cgroup2 cpu.stat (usage_usec)   -n  v1 cpuacct.usage (nanoseconds)
 *   -k  cgroup.kill                 -f  v1 freezer.state      -p  a cgroup.procs file
 *   fd 3: the report pipe to Node: REPORT_PID (the program's pid), then the runner's
 *   records; EOF once the program has exec'd or died. The plan file is removed once read.
 *   -g: fd 4 is the reply pipe from Node, where the program waits at a sync step while
 *   Node does the parent's part (id-map ranges); only the program keeps it.
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

int main(int argc, char **argv)
{
	struct tsns_watch w;
	const char *reason, *status_file;
	struct stage st;
	struct sigaction ign;
	sigset_t mask;
	uint8_t *plan;
	size_t len;
	unsigned long flags;
	int alive[2], opt, status, go = 0;
	pid_t pid;

	memset(&w, 0, sizeof(w));
	while ((opt = getopt(argc, argv, "+t:c:u:n:k:f:p:g")) != -1) {
		switch (opt) {
		case 't': w.timeout_ms = atoll(optarg); break;
		case 'c': w.cpu_ms = atoll(optarg); break;
		case 'u': w.cpu_file = optarg; w.cpu_is_ns = 0; break;
		case 'n': w.cpu_file = optarg; w.cpu_is_ns = 1; break;
		case 'k': w.kill_file = optarg; break;
		case 'f': w.freezer_file = optarg; break;
		case 'p': if (w.nprocs < TSNS_WATCH_MAX_PROCS) w.procs_files[w.nprocs++] = optarg; break;
		case 'g': go = 1; break;
		default: return 2;
		}
	}
	if (argc - optind != 3 || (w.cpu_ms && !w.cpu_file)) {
		fprintf(stderr, "usage: tsns-monitor [options] CLONE_FLAGS PLAN_FILE STATUS_FILE (started by a Sandbox)\n");
		return 2;
	}
	flags = strtoul(argv[optind], NULL, 0);
	status_file = argv[optind + 2];
	plan = read_plan(argv[optind + 1], &len);
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
