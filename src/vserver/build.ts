// Root filesystems for vservers: a busybox one made here, or Debian's via debootstrap.
import { copyFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { reasonOf } from '../sys/errors.js';

/** A build that cannot go on, worded for the user. */
export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

function findBusybox(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox', '/sbin/busybox']) if (existsSync(p)) return p;
  throw new BuildError('busybox not found (install busybox-static)');
}

/**
 * mkdir -p, one part at a time, each failure a BuildError: Node's recursive mkdir loops
 * forever where mkdir fails with ENOENT under a parent that exists (/proc).
 */
function makeDirs(path: string): void {
  let at = '';
  for (const part of resolve(path).split('/').filter(Boolean)) {
    at += `/${part}`;
    try {
      mkdirSync(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(at).isDirectory()) continue;
      throw new BuildError(`cannot create directory ${at}: ${reasonOf(err)}`);
    }
  }
}

/**
 * ROOT/REL, refused when a part below ROOT is a symbolic link (the last one too, unless
 * `lastMayLink`): root inside a vserver can make its /etc a link to a host directory,
 * which the host would resolve against its own /, and a rebuild (--force) would write there.
 */
function inside(root: string, rel: string, lastMayLink = false): string {
  const parts = rel.split('/').filter(Boolean);
  let at = resolve(root);
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    let link: boolean;
    try {
      link = lstatSync(at).isSymbolicLink();
    } catch {
      break; // not there yet: what is below it is made here, not followed
    }
    if (link && !(lastMayLink && i === parts.length - 1)) throw new BuildError(`${at} is a symbolic link: refusing to build through it (remove it, or build into an empty directory)`);
  }
  return join(root, rel);
}

function checkEmpty(root: string, force: boolean): void {
  if (existsSync(root) && !statSync(root).isDirectory()) throw new BuildError(`${root} is not a directory`);
  if (existsSync(root) && readdirSync(root).length && !force) {
    throw new BuildError(`${root} exists and is not empty (use --force to build over it)`);
  }
}

// The device nodes a minimal system expects (major, minor), as in a container's /dev.
const DEVICES: [string, number, number, number][] = [
  ['null', 1, 3, 0o666], ['zero', 1, 5, 0o666], ['full', 1, 7, 0o666],
  ['random', 1, 8, 0o666], ['urandom', 1, 9, 0o666], ['tty', 5, 0, 0o666],
];

/**
 * A root filesystem of one static busybox: the usual directories, one symlink per applet
 * (from `busybox --list-full`, so no binary runs inside a half-made root), /etc/passwd,
 * /etc/group, /etc/hosts and the basic device nodes.
 */
export function buildBusybox(name: string, root: string, options: { force?: boolean; hostname?: string; say?: (line: string) => void } = {}): void {
  const say = options.say ?? (() => {});
  const busybox = findBusybox();
  checkEmpty(root, options.force ?? false);
  say(`making the root's directories in ${root}`);
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var/run', 'var/log', 'home']) {
    makeDirs(inside(root, d));
  }
  chmodSync(inside(root, 'tmp'), 0o1777);
  copyFileSync(busybox, inside(root, 'bin/busybox'));
  chmodSync(inside(root, 'bin/busybox'), 0o755);
  const r = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' });
  if (r.status !== 0) throw new BuildError(`${busybox} --list-full failed: ${(r.stderr || r.error?.message || '').trim()}`);
  const applets = r.stdout.split('\n').filter(Boolean);
  say(`copying ${busybox}, linking its ${applets.length} applets`);
  for (const applet of applets) {
    const link = inside(root, applet, true);
    if (applet === 'bin/busybox' || lstatSync(link, { throwIfNoEntry: false })) continue;
    makeDirs(inside(root, dirname(applet)));
    symlinkSync('/bin/busybox', link);
  }
  const files: Record<string, string> = {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
    'etc/hostname': `${options.hostname ?? name}\n`,
    'etc/hosts': `127.0.0.1\tlocalhost\n127.0.1.1\t${options.hostname ?? name}\n`,
    'etc/profile': 'export PS1="[\\u@\\h \\W]\\$ "\n',
  };
  say('writing /etc (passwd, group, hostname, hosts, profile) and the /dev nodes');
  for (const [f, text] of Object.entries(files)) writeFileSync(inside(root, f), text);
  for (const [dev, major, minor, mode] of DEVICES) {
    const path = inside(root, `dev/${dev}`, true);
    if (lstatSync(path, { throwIfNoEntry: false })) continue;
    const m = spawnSync('mknod', ['-m', mode.toString(8), path, 'c', String(major), String(minor)], { encoding: 'utf8' });
    if (m.status !== 0) throw new BuildError(`mknod ${path} failed: ${(m.stderr || m.error?.message || '').trim()}`);
  }
  say(`built a busybox root in ${root}`);
}

/** Debian SUITE through debootstrap(8), which must be installed. */
export function buildDebootstrap(root: string, suite: string, options: { force?: boolean; mirror?: string; say?: (line: string) => void } = {}): number {
  const say = options.say ?? (() => {});
  if (!/^[a-z0-9-]+$/.test(suite)) throw new BuildError(`invalid suite '${suite}'`);
  checkEmpty(root, options.force ?? false);
  makeDirs(root);
  // debootstrap's own lines follow this one: they say how far it is.
  say(`debootstrap ${suite} into ${root}`);
  const r = spawnSync('debootstrap', [suite, root, ...(options.mirror ? [options.mirror] : [])], { stdio: 'inherit' });
  if (r.error) throw new BuildError(`cannot run debootstrap: ${(r.error as NodeJS.ErrnoException).code} (install debootstrap)`);
  if (r.status === 0) say(`built Debian ${suite} in ${root}`);
  return r.status ?? 1;
}
