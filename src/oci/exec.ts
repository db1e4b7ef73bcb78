// ts-oci exec: another process in a running container. The stage joins the container's
// namespaces (those it does not share with us) and its cgroup, forks into its pid
// namespace (detached with --detach, as conmon asks, so that the process is the caller's
// child), applies the process as create does, and execs.
import { constants as fs, readlinkSync, unlinkSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { FORK, type Step } from '../native/plan.js';
import { parseConfig, readJson, type OciProcess } from './config.js';
import { processParts } from './mapping.js';
import { readConfig, writePidFile } from './create.js';
import { consoleSteps, runcOrder } from './order.js';
import { containerDir, readState, StateError, statusOf } from './state.js';
import type { SandboxSpec } from '../sandbox/spec.js';

export interface ExecOptions {
  root: string;
  id: string;
  /** A process.json (the runtime-spec's process object). */
  process?: string;
  args: string[];
  detach?: boolean;
  pidFile?: string;
  cwd?: string;
  env?: string[];
  /** uid[:gid] */
  user?: string;
  cap?: string[];
  noNewPrivs?: boolean;
  tty?: boolean;
  consoleSocket?: string;
}

/** /proc/PID/ns names by the Sandbox's kinds, user first: joined in this order. */
const NS_FILES: [NonNullable<keyof NonNullable<SandboxSpec['namespaces']>>, string][] = [
  ['user', 'user'], ['mount', 'mnt'], ['pid', 'pid'], ['net', 'net'], ['uts', 'uts'], ['ipc', 'ipc'], ['cgroup', 'cgroup'], ['time', 'time'],
];

function processOf(o: ExecOptions, base: OciProcess | undefined): OciProcess {
  if (o.process !== undefined) {
    const data = readJson(o.process, '--process');
    // The process object alone, checked by the same schema as config.json's.
    return parseConfig({ ociVersion: '', process: data }, `--process ${o.process}`).process!;
  }
  if (!o.args.length) throw new StateError('exec: a process (--process FILE) or arguments are needed');
  const p: OciProcess = { ...(base ?? { cwd: '/' }), args: o.args, terminal: o.tty };
  if (o.cwd) p.cwd = o.cwd;
  if (o.env?.length) p.env = [...(p.env ?? []), ...o.env];
  if (o.user !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(o.user);
    if (!m) throw new StateError(`exec: --user ${o.user}: expected UID[:GID]`);
    p.user = { ...p.user, uid: Number(m[1]), gid: m[2] === undefined ? p.user?.gid : Number(m[2]) };
  }
  if (o.cap?.length) {
    const c = p.capabilities ?? {};
    const add = (l: string[] | undefined) => [...new Set([...(l ?? []), ...o.cap!])];
    p.capabilities = { ...c, bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted) };
  }
  if (o.noNewPrivs) p.noNewPrivileges = true;
  // The options' values (--user's ids) checked as config.json's are: one line naming the field.
  return parseConfig({ ociVersion: '', process: p }, 'exec').process!;
}

export async function execInContainer(o: ExecOptions): Promise<number> {
  const record = readState(o.root, o.id);
  const status = statusOf(o.root, record);
  if (status !== 'running' && status !== 'created') throw new StateError(`cannot exec in a ${status} container`);
  // The process joins the container's groups: the wait that join needs runs beside the planning.
  if (record.cgroupDirs?.length) {
    const { detectLayout, startJoinGracePeriod } = await import('../cgroup/index.js');
    startJoinGracePeriod(detectLayout());
  }
  const config = readConfig(record.bundle);
  const proc = processOf(o, config.process);
  const parts = processParts(proc, config.linux?.seccomp);

  // The container's namespaces that are not ours, joined by its pid's files (opened first).
  const namespaces: NonNullable<SandboxSpec['namespaces']> = {};
  for (const [kind, file] of NS_FILES) {
    let theirs: string, ours: string;
    try {
      theirs = readlinkSync(`/proc/${record.pid}/ns/${file}`);
      ours = readlinkSync(`/proc/self/ns/${file}`);
    } catch {
      continue; // a kind this kernel lacks
    }
    namespaces[kind] = theirs === ours ? 'host' : { path: `/proc/${record.pid}/ns/${file}` };
  }
  const { parseSpec } = await import('../sandbox/spec.js');
  const { compile } = await import('../sandbox/compile.js');
  const compiled = compile(parseSpec({ namespaces, limits: parts.limits, security: parts.security, process: parts.process }));
  const spawn = compiled.spawn;
  spawn.cgroups = record.cgroupDirs;
  spawn.rootSteps = parts.preSteps;

  const { hasStage, servePlan } = await import('../cli/stage.js');
  if (!hasStage()) throw new StateError('ts-oci must run as bin/ts-oci (the native stage)');
  // A fifo of this exec's own: written at the READY of its wait, which then passes at once.
  const fifo = join(containerDir(o.root, o.id), `exec-${process.pid}.fifo`);
  const opens: Step[] = [{ op: 'mknod', path: fifo, mode: 0o010600, dev: 0 }, { op: 'open', path: fifo, flags: fs.O_RDWR, slot: 1 }];
  const console = consoleSteps(parts.terminal, o.consoleSocket, proc.consoleSize, opens);
  runcOrder(spawn, 1, console);
  const { childFds, childPlan, openInPlan } = await import('../spawn/steps.js');
  const plan = childPlan(spawn, compiled.argv, childFds(spawn, [], openInPlan(opens)),
    o.detach ? { detach: true } : { joinForkMode: FORK.forward | FORK.reportPid });
  const steps = [...opens, ...plan.steps];
  const waitAt = steps.findIndex((s) => s.op === 'fifoWait');
  const { reportError, ToolError } = await import('../cli/common.js');
  const { spawnFailure } = await import('../cli/messages.js');
  const { stagePid } = await import('../cli/stage.js');
  let pid = stagePid()!;
  const gone = () => {
    try {
      unlinkSync(fifo);
    } catch { /* not made, or gone */ }
  };
  try {
    return await servePlan(steps, { failure: (err) => (err instanceof StateError ? new ToolError(err.message) : spawnFailure(err)), report: reportError, cleanup: gone, onPid: (p) => { pid = p; } }, (_, index) => {
      if (index !== waitAt) throw new StateError('exec: an unexpected sync step');
      if (o.pidFile) writePidFile(o.pidFile, pid);
      const fd = openSync(fifo, fs.O_WRONLY | fs.O_NONBLOCK);
      try {
        writeSync(fd, Buffer.from([0]));
      } finally {
        closeSync(fd);
      }
      gone();
      return () => {};
    });
  } finally {
    gone();
  }
}
