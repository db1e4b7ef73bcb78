/* See watch.h. Raw calls and no allocation: it runs in the stage's forked parent too. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "watch.h"

#define CPU_POLL_MS 50

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

/* CPU time the group used, ms; -1 when it cannot be read. */
static long long cpu_used_ms(const struct tsns_watch *w)
{
	char buf[4096], *at;
	if (read_text(w->cpu_file, buf, sizeof(buf)) < 0)
		return -1;
	if (w->cpu_is_ns)
		return strtoll(buf, NULL, 10) / 1000000;
	at = strstr(buf, "usage_usec ");
	return at ? strtoll(at + 11, NULL, 10) / 1000 : -1;
}

/*
 * Never only the program: cgroup.kill where the kernel has it (no fork escapes it); else
 * SIGKILL every pid the group lists, frozen meanwhile where a freezer is given, until none
 * is left. A new pid namespace ends with its pid 1 anyway.
 */
void tsns_kill_tree(pid_t program, const struct tsns_watch *w)
{
	kill(program, SIGKILL);
	if (w->kill_file && write_text(w->kill_file, "1") == 0)
		return;
	for (int round = 0; round < 100; round++) {
		int any = 0;
		if (w->freezer_file)
			write_text(w->freezer_file, "FROZEN");
		for (int k = 0; k < w->nprocs; k++) {
			char buf[65536];
			if (read_text(w->procs_files[k], buf, sizeof(buf)) <= 0)
				continue;
			for (char *line = buf; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
				long pid = strtol(line, NULL, 10);
				if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
					any = 1;
			}
		}
		if (w->freezer_file)
			write_text(w->freezer_file, "THAWED");
		if (!any)
			return;
		usleep(10000);
	}
}

static void strike(pid_t pid, const struct tsns_watch *w, const char *note)
{
	if (note) {
		(void)!write(2, note, strlen(note));
		(void)!write(2, "\n", 1);
	}
	tsns_kill_tree(pid, w);
}

const char *tsns_watch(pid_t pid, const struct tsns_watch *w, int *status)
{
	const char *reason = "exited";
	long long deadline = w->timeout_ms ? now_ms() + w->timeout_ms : 0, cpu_ms = w->cpu_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		long long wait_ms = -1, now;
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			*status = 1 << 8;
			break;
		}
		now = now_ms();
		if (deadline && now >= deadline) {
			reason = "timeout";
			strike(pid, w, w->timeout_note);
			deadline = cpu_ms = 0;
			continue;
		}
		if (cpu_ms && w->cpu_file) {
			if (cpu_used_ms(w) >= cpu_ms) {
				reason = "cpu";
				strike(pid, w, w->cpu_note);
				deadline = cpu_ms = 0;
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
	if (pidfd >= 0)
		close(pidfd);
	return reason;
}
