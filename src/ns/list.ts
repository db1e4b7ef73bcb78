// listNamespaces(): the namespaces of the running processes, found the way lsns(8) finds
// them, by walking /proc/PID/ns/*; with `persistent`, also those that no process is in but
// a bind mount holds (nsfs mount points, as util-linux master's lsns --persistent).
import { readdirSync, readlinkSync, readFileSync, statSync, openSync, closeSync, fstatSync } from 'node:fs';
import { explain } from '../sys/explain.js';
import { explainFs } from '../sys/explain-fs.js';
import { cstr } from '../sys/format.js';
import type { NamespaceKind } from '../sys/ns.js';

/**
 * The kinds in the order lsns(8) reads them, each with its file under /proc/PID/ns/ (which
 * is also the TYPE lsns prints). Order matters only for --explain and for which process a
 * namespace's parent and owner are first read from; results are sorted by inode.
 */
export const LSNS_KINDS: readonly { kind: NamespaceKind; file: string }[] = [
  { kind: 'mount', file: 'mnt' },
  { kind: 'net', file: 'net' },
  { kind: 'pid', file: 'pid' },
  { kind: 'uts', file: 'uts' },
  { kind: 'ipc', file: 'ipc' },
  { kind: 'user', file: 'user' },
  { kind: 'cgroup', file: 'cgroup' },
  { kind: 'time', file: 'time' },
];

/** The /proc/PID/ns/ file name of a kind ("mnt" for mount). */
export function nsFile(kind: NamespaceKind): string {
  return LSNS_KINDS.find((k) => k.kind === kind)?.file ?? kind;
}

/** The kind whose /proc/PID/ns/ file (or lsns TYPE) is `name`; "mount" is accepted too. */
export function kindOfName(name: string): NamespaceKind | undefined {
  return LSNS_KINDS.find((k) => k.file === name || k.kind === name)?.kind;
}

/** One namespace as lsns(8) reports it. */
export interface NamespaceRecord {
  /** inode number of the namespace (its identifier) */
  ns: number;
  type: NamespaceKind;
  /** number of processes in it */
  nprocs: number;
  /** lowest PID in it, and that process's parent, owner uid, user name and command line */
  pid: number;
  ppid: number;
  uid: number;
  user: string;
  command: string;
  /** /proc/PID/ns/FILE of that process; for a namespace only a bind mount holds, its (first) mount point */
  path: string;
  /** parent namespace (pid and user namespaces only; 0 if none or not visible) */
  pns: number;
  /** owning user namespace (0 if none or not visible) */
  ons: number;
  /** all PIDs in it, ascending (none for a namespace only a bind mount holds: then pid, ppid are 0, command is '') */
  pids: number[];
  /** net only, with `netnsid: true`: the id the network stack gives it; -1 unassigned, null unknown */
  netnsid?: number | null;
  /** with `nsfs: true`: where the namespace is bind-mounted (nsfs mount points) */
  nsfs?: string[];
}

export interface ListOptions {
  /** only these kinds (default all) */
  types?: readonly NamespaceKind[];
  /** only namespaces this process is in */
  pid?: number;
  /** read parent and owner namespaces (ioctl NS_GET_PARENT/NS_GET_USERNS); default true */
  relations?: boolean;
  /** ask the network stack for each net namespace's id (netlink RTM_GETNSID); default false */
  netnsid?: boolean;
  /** find nsfs mount points from /proc/self/mountinfo; default false */
  nsfs?: boolean;
  /** also the namespaces that no process is in, held by a bind mount (nsfs); default false */
  persistent?: boolean;
  /** also the parents and owners (of the wanted kinds) that no process is in, of every namespace (those of held ones come with `persistent`); needs `relations`; default false */
  ancestors?: boolean;
}

/** A process as read from /proc, with the namespaces of the wanted kinds it is in. */
export interface ScannedProcess {
  pid: number;
  ppid: number;
  uid: number;
  /** inode of its namespace of each kind read (absent: not readable) */
  ns: Partial<Record<NamespaceKind, number>>;
  /** the process whose pid is our ppid, if it was read */
  parent: ScannedProcess | null;
  /** net namespace id (see NamespaceRecord.netnsid), when asked for */
  netnsid?: number | null;
}

