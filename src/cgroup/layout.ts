// Which cgroup layout this host has, and where the calling process sits in each hierarchy.
// Everything is derived from two texts, /proc/self/cgroup and /proc/mounts (plus the
// unified hierarchy's cgroup.controllers), so tests can feed recorded samples.
import { readExplained } from '../sys/explain-fs.js';
import { CgroupError } from './errors.js';

export type LayoutKind = 'v2' | 'hybrid' | 'v1';

/** One mounted hierarchy. */
export interface Hierarchy {
  version: 1 | 2;
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mount: string;
  /** Controllers it carries: v1 from the mount options, v2 from cgroup.controllers of the caller's group. */
  controllers: string[];
  /** Where the caller sits, from /proc/self/cgroup, e.g. "/user.slice" ("/" at the top). */
  self: string;
  /** Where new groups go by default: mount + self. */
  base: string;
}

export interface Layout {
  kind: LayoutKind;
  /** The cgroup2 hierarchy: /sys/fs/cgroup itself on pure v2, /sys/fs/cgroup/unified on hybrid hosts. */
  unified?: Hierarchy;
  /** The v1 hierarchies that carry controllers (named ones such as name=systemd are left out). */
  v1: Hierarchy[];
}

/** Texts to detect from instead of this process's files (for tests and other processes). */
export interface LayoutSources {
  /** Contents of /proc/<pid>/cgroup. */
  cgroup?: string;
  /** Contents of /proc/mounts. */
  mounts?: string;
  /** Contents of the unified hierarchy's cgroup.controllers for the caller's group. */
  v2Controllers?: string;
}

// The v1 controllers the kernel knows; mount options other than these are not controllers.
export const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio',
  'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

let cachedLayout: Layout | undefined;

/** This process's layout, detected once: it changes only if cgroupfs is remounted. */
export function currentLayout(): Layout {
  return (cachedLayout ??= detectLayout());
}

/** Detect the layout from the given texts, or from this process's /proc files. */
export function detectLayout(sources: LayoutSources = {}): Layout {
  const cgroupText = sources.cgroup ?? readExplained('/proc/self/cgroup');
  const mountsText = sources.mounts ?? readExplained('/proc/mounts');

  // /proc/self/cgroup: "ID:CONTROLLERS:PATH"; the v2 line is "0::PATH".
  let v2Self: string | undefined;
  const v1Self = new Map<string, string>(); // sorted controller list -> path
  for (const line of cgroupText.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2Self = m[3];
    else v1Self.set(key(m[2].split(',').filter((c) => V1_CONTROLLERS.has(c))), m[3]);
  }

  let unified: Hierarchy | undefined;
  const v1: Hierarchy[] = [];
  for (const line of mountsText.split('\n')) {
    const [, where, type, options] = line.split(' ');
    if (type === 'cgroup2' && v2Self !== undefined && !unified) {
      const mount = unescapeMount(where);
      const base = joinPath(mount, v2Self);
      const text = sources.v2Controllers ?? readOptional(`${base}/cgroup.controllers`) ?? '';
      unified = { version: 2, mount, controllers: text.split(/\s+/).filter(Boolean), self: v2Self, base };
    } else if (type === 'cgroup') {
      const controllers = options.split(',').filter((o) => V1_CONTROLLERS.has(o)).sort();
      if (controllers.length === 0) continue; // a named hierarchy such as name=systemd
      const self = v1Self.get(key(controllers));
      if (self === undefined) continue; // mounted, but this process is not in it (another cgroup namespace's view)
      if (v1.some((h) => key(h.controllers) === key(controllers))) continue; // mounted twice
      const mount = unescapeMount(where);
      v1.push({ version: 1, mount, controllers, self, base: joinPath(mount, self) });
    }
  }

  if (!unified && v1.length === 0)
    throw new CgroupError('no cgroup hierarchy is mounted (looked for cgroup2 and cgroup in /proc/mounts)');
  const kind: LayoutKind = v1.length === 0 ? 'v2' : unified ? 'hybrid' : 'v1';
  return { kind, unified, v1 };
}

/** The hierarchy that carries a controller (v2 first), or undefined when the host has none. */
export function hierarchyFor(layout: Layout, controller: string): Hierarchy | undefined {
  const v2Name = controller === 'blkio' ? 'io' : controller;
  const v1Name = controller === 'io' ? 'blkio' : controller;
  if (layout.unified?.controllers.includes(v2Name)) return layout.unified;
  return layout.v1.find((h) => h.controllers.includes(v1Name));
}

/**
 * A process's directory in every hierarchy mounted here, from its /proc/PID/cgroup text
 * and /proc/mounts: named v1 hierarchies (name=systemd) included, hierarchies that are
 * not mounted left out. The paths are as the reader's cgroup namespace shows them.
 *
 * Group names are chosen by whoever made the group (a delegated user, for one), and a
 * name may hold a newline: a text that names a hierarchy twice is refused. So is a path
 * with a "." or ".." step, which would lead out of the mount (the kernel writes those for
 * a group outside the reader's cgroup namespace, where no one could join it from here).
 */
export function groupDirs(cgroupText: string, mountsText: string): string[] {
  const mounts = mountsText.split('\n').map((line) => line.split(' ')).filter(([, , type]) => type === 'cgroup' || type === 'cgroup2');
  const dirs: string[] = [];
  const seen = new Set<string>();
  for (const line of cgroupText.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (seen.has(m[1]) || !m[3].startsWith('/')) {
      throw new CgroupError(`failed to get cgroup path: the line "${line}" is not the kernel's (a group name with a newline?)`);
    }
    // The kernel writes "/.." steps for a group outside the reader's cgroup namespace.
    if (m[3].split('/').some((step) => step === '.' || step === '..')) {
      throw new CgroupError(`failed to get cgroup path: ${m[3]} is outside this cgroup namespace's view`);
    }
    seen.add(m[1]);
    const wanted = key(m[2].split(',').filter(Boolean));
    const mount = m[1] === '0' && m[2] === ''
      ? mounts.find(([, , type]) => type === 'cgroup2')
      : mounts.find(([, , type, options]) => type === 'cgroup' && key(options.split(',').filter((o) => V1_CONTROLLERS.has(o) || o.startsWith('name='))) === wanted);
    if (mount) dirs.push(joinPath(unescapeMount(mount[1]), m[3]));
  }
  return dirs;
}

/** Every controller available, per version (for `ts-cgroup info`). */
export function controllersByVersion(layout: Layout): { v1: string[]; v2: string[] } {
  return {
    v1: layout.v1.flatMap((h) => h.controllers).sort(),
    v2: [...(layout.unified?.controllers ?? [])].sort(),
  };
}

function key(controllers: string[]): string {
  return [...controllers].sort().join(',');
}

/** /proc/mounts writes space, tab, newline and backslash as octal escapes. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function joinPath(dir: string, rel: string): string {
  const r = rel.replace(/^\/+|\/+$/g, '');
  return r ? `${dir.replace(/\/+$/, '')}/${r}` : dir;
}

function readOptional(path: string): string | undefined {
  try {
    return readExplained(path);
  } catch {
    return undefined;
  }
}
