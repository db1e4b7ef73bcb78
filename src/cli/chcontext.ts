// ts-chcontext: util-vserver's chcontext on namespaces and a cgroup.
import { constants } from 'node:os';
import { join as joinPath } from 'node:path';
import { runProgram, waitForProgram } from './run.js';
import { hasStage } from './stage.js';
import type { ContextSpec } from '../vserver/context.js';
import { program, runTool, applyExplain, exitLike, ToolError, UsageError } from './common.js';

const FLAGS = ['lock', 'sched', 'nproc', 'private', 'fakeinit'] as const;

interface Options {
  explain?: boolean;
  ctx?: string;
  hostname?: string;
  secure?: boolean;
  cap: string[];
  flag: string[];
  nproc?: string;
  disconnect?: boolean;
  list?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, ...v.split(',').filter(Boolean)];

async function main(): Promise<number> {
  const cmd = program('ts-chcontext', 'Run a command in a new (or, with --ctx, a named and joinable) security context.')
    .usage('[options] [--] <command> [<argument>...]')
    .argument('[command...]')
    .option('--ctx <N>', 'name the context; if context N runs already, join it')
    .option('--hostname <name>', 'set the hostname of the new context')
    .option('--secure', 'drop the capabilities util-vserver drops for a secure context')
    .option('--cap <cap>', 'with --secure: keep this capability (repeatable)', collect, [])
    .option('--flag <flag>', `context flags: ${FLAGS.join(', ')} (repeatable or comma-separated; nproc=N sets a limit)`, collect, [])
    .option('--nproc <N>', 'at most N processes in the context (pids cgroup limit)')
    .option('--disconnect', 'start the command in the background, detached, and return at once')
    .option('--list', 'list the named contexts (and remove the records of ended ones)');
  cmd.parse(process.argv.slice(2), { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);
  const ctxLib = await import('../vserver/context.js');

  if (o.list) return list(ctxLib);

  // Options become data first, then conflicts are rejected, one line each.
  const flags = new Set<string>();
  let nproc = o.nproc;
  for (const f of o.flag) {
    const m = /^nproc=(.+)$/.exec(f);
    if (m) {
      flags.add('nproc');
      nproc = m[1];
    } else if ((FLAGS as readonly string[]).includes(f)) {
      flags.add(f);
    } else {
      throw new UsageError(`unknown context flag '${f}' (known: ${FLAGS.join(', ')})`);
    }
  }
  if (nproc !== undefined) {
    flags.add('nproc');
    // pid_max is at most 2^22: no limit above it means anything.
    if (!/^[1-9]\d{0,6}$/.test(nproc) || Number(nproc) > 4194304) throw new UsageError(`invalid process limit '${nproc}': expected a number from 1 to 4194304`);
  } else if (flags.has('nproc')) {
    throw new UsageError('--flag nproc needs a limit: --flag nproc=N or --nproc N');
  }
  if (o.cap.length && !o.secure) throw new UsageError('--cap requires --secure');
  if (o.ctx !== undefined) {
    try {
      ctxLib.checkContextName(o.ctx);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  if (o.hostname !== undefined && !/^[^\s/]{1,64}$/.test(o.hostname)) {
    throw new UsageError(`invalid hostname '${o.hostname}': 1 to 64 characters, no '/' or white space`);
  }
  const argv = cmd.args;
  const { lockName } = await import('../vserver/lock.js');
  if (o.ctx !== undefined) {
    // An existing context is joined (under a shared lock, as entering a vserver is); else
    // it is made under an exclusive one, unless another run made it meanwhile.
    for (;;) {
      const joined = await join(ctxLib, o.ctx, argv, o.disconnect ?? false, () => {
        if (o.hostname !== undefined || o.secure || flags.size) {
          throw new UsageError(`context ${o.ctx} exists: --hostname, --secure and --flag apply only when it is created`);
        }
      });
      if (joined !== undefined) return joined;
      const lock = await lockName('ctx', o.ctx, 'exclusive');
      if (ctxLib.condition(ctxLib.contextDir(o.ctx)) === 'running') {
        lock.release();
        continue;
      }
      return create(ctxLib, o.ctx, ctxLib.contextDir(o.ctx), argv, { o, flags, nproc }, lock);
    }
  }
  // Records of anonymous contexts whose tool was killed: gone once their init has ended.
  await ctxLib.sweepContexts(ctxLib.anonDir(''));
  const name = `anon-${process.pid}`;
  return create(ctxLib, name, ctxLib.anonDir(name), argv, { o, flags, nproc });
}

type CtxLib = typeof import('../vserver/context.js');

/** Join context NAME if it runs: the program's status, or undefined when it does not run. */
async function join(ctxLib: CtxLib, name: string, argv: string[], disconnect: boolean, check: () => void): Promise<number | undefined> {
  const { lockName } = await import('../vserver/lock.js');
  const { spawnFailure } = await import('./messages.js');
  const lock = await lockName('ctx', name, 'shared');
  let child;
  try {
    const dir = ctxLib.contextDir(name);
    const state = ctxLib.readState(dir);
    if (!state || !ctxLib.isAlive(state, dir)) return undefined;
    check();
    if (state.extra?.private) throw new ToolError(`context ${name} is private: it cannot be joined`);
    const failure = (err: unknown) => toolError(err, spawnFailure);
    if (!disconnect && hasStage()) {
      // In place: joining the pid namespace forks, and the small parent that waits passes
      // SIGTERM and SIGHUP on (SIGINT from the terminal reaches the program by itself).
      const { FORK } = await import('../native/plan.js');
      const spec = await ctxLib.joinSpec(state, dir).catch((err) => { throw failure(err); });
      return await runProgram(spec, argv, { failure, inPlace: { joinForkMode: FORK.stops | FORK.forward | FORK.ignoreInt } });
    }
    child = await ctxLib.joinContext(state, dir, argv, { detached: disconnect }).catch((err) => { throw failure(err); });
  } finally {
    lock.release();
  }
  return disconnect ? 0 : exitLike(await waitForProgram(child));
}

interface Asked {
  o: Options;
  flags: Set<string>;
  nproc?: string;
}

/** Make a context, run argv as (or under) its init, and remove it when that ends. */
async function create(ctxLib: CtxLib, name: string, dir: string, argv: string[], { o, flags, nproc }: Asked, lock?: { release(): void }): Promise<number> {
  const { spawnFailure } = await import('./messages.js');
  const failure = (err: unknown) => toolError(err, spawnFailure);
  try {
    let dropCaps: number[] = [];
    if (o.secure) {
      const { resolveCapDrop } = await import('../sandbox/caps.js');
      try {
        dropCaps = resolveCapDrop({ secure: true, cap: [], keep: o.cap });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    const spec: ContextSpec = {
      name,
      dir,
      cgroup: `tsns-ctx-${name}`,
      hostname: o.hostname,
      limits: nproc !== undefined ? { pids: nproc } : undefined,
      dropCaps,
      // A context with reduced capabilities must not win them back through setuid binaries.
      noNewPrivs: o.secure ?? false,
      // ...nor through a new user namespace, which would hand them all back.
      seccomp: o.secure ? 'default' : undefined,
      fakeinit: flags.has('fakeinit'),
      detached: o.disconnect,
      // util-vserver's chcontext becomes the program: killing the tool ends it.
      deathSignal: o.disconnect ? undefined : 'SIGKILL',
      extra: flags.has('private') ? { private: true } : undefined,
    };
    if (!o.disconnect && hasStage()) return await createInPlace(ctxLib, spec, argv, failure);
    let started;
    try {
      started = await ctxLib.startContext(spec, argv);
    } catch (err) {
      throw failure(err);
    }
    // Detached: the context outlives us; the next run (or --list) clears it once it has ended.
    if (o.disconnect) return 0;
    lock?.release();
    const status = exitLike(await waitForProgram(started.sandbox));
    await started.destroy({ timeoutMs: 0 });
    return status;
  } finally {
    lock?.release();
  }
}

/**
 * Through the stage: the tool's process unshares, forks the context's init and waits as
 * small C code; once the init has ended, it kills what is left and removes the cgroup and
 * the records. A SIGKILLed waiter takes the init along (its death signal), and the next
 * run clears the records. No Node process stays.
 */
async function createInPlace(ctxLib: CtxLib, spec: ContextSpec, argv: string[], failure: (err: unknown) => unknown): Promise<number> {
  const { FORK } = await import('../native/plan.js');
  const { removalSteps } = await import('../cgroup/steps.js');
  const prepared = await ctxLib.prepareContext(spec, false).catch((err) => { throw failure(err); });
  const dir = spec.dir!;
  const records = [joinPath(dir, 'state.json'), joinPath(dir, 'record.json'), dir].map((path) => ({ op: 'remove', path }) as const);
  let ran = true;
  const status = await runProgram(prepared.spawnSpec, ctxLib.initArgv(argv, spec.fakeinit ?? false), {
    failure,
    cleanup: () => { ran = false; },
    inPlace: {
      fork: {
        mode: FORK.forward | FORK.ignoreInt | FORK.reportPid,
        deathSignal: constants.signals.SIGKILL,
        // The waiter joined the group before it forked the init: it goes back where it
        // came from (where the group was made), so that killing the group spares it.
        parentSteps: [
          ...prepared.group.dirs.map((d) => ({ op: 'writeFile', path: joinPath(d, '..', 'cgroup.procs'), data: '0' }) as const),
          ...removalSteps(prepared.group),
          ...records,
        ],
      },
    },
    onPid: (pid) => {
      try {
        prepared.started(pid);
      } catch {
        // Ended already, and its parent removed the records: nothing to keep.
      }
    },
  });
  if (!ran) await prepared.undo();
  return status;
}

function toolError(err: unknown, spawnFailure: (e: unknown) => unknown): unknown {
  if (err instanceof Error && err.name === 'ContextError') return new ToolError(err.message);
  return spawnFailure(err);
}

async function list(ctxLib: typeof import('../vserver/context.js')): Promise<number> {
  const rows = [['CTX', 'PID', 'PROCS', 'HOSTNAME']];
  // Records of contexts that ended without their owner (their init is gone) are cleared.
  await ctxLib.sweepContexts(ctxLib.contextDir(''));
  await ctxLib.sweepContexts(ctxLib.anonDir(''));
  for (const c of ctxLib.listContexts()) {
    if (!c.alive || !c.state) continue;
    rows.push([c.name, String(c.state.pid), String(ctxLib.contextProcesses(c.state).length), c.state.hostname ?? '-']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]))).join('  ') + '\n');
  return 0;
}

// The reaper of spawn() holds the event loop while a detached child runs: leave when done.
void runTool('ts-chcontext', main).then(() => process.exit());
