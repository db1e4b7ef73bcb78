// ts-chcontext: util-vserver's chcontext on namespaces and a cgroup.
import { waitForProgram } from './run.js';
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
    if (!/^[1-9]\d*$/.test(nproc)) throw new UsageError(`invalid process limit '${nproc}': expected a positive number`);
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
  const argv = cmd.args;
  const { spawnFailure } = await import('./messages.js');

  // An existing context: join it, as entering a running vserver does.
  if (o.ctx !== undefined) {
    const dir = ctxLib.contextDir(o.ctx);
    const state = ctxLib.readState(dir);
    if (state && ctxLib.isAlive(state, dir)) {
      if (o.hostname !== undefined || o.secure || flags.size) {
        throw new UsageError(`context ${o.ctx} exists: --hostname, --secure and --flag apply only when it is created`);
      }
      if (state.extra?.private) throw new ToolError(`context ${o.ctx} is private: it cannot be joined`);
      let child;
      try {
        child = await ctxLib.joinContext(state, dir, argv, o.disconnect ? { setsid: true, stdio: 'ignore' } : {});
      } catch (err) {
        throw toolError(err, spawnFailure);
      }
      if (o.disconnect) return 0;
      return exitLike(await waitForProgram(child));
    }
  }

  let dropCaps: number[] = [];
  if (o.secure) {
    const { resolveCapDrop } = await import('../sandbox/caps.js');
    try {
      dropCaps = resolveCapDrop({ secure: true, cap: [], keep: o.cap });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const name = o.ctx ?? `anon-${process.pid}`;
  let started;
  try {
    started = await ctxLib.startContext({
      name,
      dir: o.ctx !== undefined ? ctxLib.contextDir(o.ctx) : undefined,
      cgroup: `tsns-ctx-${name}`,
      hostname: o.hostname,
      limits: nproc !== undefined ? { pids: nproc } : undefined,
      dropCaps,
      // A context with reduced capabilities must not win them back through setuid binaries.
      noNewPrivs: o.secure ?? false,
      fakeinit: flags.has('fakeinit'),
      setsid: o.disconnect,
      stdio: o.disconnect ? 'ignore' : undefined,
      extra: flags.has('private') ? { private: true } : undefined,
    }, argv);
  } catch (err) {
    throw toolError(err, spawnFailure);
  }
  // Detached: the context outlives us; a later --ctx create or --list clears it after it ends.
  if (o.disconnect) return 0;
  const status = exitLike(await waitForProgram(started.sandbox));
  await started.destroy({ timeoutMs: 0 });
  return status;
}


function toolError(err: unknown, spawnFailure: (e: unknown) => unknown): unknown {
  if (err instanceof Error && err.name === 'ContextError') return new ToolError(err.message);
  return spawnFailure(err);
}

async function list(ctxLib: typeof import('../vserver/context.js')): Promise<number> {
  const rows = [['CTX', 'PID', 'PROCS', 'HOSTNAME']];
  for (const c of ctxLib.listContexts()) {
    if (!c.alive || !c.state) {
      // The record of a context that ended without its owner: its init is gone, so this is safe.
      if (c.state) await ctxLib.destroyContext(c.state, c.dir, { timeoutMs: 0 });
      continue;
    }
    rows.push([c.name, String(c.state.pid), String(ctxLib.contextProcesses(c.state).length), c.state.hostname ?? '-']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]))).join('  ') + '\n');
  return 0;
}

// The reaper of spawn() holds the event loop while a detached child runs: leave when done.
void runTool('ts-chcontext', main).then(() => process.exit());
