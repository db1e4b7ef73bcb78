// ts-sandbox: bubblewrap's command line (plus limits, policies by name and spec files) on
// the SandboxSpec. The flags become a spec (src/sandbox/bwrap-args.ts), the spec a
// SpawnSpec (src/sandbox/compile.ts), and the stage runs it in place: no Node process
// stays. Where limits need a cgroup, it is made (and recorded) here, joined by the program
// and removed by the small C parent the stage's fork leaves waiting.
import { existsSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { runTool, ToolError, applyExplain } from './common.js';
import { BwrapArgError, parseArgs, toBwrapArgs, toSpec, type ParsedArgs } from '../sandbox/bwrap-args.js';
import { parseSpec, SpecError, type SandboxSpec } from '../sandbox/spec.js';
import { loadSpecFile } from '../sandbox/spec-file.js';
import type { Step } from '../native/plan.js';
import type { Cgroup } from '../cgroup/index.js';

const NAME = 'ts-sandbox';

// bwrap prints its own argv[0]; the shim passes ours, and the program must not inherit it.
const argv0 = process.env.TSNS_ARGV0 || NAME;
delete process.env.TSNS_ARGV0;

const USAGE = `usage: ${argv0} [OPTIONS...] [--] COMMAND [ARGS...]

    --help                       Print this help
    --version                    Print version
    --args FD                    Parse NUL-separated args from FD
    --argv0 VALUE                Set argv[0] to the value VALUE before running the program
    --level-prefix               Prepend e.g. <3> to diagnostic messages
    --unshare-all                Unshare every namespace we support by default
    --share-net                  Retain the network namespace (can only combine with --unshare-all)
    --unshare-user               Create new user namespace (may be automatically implied if not setuid)
    --unshare-user-try           Create new user namespace if possible else continue by skipping it
    --unshare-ipc                Create new ipc namespace
    --unshare-pid                Create new pid namespace
    --unshare-net                Create new network namespace
    --unshare-uts                Create new uts namespace
    --unshare-cgroup             Create new cgroup namespace
    --unshare-cgroup-try         Create new cgroup namespace if possible else continue by skipping it
    --userns FD                  Use this user namespace (cannot combine with --unshare-user)
    --userns2 FD                 After setup switch to this user namespace, only useful with --userns
    --disable-userns             Disable further use of user namespaces inside sandbox
    --assert-userns-disabled     Fail unless further use of user namespace inside sandbox is disabled
    --pidns FD                   Use this pid namespace (as parent namespace if using --unshare-pid)
    --uid UID                    Custom uid in the sandbox (requires --unshare-user or --userns)
    --gid GID                    Custom gid in the sandbox (requires --unshare-user or --userns)
    --hostname NAME              Custom hostname in the sandbox (requires --unshare-uts)
    --chdir DIR                  Change directory to DIR
    --clearenv                   Unset all environment variables
    --setenv VAR VALUE           Set an environment variable
    --unsetenv VAR               Unset an environment variable
    --lock-file DEST             Take a lock on DEST while sandbox is running
    --sync-fd FD                 Keep this fd open while sandbox is running
    --bind SRC DEST              Bind mount the host path SRC on DEST
    --bind-try SRC DEST          Equal to --bind but ignores non-existent SRC
    --dev-bind SRC DEST          Bind mount the host path SRC on DEST, allowing device access
    --dev-bind-try SRC DEST      Equal to --dev-bind but ignores non-existent SRC
    --ro-bind SRC DEST           Bind mount the host path SRC readonly on DEST
    --ro-bind-try SRC DEST       Equal to --ro-bind but ignores non-existent SRC
    --bind-fd FD DEST            Bind open directory or path fd on DEST
    --ro-bind-fd FD DEST         Bind open directory or path fd read-only on DEST
    --remount-ro DEST            Remount DEST as readonly; does not recursively remount
    --overlay-src SRC            Read files from SRC in the following overlay
    --overlay RWSRC WORKDIR DEST Mount overlayfs on DEST, with RWSRC as the host path for writes and
                                 WORKDIR an empty directory on the same filesystem as RWSRC
    --tmp-overlay DEST           Mount overlayfs on DEST, with writes going to an invisible tmpfs
    --ro-overlay DEST            Mount overlayfs read-only on DEST
    --exec-label LABEL           Exec label for the sandbox (no SELinux: accepted, not applied)
    --file-label LABEL           File label for temporary sandbox content (likewise)
    --proc DEST                  Mount new procfs on DEST
    --dev DEST                   Mount new dev on DEST
    --tmpfs DEST                 Mount new tmpfs on DEST
    --mqueue DEST                Mount new mqueue on DEST
    --dir DEST                   Create dir at DEST
    --file FD DEST               Copy from FD to destination DEST
    --bind-data FD DEST          Copy from FD to file which is bind-mounted on DEST
    --ro-bind-data FD DEST       Copy from FD to file which is readonly bind-mounted on DEST
    --symlink SRC DEST           Create symlink at DEST with target SRC
    --seccomp FD                 Load and use seccomp rules from FD (not repeatable)
    --add-seccomp-fd FD          Load and use seccomp rules from FD (repeatable)
    --block-fd FD                Block on FD until some data to read is available
    --userns-block-fd FD         Block on FD until the user namespace is ready
    --info-fd FD                 Write information about the running container to FD
    --json-status-fd FD          Write container status to FD as multiple JSON documents
    --new-session                Create a new terminal session
    --die-with-parent            Kills with SIGKILL child process (COMMAND) when bwrap or bwrap's parent dies.
    --as-pid-1                   Do not install a reaper process with PID=1
    --cap-add CAP                Add cap CAP when running as privileged user
    --cap-drop CAP               Drop cap CAP when running as privileged user
    --perms OCTAL                Set permissions of next argument (--bind-data, --file, etc.)
    --size BYTES                 Set size of next argument (only for --tmpfs)
    --chmod OCTAL PATH           Change permissions of PATH (must already exist)

  ts-sandbox's own:
    --memory SIZE                cgroup memory limit (512M, 1G)
    --pids N                     At most N processes and threads
    --cpu CORES                  CPU bandwidth in cores (0.5)
    --timeout SECONDS            Kill the whole tree after this long
    --cpu-time SECONDS           Kill the whole tree once it used this much CPU
    --rlimit NAME=SOFT[:HARD]    A resource limit (nofile, core, as, fsize, nproc, stack...)
    --seccomp-deny NAME[,NAME]   These system calls fail with EPERM
    --seccomp-allow NAME[,NAME]  Only these system calls (and what starting needs)
    --seccomp-default            The default profile (no new user namespaces, clone3 ENOSYS...)
    --landlock-ro PATH           Landlock: PATH readable (only listed paths are reachable)
    --landlock-rw PATH           Landlock: PATH readable and writable
    --net MODE                   none, host, veth:IP/PREFIX or ns:PATH
    --spec FILE                  A SandboxSpec (YAML or JSON); the flags apply on top
    --dry-run                    Print the resolved spec and the equivalent bwrap line, run nothing
    --explain[=why,all]          Print each system call as it is made
`;

/** A descriptor read to its end (--args, compiled seccomp filters), as bwrap's load_file_data. */
function readFd(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
      throw new Error(e.code === 'EBADF' ? 'Bad file descriptor' : e.message);
    }
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
}

