import { strerror } from './libc.js';

/**
 * Linux's errno symbols by number, 1..133, as asm-generic/errno-base.h and errno.h define
 * them (the numbering of x86_64 and arm64). Node's os.constants.errno is no substitute: it
 * has only the 79 names libuv knows (no EUSERS, ENOKEY, EHWPOISON...). Where the kernel
 * has two names for a number the first is used: EAGAIN (not EWOULDBLOCK), EDEADLK (not
 * EDEADLOCK), EOPNOTSUPP (not glibc's ENOTSUP). 41 and 58 are unused.
 */
const ERRNO_NAMES: readonly (string | undefined)[] = [
  undefined, 'EPERM', 'ENOENT', 'ESRCH', 'EINTR', 'EIO', 'ENXIO', 'E2BIG', 'ENOEXEC', 'EBADF',
  'ECHILD', 'EAGAIN', 'ENOMEM', 'EACCES', 'EFAULT', 'ENOTBLK', 'EBUSY', 'EEXIST', 'EXDEV', 'ENODEV',
  'ENOTDIR', 'EISDIR', 'EINVAL', 'ENFILE', 'EMFILE', 'ENOTTY', 'ETXTBSY', 'EFBIG', 'ENOSPC', 'ESPIPE',
  'EROFS', 'EMLINK', 'EPIPE', 'EDOM', 'ERANGE', 'EDEADLK', 'ENAMETOOLONG', 'ENOLCK', 'ENOSYS', 'ENOTEMPTY',
  'ELOOP', undefined, 'ENOMSG', 'EIDRM', 'ECHRNG', 'EL2NSYNC', 'EL3HLT', 'EL3RST', 'ELNRNG', 'EUNATCH',
  'ENOCSI', 'EL2HLT', 'EBADE', 'EBADR', 'EXFULL', 'ENOANO', 'EBADRQC', 'EBADSLT', undefined, 'EBFONT',
  'ENOSTR', 'ENODATA', 'ETIME', 'ENOSR', 'ENONET', 'ENOPKG', 'EREMOTE', 'ENOLINK', 'EADV', 'ESRMNT',
  'ECOMM', 'EPROTO', 'EMULTIHOP', 'EDOTDOT', 'EBADMSG', 'EOVERFLOW', 'ENOTUNIQ', 'EBADFD', 'EREMCHG', 'ELIBACC',
  'ELIBBAD', 'ELIBSCN', 'ELIBMAX', 'ELIBEXEC', 'EILSEQ', 'ERESTART', 'ESTRPIPE', 'EUSERS', 'ENOTSOCK', 'EDESTADDRREQ',
  'EMSGSIZE', 'EPROTOTYPE', 'ENOPROTOOPT', 'EPROTONOSUPPORT', 'ESOCKTNOSUPPORT', 'EOPNOTSUPP', 'EPFNOSUPPORT', 'EAFNOSUPPORT', 'EADDRINUSE', 'EADDRNOTAVAIL',
  'ENETDOWN', 'ENETUNREACH', 'ENETRESET', 'ECONNABORTED', 'ECONNRESET', 'ENOBUFS', 'EISCONN', 'ENOTCONN', 'ESHUTDOWN', 'ETOOMANYREFS',
  'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTDOWN', 'EHOSTUNREACH', 'EALREADY', 'EINPROGRESS', 'ESTALE', 'EUCLEAN', 'ENOTNAM', 'ENAVAIL',
  'EISNAM', 'EREMOTEIO', 'EDQUOT', 'ENOMEDIUM', 'EMEDIUMTYPE', 'ECANCELED', 'ENOKEY', 'EKEYEXPIRED', 'EKEYREVOKED', 'EKEYREJECTED',
  'EOWNERDEAD', 'ENOTRECOVERABLE', 'ERFKILL', 'EHWPOISON',
];

/** errno's symbol, e.g. 1 -> "EPERM", 87 -> "EUSERS"; "E<n>" for a number Linux does not define. */
export function errnoName(errno: number): string {
  return (Number.isInteger(errno) && ERRNO_NAMES[errno]) || `E${errno}`;
}

/** errno's number for a symbol, e.g. "EUSERS" -> 87, with the aliases EWOULDBLOCK, EDEADLOCK and ENOTSUP. */
export function errnoNumber(name: string): number | undefined {
  const alias: Record<string, string> = { EWOULDBLOCK: 'EAGAIN', EDEADLOCK: 'EDEADLK', ENOTSUP: 'EOPNOTSUPP' };
  const i = ERRNO_NAMES.indexOf(alias[name] ?? name);
  return i > 0 ? i : undefined;
}

