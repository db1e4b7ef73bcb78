// ts-nsenter: util-linux nsenter(1) on the tsns spawn API.
import { statSync } from 'node:fs';
import { runProgram } from './run.js';
import { program, runTool, applyExplain, takeOptionalValues, ToolError } from './common.js';
import { NAMESPACES, type NamespaceKind } from '../sys/ns.js';
import type { JoinTarget, SpawnSpec } from '../spawn/spec.js';
import { parseId } from './ids.js';
import { processCaps } from '../sys/caps.js';

const OPTIONAL_VALUES: Record<string, string> = {
  ...Object.fromEntries(NAMESPACES.map((n) => [n.long, n.short])),
  root: 'r',
  wd: 'w',
};

interface Options {
  explain?: boolean;
  all?: boolean;
  target?: string;
  setuid?: string;
  setgid?: string;
  preserveCredentials?: boolean;
  root?: boolean;
  wd?: boolean;
  fork?: boolean;
  [kind: string]: unknown;
}

const CAP_SYS_ADMIN = 21n;

async function main(): Promise<number> {
  const { argv, values } = takeOptionalValues(process.argv.slice(2), OPTIONAL_VALUES);
  const cmd = program('ts-nsenter', 'Run a program with namespaces of other processes.')
    .usage('[options] [<program> [<argument>...]]')
    .argument('[program...]')
    .option('-a, --all', 'enter all namespaces')
    .option('-t, --target <pid>', 'target process to get namespaces from');
  for (const n of NAMESPACES) cmd.option(`-${n.short}, --${n.long}`, `enter ${n.kind} namespace (--${n.long}=<file> names it)`);
  cmd
    .option('-S, --setuid <uid>', 'set uid in entered namespace')
    .option('-G, --setgid <gid>', 'set gid in entered namespace')
    .option('--preserve-credentials', 'do not touch uids or gids')
    .option('-r, --root', 'set the root directory (--root=<dir>)')
    .option('-w, --wd', 'set the working directory (--wd=<dir>)')
    .option('-F, --no-fork', "do not fork before exec'ing <program>");
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

  // Privileged callers enter the user namespace last (it would take their privileges);
  // unprivileged ones first (they need its privileges for the rest).
  const privileged = (processCaps().effective & (1n << CAP_SYS_ADMIN)) !== 0n;
  const ordered = NAMESPACES.filter((n) => paths.has(n.kind));
  const user = ordered.filter((n) => n.kind === 'user');
  const rest = ordered.filter((n) => n.kind !== 'user');
  const join: JoinTarget[] = (privileged ? [...rest, ...user] : [...user, ...rest]).map((n) => ({ kind: n.kind, path: paths.get(n.kind)! }));

  const spec: SpawnSpec = { join, forkAfterJoin: o.fork !== false };
  if (o.root) spec.root = values.get('root') ?? targetPath('root');
  if (o.wd) spec.cwd = values.get('wd') ?? targetPath('cwd');
  else if (o.root) spec.cwd = process.cwd(); // nsenter keeps the working directory across -r
  let uid = o.setuid === undefined ? undefined : parseId(o.setuid, 'failed to parse uid');
  let gid = o.setgid === undefined ? undefined : parseId(o.setgid, 'failed to parse gid');
  if (paths.has('user') && !o.preserveCredentials) {
    uid ??= 0;
    gid ??= 0;
  }
  spec.uid = uid;
  spec.gid = gid;
  if (gid !== undefined) spec.groups = [];

  return runProgram(spec, cmd.args);
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
