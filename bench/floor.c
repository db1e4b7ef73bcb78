/*
 * The kernel's floor for bench/spawn.mjs: the least a sandbox of the same spec costs
 * (clone into user+pid+mount+uts+ipc namespaces, root map, own /proc, exec true, wait),
 * with no runtime around it. Usage: floor N; prints the milliseconds per sandbox.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char stack[1 << 16];
/* Inside the new user namespace the ids read as the overflow id until mapped: taken before. */
static char uid_map[32], gid_map[32];

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		_exit(126);
	close(fd);
}

static int child(void *arg)
{
	(void)arg;
	put("/proc/self/setgroups", "deny");
	put("/proc/self/uid_map", uid_map);
	put("/proc/self/gid_map", gid_map);
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		_exit(126);
	execlp("true", "true", (char *)NULL);
	_exit(127);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 500, status;
	int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
	struct timespec a, b;

	snprintf(uid_map, sizeof(uid_map), "0 %u 1", (unsigned)getuid());
	snprintf(gid_map, sizeof(gid_map), "0 %u 1", (unsigned)getgid());
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		pid_t pid = clone(child, stack + sizeof(stack), flags, NULL);
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0) {
			fprintf(stderr, "floor: sandbox %d failed\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.4f\n", ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / n);
	return 0;
}