/** A namespace with its processes, as lsns(8) holds it before printing. */
export interface ScannedNamespace {
  ino: number;
  kind: NamespaceKind;
  /** its processes, ascending by pid */
  processes: ScannedProcess[];
  /** the lowest pid; null for a namespace no process is in (held by a bind mount, or an ancestor) */
  proc: ScannedProcess | null;
  parent: number;
  owner: number;
  /** no process in it: the uid owning it (a user namespace's creator, else 0) and its net id (see ScannedProcess.netnsid) */
  ownerUid?: number;
  netnsid?: number | null;
}

export interface Scan {
  processes: ScannedProcess[];
  /** ascending by inode */
  namespaces: ScannedNamespace[];
}

const KIND_INODE = /^[a-z_]+:\[(\d+)\]$/;

/** The inode of /proc/PID/ns/FILE, or null when it cannot be read (gone, no permission). */
function nsInode(pid: number, file: string): number | null {
  const path = `/proc/${pid}/ns/${file}`;
  let target: string;
  try {
    target = readlinkSync(path);
  } catch (err) {
    explainFs(`readlink(${cstr(path)})`, err as NodeJS.ErrnoException);
    return null;
  }
  explain(`readlink(${cstr(path)}) = ${cstr(target)}`);
  const m = KIND_INODE.exec(target);
  return m ? Number(m[1]) : null;
}

type NsModule = typeof import('../sys/ns.js');

/** open(path, O_RDONLY), explained; null when it fails (gone, no permission). */
function openNs(path: string): number | null {
  try {
    const fd = openSync(path, 'r');
    explain(`open(${cstr(path)}, O_RDONLY) = ${fd}`);
    return fd;
  } catch (err) {
    explainFs(`open(${cstr(path)}, O_RDONLY)`, err as NodeJS.ErrnoException);
    return null;
  }
}

/** Parent (pid and user only) and owner of the namespace behind /proc/PID/ns/FILE; 0 where not visible. */
function relations(ns: NsModule, pid: number, file: string, kind: NamespaceKind): { parent: number; owner: number } {
  const fd = openNs(`/proc/${pid}/ns/${file}`);
  if (fd === null) return { parent: 0, owner: 0 };
  try {
    return relationsOf(ns, fd, kind);
  } finally {
    closeSync(fd);
  }
}

/** Parent and owner of the namespace behind an open fd. */
function relationsOf(ns: NsModule, fd: number, kind: NamespaceKind): { parent: number; owner: number } {
  let parent = 0;
  let owner = 0;
  const inodeOf = (get: (fd: number) => number): number => {
    let rfd: number;
    try {
      rfd = get(fd);
    } catch {
      return 0; // EPERM: the relative lies outside our namespaces (already explained)
    }
    try {
      const ino = fstatSync(rfd).ino;
      explain(`fstat(${rfd}) = {st_ino=${ino}}`);
      return ino;
    } finally {
      closeSync(rfd);
    }
  };
  if (kind === 'pid' || kind === 'user') parent = inodeOf(ns.nsGetParent);
  owner = inodeOf(ns.nsGetUserns);
  return { parent, owner };
}

/** uid and ppid of a process, or null if it is gone. */
function readProcess(pid: number): { uid: number; ppid: number } | null {
  try {
    const uid = statSync(`/proc/${pid}`).uid;
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // the command name may contain ") ", so the fields start after the last ")"
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    if (!Number.isInteger(ppid)) return null;
    return { uid, ppid };
  } catch {
    return null;
  }
}

/** The PIDs under /proc, ascending (the order /proc lists them in). */
function procPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) if (/^\d+$/.test(name)) pids.push(Number(name));
  return pids.sort((a, b) => a - b);
}

/**
 * Read every process and the namespaces of the wanted kinds it is in, then group them
 * into namespaces: the data lsns(8) prints, before any filtering by pid.
 */
