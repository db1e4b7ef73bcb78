// ts-nsenter: util-linux nsenter(1) on the tsns spawn API.
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { runProgram } from './run.js';
import { program, runTool, applyExplain, takeOptionalValues, ToolError } from './common.js';
import { NAMESPACES, type NamespaceKind } from '../sys/ns.js';
import type { JoinTarget, SpawnSpec } from '../spawn/spec.js';
import { parseId, setIdNumber, strtoul } from './ids.js';
import { processCaps } from '../sys/caps.js';
import { reasonOf } from '../sys/errors.js';
import { readExplained } from '../sys/explain-fs.js';

const OPTIONAL_VALUES: Record<string, string> = {
  ...Object.fromEntries(NAMESPACES.map((n) => [n.long, n.short])),
  root: 'r',
  wd: 'w',
  // -W takes its value from the next argument, --wdns only as --wdns=<dir> (util-linux 2.38)
  wdns: 'W',
};

interface Options {
  explain?: boolean;
  all?: boolean;
  target?: string;
  setuid?: bigint;
  setgid?: bigint;
  preserveCredentials?: boolean;
  root?: boolean;
  wd?: boolean;
  wdns?: boolean;
  followContext?: boolean;
  fork?: boolean;
  netSocket?: number;
  env?: boolean;
  joinCgroup?: boolean;
  keepCaps?: boolean;
  userParent?: boolean;
  [kind: string]: unknown;
}

const CAP_SYS_ADMIN = 21n;

/** A descriptor number as util-linux's str2num_or_err reads it: base 10, within 0..INT_MAX. */
function parseFd(s: string): number {
  const m = /^[\t\n\v\f\r ]*([+-]?\d+)$/.exec(s);
  if (!m) throw new ToolError(`failed to parse file descriptor: '${s}'`);
  const n = Number(m[1]);
  if (n < 0 || n > 0x7fffffff) throw new ToolError(`failed to parse file descriptor: '${s}': Numerical result out of range`);
  return n;
}

