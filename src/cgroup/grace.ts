// A process joins a group by a write to cgroup.procs, and the kernel makes that write wait
// for an RCU grace period first (cgroup_threadgroup_rwsem is a per-CPU rwsem; its writer
// waits in rcu_sync_enter: 7-16 ms on a 2-CPU VM, as long as runc's whole run of `true`
// takes apart from it), unless another writer entered within about one grace period
// before. A caller that knows a join is coming lets that wait run beside its own work:
// a write that moves nothing, its own pid into the group it is in, in the background.
// That write waits holding cgroup_mutex, as every join does, so mkdir and rmdir of groups
// wait for it too: start it after the groups are made.
import { close, constants, openSync, write } from 'node:fs';
import { cstr } from '../sys/format.js';
import { explainFs } from '../sys/explain-fs.js';
import type { Layout } from './layout.js';

const WHY = 'moves nothing (this process\'s own group), in the background: the grace period the coming join would wait for starts now';

/** Start the kernel's wait that a join into a group of `layout` will need soon. */
export function startJoinGracePeriod(layout: Layout): void {
  const own = layout.unified ?? layout.v1[0];
  if (!own) return;
  const path = `${own.base}/cgroup.procs`;
  // Opened here, written by one request of libuv's pool: the caller's own synchronous work
  // may keep this thread from the event loop until the join. Any failure (an unprivileged
  // caller, a group gone) only means that the join pays the wait itself.
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch {
    return;
  }
  write(fd, '0', (err) => {
    explainFs(`write(${cstr(path)}, "0", 1)`, err ?? 1, { why: WHY });
    close(fd, () => {});
  });
}
