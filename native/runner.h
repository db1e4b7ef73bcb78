/* The step runner shared by the library's clone path (spawn.c) and the tools' stage (tool.c). */
#ifndef TSNS_RUNNER_H
#define TSNS_RUNNER_H
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>
#include "plan.h"
#include "watch.h"

struct step {
	uint32_t op;
	uint32_t nint;
	int64_t *ints;
	uint32_t nstr;
	char **strs;          /* nstr pointers, then a NULL */
	const char *trace;
	void *scratch;        /* per-op memory allocated by the parser (gids, stdio temporaries) */
};

struct stage {
	struct step *steps;
	uint32_t nsteps;
	int report_fd, go_fd, explain_fd;
	const char *label;    /* prefix of --explain lines: which process speaks */
	int call_fd;          /* the descriptor the running step used, for --explain */
	int slots[TSNS_MAX_SLOTS];
	sigset_t mask;        /* the signal mask the program starts with */
	void (*after_reply)(void);  /* called after each reply from the parent (the tool restores stdio flags) */
	void (*parent_gone)(void);  /* called when the parent closed its end instead of replying */
	pid_t parent;               /* the parent a death signal is about (0: unknown, -1: gone already) */
	int watching;               /* a WATCH step came: the next FORK's parent enforces `watch` */
	struct tsns_watch watch;
};

/* Parse `buf` into `st` (which must be zeroed). 0, or -EINVAL/-ENOMEM. */
int tsns_parse(const uint8_t *buf, size_t len, struct stage *st);
void tsns_release(struct stage *st);
/* The next candidate of a PATH search for `file` (into buf), from *dir on (a PATH
 * string); NULL after the last directory. A candidate too long for buf is skipped. */
const char *tsns_path_candidate(const char **dir, const char *file, char *buf, size_t len);
/* 0 where `file` is a program this process may run (a regular file it may execute), else
 * -1 with errno (EACCES for what is no regular file). */
int tsns_runnable(const char *file);
/* Run every step; never returns (execs or _exits). Async-signal-safe calls only. */
__attribute__((noreturn)) void tsns_run(struct stage *st);

#endif