/** --block-fd: wait until the descriptor has something to read (or is closed), as bwrap. */
function blockOn(fd: number): void {
  try {
    readSync(fd, Buffer.alloc(1), 0, 1, null);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return blockOn(fd);
  }
}

/** A failure in bwrap's words: exec and a missing bind source as it says them, exit 1. */
async function sandboxFailure(): Promise<(err: unknown) => unknown> {
  const { StepError } = await import('../native/stage.js');
  const { spawnFailure } = await import('./messages.js');
  return (e: unknown) => {
    if (e instanceof StepError) {
      const s = e.step;
      if (s.op === 'exec') return new ToolError(`execvp ${s.argv[0] ?? s.file}: ${e.reason}`);
      if (s.op === 'mount' && e.code === 'ENOENT' && s.source && !s.fstype) return new ToolError(`Can't find source path ${s.source}: ${e.reason}`);
      if (s.op === 'lockFile') return new ToolError(`Unable to ${e.code === 'EAGAIN' ? 'lock' : 'open lock'} file ${s.path}: ${e.reason}`);
      if (s.op === 'setns' && s.nstype === 0x10000000 /* CLONE_NEWUSER */ && !s.path) return new ToolError(`Setting userns2 failed: ${e.reason}`);
    }
    const worded = spawnFailure(e);
    return worded instanceof ToolError ? new ToolError(worded.message, 1) : worded;
  };
}