async function main(): Promise<number> {
  const cmd = program('ts-nsenter', 'Run a program with namespaces of other processes.')
    .usage('[options] [<program> [<argument>...]]')
    .argument('[program...]')
    .option('-a, --all', 'enter all namespaces')
    .option('-t, --target <pid>', 'target process to get namespaces from');
  for (const n of NAMESPACES) cmd.option(`-${n.short}, --${n.long}`, `enter ${n.kind} namespace (--${n.long}=<file> names it)`);
  cmd
    .option('-N, --net-socket <fd>', "enter socket's network namespace (needs --target)", parseFd)
    .option('--user-parent', 'enter parent user namespace')
    .option('-S, --setuid <uid>', 'set uid in entered namespace', (v) => strtoul(v, 'failed to parse uid'))
    .option('-G, --setgid <gid>', 'set gid in entered namespace', (v) => strtoul(v, 'failed to parse gid'))
    .option('--preserve-credentials', 'do not touch uids or gids')
    .option('--keep-caps', 'retain capabilities granted in user namespaces')
    .option('-r, --root', 'set the root directory (--root=<dir>)')
    .option('-w, --wd', 'set the working directory (--wd=<dir>)')
    .option('-W, --wdns', 'set the working directory in namespace (-W <dir>, --wdns=<dir>)')
    .option('-e, --env', 'inherit environment variables from target process')
    .option('-F, --no-fork', "do not fork before exec'ing <program>")
    .option('-c, --join-cgroup', 'join the cgroup of the target process (every hierarchy)')
    .option('-Z, --follow-context', 'set SELinux context according to --target PID');
  // -w and -W exclude each other, reported as getopt meets the second.
  const seen = new Set<string>();
  for (const name of ['wd', 'wdns']) {
    cmd.on(`option:${name}`, () => {
      seen.add(name);
      if (seen.size === 2) throw new ToolError('mutually exclusive arguments: --wdns --wd');
    });
  }
  // Options whose value is the next argument: takeOptionalValues must step over it.
  const takesValue = cmd.options.filter((opt) => opt.required).flatMap((opt) => [opt.short, opt.long]).filter((f): f is string => f !== undefined);
  const longs = [...cmd.options.flatMap((opt) => (opt.long ? [opt.long] : [])), '--help'];
  const { argv, values } = takeOptionalValues(process.argv.slice(2), OPTIONAL_VALUES, [...takesValue, '-W'], longs);
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);

  const target = o.target === undefined ? undefined : parseId(o.target, 'failed to parse pid');
  const targetPath = (name: string) => {
    if (target === undefined) throw new ToolError(`neither filename nor target pid supplied for ${name}`);
    return `/proc/${target}/${name}`;
  };
  const paths = new Map<NamespaceKind, string>();
  for (const n of NAMESPACES) {
    const file = values.get(n.long);
    if (file !== undefined) paths.set(n.kind, file);
    else if (o[n.long]) paths.set(n.kind, targetPath(`ns/${n.file}`));
  }
  if (o.all) {
    if (target === undefined) throw new ToolError('no target PID specified for --all');
    for (const n of NAMESPACES) {
      if (paths.has(n.kind)) continue;
      const mine = inode(`/proc/self/ns/${n.file}`);
      if (mine === undefined) continue; // a kind this kernel lacks
      // setns(2) refuses re-entering one's own user namespace.
      if (n.kind === 'user' && inode(`/proc/${target}/ns/user`, true) === mine) continue;
      paths.set(n.kind, `/proc/${target}/ns/${n.file}`);
    }
  }

  // --net-socket and --user-parent need the target itself, even beside a --kind=file.
  if ((o.netSocket !== undefined || o.userParent) && target === undefined) throw new ToolError('no target PID specified');
  // The socket's network namespace takes the place of any other asked for; the parent of
  // the user namespace asked for (else of the target's) that one's, as util-linux does.
  const entered = (kind: NamespaceKind) => paths.has(kind) || (kind === 'net' && o.netSocket !== undefined) || (kind === 'user' && Boolean(o.userParent));
  const targetOf = (kind: NamespaceKind): JoinTarget => {
    if (kind === 'net' && o.netSocket !== undefined) return { kind, socket: { pid: target!, fd: o.netSocket } };
    if (kind === 'user' && o.userParent) return { kind, path: paths.get('user') ?? `/proc/${target}/ns/user`, parent: true };
    return { kind, path: paths.get(kind)! };
  };

  // Privileged callers enter the user namespace last (it would take their privileges);
  // unprivileged ones first (they need its privileges for the rest).
  const privileged = (processCaps().effective & (1n << CAP_SYS_ADMIN)) !== 0n;
  const ordered = NAMESPACES.filter((n) => entered(n.kind));
  const user = ordered.filter((n) => n.kind === 'user');
  const rest = ordered.filter((n) => n.kind !== 'user');
  const join: JoinTarget[] = (privileged ? [...rest, ...user] : [...user, ...rest]).map((n) => targetOf(n.kind));

  // Without SELinux (no selinuxfs) util-linux accepts -Z and does nothing.
  if (o.followContext && existsSync('/sys/fs/selinux/enforce')) {
    if (target === undefined) throw new ToolError('no target PID specified for --follow-context');
    throw new ToolError('--follow-context: setting an SELinux exec context is not supported by ts-nsenter');
  }

  const spec: SpawnSpec = { join, forkAfterJoin: o.fork !== false };
  // util-linux opens --root=<dir> and --wd=<dir> as it meets them, joining or not.
  for (const name of ['root', 'wd']) {
    const dir = values.get(name);
    if (dir === undefined) continue;
    try {
      closeSync(openSync(dir, 'r'));
    } catch (err) {
      throw new ToolError(`cannot open ${dir}: ${reasonOf(err)}`);
    }
    // its fchdir(2) fails later, in these words
    if (!statSync(dir).isDirectory()) throw new ToolError(`change directory by ${name === 'root' ? 'root' : 'working directory'} file descriptor failed: Not a directory`);
  }
  if (o.root) spec.root = values.get('root') ?? targetPath('root');
  const wdns = values.get('wdns');
  if (o.wd) spec.cwd = values.get('wd') ?? targetPath('cwd');
  // Resolved by the stage once inside, as util-linux does: a path walked from out here
  // could be swapped for a link that leads out of the target's root before it is used.
  else if (wdns !== undefined) spec.cwdInside = wdns;
  // util-linux opens "." after entering: the caller's directory, or the root of a joined
  // mount namespace (setns(2) moves there), where we chdir to the new root's "/".
  else if (o.root && !paths.has('mount')) spec.cwd = process.cwd();
  let uid = o.setuid === undefined ? undefined : o.setuid;
  let gid = o.setgid === undefined ? undefined : o.setgid;
  if (entered('user') && !o.preserveCredentials) {
    uid ??= 0n;
    gid ??= 0n;
  }
  // Checked as util-linux meets them at the end: setgid(2), then setuid(2).
  spec.gid = gid === undefined ? undefined : setIdNumber(gid, 'setgid');
  spec.uid = uid === undefined ? undefined : setIdNumber(uid, 'setuid');
  if (spec.gid !== undefined) {
    spec.groups = [];
    const userPath = paths.get('user');
    if (userPath !== undefined && !o.userParent) keptGroupsCheck(userPath, spec.gid);
  }
  spec.keepCaps = Boolean(o.keepCaps);
  // Read now, as util-linux opens them before entering: the target's view, from ours.
  // It opens the namespaces first: a target that is gone is reported by them.
  if (o.env || o.joinCgroup) {
    const missing = join.find((j) => 'path' in j && !existsSync(j.path));
    if (missing && 'path' in missing) throw new ToolError(`cannot open ${missing.path}: No such file or directory`);
  }
  if (o.env) spec.env = environOf(targetPath('environ'));
  if (o.joinCgroup) spec.cgroups = await groupsOf(targetPath('cgroup'));

  const { StepError } = await import('../native/stage.js');
  const { spawnFailure } = await import('./messages.js');
  return runProgram(spec, cmd.args, {
    failure: (err) => {
      if (!(err instanceof StepError && err.step.op === 'chdir' && err.step.path === wdns && wdns !== undefined)) return spawnFailure(err);
      // util-linux open(2)s it, which a file passes, and fails at fchdir(2) in other words.
      if (err.code === 'ENOTDIR' && !wdns.endsWith('/')) return new ToolError(`change directory by working directory file descriptor failed: ${err.reason}`);
      return new ToolError(`cannot open current working directory: ${err.reason}`);
    },
  });
}

