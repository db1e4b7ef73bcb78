// ts-chroot: coreutils chroot(1) on the tsns spawn API.
import { program, runTool, applyExplain, ToolError } from './common.js';
import { runProgram } from './run.js';
import type { SpawnSpec } from '../spawn/spec.js';
import { lookupGroup, passwdEntry, parseId, supplementaryGroups } from './ids.js';

// coreutils' statuses: 125 for chroot's own failures, 126/127 for the command's.
const EXIT_CANCELED = 125;

interface Options { explain?: boolean; userspec?: string; groups?: string; skipChdir?: boolean }

/** USER[:GROUP] by name or number, looked up in the new root first, then here. */
function resolveUserspec(spec: string, root: string): { uid?: number; gid?: number; user?: string } {
  const [user, group] = spec.split(':');
  const out: { uid?: number; gid?: number; user?: string } = {};
  if (user) {
    const pw = passwdEntry(user, root) ?? passwdEntry(user);
    if (pw) Object.assign(out, { uid: pw.uid, gid: pw.gid, user: pw.name });
    else if (/^\d+$/.test(user)) out.uid = Number(user);
    else throw new ToolError(`invalid user '${user}'`, EXIT_CANCELED);
  }
  if (group) out.gid = groupId(group, root);
  return out;
}

function groupId(name: string, root: string): number {
  try {
    return lookupGroup(name, 'invalid group', root);
  } catch {
    try {
      return lookupGroup(name, 'invalid group');
    } catch {
      throw new ToolError(`invalid group '${name}'`, EXIT_CANCELED);
    }
  }
}

async function main(): Promise<number> {
  const cmd = program('ts-chroot', 'Run COMMAND with root directory set to NEWROOT.')
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
  if (!root) throw new ToolError("missing operand\nTry 'ts-chroot --help' for more information.", EXIT_CANCELED);
  if (o.skipChdir && root !== '/') throw new ToolError("option --skip-chdir only permitted if NEWROOT is old '/'", EXIT_CANCELED);

  const spec: SpawnSpec = { root, cwd: o.skipChdir ? process.cwd() : '/' };
  if (o.userspec) {
    const { uid, gid, user } = resolveUserspec(o.userspec, root);
    spec.uid = uid;
    spec.gid = gid;
    // Like coreutils: a named user gets its supplementary groups unless --groups says otherwise.
    if (user && !o.groups) spec.groups = [gid!, ...supplementaryGroups(user, root)].filter((g, i, a) => a.indexOf(g) === i);
  }
  if (o.groups) spec.groups = o.groups.split(',').filter(Boolean).map((g) => /^\d+$/.test(g) ? parseId(g, 'invalid group') : groupId(g, root));
  if (spec.groups && spec.gid === undefined) spec.gid = process.getegid!();

  const program_ = argv.length ? argv : [process.env.SHELL || '/bin/sh', '-i'];
  const { StepError } = await import('../native/stage.js');
  return runProgram(spec, program_, { failure: (err) => {
    if (!(err instanceof StepError)) return err;
    const s = err.step;
    if (s.op === 'exec') return new ToolError(`failed to run command '${s.file}': ${err.reason}`, err.code === 'ENOENT' ? 127 : 126);
    if (s.op === 'chroot') return new ToolError(`cannot change root directory to '${root}': ${err.reason}`, EXIT_CANCELED);
    if (s.op === 'chdir') return new ToolError(`cannot chdir to root directory: ${err.reason}`, EXIT_CANCELED);
    const what = { setuid: 'user-ID', setgid: 'group-ID', setgroups: 'supplemental groups' }[s.op as string] ?? s.op;
    return new ToolError(`failed to set ${what}: ${err.reason}`, EXIT_CANCELED);
  } });
}

void runTool('ts-chroot', main);
