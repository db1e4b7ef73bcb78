// File descriptors at the libc level: what the native stage needs from the parent side.
import { check, fn, rawSyscall } from './libc.js';
import { cstr } from './format.js';

export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;

/** pipe2(2): [read end, write end]. */
export function pipe2(flags = O_CLOEXEC): [number, number] {
  const fds = [0, 0];
  check('pipe2', `[...], ${flags & O_CLOEXEC ? 'O_CLOEXEC' : 0}${flags & O_NONBLOCK ? '|O_NONBLOCK' : ''}`, () =>
    fn('int pipe2(_Out_ int *fds, int flags)')(fds, flags), 'plumbing');
  return [fds[0], fds[1]];
}

export function close(fd: number): void {
  fn('int close(int fd)')(fd);
}

/** read(2) into a new buffer; a short or empty result means EOF came first. */
export function read(fd: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = check('read', `${fd}, ..., ${length}`, () => fn('long read(int fd, _Out_ uint8_t *buf, size_t count)')(fd, buf, length), 'plumbing');
  return buf.subarray(0, n);
}

export function write(fd: number, data: Buffer | string): number {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return check('write', `${fd}, ${cstr(buf.toString())}, ${buf.length}`, () =>
    fn('long write(int fd, const uint8_t *buf, size_t count)')(fd, buf, buf.length), 'plumbing');
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** flock(2): true when taken, false when LOCK_NB found it held. */
export function flock(fd: number, operation: number): boolean {
  try {
    check('flock', `${fd}, ${operation}`, () => fn('int flock(int fd, int operation)')(fd, operation), 'plumbing');
    return true;
  } catch (err) {
    if (operation & LOCK_NB && (err as { code?: string }).code === 'EAGAIN') return false;
    throw err;
  }
}

const SYS_openat2 = 437; // asm-generic numbering: the same on every architecture
export const O_PATH = 0o10000000;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_IN_ROOT = 0x10;

/**
 * openat2(2): `path` from `dirfd` with RESOLVE_* `resolve`. With RESOLVE_IN_ROOT, `dirfd` is
 * the root for the lookup: "..", and absolute symlinks, stay below it (a path as a process
 * whose root `dirfd` is sees it: /proc/PID/root). `shownDir` names `dirfd` in errors.
 */
export function openat2(dirfd: number, path: string, flags: number, resolve: number, shownDir = String(dirfd)): number {
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  return check('openat2', `${shownDir}, ${cstr(path)}, {flags=${flags | O_CLOEXEC}, resolve=${resolve}}, 24`, () =>
    rawSyscall()(SYS_openat2, 'int', dirfd, 'const char *', path, 'void *', how, 'size_t', 24));
}

const F_DUPFD_CLOEXEC = 1030;

/** A close-on-exec copy of `fd` numbered `lowest` or above (fcntl F_DUPFD_CLOEXEC). */
export function dupAbove(fd: number, lowest: number): number {
  return check('fcntl', `${fd}, F_DUPFD_CLOEXEC, ${lowest}`, () => fn('int fcntl(int fd, int cmd, int arg)')(fd, F_DUPFD_CLOEXEC, lowest), 'plumbing');
}
