// The sandbox's filesystem as plan steps (SpawnSpec.rootSteps), built the way bubblewrap's
// setup_newroot builds it, in this order:
// 1. a tmpfs on /tmp (in the new mount namespace only) is the staging root; it holds
//    newroot/ and oldroot/;
// 2. pivot_root into it: the host's tree is now at /oldroot, where every source is found;
// 3. the root (the staging tmpfs's own newroot/, a directory's bind, or the host's / bound)
//    at /newroot, filled by the ops in order, each destination resolved inside it in the
//    parent (newroot.ts), so that no step can follow a link out of it;
// 4. the old root detached, then pivot_root into /newroot and the staging root detached:
//    nothing of the host stays reachable but what was bound in.
import { realpathSync, statSync } from 'node:fs';
import { resolve as absolute } from 'node:path';
import { reasonOf } from '../sys/errors.js';
import {
  AT_RECURSIVE, MOUNT_ATTR,
  MNT_DETACH, MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_PRIVATE,
  MS_RDONLY, MS_REC, MS_RELATIME, MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
} from '../sys/mount.js';
import type { NamespaceKind } from '../sys/ns.js';
import type { Step } from '../native/plan.js';
import { parseSize } from '../cgroup/parse.js';
import { protectProcSteps } from '../spawn/root.js';
import { SpecError } from './errors.js';
import type { MountOp, SandboxSpec } from './spec.js';
import { NewRoot } from './newroot.js';
import { devSteps, DEV_ENTRIES } from './dev.js';

type Filesystem = NonNullable<SandboxSpec['filesystem']>;

/** bwrap's base_path: a directory every host has; the staging tmpfs covers it in the new namespace only. */
const STAGE = '/tmp';
const OLD = '/oldroot';
const NEW = '/newroot';

const PROPAGATION = { private: MS_PRIVATE, slave: MS_SLAVE, shared: MS_SHARED, unbindable: MS_UNBINDABLE } as const;

/** A host path as the child finds it, under the old root. */
function old(path: string): string {
  return path === '/' ? OLD : OLD + path;
}

/** Where a resolved path of the new root is while it is built. */
function fresh(path: string): string {
  return path === '/' ? NEW : NEW + path;
}

/** The bind flags bwrap gives every bind (nosuid; nodev unless devices), and the op's own: set and clear. */
function attrs(m: { nosuid?: boolean; nodev?: boolean; noexec?: boolean; readOnly?: boolean }, devices = false): { set: number; clear: number } {
  let set = 0, clear = 0;
  if (m.nosuid !== false) set |= MOUNT_ATTR.NOSUID;
  else clear |= MOUNT_ATTR.NOSUID;
  if (m.nodev === true || (m.nodev === undefined && !devices)) set |= MOUNT_ATTR.NODEV;
  else if (m.nodev === false) clear |= MOUNT_ATTR.NODEV;
  if (m.noexec) set |= MOUNT_ATTR.NOEXEC;
  else if (m.noexec === false) clear |= MOUNT_ATTR.NOEXEC;
  if (m.readOnly) set |= MOUNT_ATTR.RDONLY;
  return { set, clear };
}

/** An overlay option value: bwrap escapes what the option syntax gives meaning to. */
function escapeOption(path: string): string {
  return path.replace(/[\\,:]/g, (c) => `\\${c}`);
}

/** mount(8)'s names for per-mount flags; every other option is the filesystem's own. */
const OPTION_FLAGS: Record<string, number> = {
  ro: MS_RDONLY, rw: 0, defaults: 0, nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC, sync: MS_SYNCHRONOUS,
  dirsync: MS_DIRSYNC, noatime: MS_NOATIME, nodiratime: MS_NODIRATIME, relatime: MS_RELATIME,
  strictatime: MS_STRICTATIME, lazytime: MS_LAZYTIME, nosymfollow: MS_NOSYMFOLLOW,
};

/** mount(8)-style options: the flags they name, the rest as the filesystem's data. */
function mountOptions(options: readonly string[]): { flags: number; data: string | null } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    if (o in OPTION_FLAGS) flags |= OPTION_FLAGS[o];
    else data.push(o);
  }
  return { flags, data: data.length ? data.join(',') : null };
}

/** One filesystem's steps, with the model of the new root they build. */
class Builder {
  readonly steps: Step[] = [];
  private tempFiles = 0;
  private overlays = 0;

  /**
   * ownProc: the pid namespace is the sandbox's, so /proc is a procfs of its own;
   * protectProc: runc's read-only and masked paths on every /proc.
   */
  constructor(readonly root: NewRoot, private readonly ownProc: boolean, private readonly protectProc: boolean) {}

