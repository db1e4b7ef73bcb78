// The new root as the plan will have built it, known in the parent before anything runs.
//
// While the root is built, the child's root is a staging tmpfs that also holds the old
// root at /oldroot (bubblewrap's layout). A destination that the kernel resolved there
// could follow a symlink (an absolute one, or one with enough `..`) out of /newroot and
// into the host. The stage has no openat2(RESOLVE_IN_ROOT), so the parent resolves every
// destination itself, the way RESOLVE_IN_ROOT would: absolute links and `..` stop at the
// new root. It knows what the plan made (dirs, files, links) and reads what bind mounts
// bring in from the host paths behind them, so each path a step names is free of
// symlinks. What remains is a race with whoever changes those host paths between the plan
// and its run (runc's securejoin has the same one).
import { lstatSync, readlinkSync } from 'node:fs';

export type Kind = 'dir' | 'file' | 'symlink' | 'other';
export interface Entry {
  kind: Kind;
  /** A symlink's target. */
  target?: string;
}

interface Mount {
  /** Where it is, resolved, in the new root. */
  at: string;
  /** What its root is: a directory, or a file (a file bind). */
  root: Kind;
  /** Host paths whose contents show here, the first that has a name wins (a bind: one; an overlay: its layers, top first). */
  hosts: string[];
  /** What the plan made in it, by path relative to `at` ('' is never made). */
  made: Map<string, Entry>;
}

/** A path's components, without empty ones and `.`. */
function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** `path` relative to `at` when `at` is it or an ancestor of it. */
function under(at: string, path: string): string | undefined {
  if (at === '/') return path.slice(1);
  if (path === at) return '';
  return path.startsWith(`${at}/`) ? path.slice(at.length + 1) : undefined;
}

function hostEntry(path: string): Entry | undefined {
  try {
    // Missing is an answer here (the plan makes it), not an error worth an exception.
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(path) };
    return { kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other' };
  } catch {
    return undefined;
  }
}

/** Symlinks followed in one resolution before giving up, as the kernel's ELOOP. */
const MAX_LINKS = 40;

export class NewRoot {
  private readonly mounts: Mount[] = [];
  /**
   * Host paths looked up, with what they were: one plan is one look at the host (a
   * change after it is the race above), and a destination is resolved, then made.
   */
  private readonly seen = new Map<string, Entry | undefined>();

  /** A root showing `hosts` (none: an empty tmpfs). */
  constructor(hosts: string[]) {
    this.mount('/', 'dir', hosts);
  }

  /** A mount at `at` (resolved): later lookups below it see it, not what it covers. */
  mount(at: string, root: Kind, hosts: string[], made: Record<string, Entry> = {}): void {
    this.mounts.push({ at, root, hosts, made: new Map(Object.entries(made)) });
  }

  /** The plan makes `path` (resolved; its parent exists). */
  make(path: string, entry: Entry): void {
    const m = this.top(path);
    m.made.set(under(m.at, path)!, entry);
  }

  /** What `path` (resolved) is in the new root, or undefined when it does not exist. */
  entry(path: string): Entry | undefined {
    const m = this.top(path);
    const rel = under(m.at, path)!;
    if (rel === '') return { kind: m.root };
    const made = m.made.get(rel);
    if (made) return made;
    for (const host of m.hosts) {
      const path = `${host}/${rel}`;
      if (!this.seen.has(path)) this.seen.set(path, hostEntry(path));
      const e = this.seen.get(path);
      if (e) return e;
    }
    return undefined;
  }

  /**
   * `path` with every symlink and `..` resolved inside the new root; the last component is
   * followed only when `followLast`. What does not exist yet stays as written (the plan
   * creates it). Throws an Error in the kernel's words (ELOOP, ENOTDIR).
   */
  resolve(path: string, followLast: boolean): string {
    const done: string[] = [];
    let todo = components(path);
    let links = 0;
    while (todo.length) {
      const c = todo.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const here = `/${[...done, c].join('/')}`;
      const e = this.entry(here);
      const last = todo.length === 0;
      if (e?.kind === 'symlink' && (!last || followLast)) {
        if (++links > MAX_LINKS) throw new Error(`${path}: Too many levels of symbolic links`);
        if (e.target!.startsWith('/')) done.length = 0;
        todo = [...components(e.target!), ...todo];
        continue;
      }
      if (e && e.kind !== 'dir' && !last) throw new Error(`${path}: Not a directory (${here})`);
      done.push(c);
    }
    return `/${done.join('/')}`;
  }

  /** The mount that shows `path`: the last one made at it or above it (the root's covers all). */
  private top(path: string): Mount {
    for (let k = this.mounts.length - 1; k > 0; k--) if (under(this.mounts[k].at, path) !== undefined) return this.mounts[k];
    return this.mounts[0];
  }
}
