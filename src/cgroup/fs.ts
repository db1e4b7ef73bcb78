// File operations on cgroupfs, each reported to --explain and each failure turned into
// a CgroupError that names the operation, the path and errno, with a hint where errno misleads.
import { closeSync, constants, mkdirSync, openSync, readdirSync, rmdirSync, writeSync } from 'node:fs';
import { cstr } from '../sys/format.js';
import { explainFs, explainWrite, readExplained } from '../sys/explain-fs.js';
import { reasonOf } from '../sys/errors.js';
import { fileWhy } from '../native/why.js';
import { CgroupError } from './errors.js';

// Keyed "op:ERRNO"; cgroupfs reuses errno codes with meanings of its own.
const hints: Record<string, string> = {
  'mkdir:EACCES': 'creating cgroups needs root, or write access delegated to you',
  'mkdir:EPERM': 'creating cgroups needs root, or write access delegated to you',
  'mkdir:EEXIST': 'a group of that name exists already',
  'mkdir:EAGAIN': 'the hierarchy\'s cgroup.max.descendants or cgroup.max.depth is reached',
  'rmdir:EBUSY': 'the group still has processes or child groups',
  'rmdir:EACCES': 'removing cgroups needs root',
  'rmdir:EPERM': 'removing cgroups needs root',
  'write:EACCES': 'writing cgroup files needs root, or write access delegated to you',
  'write:EPERM': 'the kernel refused: root, but maybe without the capability this file needs',
  'write:EINVAL': 'the value is not accepted by this file',
  'write:ESRCH': 'no such process',
  'write:EBUSY': 'cgroup2\'s no-internal-process rule: a group with processes cannot enable controllers for its children',
  'write:EOPNOTSUPP': 'this controller or feature is not supported here',
  'write:ENODEV': 'no such device',
};

function fail(op: string, path: string, err: unknown, value?: string): never {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  const hint = hints[`${op}:${code}`];
  const what = value === undefined ? `${op} ${path}` : `write ${path} ${JSON.stringify(value)}`;
  throw new CgroupError(`${what}: ${reasonOf(err)}${hint ? ` (${hint})` : ''}`, { code, path, cause: err });
}


const WRITE_FLAGS = 'O_WRONLY|O_TRUNC|O_CLOEXEC';

/** Write a value into an existing cgroup file (never creates one). */
export function writeValue(path: string, value: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  } catch (err) {
    explainWrite(path, WRITE_FLAGS, err as NodeJS.ErrnoException, value, 0);
    fail('write', path, err, value);
  }
  try {
    explainWrite(path, WRITE_FLAGS, fd, value, writeSync(fd, value), fileWhy(path, value));
  } catch (err) {
    explainWrite(path, WRITE_FLAGS, fd, value, err as NodeJS.ErrnoException);
    fail('write', path, err, value);
  } finally {
    closeSync(fd);
  }
}

/** Read a cgroup file, trimmed. */
export function readValue(path: string): string {
  try {
    return readExplained(path).trim();
  } catch (err) {
    fail('read', path, err);
  }
}

/** Read a file, or undefined when it does not exist. */
export function readOptional(path: string): string | undefined {
  try {
    return readValue(path);
  } catch (err) {
    if (err instanceof CgroupError && err.code === 'ENOENT') return undefined;
    throw err;
  }
}

/** "key value" lines (memory.stat, cgroup.events, cpu.stat...) as a map. */
export function readKeyed(path: string): Map<string, string> | undefined {
  const text = readOptional(path);
  if (text === undefined) return undefined;
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

export function makeDir(path: string): void {
  const call = `mkdir(${cstr(path)}, 0777)`;
  try {
    mkdirSync(path);
  } catch (err) {
    explainFs(call, err as NodeJS.ErrnoException);
    fail('mkdir', path, err);
  }
  explainFs(call, 0, { why: 'a new group: the kernel fills it with the controllers\' files' });
}

/** rmdir; false when the directory was not there. */
export function removeDir(path: string): boolean {
  const call = `rmdir(${cstr(path)})`;
  try {
    rmdirSync(path);
  } catch (err) {
    explainFs(call, err as NodeJS.ErrnoException);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    fail('rmdir', path, err);
  }
  explainFs(call, 0, { why: 'the kernel removes no group by itself: an empty one stays until removed' });
  return true;
}

/** Subdirectories (child groups) of a group directory. */
export function childDirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}