function writeInfo(fd: number | undefined, fields: Record<string, unknown>, oneLine: boolean): void {
  if (fd === undefined) return;
  const text = oneLine
    ? `${JSON.stringify(fields).replace(/,"/g, ', "').replace(/":/g, '": ').replace(/^\{/, '{ ').replace(/\}$/, ' }')}\n`
    : `{\n${Object.entries(fields).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n}\n`;
  try {
    writeSync(fd, text);
  } catch (err) {
    throw new ToolError(`Write to ${oneLine ? 'json_status_fd' : 'info_fd'}: ${(err as NodeJS.ErrnoException).code === 'EBADF' ? 'Bad file descriptor' : (err as Error).message}`);
  }
}

/** The parent's line for a hit pids limit: the program goes on, so it is said, not a reason. */
function pidsNote(group: Cgroup, pids: number): Step[] {
  try {
    const { dir } = group.dirFor('pids');
    return [{ op: 'note', signal: 0, above: 0, file: `${dir}/pids.events`, key: 'max', message: `${NAME}: the pids limit (${pids}) was hit: a fork failed` }];
  } catch {
    return [];
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    process.stderr.write(USAGE);
    return 1;
  }
  let parsed: ParsedArgs;
  let spec: SandboxSpec;
  try {
    parsed = parseArgs(args, readFd);
    if (parsed.tool.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (parsed.tool.version) {
      const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`${NAME} from tsns ${version}\n`);
      return 0;
    }
    applyExplain(parsed.tool, parsed.tool.explainMode);
    const base = parsed.tool.specFile !== undefined ? await loadSpecFile(parsed.tool.specFile) : undefined;
    spec = parseSpec(toSpec(parsed, base, { uid: process.getuid!(), gid: process.getgid!() }));
  } catch (err) {
    if (err instanceof BwrapArgError || err instanceof SpecError) throw new ToolError(err.message);
    throw err;
  }
  const command = parsed.command.length ? parsed.command : spec.process?.args ?? [];
  const tool = parsed.tool;
  // No SELinux here to apply a label with (bwrap: "labeling not supported on this system").
  if (tool.labels.length && existsSync('/sys/fs/selinux/enforce')) throw new ToolError('labeling is not supported by ts-sandbox');
  if (tool.dryRun) {
    process.stdout.write(`${JSON.stringify({ spec, command, bwrap: toBwrapArgs(spec, command) ?? null }, null, 2)}\n`);
    return 0;
  }
  if (command.length === 0) {
    process.stderr.write(USAGE);
    return 1;
  }

  const { compile } = await import('../sandbox/compile.js');
  let compiled;
  try {
    compiled = compile(spec, command);
  } catch (err) {
    // From flags alone, the spec's field path means nothing to the user: bwrap's words only.
    if (err instanceof SpecError) throw new ToolError(tool.specFile === undefined && err.path ? err.message.slice(err.path.length + 2) : err.message);
    throw err;
  }
  const spawn = compiled.spawn;
  // bwrap sets PWD to where the program starts, even after --clearenv.
  if (tool.specFile === undefined) spawn.env = { ...spawn.env, PWD: spec.process?.cwd ?? process.cwd() };
  if (tool.argv0 !== undefined) spawn.argv0 = tool.argv0;
  // --userns-block-fd: the caller writes the id maps (it learns the child's pid from
  // --info-fd); the child waits for it at the fork's sync below.
  if (tool.usernsBlockFd !== undefined) spawn.uidMap = spawn.gidMap = undefined;
  // --userns2: bwrap switches once the root is built, before the ids and capabilities.
  if (tool.userns2 !== undefined) {
    const { CLONE_NEWUSER } = await import('../sys/ns.js');
    const to: Step = { op: 'setns', fd: tool.userns2, nstype: CLONE_NEWUSER };
    if (spawn.rootSteps) spawn.rootSteps = [...spawn.rootSteps, to];
    else spawn.finalSteps = [to, ...(spawn.finalSteps ?? [])];
  }
  const newPid = spawn.namespaces?.includes('pid') ?? false;
  // bwrap's init: pid 1 of a new pid namespace (the program is pid 2), or the holder of
  // --lock-file's locks and --sync-fd; it comes before the program's policies, which are its alone.
  const syncFd = parsed.flags.syncFd;
  const init = !spec.process?.asPid1 && (newPid || tool.lockFiles.length > 0 || syncFd !== undefined);
  const { initSteps, namespaceIds } = await import('../sandbox/init.js');
  const finalSteps = [...(init ? initSteps(tool.lockFiles, syncFd) : []), ...(spawn.finalSteps ?? [])];
  const securitySteps = [...(spawn.securitySteps ?? [])];
  // bwrap's compiled filters go in last, in the order given, after any filter by name.
  for (const fd of spec.security?.seccompFilters ?? []) {
    let filter: Buffer;
    try {
      filter = readFd(fd);
    } catch (err) {
      throw new ToolError(`Can't read seccomp data: ${(err as Error).message}`);
    }
    if (filter.length === 0 || filter.length % 8 !== 0) throw new ToolError('Invalid seccomp data, must be multiple of 8');
    securitySteps.push({ op: 'seccomp', flags: 0, filter });
  }
  // In place, the program is the caller's child: its death signal is set after the ids.
  if (spec.process?.dieWithParent) finalSteps.push({ op: 'prctl', option: 1 /* PR_SET_PDEATHSIG */, arg2: constants.signals.SIGKILL });
  spawn.finalSteps = finalSteps;
  spawn.securitySteps = securitySteps;
  if (tool.blockFd !== undefined) blockOn(tool.blockFd);

  const { FORK } = await import('../native/plan.js');
  const { hasStage, stagePid } = await import('./stage.js');
  const { runProgram } = await import('./run.js');
  const failure = await sandboxFailure();
  const { applyLimits, cgroupLimits, watchStep } = await import('../sandbox/limits.js');
  let limits;
  try {
    limits = cgroupLimits(spec.limits);
  } catch (err) {
    throw new ToolError((err as Error).message);
  }
  const info = { fd: tool.infoFd, status: tool.jsonStatusFd };
  const wantsInfo = info.fd !== undefined || info.status !== undefined;
  let cgroupPath: string | undefined;
  let childPid = 0;
  // At the fork's sync, once the child's namespaces are final and before it goes on: what
  // bwrap's monitor writes, then --userns-block-fd's wait (the caller writes the maps).
  const atForkSync = () => {
    const fields = { 'child-pid': childPid, ...namespaceIds(childPid, spawn.namespaces ?? []), ...(cgroupPath ? { cgroup: cgroupPath } : {}) };
    writeInfo(info.fd, fields, false);
    writeInfo(info.status, fields, true);
    if (tool.usernsBlockFd !== undefined) blockOn(tool.usernsBlockFd);
  };
  const dieWithParent = spec.process?.dieWithParent;
  /** The fork in place: its parent waits (and dies with the caller, as bwrap's monitor, with --die-with-parent). */
  const fork = (mode: number, deathSignal: number, parentSteps: Step[], watch?: Step) => ({
    fork: {
      mode: mode | (wantsInfo ? FORK.reportPid : 0) | (init && newPid ? FORK.initStatus : 0),
      deathSignal, parentSteps, watch,
      selfDeathSignal: dieWithParent ? constants.signals.SIGKILL : undefined,
      sync: wantsInfo,
    },
    atForkSync,
  });
  const onPid = (pid: number) => {
    childPid = pid;
  };

  const { timeoutMs, cpuTimeMs } = spec.limits ?? {};
  // bwrap's last --json-status-fd line, the exit code, is written by the parent that waits.
  const exitJson: Step[] = info.status === undefined ? [] : [{ op: 'exitJson', fd: info.status }];
  if (!Object.keys(limits).length && !timeoutMs && !cpuTimeMs) {
    // A new pid namespace needs a fork in place (its init is the child), and so does what
    // is reported of the child; else the program (or its init) is the stage itself.
    if (!newPid && !wantsInfo) return runProgram(spawn, compiled.argv, { failure });
    const deathSignal = dieWithParent ? constants.signals.SIGKILL : 0;
    return runProgram(spawn, compiled.argv, { failure, inPlace: fork(FORK.forward | FORK.ignoreInt, deathSignal, exitJson), onPid });
  }

  if (!hasStage()) throw new ToolError('limits need the native stage: start ts-sandbox as bin/ts-sandbox');
  const { createCgroup } = await import('../cgroup/index.js');
  const { reapRuns, recordRun, oomNotes, removal } = await import('./cgroup-run.js');
  await reapRuns();
  const name = `ts-sandbox-${stagePid()}`;
  const record = recordRun(name);
  let group: Cgroup | undefined;
  try {
    group = createCgroup(name);
    applyLimits(group, limits);
  } catch (err) {
    await group?.remove({ timeout: 0 }).catch(() => {});
    if (record) rmSync(record, { force: true });
    throw err instanceof SpecError ? new ToolError(err.message) : err;
  }
  const made = group;
  cgroupPath = made.dirs[0];
  // The program joins after the fork (the parent that stays must not hold the group) and
  // before its root is built, while the host's cgroupfs is still in reach.
  spawn.rootSteps = [...made.dirs.map((dir): Step => ({ op: 'writeFile', path: `${dir}/cgroup.procs`, data: '0' })), ...(spawn.rootSteps ?? [])];
  const parentSteps = [
    ...oomNotes(made, compiled.argv, 0, NAME),
    ...(typeof limits.pids === 'number' ? pidsNote(made, limits.pids) : []),
    ...removal(made, record),
    ...exitJson,
  ];
  // The time limits: the parent that waits kills the whole group when one strikes.
  let watch: Step | undefined;
  try {
    watch = timeoutMs || cpuTimeMs ? watchStep(made, spec.limits!, {
      timeout: `${NAME}: timeout: killed after ${(timeoutMs ?? 0) / 1000} s`,
      cpu: `${NAME}: cpu-time: killed after ${(cpuTimeMs ?? 0) / 1000} s of CPU time`,
    }) : undefined;
  } catch (err) {
    await made.remove({ timeout: 0 }).catch(() => {});
    if (record) rmSync(record, { force: true });
    throw new ToolError((err as Error).message);
  }
  return runProgram(spawn, compiled.argv, {
    failure,
    inPlace: fork(FORK.forward | FORK.ignoreInt | FORK.reportPid, constants.signals.SIGKILL, parentSteps, watch),
    onPid,
    cleanup: () => {
      void made.remove({ timeout: 0 }).catch(() => {});
      if (record) rmSync(record, { force: true });
    },
  });
}

void runTool(NAME, main);
