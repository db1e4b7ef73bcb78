// Landlock (linux/landlock.h): the ABI version this kernel speaks, the filesystem access
// rights per version, and rulesets made here, in the parent: a child inherits the
// descriptor and only calls landlock_restrict_self (plan op landlock). The tools' stage,
// which has no parent to make one, builds its own (plan op landlockRuleset).
import { fstatSync } from 'node:fs';
import { cstr } from './format.js';
import { check, rawSyscall } from './libc.js';

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

// The same on every architecture (asm-generic numbering).
const SYS_landlock_create_ruleset = 444;
const SYS_landlock_add_rule = 445;
const LANDLOCK_CREATE_RULESET_VERSION = 1;
const LANDLOCK_RULE_PATH_BENEATH = 1;

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

/** landlock_create_ruleset(2) handling `handled` (LANDLOCK_ACCESS_FS_*): a close-on-exec descriptor. */
export function createRuleset(handled: number): number {
  const attr = Buffer.alloc(8);
  attr.writeBigUInt64LE(BigInt(handled));
  return check('landlock_create_ruleset', `{handled_access_fs=${handled}}, 8, 0`, () =>
    rawSyscall()(SYS_landlock_create_ruleset, 'void *', attr, 'size_t', 8, 'uint32_t', 0));
}

/**
 * A path-beneath rule: `access` below the file `fd` refers to (an O_PATH descriptor will
 * do). A file that is no directory keeps only the rights of `fileAccess`: the kernel
 * refuses directory rights on one. `path` names it in errors.
 */
export function addPathRule(ruleset: number, fd: number, access: number, fileAccess: number, path: string): void {
  const allowed = fstatSync(fd).isDirectory() ? access : access & fileAccess;
  // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
  const attr = Buffer.alloc(12);
  attr.writeBigUInt64LE(BigInt(allowed));
  attr.writeInt32LE(fd, 8);
  check('landlock_add_rule', `${ruleset}, LANDLOCK_RULE_PATH_BENEATH, {allowed_access=${allowed}, parent_fd=${fd} ${cstr(path)}}, 0`, () =>
    rawSyscall()(SYS_landlock_add_rule, 'int', ruleset, 'int', LANDLOCK_RULE_PATH_BENEATH, 'void *', attr, 'uint32_t', 0));
}
