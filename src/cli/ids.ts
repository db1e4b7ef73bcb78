// Users and groups by name or number, from /etc/passwd and /etc/group (a given root's, for chroot).
import { readFileSync } from 'node:fs';
import { ToolError } from './common.js';

interface Entry { name: string; id: number; gid?: number; members?: string[] }

function entries(file: string): Entry[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const f = l.split(':');
    return file.endsWith('passwd')
      ? { name: f[0], id: Number(f[2]), gid: Number(f[3]) }
      : { name: f[0], id: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) };
  });
}

/** strtoul_or_err: a whole non-negative number, or "<what>: '<s>'". */
export function parseId(s: string, what: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) throw new ToolError(`${what}: '${s}'`);
  return Number(s);
}

/** A uid from a user name (looked up first) or a number. */
export function lookupUser(s: string, what: string, root = ''): number {
  const e = entries(`${root}/etc/passwd`).find((u) => u.name === s);
  return e ? e.id : parseId(s, what);
}

export function lookupGroup(s: string, what: string, root = ''): number {
  const e = entries(`${root}/etc/group`).find((g) => g.name === s);
  return e ? e.id : parseId(s, what);
}

/** The passwd entry for a uid or name, if any. */
export function passwdEntry(who: string | number, root = ''): { name: string; uid: number; gid: number } | undefined {
  const e = entries(`${root}/etc/passwd`).find((u) => (typeof who === 'number' ? u.id === who : u.name === who));
  return e && { name: e.name, uid: e.id, gid: e.gid! };
}

/** The groups that list `user` as a member. */
export function supplementaryGroups(user: string, root = ''): number[] {
  return entries(`${root}/etc/group`).filter((g) => g.members!.includes(user)).map((g) => g.id);
}
