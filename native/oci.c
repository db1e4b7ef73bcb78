/*
 * ts-oci's fast path: `start`, `kill` and `delete` of a container in the state they
 * expect, done here in C before any Node starts. Engines call these for every container
 * (Podman: create, start, delete --force), and a Node start costs more than the work.
 *
 * Only the path where everything is as expected is taken here; anything else (an
 * unknown id, a wrong status, an option we do not parse, a record without its cgroup
 * directories) returns without having changed anything, and the Node program does it
 * and words the error (src/oci/lifecycle.ts is the reference; this mirrors it). The
 * record read is ROOT/ID/state.run, the line form of state.json that src/oci/state.ts
 * writes next to it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "oci.h"

#define MAX_DIRS 32

struct record {
	long pid, start, creator, creator_start;
	int ready, has_name, has_hooks;   /* hooks: poststart or poststop, which Node runs */
	int ndirs, nparents;
	char dirs[MAX_DIRS][PATH_MAX];
	char parents[MAX_DIRS][PATH_MAX];
};

static int read_record(const char *root, const char *id, struct record *r)
{
	char path[PATH_MAX], line[PATH_MAX + 16];
	FILE *f;
	memset(r, 0, sizeof(*r));
	r->pid = -1;
	if (snprintf(path, sizeof(path), "%s/%s/state.run", root, id) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "pid %ld", &r->pid) == 1 || sscanf(line, "start %ld", &r->start) == 1 ||
		    sscanf(line, "creator %ld %ld", &r->creator, &r->creator_start) == 2 || sscanf(line, "ready %d", &r->ready) == 1)
			continue;
		if (!strncmp(line, "cgroup ", 7) && r->ndirs < MAX_DIRS)
			snprintf(r->dirs[r->ndirs++], PATH_MAX, "%.*s", PATH_MAX - 1, line + 7);
		else if (!strncmp(line, "parent ", 7) && r->nparents < MAX_DIRS)
			snprintf(r->parents[r->nparents++], PATH_MAX, "%.*s", PATH_MAX - 1, line + 7);
		else if (!strncmp(line, "name ", 5))
			r->has_name = 1;
		else if (!strncmp(line, "hooks ", 6))
			r->has_hooks = 1;
	}
	fclose(f);
	return 0;
}

/* Whether pid runs and started at `start` (no zombie): state.ts's alive(). */
static int alive(long pid, long start)
{
	char path[64], buf[1024], *p;
	long st = -1;
	int fd, n;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* field 22 is the 20th after the state */
	p += 2;
	for (int k = 0; k < 19 && p; k++)
		p = strchr(p + 1, ' ');
	if (p)
		st = strtol(p + 1, NULL, 10);
	return start == 0 || st == start;
}

static int exists(const char *root, const char *id, const char *file)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s/%s", root, id, file);
	return access(path, F_OK) == 0;
}

/* start: the record is created (ready, alive, fifo there): one byte into the fifo. */
static int fast_start(const char *root, const char *id)
{
	struct record r;
	char fifo[PATH_MAX];
	int fd;
	if (read_record(root, id, &r) || r.has_hooks || !r.ready || !alive(r.pid, r.start))
		return -1;
	snprintf(fifo, sizeof(fifo), "%s/%s/exec.fifo", root, id);
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* The removal is the claim (lifecycle.ts start): a start that loses leaves the words to Node. */
	if (unlink(fifo) < 0) {
		close(fd);
		return -1;
	}
	if (write(fd, "", 1) != 1) {
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static const struct { const char *name; int sig; } SIGNALS[] = {
	{ "KILL", SIGKILL }, { "TERM", SIGTERM }, { "INT", SIGINT }, { "HUP", SIGHUP }, { "QUIT", SIGQUIT },
	{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "STOP", SIGSTOP }, { "CONT", SIGCONT }, { "WINCH", SIGWINCH },
};

static int signal_of(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n >= 1 && n <= 64 ? (int)n : -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t k = 0; k < sizeof(SIGNALS) / sizeof(SIGNALS[0]); k++)
		if (!strcasecmp(s, SIGNALS[k].name))
			return SIGNALS[k].sig;
	return -1;
}

/* Each pid in the cgroup.procs of every directory: fn(pid) */
static void each_pid(const struct record *r, int sig)
{
	char path[PATH_MAX + 16], line[32];
	for (int k = 0; k < r->ndirs; k++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/cgroup.procs", r->dirs[k]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			kill((pid_t)atol(line), sig);
		fclose(f);
	}
}

/* kill: the record is created or running. */
static int fast_kill(const char *root, const char *id, int sig, int all)
{
	struct record r;
	if (sig < 0 || read_record(root, id, &r) || !r.ready || !alive(r.pid, r.start))
		return -1;
	if (all && r.ndirs)
		each_pid(&r, sig);
	else if (kill((pid_t)r.pid, sig) < 0 && errno != ESRCH)
		return -1;
	return 0;
}

static void write_file(const char *dir, const char *file, const char *data)
{
	char path[PATH_MAX + 32];
	int fd;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, data, strlen(data)) < 0) { /* no freezer there */ }
	close(fd);
}

