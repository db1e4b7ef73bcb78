// The default seccomp profile, in the spirit of Docker's and Podman's (moby
// profiles/seccomp/default.json, containers/common pkg/seccomp/seccomp.json), but a deny
// list: everything runs except calls that reach kernel-wide state no namespace isolates,
// or that open an attack surface a sandboxed program has no use for. Those runtimes allow
// a list instead, which breaks whole distributions (VServers run them). docs/ts-sandbox-security.md
// gives the list with a reason each; keep the two together.

/** CLONE_NEWUSER (linux/sched.h): the bit the flags argument of clone and unshare is checked for. */
export const CLONE_NEWUSER = 0x10000000;
export const EPERM = 1;
export const ENOSYS = 38;

/** One rule of a profile: these calls get `errno` when the conditions hold (all of them). */
export interface ProfileRule {
  names: readonly string[];
  errno: number;
  /** On argument `index` (0-5): (arg & mask) == value. */
  masked?: { index: number; mask: number; value: number };
}

export const DEFAULT_PROFILE: readonly ProfileRule[] = [
  // A new user namespace gives back every capability inside it, so mount, pivot_root and
  // the rest work on the filesystems it can reach, and its bugs are the kernel's largest
  // unprivileged attack surface. clone's flags are its argument 0 on every architecture
  // the profile covers (x86_64, x86, x32, aarch64).
  { names: ['unshare', 'clone'], errno: EPERM, masked: { index: 0, mask: CLONE_NEWUSER, value: CLONE_NEWUSER } },
  // seccomp cannot read clone3's flags (they are in a struct in memory): ENOSYS makes glibc
  // fall back to clone, which the rule above checks. EPERM would fail pthread_create.
  { names: ['clone3'], errno: ENOSYS },
  {
    names: [
      // The running kernel itself: load another, load or remove modules, reboot.
      'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'create_module',
      'get_kernel_syms', 'query_module', 'reboot',
      // eBPF programs and perf events: kernel code paths and kernel memory layout.
      'bpf', 'perf_event_open',
      // Kernel keyrings are not namespaced: keys of other users and containers.
      'keyctl', 'add_key', 'request_key',
      // File handles open any file of a filesystem, outside any root ("shocker").
      'open_by_handle_at', 'name_to_handle_at',
      // userfaultfd stalls the kernel at chosen faults, the tool of many race exploits.
      'userfaultfd',
      // io_uring: a second system call interface, with its own history of escapes.
      'io_uring_setup', 'io_uring_enter', 'io_uring_register',
      // Host-wide: swap, the kernel log, process accounting, quotas, nfsd.
      'swapon', 'swapoff', 'syslog', 'acct', 'quotactl', 'quotactl_fd', 'nfsservctl',
      // Obsolete calls nobody needs and that kernels have had bugs in.
      'lookup_dcookie', 'uselib', 'ustat', 'sysfs', '_sysctl', 'vm86', 'vm86old',
      // Raw I/O ports.
      'iopl', 'ioperm',
    ],
    errno: EPERM,
  },
];

/** Architectures the default profile also covers where the host is x86_64: 32-bit and x32 programs. */
export const DEFAULT_ARCHES: Record<string, readonly string[]> = { x64: ['x86', 'x32'] };

/**
 * With an allow list, what the stage does after installing the filter and what a program
 * needs to get to main() (glibc's dynamic loader), allowed whatever the list says: else
 * every allow list would have to know the loader, and a forgotten one fails the exec.
 */
export const STARTUP_SYSCALLS: readonly string[] = [
  // the stage: its report before the exec (send on a socket, else write), the exec, its
  // exit when the exec fails
  'sendto', 'write', 'read', 'execve', 'exit', 'exit_group',
  // ld.so and libc start-up
  'brk', 'mmap', 'munmap', 'mprotect', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq',
  'prlimit64', 'openat', 'close', 'newfstatat', 'fstat', 'pread64', 'access', 'getrandom',
];

/**
 * With an allow list installed before the ids and capabilities change (noNewPrivs false:
 * policy.ts), what the stage's steps after it call: allowed too, or the stage could not
 * finish. The spec's deny list still wins over these.
 */
export const CREDENTIAL_SYSCALLS: readonly string[] = [
  'prctl', 'capset', 'setgroups', 'setresuid', 'setresgid', 'setsid', 'umask', 'close_range', 'landlock_restrict_self',
];
