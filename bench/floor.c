/*
 * The kernel's floors: the least a sandbox costs with no runtime around it, each from a
 * minimal C clone loop. Usage: floor N [sandbox]; prints the milliseconds per sandbox.
 * - floor N, for bench/spawn.mjs: clone into user+pid+mount+uts+ipc namespaces, root
 *   map, own /proc, exec true, wait.
 * - floor N sandbox, for bench/sandbox.mjs: the default Sandbox's tree. Clone into the
 *   seven namespaces of the default spec (user, pid, mount, net, uts, ipc, cgroup), the
 *   maps, and the filesystem src/sandbox/filesystem.ts hostReadOnly() builds: a staging
 *   tmpfs and pivot_root, the host's / bound read-only (recursively), a /dev tmpfs with
 *   the six device binds, links and a devpts, its own /proc with runc's read-only and
 *   masked paths, a /tmp tmpfs, the old root detached, the second pivot; then exec `true`
 *   (PATH searched, as the plan does) and wait. Written out by hand: keep it in step with
 *   filesystem.ts, dev.ts and spawn/root.ts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char stack[1 << 16];
/* Inside the new user namespace the ids read as the overflow id until mapped: taken before. */
static char uid_map[32], gid_map[32];

/* Any failure ends the child with 126: the loop reports which sandbox failed. */
static void must(int ok)
{
	if (!ok)
		_exit(126);
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	must(fd >= 0 && write(fd, text, strlen(text)) >= 0);
	close(fd);
}

static void maps(void)
{
	put("/proc/self/setgroups", "deny");
	put("/proc/self/uid_map", uid_map);
	put("/proc/self/gid_map", gid_map);
}

static int child(void *arg)
{
	(void)arg;
	maps();
	must(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	must(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0);
	execlp("true", "true", (char *)NULL);
	_exit(127);
}

static void setattr(const char *path, unsigned flags, unsigned long long set)
{
	struct mount_attr attr = { .attr_set = set };
	must(syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof(attr)) == 0);
}

static void dev(void)
{
	static const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *links[][2] = {
		{ "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "/proc/self/fd", "fd" }, { "/proc/kcore", "core" },
	};
	char to[64], from[64];
	must(mount("tmpfs", "/newroot/dev", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++) {
		snprintf(to, sizeof(to), "/newroot/dev/%s", nodes[i]);
		snprintf(from, sizeof(from), "/oldroot/dev/%s", nodes[i]);
		int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		must(fd >= 0);
		close(fd);
		must(mount(from, to, NULL, MS_BIND, NULL) == 0);
	}
	setattr("/newroot/dev", AT_RECURSIVE, MOUNT_ATTR_NOSUID);
	for (size_t i = 0; i < sizeof(links) / sizeof(*links); i++) {
		snprintf(to, sizeof(to), "/newroot/dev/%s", links[i][1]);
		must(symlink(links[i][0], to) == 0);
	}
	must(mkdir("/newroot/dev/shm", 0755) == 0 && mkdir("/newroot/dev/pts", 0755) == 0);
	must(mount("devpts", "/newroot/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620") == 0);
	must(symlink("pts/ptmx", "/newroot/dev/ptmx") == 0);
}

/* runc's /proc protections, for the entries this kernel has. */
static void proc(void)
{
	static const char *readonly[] = { "bus", "fs", "irq", "sys", "sysrq-trigger" };
	static const char *masked[] = { "acpi", "asound", "kcore", "keys", "latency_stats", "timer_list", "timer_stats", "sched_debug", "scsi" };
	char path[64];
	struct stat st;
	must(mount("proc", "/newroot/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0);
	for (size_t i = 0; i < sizeof(readonly) / sizeof(*readonly); i++) {
		snprintf(path, sizeof(path), "/newroot/proc/%s", readonly[i]);
		if (stat(path, &st) < 0)
			continue;
		must(mount(path, path, NULL, MS_BIND | MS_REC, NULL) == 0);
		must(mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0);
	}
	for (size_t i = 0; i < sizeof(masked) / sizeof(*masked); i++) {
		snprintf(path, sizeof(path), "/newroot/proc/%s", masked[i]);
		if (stat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			must(mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") == 0);
		else
			must(mount("/oldroot/dev/null", path, NULL, MS_BIND, NULL) == 0);
	}
}

static int sandbox_child(void *arg)
{
	(void)arg;
	maps();
	must(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
	must(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, NULL) == 0 && chdir("/tmp") == 0);
	must(mkdir("newroot", 0755) == 0 && mkdir("oldroot", 0755) == 0);
	must(mount("newroot", "newroot", NULL, MS_BIND | MS_REC, NULL) == 0);
	must(syscall(SYS_pivot_root, ".", "oldroot") == 0 && chdir("/") == 0);
	must(mount("/oldroot", "/newroot", NULL, MS_BIND | MS_REC, NULL) == 0);
	setattr("/newroot", AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	dev();
	proc();
	must(mount("tmpfs", "/newroot/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0);
	must(umount2("/oldroot", MNT_DETACH) == 0 && chdir("/newroot") == 0);
	must(syscall(SYS_pivot_root, ".", ".") == 0 && umount2(".", MNT_DETACH) == 0 && chdir("/") == 0);
	execlp("true", "true", (char *)NULL);
	_exit(127);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 500, status;
	int sandbox = argc > 2 && strcmp(argv[2], "sandbox") == 0;
	int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
	struct timespec a, b;

	if (sandbox)
		flags |= CLONE_NEWNET | CLONE_NEWCGROUP;
	snprintf(uid_map, sizeof(uid_map), "0 %u 1", (unsigned)getuid());
	snprintf(gid_map, sizeof(gid_map), "0 %u 1", (unsigned)getgid());
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		pid_t pid = clone(sandbox ? sandbox_child : child, stack + sizeof(stack), flags, NULL);
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0) {
			fprintf(stderr, "floor: sandbox %d failed (status %d)\n", i, status);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.4f\n", ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / n);
	return 0;
}
