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
  // glibc skips a line whose id field is not a plain decimal number: an empty field must
  // not become 0 (root), nor "0x10" 16.
  const id = (field: string | undefined) => (field !== undefined && /^\d{1,10}$/.test(field) && Number(field) <= 0xfffffffe ? Number(field) : NaN);
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l): Entry => {
    const f = l.split(':');
    return file.endsWith('passwd')
      ? { name: f[0], id: id(f[2]), gid: id(f[3]) }
      : { name: f[0], id: id(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) };
  }).filter((e) => !Number.isNaN(e.id) && !Number.isNaN(e.gid ?? 0));
}

/** The highest uid or gid: (uid_t)-1 means "no change" to setresuid(2) and is never an id. */
export const MAX_ID = 0xfffffffe;
const ULONG_MAX = 2n ** 64n - 1n;

/**
 * A number read as util-linux's strtoul_or_err reads it (strtoul(3), base 10): leading
 * blanks, an optional sign, digits and nothing else; a negative number wraps around, so
 * "-1" is 2^64-1. Otherwise "<what>: '<s>'", with strerror(ERANGE) beyond 64 bits.
 */
export function strtoul(s: string, what: string): bigint {
  const m = /^[\t\n\v\f\r ]*([+-]?)(\d+)$/.exec(s);
  if (!m) throw new ToolError(`${what}: '${s}'`);
  const n = BigInt(m[2]);
  if (n > ULONG_MAX) throw new ToolError(`${what}: '${s}': Numerical result out of range`);
  return m[1] === '-' ? (ULONG_MAX + 1n - n) & ULONG_MAX : n;
}

/** strtoul_or_err for a number that must fit 32 bits (a pid): "<what>: '<s>'" otherwise. */
export function parseId(s: string, what: string): number {
  if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) throw new ToolError(`${what}: '${s}'`);
  return Number(s);
}

/**
 * A uid or gid number as util-linux reads it (strtoul_or_err), refused where it is not an
 * id: util-linux truncates it to 32 bits, so 4294967296 became root, and (uid_t)-1 is
 * "unchanged" to setresuid(2). Refused in util-linux's words for a bad number.
 */
export function parseIdNumber(s: string, what: string): number {
  const n = strtoul(s, what);
  if (n > BigInt(MAX_ID)) throw new ToolError(`${what}: '${s}': Numerical result out of range`);
  return Number(n);
}

/** A uid from a user name (looked up first) or a number. */
export function lookupUser(s: string, what: string, root = ''): number {
  const e = entries(`${root}/etc/passwd`).find((u) => u.name === s);
  return e ? e.id : parseIdNumber(s, what);
}

export function lookupGroup(s: string, what: string, root = ''): number {
  const e = entries(`${root}/etc/group`).find((g) => g.name === s);
  return e ? e.id : parseIdNumber(s, what);
}

/**
 * coreutils' reading of a user or group number (xstrtoul, base 10): leading blanks, an
 * optional "+", digits; no "-". Anything past MAX_ID is no id (coreutils refuses
 * (uid_t)-1 and what does not fit uid_t). undefined where it is not such a number.
 */
export function coreutilsId(s: string): number | undefined {
  const m = /^[\t\n\v\f\r ]*\+?(\d+)$/.exec(s);
  if (!m) return undefined;
  const n = BigInt(m[1]);
  return n > BigInt(MAX_ID) ? undefined : Number(n);
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

/**
 * The number of -S/-G (read with strtoul) as an id. (uid_t)-1, which setuid(2) and
 * setgid(2) refuse, fails as util-linux reports it; so do the numbers util-linux
 * truncates to 32 bits (it ran -S 4294967296 as root).
 */
export function setIdNumber(n: bigint, call: 'setuid' | 'setgid'): number {
  if (n > BigInt(MAX_ID)) throw new ToolError(`${call} failed: Invalid argument`);
  return Number(n);
}

/** The group entry for a gid or name, if any. */
export function groupEntry(who: string | number, root = ''): { name: string; gid: number } | undefined {
  const e = entries(`${root}/etc/group`).find((g) => (typeof who === 'number' ? g.id === who : g.name === who));
  return e && { name: e.name, gid: e.id };
}