  /** `dest` resolved inside the new root (a SpecError naming `field` when it cannot be). */
  resolve(dest: string, followLast: boolean, field: string): string {
    try {
      return this.root.resolve(dest, followLast);
    } catch (err) {
      throw new SpecError(field, (err as Error).message);
    }
  }

  /**
   * The missing parents of `path` (resolved), made as bwrap's mkdir_with_parents: 0755, less
   * what `perms` keeps from the group or from others.
   */
  parents(path: string, perms?: number): void {
    let mode = 0o755;
    if (perms !== undefined && (perms & 0o070) === 0) mode &= ~0o050;
    if (perms !== undefined && (perms & 0o007) === 0) mode &= ~0o005;
    const parts = path.split('/').filter(Boolean);
    for (let k = 1; k < parts.length; k++) this.dir(`/${parts.slice(0, k).join('/')}`, mode);
  }

  /** A directory at `path` (resolved) unless one is there. */
  dir(path: string, mode: number, chmod = false): void {
    if (this.root.entry(path)) return;
    this.steps.push({ op: 'mkdir', path: fresh(path), mode });
    // mkdir(2) applies the umask; bwrap's setup runs with umask 0.
    if (chmod) this.steps.push({ op: 'chmod', path: fresh(path), mode });
    this.root.make(path, { kind: 'dir' });
  }

  /** Something to mount on at `dest`: a directory, or (isFile) an empty file; its parents too (see `parents` for perms). */
  mountPoint(dest: string, field: string, isFile = false, perms?: number): string {
    const path = this.resolve(dest, true, field);
    this.parents(path, perms);
    if (!isFile) this.dir(path, 0o755);
    else if (!this.root.entry(path)) {
      this.steps.push({ op: 'createFile', path: fresh(path), mode: 0o444, data: '' });
      this.root.make(path, { kind: 'file' });
    }
    return path;
  }

  /** A recursive bind of `source` (as the child names it) on `path`, with `attrs` on the whole tree. */
  bind(source: string, path: string, a: { set: number; clear: number }): void {
    this.steps.push(
      { op: 'mount', source, target: fresh(path), fstype: null, flags: MS_BIND | MS_REC },
      { op: 'mountSetattr', path: fresh(path), flags: AT_RECURSIVE, set: a.set, clear: a.clear, propagation: 0 },
    );
  }