/**
 * strerror(3)'s text for a failed Node call (its `errno` is negative), so that messages
 * read as a C tool's do; the error's own message where it carries no errno.
 */
export function reasonOf(err: unknown): string {
  const errno = (err as NodeJS.ErrnoException)?.errno;
  return typeof errno === 'number' ? strerror(-errno) : String((err as Error)?.message ?? err);
}

// Where errno alone misleads, say what usually causes it. Keyed "call:ERRNO".
const hints: Record<string, string> = {
  'unshare:EPERM': 'user namespaces are disabled or you lack CAP_SYS_ADMIN',
  'unshare:EINVAL': 'the calling process is multithreaded (Node always is): use the native stage (spawn) for user and mount namespaces',
  'unshare:ENOSPC': 'namespace limit exceeded, check /proc/sys/user/max_*_namespaces',
  'unshare:EUSERS': 'user namespace nesting limit (32) exceeded',
  'clone:EPERM': 'user namespaces are disabled or you lack CAP_SYS_ADMIN',
  'clone:ENOSPC': 'namespace limit exceeded, check /proc/sys/user/max_*_namespaces',
  'setns:EINVAL': 'not a namespace file of that type, or a multithreaded process tried to join a user or mount namespace',
  'setns:EPERM': 'you lack CAP_SYS_ADMIN in the namespace being entered',
  'mount:EPERM': 'you lack CAP_SYS_ADMIN in the mount namespace\'s owning user namespace',
  'mount:ENOSPC': 'mount limit exceeded, check /proc/sys/fs/mount-max',
  'mount:EINVAL': 'bad flags, or the target is not a mount point for a propagation change',
  'umount2:EINVAL': 'not a mount point',
  'umount2:EBUSY': 'the mount is in use',
  'pivot_root:EINVAL': 'new_root must be a mount point, put_old must be under it, and / must not be shared',
  'pivot_root:EBUSY': 'new_root or put_old is the current root',
  'chroot:EPERM': 'you lack CAP_SYS_CHROOT',
  'sethostname:EPERM': 'you lack CAP_SYS_ADMIN in the UTS namespace\'s owning user namespace',
  'setdomainname:EPERM': 'you lack CAP_SYS_ADMIN in the UTS namespace\'s owning user namespace',
  'setgroups:EPERM': 'you lack CAP_SETGID, or /proc/self/setgroups is "deny" in this user namespace',
  'setuid:EINVAL': 'that uid is not mapped in this user namespace',
  'setgid:EINVAL': 'that gid is not mapped in this user namespace',
  'capset:EPERM': 'a capability cannot be added to the permitted or inheritable set, or is outside the bounding set',
  'prctl:EPERM': 'you lack CAP_SETPCAP, or the capability is not permitted and inheritable',
  'pidfd_open:ESRCH': 'no such process',
  'ioctl:ENOTTY': 'not a namespace file, or the kernel lacks this ioctl',
  'ioctl:EPERM': 'the answer lies outside your namespaces',
  'open:ENOENT': 'no such file or directory',
  'write:EPERM': 'the kernel refused this write: for uid_map/gid_map you need CAP_SETUID/CAP_SETGID in the parent user namespace, and "deny" in setgroups before an unprivileged gid_map',
  'write:EINVAL': 'the value is malformed or not accepted here (e.g. an id map overlapping or already written)',
};

/** A failed system call: which call, with what arguments, errno's symbol and a hint. */
export class SysError extends Error {
  readonly syscall: string;
  readonly args: string;
  readonly errno: number;
  readonly code: string;
  readonly hint?: string;
  /** The text strerror(3) gives, e.g. "Operation not permitted". */
  readonly reason: string;

  constructor(syscall: string, args: string, errno: number, options?: { hint?: string; cause?: unknown }) {
    const code = errnoName(errno);
    const reason = strerror(errno);
    const hint = options?.hint ?? hints[`${syscall}:${code}`];
    super(`${syscall}(${args}): ${code} (${reason})${hint ? `: ${hint}` : ''}`, { cause: options?.cause });
    this.name = 'SysError';
    this.syscall = syscall;
    this.args = args;
    this.errno = errno;
    this.code = code;
    this.reason = reason;
    this.hint = hint;
  }
}

/** The hint for a call and errno, if any. */
export function hintFor(syscall: string, errno: number): string | undefined {
  return hints[`${syscall}:${errnoName(errno)}`];
}
