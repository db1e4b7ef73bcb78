// What wakes a Sandbox's events() when its cgroup's counters change: the kernel's
// notifications where this host gives them, a poll only where it gives none.
// - cgroup v2 memory.events and pids.events: kernfs notifies inotify IN_MODIFY (fs.watch)
//   at each change of a counter.
// - v1 memory: an eventfd registered through cgroup.event_control for memory.oom_control,
//   which the kernel signals when the group goes out of memory; the OOM killer counts its
//   kill (oom_kill) a moment after, so the counter is looked at again until it has moved
//   (a bounded number of times).
// - v1 pids: pids.events has its "max" counter but notifies nobody (measured on Linux
//   6.18): polled every 100 ms, the only poll left.
// The exit is not here: it is the monitor's end (sandbox.ts).
import { closeSync, openSync, readFileSync, watch, writeFileSync } from 'node:fs';
import type { Cgroup } from '../cgroup/index.js';
import { drainEventfd, eventfd, onReadable } from '../sys/readiness.js';

const PIDS_POLL_MS = 100;
/** How often, and how long apart, v1's oom_kill is looked at after an OOM notification. */
const OOM_RECHECKS = 40;
const OOM_RECHECK_MS = 50;

function oomKills(oomControl: string): number {
  try {
    return Number(/^oom_kill (\d+)$/m.exec(readFileSync(oomControl, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** v1: an eventfd the kernel signals at each OOM of the group in `dir`, as cgroup.event_control arranges. */
function watchOom(dir: string, changed: () => void): () => void {
  const efd = eventfd();
  const oomControl = `${dir}/memory.oom_control`;
  let timer: NodeJS.Timeout | undefined;
  try {
    const ofd = openSync(oomControl, 'r');
    try {
      writeFileSync(`${dir}/cgroup.event_control`, `${efd} ${ofd}`);
    } finally {
      closeSync(ofd);
    }
  } catch (err) {
    closeSync(efd);
    throw err;
  }
  const stop = onReadable(efd, () => {
    drainEventfd(efd);
    const before = oomKills(oomControl);
    changed();
    let left = OOM_RECHECKS;
    clearInterval(timer);
    timer = setInterval(() => {
      if (oomKills(oomControl) > before) changed();
      else if (--left > 0) return;
      clearInterval(timer);
    }, OOM_RECHECK_MS).unref();
  });
  return () => {
    clearInterval(timer);
    stop();
    closeSync(efd); // which also ends the kernel's registration
  };
}

/** Watch `group`'s limit counters; `changed` is called when one may have moved. Returns what stops the watching. */
export function watchCounters(group: Cgroup, changed: () => void): () => void {
  const stops: (() => void)[] = [];
  const stop = () => { for (const s of stops.splice(0)) s(); };
  try {
    const v2Files: string[] = [];
    for (const controller of ['memory', 'pids']) {
      if (!group.controls(controller)) continue;
      const { dir, version } = group.dirFor(controller);
      if (version === 2) v2Files.push(`${dir}/${controller}.events`);
      else if (controller === 'memory') stops.push(watchOom(dir, changed));
      else {
        const timer = setInterval(changed, PIDS_POLL_MS).unref();
        stops.push(() => clearInterval(timer));
      }
    }
    for (const file of v2Files) {
      const watcher = watch(file, () => changed()).on('error', () => {});
      watcher.unref();
      stops.push(() => watcher.close());
    }
  } catch (err) {
    stop();
    throw err;
  }
  return stop;
}
