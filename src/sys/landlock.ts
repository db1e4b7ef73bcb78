// Landlock (linux/landlock.h): the ABI version this kernel speaks and the filesystem access
// rights per version. The ruleset itself is made in the child (plan op landlockRuleset),
// from paths as the sandboxed program will see them.
import { rawSyscall } from './libc.js';

/** LANDLOCK_ACCESS_FS_* */
export const ACCESS_FS = {
  execute: 1 << 0, writeFile: 1 << 1, readFile: 1 << 2, readDir: 1 << 3, removeDir: 1 << 4,
  removeFile: 1 << 5, makeChar: 1 << 6, makeDir: 1 << 7, makeReg: 1 << 8, makeSock: 1 << 9,
  makeFifo: 1 << 10, makeBlock: 1 << 11, makeSym: 1 << 12,
  /** ABI 2: link or rename a file into another directory */
  refer: 1 << 13,
  /** ABI 3 */
  truncate: 1 << 14,
  /** ABI 5: ioctl on character and block devices */
  ioctlDev: 1 << 15,
} as const;

/** The rights that apply to a file (not a directory): the kernel refuses the others on one. */
export const FILE_ACCESS = ACCESS_FS.execute | ACCESS_FS.writeFile | ACCESS_FS.readFile | ACCESS_FS.truncate | ACCESS_FS.ioctlDev;

const SYS_landlock_create_ruleset = 444; // the same on every architecture (asm-generic numbering)
const LANDLOCK_CREATE_RULESET_VERSION = 1;

/** The Landlock ABI version of this kernel, 0 where it has none (or it is disabled at boot). */
export function landlockAbi(): number {
  const v = Number(rawSyscall()(SYS_landlock_create_ruleset, 'void *', null, 'size_t', 0, 'uint32_t', LANDLOCK_CREATE_RULESET_VERSION));
  // -1 with ENOSYS: not built in; with EOPNOTSUPP: not enabled (lsm=).
  return v > 0 ? v : 0;
}

/** Every filesystem right an ABI version knows: what a ruleset handles, so denies by default. */
export function handledAccess(abi: number): number {
  let all = (1 << 13) - 1;
  if (abi >= 2) all |= ACCESS_FS.refer;
  if (abi >= 3) all |= ACCESS_FS.truncate;
  if (abi >= 5) all |= ACCESS_FS.ioctlDev;
  return all;
}
