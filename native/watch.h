/* Waiting for a program while enforcing its wall-clock and CPU-time limits, and killing
 * its whole tree: shared by a Sandbox's monitor (monitor.c) and a FORK's parent after a
 * WATCH step (the tools, runner.c). */
#ifndef TSNS_WATCH_H
#define TSNS_WATCH_H
#include <sys/types.h>

#define TSNS_WATCH_MAX_PROCS 8

struct tsns_watch {
	long long timeout_ms, cpu_ms;   /* 0: no such limit */
	const char *cpu_file;           /* cgroup2 cpu.stat (usage_usec), or v1 cpuacct.usage (ns) */
	int cpu_is_ns;
	const char *kill_file;          /* cgroup.kill, where the kernel has it */
	const char *freezer_file;       /* v1 freezer.state, to hold the tree still while it is killed */
	const char *procs_files[TSNS_WATCH_MAX_PROCS];
	int nprocs;
	const char *timeout_note, *cpu_note;   /* said on fd 2 when the limit strikes, if set */
};

/* Wait for `pid` (its wait status into *status), killing the tree when a limit strikes.
 * Returns why it ended: "exited" (by itself or a signal from outside), "timeout" or "cpu". */
const char *tsns_watch(pid_t pid, const struct tsns_watch *w, int *status);

/* Kill the program and everything in its group: cgroup.kill, else every listed pid. */
void tsns_kill_tree(pid_t program, const struct tsns_watch *w);

#endif
