/*
 * tsns-stage: the process every ts-* tool runs as. bin/ts-NAME execs it; it starts the
 * tool's Node planner (dist/bin/NAME.cjs) and performs the plan the planner hands back in
 * its own process, then execs the program in place: same pid, and the caller's
 * descriptors, signal dispositions, signal mask and limits, which Node would have changed
 * before any JavaScript ran. No Node process stays behind.
 *
 * The planner is started as a grandchild and let go (its parent exits at once), so that
 * it is never a child the program inherits. It talks over a socketpair (plan.h): it sends
 * the plan, acts at SYNC steps (id-map ranges, bind mounts: what util-linux's helper
 * child does), and words any failure the way the tool words it; this stage only replies
 * with the status it is told. At execve the socket closes (close-on-exec), which tells the
 * planner the program is running.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "runner.h"
#include "oci.h"

#define MAX_PLAN (64u << 20)

static int stdio_flags[3];

/* The planner is Node: it may have made a shared pipe non-blocking. Undo that. */
static void restore_stdio_flags(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (stdio_flags[fd] >= 0)
			fcntl(fd, F_SETFL, stdio_flags[fd]);
}

__attribute__((noreturn)) static void die(const char *tool, const char *what)
{
	restore_stdio_flags();
	fprintf(stderr, "%s: %s\n", tool, what);
	exit(1);
}

static int read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/*
 * CVE-2019-5736: once this process is inside a target's namespaces, a process in there
 * could open /proc/PID/exe, and write to the host's binary once we exec. So the stage
 * runs from a sealed, anonymous copy of itself, as runc does: there is nothing to write.
 * The package directory is handed over in the environment and taken out at once.
 */