export async function scanNamespaces(options: ListOptions = {}): Promise<Scan> {
  const kinds = LSNS_KINDS.filter((k) => !options.types?.length || options.types.includes(k.kind));
  const wantRelations = options.relations ?? true;
  // a bind-mounted namespace's kind and owner are known only through the ioctls
  const ns: NsModule | null = wantRelations || options.persistent ? await import('../sys/ns.js') : null;
  const netnsids = new Map<number, number | null>();
  const netlink = options.netnsid ? await openNetlink() : null;

  const processes: ScannedProcess[] = [];
  const namespaces = new Map<number, ScannedNamespace>();
  const related = new Map<number, { parent: number; owner: number }>();
  // where a namespace no process is in can be opened (its mount point)
  const heldAt = new Map<number, string>();
  try {
    for (const pid of procPids()) {
      const info = readProcess(pid);
      if (!info) continue; // gone meanwhile
      const proc: ScannedProcess = { pid, ppid: info.ppid, uid: info.uid, ns: {}, parent: null };
      for (const { kind, file } of kinds) {
        const ino = nsInode(pid, file);
        if (ino === null) continue;
        proc.ns[kind] = ino;
        if (ns && wantRelations && !related.has(ino)) related.set(ino, relations(ns, pid, file, kind));
        if (kind === 'net' && netlink) {
          if (!netnsids.has(ino)) netnsids.set(ino, netlink.nsid(`/proc/${pid}/ns/net`));
          proc.netnsid = netnsids.get(ino) ?? null;
        }
      }
      processes.push(proc);
    }

    const byPid = new Map(processes.map((p) => [p.pid, p]));
    for (const proc of processes) {
      proc.parent = byPid.get(proc.ppid) ?? null;
      for (const { kind } of kinds) {
        const ino = proc.ns[kind];
        if (ino === undefined) continue;
        let entry = namespaces.get(ino);
        if (!entry) {
          const rel = related.get(ino) ?? { parent: 0, owner: 0 };
          entry = { ino, kind, processes: [], proc, parent: rel.parent, owner: rel.owner };
          namespaces.set(ino, entry);
        }
        entry.processes.push(proc);
        if (!entry.proc || proc.pid < entry.proc.pid) entry.proc = proc;
      }
    }
    if (options.persistent) readHeldNamespaces(ns!, kinds.map((k) => k.kind), namespaces, heldAt, wantRelations, netlink);
  } finally {
    netlink?.close();
  }
  // lsns climbs from every namespace for its trees, and from held ones whenever it reads them
  const climbFrom = options.ancestors ? [...namespaces.values()] : [...heldAt.keys()].map((ino) => namespaces.get(ino)!);
  if (ns && wantRelations) readAncestors(ns, kinds.map((k) => k.kind), namespaces, heldAt, climbFrom);
  return { processes, namespaces: [...namespaces.values()].sort((a, b) => a.ino - b.ino) };
}

/** A namespace no process is in, read through an fd on it; null if it is not of a wanted kind. */
function unheldNamespace(ns: NsModule, fd: number, ino: number, kinds: NamespaceKind[], wantRelations: boolean): ScannedNamespace | null {
  let kind: NamespaceKind;
  try {
    kind = ns.nsGetType(fd);
  } catch {
    return null; // not a namespace file after all (explained)
  }
  if (!kinds.includes(kind)) return null;
  const rel = wantRelations ? relationsOf(ns, fd, kind) : { parent: 0, owner: 0 };
  let ownerUid = 0;
  try {
    if (kind === 'user') ownerUid = ns.nsGetOwnerUid(fd);
  } catch { /* explained; root, as lsns falls back to */ }
  return { ino, kind, processes: [], proc: null, ...rel, ownerUid };
}

/**
 * Add the namespaces of the wanted kinds that nsfs mount points hold and no process is
 * in, each once (its first mount point is the one opened), as lsns --persistent reads
 * them: kind, parent, owner and owner uid through the ioctls on the mount point.
 */
