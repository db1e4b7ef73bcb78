// ts-chroot: coreutils chroot(1) on the tsns spawn API.
import { program, runTool, applyExplain, ToolError } from './common.js';
import { runProgram } from './run.js';
import type { SpawnSpec } from '../spawn/spec.js';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { coreutilsId, groupEntry, passwdEntry, supplementaryGroups } from './ids.js';

// coreutils' statuses: 125 for chroot's own failures, 126/127 for the command's.
const EXIT_CANCELED = 125;

interface Options { explain?: boolean; userspec?: string; groups?: string; skipChdir?: boolean }

/** gnulib's quote() as coreutils prints a name in a message: curly quotes in a UTF-8 locale. */
function quote(s: string): string {
  const locale = process.env.LC_ALL || process.env.LC_CTYPE || process.env.LANG || '';
  return /utf-?8/i.test(locale) ? `\u2018${s}\u2019` : `'${s}'`;
}

/** gnulib's quoteaf(): a file name quoted for the shell. */
function quoteaf(s: string): string {
  if (!s.includes("'")) return `'${s}'`;
  return /["$`\\!]/.test(s) ? `'${s.replace(/'/g, "'\\''")}'` : `"${s}"`;
}

/**
 * Users and groups as glibc finds them in `root` (coreutils looks up once outside the new
 * root and again inside): its files, then root and nobody as nss-systemd makes them up
 * where the host's nsswitch.conf lists systemd.
 */
class Nss {
  private static synthesized = /^(passwd|group):.*\bsystemd\b/m.test((() => {
    try { return readFileSync('/etc/nsswitch.conf', 'utf8'); } catch { return ''; }
  })());

  constructor(private readonly root: string) {}

  user(who: string | number): { name: string; uid: number; gid: number } | undefined {
    return passwdEntry(who, this.root) ?? (Nss.synthesized
      ? [{ name: 'root', uid: 0, gid: 0 }, { name: 'nobody', uid: 65534, gid: 65534 }].find((u) => (typeof who === 'number' ? u.uid === who : u.name === who))
      : undefined);
  }

  group(name: string): number | undefined {
    return groupEntry(name, this.root)?.gid ?? (Nss.synthesized ? { root: 0, nogroup: 65534 }[name] : undefined);
  }

  /** getgrouplist(3): the group itself, then every group that lists the user. */
  groupList(user: string, gid: number): number[] {
    return [gid, ...supplementaryGroups(user, this.root)].filter((g, i, all) => all.indexOf(g) === i);
  }
}

/** gnulib's parse_with_separator(): USER[SEP GROUP], each by name ("+" skips that) or number. */
function parseWithSeparator(spec: string, sep: number, nss: Nss, ids: { uid?: number; gid?: number }): { uid?: number; gid?: number; error?: string } {
  const u = sep < 0 ? spec || undefined : spec.slice(0, sep) || undefined;
  const g = sep < 0 || sep === spec.length - 1 ? undefined : spec.slice(sep + 1);
  let { uid, gid } = ids;
  if (u !== undefined) {
    const pw = u.startsWith('+') ? undefined : nss.user(u);
    if (pw) {
      uid = pw.uid;
      if (g === undefined && sep >= 0) gid = pw.gid;
    } else if (sep >= 0 && g === undefined) {
      return { ...ids, error: 'invalid spec' };
    } else {
      uid = coreutilsId(u);
      if (uid === undefined) return { ...ids, error: 'invalid user' };
    }
  }
  if (g !== undefined) {
    gid = (g.startsWith('+') ? undefined : nss.group(g)) ?? coreutilsId(g);
    if (gid === undefined) return { ...ids, error: 'invalid group' };
  }
  return { uid, gid };
}

/** gnulib's parse_user_spec_warn(): USER:GROUP, or USER.GROUP with a warning. */
function parseUserSpec(spec: string, nss: Nss, ids: { uid?: number; gid?: number }): { uid?: number; gid?: number; error?: string; warn?: boolean } {
  const colon = spec.indexOf(':');
  const r = parseWithSeparator(spec, colon, nss, ids);
  if (colon < 0 && r.error && spec.includes('.')) {
    const dot = parseWithSeparator(spec, spec.indexOf('.'), nss, ids);
    if (!dot.error) return { ...dot, error: "warning: '.' should be ':'", warn: true };
  }
  return r;
}

/** coreutils' parse_additional_groups(): g1,g2,... by name or number; undefined on a failure. */
function parseGroups(list: string, nss: Nss, errors?: string[]): number[] | undefined {
  const gids: number[] = [];
  let failed = false;
  for (const token of list.split(',').filter(Boolean)) {
    let gid: number | undefined;
    const numeric = /^[\t\n\v\f\r ]*\+?(\d+)$/.exec(token);
    if (numeric && BigInt(numeric[1]) <= 0xffffffffn) {
      // A group named like the number wins, unless it has a "+".
      const bare = token.replace(/^[\t\n\v\f\r ]+/, '');
      gid = (bare.startsWith('+') ? undefined : nss.group(bare)) ?? Number(numeric[1]);
    } else {
      gid = nss.group(token);
    }
    if (gid === undefined) {
      failed = true;
      if (!errors) break;
      errors.push(`invalid group ${quote(token)}`);
      continue;
    }
    gids.push(gid);
  }
  if (!failed && !gids.length) {
    failed = true;
    errors?.push(`invalid group list ${quote(list)}`);
  }
  return failed ? undefined : gids;
}

/** NEWROOT is the old root: coreutils compares its canonical name with "/". */
function isOldRoot(root: string): boolean {
  try {
    return realpathSync(root) === '/';
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The ids chroot sets, as coreutils finds them: looked up once outside NEWROOT (unless it
 * is the old root) and again inside, where the inside answers win and a failure inside
 * falls back to the outside's. The warning for "USER.GROUP" is printed here.
 */
function credentials(root: string, userspec: string | undefined, groups: string | undefined): Pick<SpawnSpec, 'uid' | 'gid' | 'groups'> {
  let ids: { uid?: number; gid?: number } = {};
  let user: string | undefined;
  let outside: number[] = [];
  if (!isOldRoot(root)) {
    const host = new Nss('');
    if (userspec) {
      const r = parseUserSpec(userspec, host, ids);
      if (!r.error || r.warn) ids = { uid: r.uid, gid: r.gid };
    }
    if (ids.uid !== undefined && (groups === undefined || ids.gid === undefined)) {
      const pw = host.user(ids.uid);
      if (pw) {
        ids.gid ??= pw.gid;
        user = pw.name;
      }
    }
    if (groups) outside = parseGroups(groups, host) ?? [];
    else if (groups === undefined && ids.gid !== undefined && user) outside = host.groupList(user, ids.gid);
  }

  const inside = new Nss(root);
  if (userspec) {
    const r = parseUserSpec(userspec, inside, ids);
    if (r.warn) process.stderr.write(`ts-chroot: ${r.error}\n`);
    else if (r.error) throw new ToolError(r.error, EXIT_CANCELED);
    ids = { uid: r.uid, gid: r.gid };
  }
  if (ids.uid !== undefined && (groups === undefined || ids.gid === undefined)) {
    const pw = inside.user(ids.uid);
    if (pw) {
      ids.gid ??= pw.gid;
      user = pw.name;
    } else if (ids.gid === undefined) {
      throw new ToolError(`no group specified for unknown uid: ${ids.uid | 0}`, EXIT_CANCELED);
    }
  }
  let gids = outside;
  if (groups) {
    const errors: string[] = [];
    const parsed = parseGroups(groups, inside, outside.length ? undefined : errors);
    if (parsed) gids = parsed;
    else if (!outside.length) throw new ToolError(errors.join('\nts-chroot: '), EXIT_CANCELED);
  } else if (groups === undefined && ids.gid !== undefined && user) {
    gids = inside.groupList(user, ids.gid);
  }
  // (gid_t)-1 is a number coreutils takes in a list; setgroups(2) refuses it.
  if (gids.includes(0xffffffff) && (ids.uid !== undefined || groups !== undefined)) throw new ToolError('failed to set supplemental groups: Invalid argument', EXIT_CANCELED);
  return { uid: ids.uid, gid: ids.gid, groups: ids.uid !== undefined || groups !== undefined ? gids : undefined };
}

async function main(): Promise<number> {
  const cmd = program('ts-chroot', 'Run COMMAND with root directory set to NEWROOT.', { coreutils: true })
    .usage('[OPTION]... NEWROOT [COMMAND [ARG]...]')
    .argument('[newroot]')
    .argument('[command...]')
    .option('--userspec <user:group>', 'specify user and group (ID or name) to use')
    .option('--groups <g_list>', 'specify supplementary groups as g1,g2,..,gN')
    .option('--skip-chdir', "do not change working directory to '/'");
  cmd.parse(process.argv.slice(2), { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);
  const [root, ...argv] = cmd.args;
  if (root === undefined) throw new ToolError("missing operand\nTry 'ts-chroot --help' for more information.", EXIT_CANCELED);
  if (o.skipChdir && !isOldRoot(root)) throw new ToolError(`option --skip-chdir only permitted if NEWROOT is old ${quoteaf('/')}\nTry 'ts-chroot --help' for more information.`, EXIT_CANCELED);

  const spec: SpawnSpec = { root, cwd: o.skipChdir ? process.cwd() : '/' };
  // coreutils reads "USER:" as "USER" (the user's login group is the default anyway).
  const userspec = o.userspec?.replace(/:$/, '');
  // chroot(2) fails before any id is looked up inside: leave that failure to the stage.
  if (isDirectory(root)) Object.assign(spec, credentials(root, userspec, o.groups));

  const program_ = argv.length ? argv : [process.env.SHELL || '/bin/sh', '-i'];
  const { StepError } = await import('../native/stage.js');
  return runProgram(spec, program_, { failure: (err) => {
    if (!(err instanceof StepError)) return err;
    const s = err.step;
    if (s.op === 'exec') return new ToolError(`failed to run command ${quote(s.file)}: ${err.reason}`, err.code === 'ENOENT' ? 127 : 126);
    if (s.op === 'chroot') return new ToolError(`cannot change root directory to ${quoteaf(root)}: ${err.reason}`, EXIT_CANCELED);
    if (s.op === 'chdir') return new ToolError(`cannot chdir to root directory: ${err.reason}`, EXIT_CANCELED);
    const what = { setuid: 'user-ID', setgid: 'group-ID', setgroups: 'supplemental groups' }[s.op as string] ?? s.op;
    return new ToolError(`failed to set ${what}: ${err.reason}`, EXIT_CANCELED);
  } });
}

void runTool('ts-chroot', main);