static void run_from_sealed_copy(char **argv, const char *tool)
{
	char self[PATH_MAX];
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int src, mfd;
	char *slash;
	if (n < 0)
		die(tool, "cannot find the tsns-stage executable (/proc/self/exe)");
	self[n] = '\0';
	if (strncmp(self, "/memfd:", 7) == 0)
		return;
	src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	mfd = memfd_create("tsns-stage", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (src < 0 || mfd < 0 || fstat(src, &st) < 0)
		die(tool, "cannot copy the stage into memory");
	for (off_t off = 0; off < st.st_size;)
		if (sendfile(mfd, src, &off, (size_t)(st.st_size - off)) <= 0)
			die(tool, "cannot copy the stage into memory");
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		die(tool, "cannot seal the stage's copy");
	close(src);
	slash = strrchr(self, '/');
	*slash = '\0';
	setenv("TSNS_STAGE_DIR", self, 1);
	fexecve(mfd, argv, environ);
	die(tool, "cannot run the stage's sealed copy");
}

/*
 * Node opens an unauthenticated inspector on 127.0.0.1:9229 on SIGUSR1, and any uid-0
 * process (a confined one included) may send it. The planner ignores SIGUSR1 from its
 * first line on; until then its inspector is pointed at a port this stage holds, so the
 * inspector cannot listen. The socket goes at our exec (close-on-exec). Where 127.0.0.1
 * cannot be bound, the inspector cannot bind it either.
 */
static int hold_inspector_port(char *arg, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		close(fd);
		return -1;
	}
	snprintf(arg, len, "--inspect-port=127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	return fd;
}

static const char *tool_name;

/* The planner went away where it had to answer: it printed nothing, so we do. */
static void planner_gone(void)
{
	restore_stdio_flags();
	fprintf(stderr, "%s: the planner ended before the program could run\n", tool_name);
}

/* Where execvp(node) would find it: a name with a slash as it is, else the first
 * executable regular file of that name on PATH (a directory of that name is passed over,
 * as execvp passes it; glibc's default PATH where there is none). */
static int find_node(const char *node, char *out, size_t len)
{
	const char *dir = getenv("PATH");
	if (strchr(node, '/'))
		return snprintf(out, len, "%s", node) < (int)len ? 0 : -1;
	for (dir = dir ? dir : "/bin:/usr/bin"; tsns_path_candidate(&dir, node, out, len); )
		if (tsns_runnable(out) == 0)
			return 0;
	return -1;
}

/*
 * PLANNER's start-up snapshot (dist/bin/TOOL.blob, scripts/bundle.mjs) where its stamp
 * names the node binary about to run (device, inode, size, mtime: node aborts on a
 * snapshot that another binary built) and PLANNER itself (the snapshot holds the paths of
 * the package it was built in), and NODE_OPTIONS sets nothing. Else "" and the planner
 * starts from its bundle.
 */
static void snapshot_for(const char *found, const char *planner, char *blob, size_t len)
{
	char stamp[PATH_MAX + 16], want[PATH_MAX + 128], have[PATH_MAX + 128] = "";
	size_t base = strlen(planner);
	struct stat st;
	FILE *f;
	const char *options = getenv("NODE_OPTIONS");
	blob[0] = '\0';
	/* A V8 flag there (--max-old-space-size...) makes node refuse the snapshot (status 14). */
	if (options && *options)
		return;
	if (base < 4 || strcmp(planner + base - 4, ".cjs") || stat(found, &st) < 0)
		return;
	snprintf(stamp, sizeof(stamp), "%.*s.blob.stamp", (int)(base - 4), planner);
	if (!(f = fopen(stamp, "re")))
		return;
	if (!fgets(have, sizeof(have), f))
		have[0] = '\0';
	fclose(f);
	snprintf(want, sizeof(want), "%llu %llu %lld %lld %ld %s\n", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec, planner);
	if (!strcmp(want, have))
		snprintf(blob, len, "%.*s.blob", (int)(base - 4), planner);
}

/* node PLANNER, with the socket's end on fd `fd`, as a grandchild we do not wait for. */
static int start_planner(const char *node, const char *inspect, const char *planner, int fd, int other, char **args, int nargs)
{
	pid_t stage = getpid(), middle = fork();
	int status;
	if (middle < 0)
		return -1;
	if (middle == 0) {
		pid_t pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		char **argv = calloc((size_t)nargs + 8, sizeof(char *));
		char num[16], blob[PATH_MAX] = "", found[PATH_MAX];
		const char *ca;
		/* Searched once: the snapshot's stamp is checked against the very file exec'd. */
		int have_node = find_node(node, found, sizeof(found)) == 0;
		int a = 0;
		if (!argv)
			_exit(1);
		close(other);
		fcntl(fd, F_SETFD, 0);
		snprintf(num, sizeof(num), "%d", fd);
		setenv("TSNS_STAGE_FD", num, 1);
		/* The process the program runs in, or that waits for it (records name it). */
		snprintf(num, sizeof(num), "%d", (int)stage);
		setenv("TSNS_STAGE_PID", num, 1);
		/* Node parses every certificate named there before any JavaScript runs (50 ms for
		 * a system bundle); the planner opens no TLS connection. It passes the value on to
		 * the program under its own name again (takeStageEnv). */
		if ((ca = getenv("NODE_EXTRA_CA_CERTS"))) {
			setenv("TSNS_STAGE_CA_CERTS", ca, 1);
			unsetenv("NODE_EXTRA_CA_CERTS");
		} else {
			unsetenv("TSNS_STAGE_CA_CERTS");
		}
		argv[a++] = (char *)node;
		if (*inspect)
			argv[a++] = (char *)inspect;
		if (have_node)
			snapshot_for(found, planner, blob, sizeof(blob));
		if (*blob) {
			/* As the snapshot was built (V8 refuses it under other flags): the planner
			 * runs for milliseconds, where the JIT compilers only cost start-up. */
			argv[a++] = "--jitless";
			argv[a++] = "--no-expose-wasm";
			argv[a++] = "--snapshot-blob";
			argv[a++] = blob;
		}
		/* With a snapshot too: node takes its first operand as the script, not ours. */
		argv[a++] = (char *)planner;
		for (int k = 0; k < nargs; k++)
			argv[a++] = args[k];
		if (have_node)
			execv(found, argv);
		else
			execvp(node, argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", planner, node, strerror(errno));
		_exit(1);
	}
	while (waitpid(middle, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct stage st;
	const char *tool, *node = getenv("TSNS_NODE");
	char path[PATH_MAX], planner[PATH_MAX], name[64], inspect[48] = "";
	const char *dir;
	int sv[2], err;
	int32_t first;
	uint32_t len;
	uint8_t *plan;

	if (argc < 2) {
		fprintf(stderr, "usage: tsns-stage TOOL [ARG...] (started by bin/ts-TOOL)\n");
		return 1;
	}
	tool = argv[1];
	/* ts-oci's start, kill and delete need no planner when all is as expected (oci.c). */
	if (!strcmp(tool, "oci"))
		tsns_oci_fast(argc - 2, argv + 2);
	snprintf(name, sizeof(name), "ts-%s", tool);
	for (int fd = 0; fd < 3; fd++)
		stdio_flags[fd] = fcntl(fd, F_GETFL);
	run_from_sealed_copy(argv, name);
	/* The planner is dist/bin/TOOL.cjs of the package this binary was built in. */
	dir = getenv("TSNS_STAGE_DIR");
	if (!dir || strchr(tool, '/') || snprintf(path, sizeof(path), "%s/../../dist/bin/%s.cjs", dir, tool) >= (int)sizeof(path))
		die(name, "bad tool name");
	unsetenv("TSNS_STAGE_DIR");
	/* A canonical path spares Node resolving it again. */
	if (!realpath(path, planner))
		die(name, "the planner is missing (run `npm install` in the tsns package)");
	/* Not dumpable: from inside the namespaces it enters, nothing may ptrace this root
	 * process or read it through /proc before it has exec'd (runc does the same). */
	if (geteuid() == 0)
		prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die(name, "socketpair failed");
	/* Above stdio, even where the caller closed it: fd 1 or 2 must not be our channel. */
	for (int k = 0; k < 2; k++) {
		int moved = fcntl(sv[k], F_DUPFD_CLOEXEC, 3);
		if (moved < 0)
			die(name, "cannot move the planner's socket");
		close(sv[k]);
		sv[k] = moved;
	}
	hold_inspector_port(inspect, sizeof(inspect));
	if (start_planner(node && *node ? node : "node", inspect, planner, sv[1], sv[0], argv + 2, argc - 2) < 0)
		die(name, "cannot start the planner");
	close(sv[1]);

	if (read_all(sv[0], &first, sizeof(first)) < 0)
		die(name, "the planner ended without a plan");
	if (first >= 0) {   /* help, version, usage errors: the planner said it all */
		restore_stdio_flags();
		return first & 0xff;
	}
	if ((first != TSNS_PLANNER_PLAN && first != TSNS_PLANNER_PLAN_EXPLAIN) || read_all(sv[0], &len, sizeof(len)) < 0 || len > MAX_PLAN)
		die(name, "the planner sent a malformed message");
	plan = malloc(len ? len : 1);
	if (!plan || read_all(sv[0], plan, len) < 0)
		die(name, "cannot read the plan");

	memset(&st, 0, sizeof(st));
	err = tsns_parse(plan, len, &st);
	if (err)
		die(name, err == -ENOMEM ? "out of memory" : "the planner sent a malformed plan");
	st.report_fd = st.go_fd = sv[0];
	st.explain_fd = first == TSNS_PLANNER_PLAN_EXPLAIN ? fcntl(2, F_DUPFD_CLOEXEC, 3) : -1;
	st.label = "[stage] ";
	st.after_reply = restore_stdio_flags;
	st.parent_gone = planner_gone;
	st.parent = getppid();   /* the caller: a death signal set here is about it */
	tool_name = name;
	sigprocmask(SIG_SETMASK, NULL, &st.mask);
	restore_stdio_flags();
	tsns_run(&st);
}
