// listNamespaces(): the namespaces of the running processes, found the way lsns(8) finds
// them, by walking /proc/PID/ns/*. A namespace with no process in it is not seen.
import { readdirSync, readlinkSync, readFileSync, statSync, openSync, closeSync, fstatSync } from 'node:fs';
import { explain, explaining } from '../sys/explain.js';
import { cstr } from '../sys/format.js';
import { reasonOf } from '../sys/errors.js';
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
  /** /proc/PID/ns/FILE of that process */
  path: string;
  /** parent namespace (pid and user namespaces only; 0 if none or not visible) */
  pns: number;
  /** owning user namespace (0 if none or not visible) */
  ons: number;
  /** all PIDs in it, ascending */
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
  /** the lowest pid */
  proc: ScannedProcess;
  parent: number;
  owner: number;
}

export interface Scan {
  processes: ScannedProcess[];
  /** ascending by inode */
  namespaces: ScannedNamespace[];
}

const KIND_INODE = /^[a-z_]+:\[(\d+)\]$/;

function explainFsError(call: string, args: string, err: NodeJS.ErrnoException): void {
  if (!explaining()) return;
  explain(`${call}(${args}) = -1 ${err.code ?? 'EIO'} (${reasonOf(err)})`);
}

/** The inode of /proc/PID/ns/FILE, or null when it cannot be read (gone, no permission). */
function nsInode(pid: number, file: string): number | null {
  const path = `/proc/${pid}/ns/${file}`;
  let target: string;
  try {
    target = readlinkSync(path);
  } catch (err) {
    explainFsError('readlink', cstr(path), err as NodeJS.ErrnoException);
    return null;
  }
  explain(`readlink(${cstr(path)}) = ${cstr(target)}`);
  const m = KIND_INODE.exec(target);
  return m ? Number(m[1]) : null;
}

type NsModule = typeof import('../sys/ns.js');

/** Parent (pid and user only) and owner of the namespace behind /proc/PID/ns/FILE; 0 where not visible. */
function relations(ns: NsModule, pid: number, file: string, kind: NamespaceKind): { parent: number; owner: number } {
  let parent = 0;
  let owner = 0;
  const path = `/proc/${pid}/ns/${file}`;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    explainFsError('open', `${cstr(path)}, O_RDONLY`, err as NodeJS.ErrnoException);
    return { parent, owner };
  }
  explain(`open(${cstr(path)}, O_RDONLY) = ${fd}`);
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
  try {
    if (kind === 'pid' || kind === 'user') parent = inodeOf(ns.nsGetParent);
    owner = inodeOf(ns.nsGetUserns);
  } finally {
    closeSync(fd);
  }
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
  const ns: NsModule | null = wantRelations ? await import('../sys/ns.js') : null;
  const netnsids = new Map<number, number | null>();
  const netlink = options.netnsid ? await openNetlink() : null;

  const processes: ScannedProcess[] = [];
  const namespaces = new Map<number, ScannedNamespace>();
  const related = new Map<number, { parent: number; owner: number }>();
  try {
    for (const pid of procPids()) {
      const info = readProcess(pid);
      if (!info) continue; // gone meanwhile
      const proc: ScannedProcess = { pid, ppid: info.ppid, uid: info.uid, ns: {}, parent: null };
      for (const { kind, file } of kinds) {
        const ino = nsInode(pid, file);
        if (ino === null) continue;
        proc.ns[kind] = ino;
        if (ns && !related.has(ino)) related.set(ino, relations(ns, pid, file, kind));
        if (kind === 'net' && netlink) {
          if (!netnsids.has(ino)) netnsids.set(ino, netlink.nsid(`/proc/${pid}/ns/net`));
          proc.netnsid = netnsids.get(ino) ?? null;
        }
      }
      processes.push(proc);
    }
  } finally {
    netlink?.close();
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
      if (proc.pid < entry.proc.pid) entry.proc = proc;
    }
  }
  return { processes, namespaces: [...namespaces.values()].sort((a, b) => a.ino - b.ino) };
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
  const mounts = opts.nsfs ? nsfsMounts() : null;
  const users = new UserNames();
  if (scan.namespaces.some((n) => !users.inFiles(n.proc.uid))) await enableNssLookups();
  const out: NamespaceRecord[] = [];
  for (const n of scan.namespaces) {
    if (opts.pid !== undefined && !n.processes.some((p) => p.pid === opts.pid)) continue;
    const p = n.proc;
    const file = nsFile(n.kind);
    const cmd = readCommand(p.pid);
    const rec: NamespaceRecord = {
      ns: n.ino, type: n.kind, nprocs: n.processes.length,
      pid: p.pid, ppid: p.ppid, uid: p.uid, user: users.name(p.uid),
      command: cmd ? cmd.toString('utf8') : '',
      path: `/proc/${p.pid}/ns/${file}`,
      pns: n.parent, ons: n.owner,
      pids: n.processes.map((q) => q.pid),
    };
    if (opts.netnsid && n.kind === 'net') rec.netnsid = p.netnsid ?? null;
    if (mounts) rec.nsfs = mounts.get(`${file}:[${n.ino}]`) ?? [];
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