/* delete: stopped, or created, or anything with --force: kill the group's processes (thawed first), remove it and the record. */
static int fast_delete(const char *root, const char *id, int force)
{
	struct record r;
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int running;
	DIR *d;
	struct dirent *e;
	if (read_record(root, id, &r) || r.has_hooks || (r.has_name && !r.ndirs))
		return -1;
	/* Being created: Node refuses (lifecycle.ts remove). */
	if (!r.ready && alive(r.creator, r.creator_start))
		return -1;
	running = r.ready && alive(r.pid, r.start) && !exists(root, id, "exec.fifo");
	if (running && !force)
		return -1;
	for (int k = 0; k < r.ndirs; k++) {
		write_file(r.dirs[k], "freezer.state", "THAWED");
		write_file(r.dirs[k], "cgroup.freeze", "0");
	}
	if (!r.ndirs && alive(r.pid, r.start))
		kill((pid_t)r.pid, SIGKILL);
	for (int round = 0; r.ndirs; round++) {
		int left = 0;
		if (round == 500)
			return 1;   /* Node would say the same after as long: processes stuck in the kernel */
		each_pid(&r, SIGKILL);
		for (int k = 0; k < r.ndirs; k++)
			if (rmdir(r.dirs[k]) < 0 && errno != ENOENT)
				left++;
		if (!left)
			break;
		nanosleep(&tick, NULL);
	}
	for (int k = 0; k < r.nparents; k++)
		rmdir(r.parents[k]);
	snprintf(dir, sizeof(dir), "%s/%s", root, id);
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
				unlink(path);
			}
		closedir(d);
	}
	rmdir(dir);
	return 0;
}

static int valid_id(const char *id)
{
	if (!*id || !strcmp(id, ".") || !strcmp(id, ".."))
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_+-.", *p)))
			return 0;
	return 1;
}

void tsns_oci_fast(int argc, char **argv)
{
	const char *root = "/run/ts-oci" /* state.ts DEFAULT_ROOT */, *cmd, *id = NULL, *sig = "SIGTERM";
	int k = 0, force = 0, all = 0, nargs = 0, r;
	/* Global options: --root only; --log and the rest matter for errors, which are Node's. */
	while (k < argc && argv[k][0] == '-') {
		if (!strcmp(argv[k], "--root") && k + 1 < argc)
			root = argv[k + 1], k += 2;
		else if (!strncmp(argv[k], "--root=", 7))
			root = argv[k] + 7, k++;
		else if (!strcmp(argv[k], "--log") || !strcmp(argv[k], "--log-format"))
			k += 2;
		else if (!strcmp(argv[k], "--debug"))
			k++;
		else
			return;
	}
	if (k >= argc)
		return;
	cmd = argv[k++];
	for (; k < argc; k++) {
		const char *a = argv[k];
		if ((!strcmp(a, "--force") || !strcmp(a, "-f")) && !strcmp(cmd, "delete"))
			force = 1;
		else if ((!strcmp(a, "--all") || !strcmp(a, "-a")) && !strcmp(cmd, "kill"))
			all = 1;
		else if (a[0] == '-')
			return;
		else if (nargs == 0)
			id = a, nargs++;
		else if (nargs == 1 && !strcmp(cmd, "kill"))
			sig = a, nargs++;
		else
			return;
	}
	if (!id || !valid_id(id))
		return;
	if (!strcmp(cmd, "start"))
		r = fast_start(root, id);
	else if (!strcmp(cmd, "kill"))
		r = fast_kill(root, id, signal_of(sig), all);
	else if (!strcmp(cmd, "delete"))
		r = fast_delete(root, id, force);
	else
		return;
	if (r >= 0)
		exit(r);
}
