// uid_map/gid_map contents, and who may write them.
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { explainExec } from '../sys/explain.js';
import { explainWrite } from '../sys/explain-fs.js';
import { processCaps } from '../sys/caps.js';
import type { IdMap, IdRange } from './spec.js';

/**
 * The lines of a map: the caller's own id (`self`: inside id for outer id `outer`) plus
 * ranges. Where the single id falls inside a range, the range is split around it so the
 * lines do not overlap, as util-linux does (losing the range's topmost id).
 */
export function mapLines(ranges: readonly IdRange[], single?: { inside: number; outside: number }): IdRange[] {
  if (!single) return [...ranges];
  const lines: IdRange[] = [{ ...single, count: 1 }];
  for (const r of ranges) {
    const overlaps =
      (single.outside >= r.outside && single.outside < r.outside + r.count) ||
      (single.inside >= r.inside && single.inside < r.inside + r.count);
    if (!overlaps) {
      lines.push({ ...r });
      continue;
    }
    const count = r.count - 1;
    const outerOffset = Math.min(Math.max(single.outside - r.outside, 0), count);
    const innerOffset = Math.min(Math.max(single.inside - r.inside, 0), count);
    // Walk the range in three pieces, stepping over the single id on either side.
    const lo = { inside: r.inside, outside: r.outside, count: Math.min(innerOffset, outerOffset) };
    const midOut = lo.outside + lo.count, midIn = lo.inside + lo.count;
    const mid = {
      outside: midOut + (midOut === single.outside ? 1 : 0),
      inside: midIn + (midIn === single.inside ? 1 : 0),
      count: Math.abs(outerOffset - innerOffset),
    };
    const hiOut = mid.outside + mid.count, hiIn = mid.inside + mid.count;
    const hi = {
      outside: hiOut + (hiOut === single.outside ? 1 : 0),
      inside: hiIn + (hiIn === single.inside ? 1 : 0),
      count: count - lo.count - mid.count,
    };
    for (const piece of [lo, mid, hi]) if (piece.count > 0) lines.push(piece);
  }
  return lines;
}

export function formatMap(lines: readonly IdRange[]): string {
  return lines.map((l) => `${l.inside} ${l.outside} ${l.count}`).join('\n') + '\n';
}

/** The single id a map gives the caller, if it is of that kind. */
export function singleId(map: IdMap | undefined, own: number): number | undefined {
  if (map === 'root') return 0;
  if (map === 'current') return own;
  if (typeof map === 'number') return map;
  return undefined;
}

/**
 * The id the child must take inside once `ranges` are written, where they leave its own
 * (`own`, outside) out: it is the overflow id then, and nothing it makes can be owned
 * (mkdir in its own tmpfs fails with EOVERFLOW). The namespace's root where 0 is mapped,
 * as runc's nsexec becomes it, else the first id inside; undefined where `own` is mapped.
 */
export function idToTake(ranges: readonly IdRange[], own: number): number | undefined {
  if (ranges.some((r) => own >= r.outside && own < r.outside + r.count)) return undefined;
  return ranges.some((r) => r.inside === 0) ? 0 : Math.min(...ranges.map((r) => r.inside));
}

/**
 * A user's first range in /etc/subuid or /etc/subgid, mapped from 0 inside
 * (`--map-users=auto`), or onto itself with `identity` (`--map-users=subids`). Lines are
 * "name:start:count" or "uid:start:count".
 */
export function subidRange(file: '/etc/subuid' | '/etc/subgid', user: { name: string; uid: number }, identity = false): IdRange {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new TypeError(`could not open '${file}'`);
  }
  for (const line of text.split('\n')) {
    const [who, start, count] = line.split(':');
    if (count === undefined || (who !== user.name && who !== String(user.uid))) continue;
    return { inside: identity ? Number(start) : 0, outside: Number(start), count: Number(count) };
  }
  throw new TypeError(`no line matching user "${user.name}" in ${file}`);
}

/**
 * Write a child's map from this process: directly where we hold CAP_SETUID (uid) or
 * CAP_SETGID (gid), which the kernel requires for more than our own id; otherwise through
 * the setuid helpers newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
 */
export function writeChildMap(pid: number, which: 'uid' | 'gid', lines: readonly IdRange[]): void {
  const cap = which === 'uid' ? 7n : 6n; // CAP_SETUID, CAP_SETGID
  if (processCaps().effective & (1n << cap)) {
    const path = `/proc/${pid}/${which}_map`;
    const text = formatMap(lines);
    const fd = openSync(path, constants.O_WRONLY);
    try {
      explainWrite(path, 'O_WRONLY|O_CLOEXEC', fd, text, writeSync(fd, text), `map ${which}s inside the child's user namespace to ids outside`);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const helper = which === 'uid' ? 'newuidmap' : 'newgidmap';
  const args = [String(pid), ...lines.flatMap((l) => [l.inside, l.outside, l.count].map(String))];
  explainExec([helper, ...args], `a setuid helper writes the map: it may map the ranges /etc/sub${which} grants`);
  try {
    // Loaded here, not at start-up: child_process brings net, dgram and streams along.
    const { execFileSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    execFileSync(helper, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const detail = e.code === 'ENOENT' ? `${helper} not found (install the uidmap package)` : (e.stderr?.toString().trim() || e.message);
    throw new TypeError(`${helper} failed: ${detail}`);
  }
}