  /** A source on the host, resolved as bwrap does (realpath); undefined when `tryIt` and it is missing. */
  source(path: string, field: string, tryIt = false): string | undefined {
    try {
      return realpathSync(absolute(path));
    } catch (err) {
      if (tryIt && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SpecError(field, `Can't find source path ${path}: ${reasonOf(err)}`);
    }
  }

  op(m: MountOp, field: string): void {
    switch (m.type) {
      case 'bind': {
        if ((m.source === undefined) === (m.fd === undefined)) throw new SpecError(field, 'a bind takes one of source and fd');
        // A descriptor is bound by the path it has, as bwrap's --bind-fd: its mount is the
        // caller's namespace's, which the kernel does not bind from (EINVAL). bwrap then
        // compares the mount with the descriptor; the stage has no such step yet, so a path
        // swapped in between is bound instead.
        const named = m.fd !== undefined ? `/proc/self/fd/${m.fd}` : m.source!;
        const host = this.source(named, `${field}.${m.fd !== undefined ? 'fd' : 'source'}`, m.try);
        if (host === undefined) return;
        const isDir = statSync(host).isDirectory();
        const path = this.mountPoint(m.dest, `${field}.dest`, !isDir);
        this.bind(old(host), path, attrs(m, m.devices));
        this.root.mount(path, isDir ? 'dir' : 'file', [host]);
        return;
      }
      case 'remount-ro': {
        // bwrap's --remount-ro is not recursive: the mount at dest only.
        const path = this.resolve(m.dest, true, `${field}.dest`);
        this.steps.push({ op: 'mountSetattr', path: fresh(path), flags: 0, set: MOUNT_ATTR.RDONLY, clear: 0, propagation: 0 });
        return;
      }
      case 'tmpfs': {
        const path = this.mountPoint(m.dest, `${field}.dest`);
        const size = m.size === undefined ? '' : `,size=${parseSize(m.size)}`;
        const flags = (m.nosuid !== false ? MS_NOSUID : 0) | (m.nodev !== false ? MS_NODEV : 0) | (m.noexec ? MS_NOEXEC : 0);
        this.steps.push({ op: 'mount', source: 'tmpfs', target: fresh(path), fstype: 'tmpfs', flags, data: `mode=0${(m.perms ?? 0o755).toString(8)}${size}` });
        this.root.mount(path, 'dir', []);
        return;
      }
      case 'proc': {
        const path = this.mountPoint(m.dest, `${field}.dest`);
        // Its own procfs where the pid namespace is the sandbox's; else the host's, bound.
        if (this.ownProc) this.steps.push({ op: 'mount', source: 'proc', target: fresh(path), fstype: 'proc', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC });
        else this.steps.push({ op: 'mount', source: old('/proc'), target: fresh(path), fstype: null, flags: MS_BIND | MS_REC });
        this.root.mount(path, 'dir', ['/proc']);
        if (this.protectProc) this.steps.push(...protectProcSteps(fresh(path), old('/dev/null')));
        return;
      }
      case 'dev': {
        const path = this.mountPoint(m.dest, `${field}.dest`);
        this.steps.push(...devSteps(fresh(path), old('/dev')));
        this.root.mount(path, 'dir', [], DEV_ENTRIES);
        this.root.mount(`${path === '/' ? '' : path}/pts`, 'dir', []);
        return;
      }
      case 'mqueue': {
        const path = this.mountPoint(m.dest, `${field}.dest`);
        this.steps.push({ op: 'mount', source: 'mqueue', target: fresh(path), fstype: 'mqueue', flags: 0 });
        this.root.mount(path, 'dir', []);
        return;
      }
      case 'dir': {
        const path = this.resolve(m.dest, true, `${field}.dest`);
        this.parents(path, m.perms);
        const there = this.root.entry(path);
        if (there && there.kind !== 'dir') throw new SpecError(`${field}.dest`, `Can't mkdir ${m.dest}: File exists`);
        this.dir(path, m.perms ?? 0o755, m.perms !== undefined);
        return;
      }
      case 'symlink': {
        const path = this.resolve(m.dest, false, `${field}.dest`);
        this.parents(path);
        const there = this.root.entry(path);
        // bwrap accepts a link that is already there with the same target.
        if (there?.kind === 'symlink' && there.target === m.target) return;
        if (there) throw new SpecError(`${field}.dest`, `Can't make symlink at ${m.dest}: ${there.kind === 'symlink' ? `existing destination is ${there.target}` : 'destination exists and is not a symlink'}`);
        this.steps.push({ op: 'symlink', target: m.target, path: fresh(path) });
        this.root.make(path, { kind: 'symlink', target: m.target });
        return;
      }
      case 'chmod': {
        const path = this.resolve(m.dest, true, `${field}.dest`);
        this.steps.push({ op: 'chmod', path: fresh(path), mode: m.perms });
        return;
      }
      case 'file':
        return this.file(m, field);
      case 'overlay':
        return this.overlay(m, field);
      case 'mount': {
        const path = this.mountPoint(m.dest, `${field}.dest`);
        const { flags, data } = mountOptions(m.options ?? []);
        this.steps.push({ op: 'mount', source: m.source ?? m.fstype, target: fresh(path), fstype: m.fstype, flags, data });
        // sysfs shows what the host's does (its links stay inside it); others start empty.
        this.root.mount(path, 'dir', m.fstype === 'sysfs' ? ['/sys'] : []);
        return;
      }
    }
  }

  /** --file, --bind-data, --ro-bind-data: a file made from data or a descriptor, bound when asked. */
  private file(m: Extract<MountOp, { type: 'file' }>, field: string): void {
    if ((m.data === undefined) === (m.fd === undefined)) throw new SpecError(field, 'a file takes one of data and fd');
    const content = m.data !== undefined ? { data: m.data } : { fd: m.fd };
    if (!m.bind) {
      if (m.readOnly) throw new SpecError(`${field}.readOnly`, 'only a bound file (bind: true) can be read-only');
      const path = this.resolve(m.dest, false, `${field}.dest`);
      this.parents(path, m.perms);
      const mode = m.perms ?? 0o666;
      this.steps.push({ op: 'createFile', path: fresh(path), mode, ...content }, { op: 'chmod', path: fresh(path), mode });
      this.root.make(path, { kind: 'file' });
      return;
    }
    // Written in the staging root, which the sandbox never sees, then bound and removed.
    const temp = `/bindfile-${this.tempFiles++}`;
    const mode = m.perms ?? 0o600;
    this.steps.push({ op: 'createFile', path: temp, mode, ...content }, { op: 'chmod', path: temp, mode });
    const path = this.mountPoint(m.dest, `${field}.dest`, true, mode);
    this.steps.push({ op: 'mount', source: temp, target: fresh(path), fstype: null, flags: MS_BIND });
    this.steps.push({ op: 'mountSetattr', path: fresh(path), flags: 0, set: attrs(m).set, clear: 0, propagation: 0 });
    this.steps.push({ op: 'remove', path: temp });
    this.root.mount(path, 'file', []);
  }

  /**
   * --overlay-src... with --overlay (upper and work), --tmp-overlay (an upper in the staging
   * tmpfs, gone with the sandbox) or --ro-overlay (neither). `lower` is in bwrap's order, the
   * first at the bottom: the kernel's lowerdir lists the top first.
   */
  private overlay(m: Extract<MountOp, { type: 'overlay' }>, field: string): void {
    if (m.tmp && (m.upper || m.work || m.readOnly)) throw new SpecError(`${field}.tmp`, 'a tmp overlay takes no upper, work or readOnly');
    if ((m.upper === undefined) !== (m.work === undefined)) throw new SpecError(field, 'an overlay with an upper dir needs a work dir too, and the other way round');
    if (m.upper && m.readOnly) throw new SpecError(`${field}.readOnly`, 'a read-only overlay takes no upper dir');
    if (!m.upper && !m.tmp && m.lower.length < 2) throw new SpecError(`${field}.lower`, 'a read-only overlay needs at least two lower dirs');
    const lowers = m.lower.map((l, k) => this.source(l, `${field}.lower[${k}]`)!).reverse();
    let options = '';
    let upper: string | undefined;
    if (m.upper) {
      upper = this.source(m.upper, `${field}.upper`)!;
      options = `upperdir=${escapeOption(old(upper))},workdir=${escapeOption(old(this.source(m.work!, `${field}.work`)!))},`;
    } else if (m.tmp) {
      const k = this.overlays++;
      this.steps.push({ op: 'mkdir', path: `/tmp-overlay-upper-${k}`, mode: 0o755 }, { op: 'mkdir', path: `/tmp-overlay-work-${k}`, mode: 0o755 });
      options = `upperdir=/tmp-overlay-upper-${k},workdir=/tmp-overlay-work-${k},`;
    }
    // userxattr: overlayfs keeps its metadata in user.* xattrs, the only ones a user namespace may write.
    options += `lowerdir=${lowers.map((l) => escapeOption(old(l))).join(':')},userxattr`;
    const path = this.mountPoint(m.dest, `${field}.dest`);
    this.steps.push({ op: 'mount', source: 'overlay', target: fresh(path), fstype: 'overlay', flags: 0, data: options });
    this.root.mount(path, 'dir', upper ? [upper, ...lowers] : lowers);
  }

  /** OCI maskedPaths: a file covered by /dev/null, a directory by an empty read-only tmpfs; what is missing is skipped, as runc does. */
  mask(dest: string, field: string): void {
    const path = this.resolve(dest, true, field);
    const e = this.root.entry(path);
    if (!e) return;
    this.steps.push(e.kind === 'dir'
      ? { op: 'mount', source: 'tmpfs', target: fresh(path), fstype: 'tmpfs', flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, data: 'size=0' }
      : { op: 'mount', source: old('/dev/null'), target: fresh(path), fstype: null, flags: MS_BIND });
  }

  /** OCI readonlyPaths: bound onto themselves, read-only through and through. */
  readOnly(dest: string, field: string): void {
    const path = this.resolve(dest, true, field);
    if (!this.root.entry(path)) return;
    this.bind(fresh(path), path, { set: MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV, clear: 0 });
  }
}

/** The root's first steps: the staging tmpfs, /newroot ready, and the first pivot. */
function stagingSteps(root: Filesystem['root'], field: string): { steps: Step[]; model: NewRoot } {
  const steps: Step[] = [
    { op: 'mount', source: 'tmpfs', target: STAGE, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV },
    { op: 'chdir', path: STAGE },
    { op: 'mkdir', path: 'newroot', mode: 0o755 },
    { op: 'mkdir', path: 'oldroot', mode: 0o755 },
  ];
  // An empty root is newroot/ itself, bound so that it is a mount pivot_root can take.
  if (root === undefined || root === 'tmpfs') steps.push({ op: 'mount', source: 'newroot', target: 'newroot', fstype: null, flags: MS_BIND | MS_REC });
  // pivot_root(".", "oldroot"): the staging tmpfs leaves /tmp, so /oldroot/tmp is the host's again.
  steps.push({ op: 'pivotRoot', newRoot: '.', putOld: 'oldroot' }, { op: 'chdir', path: '/' });
  if (root === undefined || root === 'tmpfs') return { steps, model: new NewRoot([]) };
  let host = '/';
  if (root !== 'host') {
    try {
      host = realpathSync(root.path);
    } catch (err) {
      throw new SpecError(`${field}.path`, `Can't find root ${root.path}: ${reasonOf(err)}`);
    }
    if (!statSync(host).isDirectory()) throw new SpecError(`${field}.path`, `Can't use root ${root.path}: Not a directory`);
  }
  steps.push({ op: 'mount', source: old(host), target: NEW, fstype: null, flags: MS_BIND | MS_REC });
  return { steps, model: new NewRoot([host]) };
}

/**
 * The steps that build the root of `spec` in its new mount namespace (`fresh`: its new
 * namespaces), run after the namespace's propagation is set.
 *
 * A spec without a filesystem gets virt-sandbox's convenience default (hostReadOnly): a
 * program runs, and changes nothing of the host's. Within a filesystem, the default root is
 * 'tmpfs', bwrap's: an empty root filled only by `mounts`, as compile's default namespaces
 * are bwrap's --unshare-all. 'host' keeps the caller's tree (bound whole, submounts
 * included) and gives a new pid namespace its own /proc, as before.
 */
export function filesystemSteps(spec: SandboxSpec, fresh: readonly NamespaceKind[]): Step[] {
  const fs = spec.filesystem ?? hostReadOnly();
  const ownProc = fresh.includes('pid') || typeof spec.namespaces?.pid === 'object';
  const { steps, model } = stagingSteps(fs.root, 'filesystem.root');
  const b = new Builder(model, ownProc, fs.protectProc !== false);
  b.steps.push(...steps);
  if (fs.root === 'host' && fresh.includes('pid') && !fs.mounts?.some((m) => m.type === 'proc' && m.dest === '/proc')) b.op({ type: 'proc', dest: '/proc' }, 'filesystem.root');
  (fs.mounts ?? []).forEach((m, k) => b.op(m, `filesystem.mounts[${k}]`));
  (fs.maskedPaths ?? []).forEach((p, k) => b.mask(p, `filesystem.maskedPaths[${k}]`));
  (fs.readonlyPaths ?? []).forEach((p, k) => b.readOnly(p, `filesystem.readonlyPaths[${k}]`));
  // OCI's root.readonly: the root mount only; what is mounted on it keeps its own flags.
  if (typeof fs.root === 'object' && fs.root.readOnly) b.steps.push({ op: 'mountSetattr', path: NEW, flags: 0, set: MOUNT_ATTR.RDONLY, clear: 0, propagation: 0 });
  b.steps.push(
    // The namespace is private (spawn's first mount step), so detaching sends nothing to the host.
    { op: 'umount2', target: OLD, flags: MNT_DETACH },
    // pivot_root(".", ".") stacks the staging root on the new one; detaching it leaves no trace.
    { op: 'chdir', path: NEW },
    { op: 'pivotRoot', newRoot: '.', putOld: '.' },
    { op: 'umount2', target: '.', flags: MNT_DETACH },
    { op: 'chdir', path: '/' },
  );
  // OCI's rootfsPropagation, once in place: pivot_root(2) refuses a shared new root.
  if (fs.propagation) b.steps.push({ op: 'mountSetattr', path: '/', flags: AT_RECURSIVE, set: 0, clear: 0, propagation: PROPAGATION[fs.propagation] });
  // As bwrap: the caller's directory where the new root has it, else /.
  const cwd = process.cwd();
  try {
    if (model.entry(model.resolve(cwd, true))?.kind === 'dir') b.steps.push({ op: 'chdir', path: cwd });
  } catch { /* not in the new root */ }
  return b.steps;
}

/**
 * virt-sandbox's convenience: the host's / read-only (recursively, submounts too), a private
 * /tmp, a /proc and a minimal /dev of the sandbox's own, and only `writable` (and the
 * caller's directory with `cwdWritable`) writable.
 */
export function hostReadOnly(options: { writable?: string[]; cwdWritable?: boolean } = {}): Filesystem {
  const writable = [...(options.writable ?? []), ...(options.cwdWritable ? [process.cwd()] : [])];
  return {
    root: 'tmpfs',
    mounts: [
      { type: 'bind', source: '/', dest: '/', readOnly: true },
      { type: 'dev', dest: '/dev' },
      { type: 'proc', dest: '/proc' },
      { type: 'tmpfs', dest: '/tmp' },
      ...writable.map((p) => ({ type: 'bind' as const, source: p, dest: absolute(p) })),
    ],
  };
}
