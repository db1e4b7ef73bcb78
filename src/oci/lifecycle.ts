// The commands that act on a container that exists: start, kill, delete, pause, resume,
// and the readers (state, list, ps). node:fs only, like state.ts: each is one short
// process that engines call for every container.
import { closeSync, constants as fs, openSync, readFileSync, rmdirSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { signalByName } from '../sys/signals.js';
import { alive, fifoPath, pidsOf, readState, removeRecord, stateJson, StateError, statusOf, type StateRecord } from './state.js';

/** A signal number from a name (KILL, SIGKILL) or a number, as runc's kill takes it. */
export function signalOf(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  } else {
    const n = signalByName(text);
    if (n !== undefined) return n;
  }
  throw new StateError(`unknown signal "${text}"`);
}

/** start: release the container, then its poststart hooks. */
export async function start(root: string, id: string): Promise<void> {
  const record = release(root, id);
  if (record.hooks?.poststart?.length) {
    const { runHooks } = await import('./hooks.js');
    runHooks('poststart', record.hooks.poststart, stateJson(root, record), true);
  }
}

/** Release a created container: one byte into its fifo, which it reads before exec. */
export function release(root: string, id: string): StateRecord {
  const record = readState(root, id);
  const status = statusOf(root, record);
  if (status === 'stopped') throw new StateError('cannot start a container that has stopped');
  if (status !== 'created') throw new StateError(`cannot start a container in the ${status} state`);
  let fd: number;
  try {
    // Non-blocking: the waiting process holds the fifo open for reading, so this succeeds
    // at once; ENXIO would mean nobody reads it any more.
    fd = openSync(fifoPath(root, id), fs.O_WRONLY | fs.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StateError('cannot start an already running container');
    if (code === 'ENXIO') throw new StateError('cannot start a container that has stopped');
    throw err;
  }
  try {
    // The fifo's removal is the claim: of two starts at once, one removes it and writes.
    try {
      unlinkSync(fifoPath(root, id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StateError('cannot start an already running container');
      throw err;
    }
    writeSync(fd, Buffer.from([0]));
  } finally {
    closeSync(fd);
  }
  return record;
}

/** Send `signal` to the container's process, or with `all` to every process of its cgroup. */
export function kill(root: string, id: string, signal: number, all = false): void {
  const record = readState(root, id);
  const status = statusOf(root, record);
  if (status === 'stopped' || status === 'creating') throw new StateError('container not running');
  for (const pid of all ? pidsOf(record) : [record.pid!]) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Kill everything in the container's cgroup (thawed first: a frozen task cannot die), then remove the group. */
async function removeGroup(record: StateRecord): Promise<void> {
  let dirs = record.cgroupDirs;
  if (!dirs && record.cgroupName) {
    // Killed between naming the group and recording it: the library finds what was made.
    const { openCgroup } = await import('../cgroup/index.js');
    try {
      dirs = openCgroup(record.cgroupName).dirs;
    } catch {
      dirs = [];
    }
  }
  removeDirs(record, dirs ?? []);
}

/** A record's container, now: its processes killed, its group (`dirs`) and the record removed. */
export function destroy(root: string, record: StateRecord): void {
  removeDirs(record, record.cgroupDirs ?? []);
  removeRecord(root, record.id);
}

function removeDirs(record: StateRecord, dirs: readonly string[]): void {
  if (!dirs.length) {
    if (alive(record.pid, record.startTime)) process.kill(record.pid!, 'SIGKILL');
    return;
  }
  for (const dir of dirs) {
    try {
      if (/\/freezer\//.test(dir)) writeFileSync(join(dir, 'freezer.state'), 'THAWED');
      else writeFileSync(join(dir, 'cgroup.freeze'), '0');
    } catch { /* no freezer there */ }
  }
  // Bounded: a process stuck in the kernel must not hang delete forever.
  for (let round = 0; round < 500; round++) {
    const pids = pidsOf({ ...record, cgroupDirs: [...dirs], pid: undefined });
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    let left = 0;
    for (const dir of dirs) {
      try {
        rmdirSync(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') left++;
        if (code !== 'ENOENT' && code !== 'EBUSY') throw err;
      }
    }
    if (!left) {
      for (const dir of record.cgroupParents ?? []) {
        try {
          rmdirSync(dir);
        } catch { /* another container's group is in it, or it is gone */ }
      }
      return;
    }
    sleep(10);
  }
  throw new StateError(`cannot remove the cgroup of ${record.id}: processes are left in ${dirs.join(', ')}`);
}

/** Remove the container: refused while it runs unless `force`, which kills it. */
export async function remove(root: string, id: string, force = false): Promise<void> {
  let record: StateRecord;
  try {
    record = readState(root, id);
  } catch (err) {
    // runc: delete --force of what is not there succeeds.
    if (force && err instanceof StateError) return;
    throw err;
  }
  const status = statusOf(root, record);
  // Its creator still makes it, and would make things this delete cannot see yet: it
  // finishes (delete then removes the container) or fails (and removes it itself).
  if (status === 'creating') throw new StateError(`cannot delete container ${id} while it is being created`);
  if (!force && (status === 'running' || status === 'paused')) {
    throw new StateError(`cannot delete container ${id} that is not stopped: ${status}`);
  }
  await removeGroup(record);
  // After the container is gone, before delete returns (runtime.md).
  if (record.hooks?.poststop?.length) {
    const { runHooks } = await import('./hooks.js');
    runHooks('poststop', record.hooks.poststop, stateJson(root, record), true);
  }
  removeRecord(root, id);
}

/** Freeze or thaw the container's cgroup (v1 freezer, or cgroup2's cgroup.freeze). */
export function freeze(root: string, id: string, on: boolean): void {
  const record = readState(root, id);
  const status = statusOf(root, record);
  if (on && status !== 'running') throw new StateError(`cannot pause a container in the ${status} state`);
  if (!on && status !== 'paused') throw new StateError(`container ${id} is not paused`);
  const v1 = record.cgroupDirs?.find((d) => /\/freezer\//.test(d));
  const unified = record.cgroupDirs?.find((d) => /\/unified\//.test(d)) ?? record.cgroupDirs?.find((d) => !/\/(freezer|memory|pids|cpu|cpuacct|blkio|devices|cpuset)\//.test(d));
  if (v1) writeFileSync(join(v1, 'freezer.state'), on ? 'FROZEN' : 'THAWED');
  else if (unified) writeFileSync(join(unified, 'cgroup.freeze'), on ? '1' : '0');
  else throw new StateError(`container ${id} has no freezer`);
}

/** The pids of the container's processes. */
export function processes(root: string, id: string): number[] {
  const record = readState(root, id);
  if (statusOf(root, record) === 'stopped') return [];
  return pidsOf(record).sort((a, b) => a - b);
}

/** The user name of `uid` from /etc/passwd, else the number (runc's list OWNER). */
export function ownerName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return f[0];
    }
  } catch { /* no passwd */ }
  return `#${uid}`;
}
