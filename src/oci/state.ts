// ts-oci's state directory: ROOT/ID/state.json and ROOT/ID/exec.fifo. Loaded by every
// command, so it loads neither koffi nor zod: `start`, `state`, `kill` and `delete` run on
// it alone.
//
// state.json is written before anything is made (write-ahead): first the id, bundle and
// the creating process; then the cgroup's name before the group exists, its directories
// once they do, and the container's pid as soon as the stage reports it. A create killed
// at any point leaves a record naming all it made, which delete (or the next create of
// the id) removes. The status is never stored: it is read from the process and the fifo,
// as runc does, so that no crash can leave it stale.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { statFields } from '../sys/proc.js';
import { join } from 'node:path';
import type { Hook } from './hooks.js';

export const OCI_VERSION = '1.0.2';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface StateRecord {
  ociVersion: string;
  id: string;
  bundle: string;
  rootfs: string;
  /** RFC 3339, as runc writes it. */
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** The process that creates the container, while it does (pid and start time). */
  creator: { pid: number; startTime: number };
  /** The group's name below the creator's cgroup, recorded before it is made. */
  cgroupName?: string;
  /** Its directories, one per hierarchy, once made. */
  cgroupDirs?: string[];
  /** Directories of parent groups that create made (deepest first): removed with it when empty. */
  cgroupParents?: string[];
  /** config.json's hooks that start and delete run (hooks.ts). */
  hooks?: { poststart?: Hook[]; poststop?: Hook[] };
  /** The container's process (in the caller's pid namespace) and its start time. */
  pid?: number;
  startTime?: number;
  /** Set once the process waits on exec.fifo: create has succeeded. */
  ready?: boolean;
  /** ts-oci run: the stage process that waits for it (it removes the container at the end). */
  waiter?: number;
}

/** runc's rule for ids: letters, digits, _ + - . (and no "." or ".." alone). */
export function checkId(id: string | undefined): string {
  if (!id) throw new StateError('container id cannot be empty');
  if (!/^[A-Za-z0-9_+.-]{1,1024}$/.test(id) || id === '.' || id === '..') throw new StateError(`invalid container id format: ${id}`);
  return id;
}

/** A failure of the state machine (unknown id, wrong status): one line, exit 1. */
export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}

export const containerDir = (root: string, id: string) => join(root, id);

/**
 * The group of a container whose config names none: ts-oci-ID for the default root;
 * with another --root, its hash too, so that two roots' containers of one id never meet
 * in the machine-wide cgroup tree.
 */
export function defaultCgroupName(root: string, id: string): string {
  return root === DEFAULT_ROOT ? `ts-oci-${id}` : `ts-oci-${createHash('sha256').update(root).digest('hex').slice(0, 8)}-${id}`;
}

export const DEFAULT_ROOT = '/run/ts-oci';
export const fifoPath = (root: string, id: string) => join(root, id, 'exec.fifo');
const stateFile = (root: string, id: string) => join(root, id, 'state.json');

/** Field 3 (state) and 22 (start time) of /proc/PID/stat, or undefined when there is no such process. */
export function processStat(pid: number): { state: string; startTime: number } | undefined {
  const fields = statFields(pid);
  return fields && { state: fields[0], startTime: Number(fields[19]) };
}

/** Whether `pid` is still the process that started at `startTime`, and no zombie. */
export function alive(pid: number | undefined, startTime: number | undefined): boolean {
  if (pid === undefined) return false;
  const s = processStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X' && (startTime === undefined || s.startTime === startTime);
}

export function readState(root: string, id: string): StateRecord {
  let text: string;
  try {
    text = readFileSync(stateFile(root, id), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StateError(`container does not exist: ${id}`);
    throw err;
  }
  try {
    return JSON.parse(text) as StateRecord;
  } catch {
    throw new StateError(`${stateFile(root, id)}: not a state record`);
  }
}

/** Replace the record in one rename: a reader sees the old one or the new one, never half. */
export function writeState(root: string, record: StateRecord): void {
  const file = stateFile(root, record.id);
  // state.run: the same record in lines, for native/oci.c's start, kill and delete.
  const lines = [
    `creator ${record.creator.pid} ${record.creator.startTime}`,
    ...(record.pid !== undefined ? [`pid ${record.pid}`, `start ${record.startTime ?? 0}`] : []),
    ...(record.ready ? ['ready 1'] : []),
    ...(record.cgroupName !== undefined ? [`name ${record.cgroupName}`] : []),
    ...(record.cgroupDirs ?? []).map((d) => `cgroup ${d}`),
    ...(record.cgroupParents ?? []).map((d) => `parent ${d}`),
    // Hooks are run by the Node program: native/oci.c leaves such a container to it.
    ...(record.hooks?.poststart?.length || record.hooks?.poststop?.length ? ['hooks 1'] : []),
  ];
  const run = join(root, record.id, 'state.run');
  writeFileSync(`${run}.tmp`, `${lines.join('\n')}\n`, { mode: 0o600 });
  renameSync(`${run}.tmp`, run);
  writeFileSync(`${file}.tmp`, JSON.stringify(record), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

function frozen(record: StateRecord): boolean {
  const dir = record.cgroupDirs?.find((d) => /\/freezer\//.test(d));
  try {
    if (dir) return readFileSync(join(dir, 'freezer.state'), 'utf8').trim() !== 'THAWED';
    const unified = record.cgroupDirs?.find((d) => /\/unified\/|^\/sys\/fs\/cgroup\/[^/]*$/.test(d));
    return unified !== undefined && readFileSync(join(unified, 'cgroup.freeze'), 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** The status, read from the process, the fifo and the freezer. */
export function statusOf(root: string, record: StateRecord): Status {
  // A create in progress, or one killed half-way (then nothing runs that delete must spare).
  if (!record.ready) return alive(record.creator.pid, record.creator.startTime) ? 'creating' : 'stopped';
  if (!alive(record.pid, record.startTime)) return 'stopped';
  if (existsSync(fifoPath(root, record.id))) return 'created';
  return frozen(record) ? 'paused' : 'running';
}

/** The state as runtime.md's `state` prints it, with runc's rootfs, created and owner. */
export function stateJson(root: string, record: StateRecord): Record<string, unknown> {
  const status = statusOf(root, record);
  return {
    ociVersion: record.ociVersion,
    id: record.id,
    pid: status === 'stopped' || record.pid === undefined ? 0 : record.pid,
    status,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    owner: record.owner,
    ...(record.annotations ? { annotations: record.annotations } : {}),
  };
}

/** The ids with a record under `root`. */
export function listIds(root: string): string[] {
  try {
    return readdirSync(root).filter((id) => existsSync(stateFile(root, id))).sort();
  } catch {
    return [];
  }
}

/** The pids in the container's cgroup (every hierarchy's), or just its process. */
export function pidsOf(record: StateRecord): number[] {
  const pids = new Set<number>();
  for (const dir of record.cgroupDirs ?? []) {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
    } catch { /* that hierarchy's group is gone */ }
  }
  if (!pids.size && alive(record.pid, record.startTime)) pids.add(record.pid!);
  return [...pids];
}

/** Remove the record directory: its files by name, then itself. */
export function removeRecord(root: string, id: string): void {
  const dir = containerDir(root, id);
  try {
    for (const f of readdirSync(dir)) unlinkSync(join(dir, f));
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