/**
 * A joined user namespace may deny setgroups(2) (every `unshare -r` one): then the stage
 * leaves the supplementary groups as they are. util-linux drops them before entering
 * (setgroups(0, NULL) as the caller) and ignores the failure inside; that is only the same
 * if there is nothing to drop, so refuse where groups other than the new gid would stay.
 */
function keptGroupsCheck(userPath: string, gid: number): void {
  const pid = /^\/proc\/(\d+)\/ns\/user$/.exec(userPath)?.[1];
  if (pid === undefined) return;
  let setgroups: string, gidMap: string;
  try {
    setgroups = readFileSync(`/proc/${pid}/setgroups`, 'utf8');
    gidMap = readFileSync(`/proc/${pid}/gid_map`, 'utf8');
  } catch {
    return; // the target is gone: opening its namespace will say so
  }
  if (!setgroups.startsWith('deny')) return;
  const outer = gidMap.split('\n').map((l) => l.trim().split(/\s+/).map(Number)).find(([inside, , count]) => gid >= inside && gid < inside + count);
  const outerGid = outer ? outer[1] + gid - outer[0] : undefined;
  // The supplementary groups as the kernel has them (Node's getgroups adds the egid).
  const groups = /^Groups:(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1].trim().split(/\s+/).filter(Boolean).map(Number) ?? [];
  const kept = groups.filter((g) => g !== outerGid);
  if (kept.length) {
    throw new ToolError(`setgroups failed: Operation not permitted (/proc/${pid}/setgroups is "deny", so the supplementary groups ${kept.join(',')} would stay; clear them first, or use --preserve-credentials)`);
  }
}

/** The file a process's /proc entry names, or util-linux's "cannot open" line. */
function readTarget(path: string, shown?: (text: string) => string): string {
  try {
    return readExplained(path, shown);
  } catch (err) {
    throw new ToolError(`cannot open ${path}: ${reasonOf(err)}`);
  }
}

/**
 * /proc/PID/environ as an environment: NAME=value strings each ended by a NUL; a later NAME
 * wins. --explain counts them, as it does execve's: values are often secrets.
 */
function environOf(path: string): Record<string, string> {
  const entries = readTarget(path, (text) => `/* ${text.split('\0').filter(Boolean).length} vars */`).split('\0').filter((e) => e.indexOf('=') > 0);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/**
 * The target's group in every hierarchy mounted here (util-linux joins only a cgroup v2
 * one, and refuses other hosts): each one's directory, from /proc/PID/cgroup.
 */
async function groupsOf(path: string): Promise<string[]> {
  const { groupDirs } = await import('../cgroup/layout.js');
  const dirs = groupDirs(readTarget(path), readFileSync('/proc/self/mounts', 'utf8'));
  if (!dirs.length) throw new ToolError('failed to get cgroup path');
  return dirs;
}

function inode(path: string, required = false): number | undefined {
  try {
    return statSync(path).ino;
  } catch (err) {
    if (!required) return undefined;
    throw new ToolError(`stat of ${path} failed: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (err as Error).message}`);
  }
}

void runTool('ts-nsenter', main);
