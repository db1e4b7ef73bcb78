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
 * usage: tsns-monitor [-t MS] [-c MS -u FILE|-n FILE] [-k FILE] [-f FILE] [-p FILE]...
 *                     CLONE_FLAGS PLAN_FILE STATUS_FILE
 *   -t  wall-clock limit            -c  CPU-time limit of the cgroup, read from
 *   -u  cgroup2 cpu.stat (usage_usec)   -n  v1 cpuacct.usage (nanoseconds)
 *   -k  cgroup.kill                 -f  v1 freezer.state      -p  a cgroup.procs file
 *   fd 3: the report pipe to Node: REPORT_PID (the program's pid), then the runner's
 *   records; EOF once the program has exec'd or died. The plan file is removed once read.
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

#define MAX_PROCS_FILES 8
#define CPU_POLL_MS 50

static const char *kill_file, *freezer_file, *cpu_file;
static const char *procs_files[MAX_PROCS_FILES];
static int nprocs_files, cpu_is_ns;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;
	if (fd < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

static ssize_t read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = 0, r;
	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1 && ((r = read(fd, buf + got, len - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			got += r;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* CPU time the cgroup used, ms; -1 when it cannot be read. */
static long long cpu_used_ms(void)
{
	char buf[4096], *at;
	if (read_text(cpu_file, buf, sizeof(buf)) < 0)
		return -1;
	if (cpu_is_ns)
		return strtoll(buf, NULL, 10) / 1000000;
	at = strstr(buf, "usage_usec ");
	return at ? strtoll(at + 11, NULL, 10) / 1000 : -1;
}

/*
 * Kill the whole tree, never only the program: cgroup.kill where the kernel has it (no
 * fork escapes it); else SIGKILL every pid the group lists, frozen meanwhile where a
 * freezer is given, until none is left. A new pid namespace ends with its pid 1 anyway.
 */
static void kill_tree(pid_t program)
{
	kill(program, SIGKILL);
	if (kill_file && write_text(kill_file, "1") == 0)
		return;
	for (int round = 0; round < 100; round++) {
		int any = 0;
		if (freezer_file)
			write_text(freezer_file, "FROZEN");
		for (int k = 0; k < nprocs_files; k++) {
			char buf[65536];
			if (read_text(procs_files[k], buf, sizeof(buf)) <= 0)
				continue;
			for (char *line = buf; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
				long pid = strtol(line, NULL, 10);
				if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
					any = 1;
			}
		}
		if (freezer_file)
			write_text(freezer_file, "THAWED");
		if (!any)
			return;
		usleep(10000);
	}
}

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
	long long timeout_ms = 0, cpu_ms = 0, deadline, started;
	const char *reason = "exited", *status_file;
	struct stage st;
	struct sigaction ign;
	sigset_t mask;
	uint8_t *plan;
	size_t len;
	unsigned long flags;
	int alive[2], opt, status, pidfd;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+t:c:u:n:k:f:p:")) != -1) {
		switch (opt) {
		case 't': timeout_ms = atoll(optarg); break;
		case 'c': cpu_ms = atoll(optarg); break;
		case 'u': cpu_file = optarg; cpu_is_ns = 0; break;
		case 'n': cpu_file = optarg; cpu_is_ns = 1; break;
		case 'k': kill_file = optarg; break;
		case 'f': freezer_file = optarg; break;
		case 'p': if (nprocs_files < MAX_PROCS_FILES) procs_files[nprocs_files++] = optarg; break;
		default: return 2;
		}
	}
	if (argc - optind != 3 || (cpu_ms && !cpu_file)) {
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
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		return 1;
	st.report_fd = 3;
	st.go_fd = st.explain_fd = -1;
	st.label = "[sandbox] ";
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
	close(alive[0]);
	started = now_ms();
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
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	deadline = timeout_ms ? started + timeout_ms : 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		long long wait_ms = -1, now;
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return 1;
		now = now_ms();
		if (deadline && now >= deadline) {
			reason = "timeout";
			kill_tree(pid);
			deadline = 0;
			cpu_ms = 0;
			continue;
		}
		if (cpu_ms) {
			long long used = cpu_used_ms();
			if (used >= cpu_ms) {
				reason = "cpu";
				kill_tree(pid);
				deadline = 0;
				cpu_ms = 0;
				continue;
			}
			wait_ms = CPU_POLL_MS;
		}
		if (deadline && (wait_ms < 0 || deadline - now < wait_ms))
			wait_ms = deadline - now;
		/* The pidfd turns readable when the program ends: no polling without limits. */
		if (pidfd >= 0) {
			struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
			poll(&pfd, 1, (int)wait_ms);
		} else {
			usleep(wait_ms < 0 ? 100000 : (useconds_t)(wait_ms * 1000));
		}
	}
	record(status_file, status, reason);
	/* What the program left (a daemon it started, with no pid namespace) goes too. */
	if (kill_file)
		write_text(kill_file, "1");
	return 0;
}