function readHeldNamespaces(
  ns: NsModule, kinds: NamespaceKind[], namespaces: Map<number, ScannedNamespace>, heldAt: Map<number, string>,
  wantRelations: boolean, netlink: Netlink | null,
): void {
  for (const [root, targets] of nsfsMounts()) {
    const ino = Number(/\[(\d+)\]$/.exec(root)?.[1]);
    if (!Number.isSafeInteger(ino) || namespaces.has(ino)) continue;
    const fd = openNs(targets[0]);
    if (fd === null) continue;
    try {
      const entry = unheldNamespace(ns, fd, ino, kinds, wantRelations);
      if (!entry) continue;
      if (entry.kind === 'net' && netlink) entry.netnsid = netlink.nsid(targets[0]);
      namespaces.set(ino, entry);
      heldAt.set(ino, targets[0]);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Add the parents and owners that no process is in (a user namespace whose only process
 * went on into a child namespace), up to the first one already known, as lsns does for
 * its owner and parent trees: each is reached through the ioctls on its child.
 */
function readAncestors(
  ns: NsModule, kinds: NamespaceKind[], namespaces: Map<number, ScannedNamespace>, heldAt: Map<number, string>,
  from: ScannedNamespace[],
): void {
  const climb = (entry: ScannedNamespace, fd: number) => {
    const up: [number, (fd: number) => number][] = [[entry.parent, ns.nsGetParent], [entry.owner, ns.nsGetUserns]];
    for (const [ino, get] of up) {
      if (!ino || namespaces.has(ino)) continue;
      let rfd: number;
      try {
        rfd = get(fd);
      } catch {
        continue; // outside our view (explained)
      }
      try {
        const found = unheldNamespace(ns, rfd, ino, kinds, true);
        if (!found) continue;
        namespaces.set(ino, found);
        climb(found, rfd);
      } finally {
        closeSync(rfd);
      }
    }
  };
  for (const entry of from) {
    if ((!entry.parent || namespaces.has(entry.parent)) && (!entry.owner || namespaces.has(entry.owner))) continue;
    const fd = openNs(entry.proc ? `/proc/${entry.proc.pid}/ns/${nsFile(entry.kind)}` : heldAt.get(entry.ino)!);
    if (fd === null) continue;
    try {
      climb(entry, fd);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The namespaces of the running processes, ascending by inode, as lsns(8) lists them.
 * Needs root (or the same user) to see other users' processes' namespaces.
 */
export async function listNamespaces(options: ListOptions = {}): Promise<NamespaceRecord[]> {
  const opts = { ...options };
  if (opts.pid !== undefined && (!Number.isInteger(opts.pid) || opts.pid < 0)) {
    throw new TypeError(`Expected the \`pid\` option to be a non-negative integer, got \`${opts.pid}\``);
  }
  for (const t of opts.types ?? []) {
    if (!kindOfName(t)) throw new TypeError(`Expected the \`types\` option to list namespace kinds, got \`${t}\``);
  }
  opts.types = opts.types?.map((t) => kindOfName(t)!);
  const scan = await scanNamespaces(opts);
  // a namespace only a bind mount holds has its mount point as its path
  const mounts = opts.nsfs || opts.persistent ? nsfsMounts() : null;
  const users = new UserNames();
  if (scan.namespaces.some((n) => !users.inFiles(n.proc?.uid ?? n.ownerUid ?? 0))) await enableNssLookups();
  const out: NamespaceRecord[] = [];
  for (const n of scan.namespaces) {
    if (opts.pid !== undefined && !n.processes.some((p) => p.pid === opts.pid)) continue;
    const p = n.proc;
    const file = nsFile(n.kind);
    const cmd = p ? readCommand(p.pid) : null;
    const uid = p?.uid ?? n.ownerUid ?? 0;
    const rec: NamespaceRecord = {
      ns: n.ino, type: n.kind, nprocs: n.processes.length,
      pid: p?.pid ?? 0, ppid: p?.ppid ?? 0, uid, user: users.name(uid),
      command: cmd ? cmd.toString('utf8') : '',
      path: p ? `/proc/${p.pid}/ns/${file}` : mounts?.get(`${file}:[${n.ino}]`)?.[0] ?? '',
      pns: n.parent, ons: n.owner,
      pids: n.processes.map((q) => q.pid),
    };
    if (opts.netnsid && n.kind === 'net') rec.netnsid = (p ? p.netnsid : n.netnsid) ?? null;
    if (opts.nsfs) rec.nsfs = mounts!.get(`${file}:[${n.ino}]`) ?? [];
    out.push(rec);
  }
  return out;
}

/**
 * A process's command line the way util-linux shows it: /proc/PID/cmdline (first 8 KiB)
 * with NULs as spaces and the last byte dropped; for kernel threads (empty cmdline) the
 * comm name. null if the process is gone.
 */
export function readCommand(pid: number): Buffer | null {
  for (const name of ['cmdline', 'comm']) {
    let buf: Buffer;
    try {
      const all = readFileSync(`/proc/${pid}/${name}`);
      buf = all.subarray(0, 8192);
    } catch {
      return null;
    }
    if (buf.length === 0) continue;
    const out = Buffer.from(buf.subarray(0, buf.length - 1));
    for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = 0x20;
    return out;
  }
  return null;
}

/** uid -> user name, as getpwuid(3) gives it (files first, then libc for other sources); the number if none. */
export class UserNames {
  private readonly cache = new Map<number, string>();
  private passwd: Map<number, string> | null = null;

  /** Whether /etc/passwd names `uid` (else naming it may need libc: see enableNssLookups). */
  inFiles(uid: number): boolean {
    this.load();
    return this.passwd!.has(uid);
  }

  private load(): void {
    if (this.passwd) return;
    this.passwd = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 3 && f[0] && !this.passwd.has(Number(f[2]))) this.passwd.set(Number(f[2]), f[0]);
      }
    } catch {
      // no /etc/passwd: libc below
    }
  }

  name(uid: number): string {
    let name = this.cache.get(uid);
    if (name !== undefined) return name;
    this.load();
    name = this.passwd!.get(uid) ?? getpwuidName(uid) ?? String(uid);
    this.cache.set(uid, name);
    return name;
  }
}

let libcModule: typeof import('../sys/libc.js') | null = null;

/** getpwuid(3)'s pw_name through libc (NSS: systemd, LDAP...), for uids /etc/passwd lacks. */
function getpwuidName(uid: number): string | null {
  if (!libcModule) return null;
  const k = libcModule.koffi();
  const p = libcModule.fn('void *getpwuid(uint32_t uid)')(uid);
  if (!p) return null;
  const name = k.decode(p, 'const char *') as string | null;
  return name || null;
}

/** Load libc bindings ahead, so that user names not in /etc/passwd are looked up through NSS. */
export async function enableNssLookups(): Promise<void> {
  libcModule ??= await import('../sys/libc.js');
}

/** nsfs mount points from /proc/self/mountinfo, keyed by their root ("net:[4026532000]"). */
export function nsfsMounts(): Map<string, string[]> {
  const map = new Map<string, string[]>();
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'latin1');
  } catch {
    return map;
  }
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const f = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'nsfs') continue;
    const root = unescape(f[3]);
    const target = unescape(f[4]);
    const list = map.get(root) ?? [];
    list.push(target);
    map.set(root, list);
  }
  return map;
}

