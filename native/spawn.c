/*
 * The library's entry (libtsns.so, called from Node through koffi): clone a
 * single-threaded child that runs a plan. Node is multithreaded, and the kernel refuses a
 * multithreaded caller unshare(CLONE_NEWUSER) and setns into user and mount namespaces;
 * unshare(CLONE_NEWNS) would move one thread only. So the child does it.
 *
 * The child reports on the report pipe (plan.h): READY at a SYNC step, ERROR with the
 * step's index and errno, EXEC right before execve. EOF after EXEC is a successful exec;
 * EOF without it is a child that died first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "runner.h"

#define STACK_SIZE (256 * 1024)

struct child_args {
	struct stage *st;
	int parent_fds[2];    /* the parent's ends of the pipes: the child must not hold them */
};

static int child_main(void *arg)
{
	struct child_args *a = arg;
	struct sigaction dfl;

	/* Otherwise a parent that dies at a SYNC step would leave us reading forever. */
	for (int k = 0; k < 2; k++)
		if (a->parent_fds[k] >= 0)
			close(a->parent_fds[k]);
	/* Until its exec, a root child must not be ptrace'd from the namespaces it enters (runc
	 * does the same); execve makes the program dumpable again. */
	if (geteuid() == 0)
		prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
	/* Node's handlers live in memory we may share: none may run here, nor survive exec. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &a->st->mask, NULL);
	tsns_run(a->st);
}

/* 0 for a well-formed plan, else -EINVAL (or -ENOMEM): the parser alone, for tests. */
int tsns_plan_check(const uint8_t *plan, size_t len)
{
	struct stage st;
	int err;
	memset(&st, 0, sizeof(st));
	err = tsns_parse(plan, len, &st);
	tsns_release(&st);
	return err;
}

/*
 * Clone a child with `flags` (clone(2) flags; SIGCHLD is added) that runs `plan`.
 * `report_read` and `go_write` are the caller's ends of the pipes (-1 if none); the child
 * closes its copies. Returns the child's pid, or -errno: EINVAL for a malformed plan, else
 * clone's error. With CLONE_VM|CLONE_VFORK this returns once the child has exec'd or died.
 */
int tsns_spawn(const uint8_t *plan, size_t len, unsigned long flags, int report_fd, int go_fd,
	       int explain_fd, int report_read, int go_write)
{
	struct stage st;
	struct child_args args = { &st, { report_read, go_write } };
	sigset_t all;
	char *stack;
	int pid, err;

	memset(&st, 0, sizeof(st));
	st.report_fd = report_fd;
	st.go_fd = go_fd;
	st.explain_fd = explain_fd;
	st.label = "[child] ";
	err = tsns_parse(plan, len, &st);
	if (err) {
		tsns_release(&st);
		return err;
	}
	/* Its own mapping with a guard page below: an overflow faults instead of writing
	 * into Node's heap. */
	stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		tsns_release(&st);
		return -ENOMEM;
	}
	mprotect(stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &st.mask);
	pid = clone(child_main, stack + STACK_SIZE, (int)(flags | SIGCHLD), &args);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &st.mask, NULL);
	/* Without CLONE_VFORK the child has its own copy of the stack by now (no CLONE_VM). */
	munmap(stack, STACK_SIZE);
	tsns_release(&st);
	return pid < 0 ? -err : pid;
}
