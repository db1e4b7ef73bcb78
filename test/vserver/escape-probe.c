/*
 * What an attacker inside a vserver or context tries, one line of KEY=RESULT each.
 * Built static by test/vserver/escape.test.ts and copied into the root.
 *   escape-probe handle PATH               (on the host) print PATH's file handle in hex
 *   escape-probe probe MARKER WRITE HANDLE DEVICE
 * MARKER is a host file that must stay out of reach, WRITE a host path that must not be
 * created, HANDLE a hex handle of a host directory holding MARKER, DEVICE a device node
 * outside the allow-list. Each attempt runs in a child of its own, so that a chroot or
 * fchdir of one does not help the next.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *marker, *write_path;

/* The old chroot escape: a chroot below the cwd leaves the cwd outside the root. */
static void chroot_escape(void)
{
	mkdir("/tmp", 0755);
	mkdir("/tmp/escape-probe.d", 0755);
	if (chroot("/tmp/escape-probe.d") < 0) {
		printf("chroot_escape=%s\n", strerrorname_np(errno));
		return;
	}
	for (int i = 0; i < 64; i++)
		chdir("..");
	chroot(".");
	printf("chroot_escape=%s\n", access(marker, F_OK) == 0 ? "found" : "absent");
	int fd = open(write_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	printf("chroot_write=%s\n", fd >= 0 ? "ok" : strerrorname_np(errno));
}

/* "shocker": open a host directory by its handle, relative to any fd on the same filesystem. */
static void by_handle(const char *hex)
{
	size_t n = strlen(hex) / 2;
	struct file_handle *h = malloc(sizeof(*h) + n);
	unsigned char *raw = (unsigned char *)h;
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", raw + i);
	int root = open("/", O_RDONLY | O_DIRECTORY);
	int fd = open_by_handle_at(root, h, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		printf("handle=%s\n", strerrorname_np(errno));
		return;
	}
	const char *base = strrchr(marker, '/') + 1;
	printf("handle=%s\n", faccessat(fd, base, F_OK, 0) == 0 ? "escaped" : "opened");
}

/* Writes back what is there, so that a success changes nothing on the host. */
static void core_pattern(void)
{
	char now[256] = "";
	int r = open("/proc/sys/kernel/core_pattern", O_RDONLY);
	ssize_t len = r >= 0 ? read(r, now, sizeof(now) - 1) : -1;
	int w = open("/proc/sys/kernel/core_pattern", O_WRONLY);
	if (w < 0 || len <= 0) {
		printf("core_pattern=%s\n", strerrorname_np(errno));
		return;
	}
	printf("core_pattern=%s\n", write(w, now, len) == len ? "written" : strerrorname_np(errno));
}

static void read_size(const char *key, const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		printf("%s=%s\n", key, strerrorname_np(errno));
		return;
	}
	ssize_t total = 0, n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	printf("%s=%zd\n", key, total);
}

static void device(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	printf("device=%s\n", fd >= 0 ? "opened" : strerrorname_np(errno));
}

/* clone3's flags are in memory, out of seccomp's reach: it must say ENOSYS (not EPERM),
 * so that glibc falls back to clone, whose flags the filter checks. */
static void clone3_(const char *unused)
{
	(void)unused;
	long r = syscall(SYS_clone3, NULL, 0);
	printf("clone3=%s\n", r == 0 ? "ok" : strerrorname_np(errno));
}

static void *thread_main(void *arg) { return arg; }

/* Threads still start (glibc tries clone3, then clone without namespace flags). */
static void threads_(const char *unused)
{
	(void)unused;
	pthread_t th;
	void *back = NULL;
	int err = pthread_create(&th, NULL, thread_main, (void *)1);
	if (err == 0)
		pthread_join(th, &back);
	printf("threads=%s\n", err ? strerrorname_np(err) : back == (void *)1 ? "ok" : "wrong");
}

/* The raw clone with CLONE_NEWUSER, as unshare's sibling. */
static void clone_userns_(const char *unused)
{
	(void)unused;
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	printf("clone_userns=%s\n", r > 0 ? "ok" : strerrorname_np(errno));
}

static void userns(void)
{
	printf("userns=%s\n", unshare(CLONE_NEWUSER) == 0 ? "ok" : strerrorname_np(errno));
}

static void in_child(void (*f)(const char *), const char *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		f(arg);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void chroot_escape_(const char *unused) { (void)unused; chroot_escape(); }
static void core_pattern_(const char *unused) { (void)unused; core_pattern(); }
static void userns_(const char *unused) { (void)unused; userns(); }
static void timer_list_(const char *unused) { (void)unused; read_size("timer_list", "/proc/timer_list"); }
static void keys_(const char *unused) { (void)unused; read_size("keys", "/proc/keys"); }

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "handle") == 0) {
		struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
		int mount_id;
		h->handle_bytes = MAX_HANDLE_SZ;
		if (name_to_handle_at(AT_FDCWD, argv[2], h, &mount_id, 0) < 0) {
			perror("name_to_handle_at");
			return 1;
		}
		for (size_t i = 0; i < sizeof(*h) + h->handle_bytes; i++)
			printf("%02x", ((unsigned char *)h)[i]);
		printf("\n");
		return 0;
	}
	if (argc != 6 || strcmp(argv[1], "probe") != 0) {
		fprintf(stderr, "usage: escape-probe handle PATH | probe MARKER WRITE HANDLE DEVICE\n");
		return 2;
	}
	marker = argv[2];
	write_path = argv[3];
	in_child(chroot_escape_, NULL);
	in_child(by_handle, argv[4]);
	in_child(core_pattern_, NULL);
	in_child(timer_list_, NULL);
	in_child(keys_, NULL);
	in_child(device, argv[5]);
	in_child(clone3_, NULL);
	in_child(threads_, NULL);
	in_child(clone_userns_, NULL);
	in_child(userns_, NULL);   /* last: the tests wait for its line */
	return 0;
}