/** RTM_GETNSID over a NETLINK_ROUTE socket, as lsns(8) asks for NETNSID. */
interface Netlink {
  nsid(path: string): number | null;
  close(): void;
}

async function openNetlink(): Promise<Netlink | null> {
  const { check, fn } = await import('../sys/libc.js');
  const AF_NETLINK = 16, SOCK_RAW = 3, NETLINK_ROUTE = 0;
  const RTM_NEWNSID = 88, RTM_GETNSID = 90, NLM_F_REQUEST = 1, NETNSA_NSID = 1, NETNSA_FD = 3;
  let sock: number;
  try {
    sock = check('socket', 'AF_NETLINK, SOCK_RAW, NETLINK_ROUTE', () =>
      fn('int socket(int domain, int type, int protocol)')(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  } catch {
    return null;
  }
  const send = fn('long send(int fd, const uint8_t *buf, size_t len, int flags)');
  const recv = fn('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)');
  return {
    nsid(path: string): number | null {
      let target: number;
      try {
        target = openSync(path, 'r');
      } catch {
        return null;
      }
      try {
        // nlmsghdr (16) + rtgenmsg (1, padded to 4) + rtattr NETNSA_FD (4 + int32)
        const req = Buffer.alloc(28);
        req.writeUInt32LE(28, 0);
        req.writeUInt16LE(RTM_GETNSID, 4);
        req.writeUInt16LE(NLM_F_REQUEST, 6);
        req.writeUInt16LE(8, 20);
        req.writeUInt16LE(NETNSA_FD, 22);
        req.writeInt32LE(target, 24);
        check('send', `${sock}, {RTM_GETNSID, NETNSA_FD=${target}}, 28, 0`, () => send(sock, req, 28, 0));
        const res = Buffer.alloc(44);
        const n = check('recv', `${sock}, ..., 44, 0`, () => recv(sock, res, 44, 0));
        if (n < 16) return null;
        const len = res.readUInt32LE(0);
        if (len < 16 || len > n || res.readUInt16LE(4) !== RTM_NEWNSID) return null;
        const rtalen = len - 20;
        const rtaLen = res.readUInt16LE(20);
        if (rtalen < 4 || rtaLen < 4 || rtaLen > rtalen || res.readUInt16LE(22) !== NETNSA_NSID) return null;
        return res.readInt32LE(24);
      } catch {
        return null;
      } finally {
        closeSync(target);
      }
    },
    close() {
      fn('int close(int fd)')(sock);
    },
  };
}
