// ts-oci: an OCI runtime with runc's command line, for Podman, CRI-O and containerd. Each
// command maps its options to one call of src/oci; create and run go through the native
// stage, the rest (start, state, kill, delete...) load only src/oci/state.ts and lifecycle.ts.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startupSnapshot } from 'node:v8';
import type { Command } from 'commander';
import { applyExplain, program, repeatable, runTool, ToolError, UsageError } from './common.js';
import { checkId, DEFAULT_ROOT, listIds, readState, stateJson } from '../oci/state.js';
import { freeze, kill, processes, remove, signalOf, start } from '../oci/lifecycle.js';

const NAME = 'ts-oci';

interface Global {
  root: string;
  log?: string;
  logFormat: string;
  debug?: boolean;
  systemdCgroup?: boolean;
}

/** Where engines read a failure: --log as runc writes it (text or json), besides stderr. */
function logError(g: Global, message: string): void {
  if (!g.log) return;
  const time = new Date().toISOString();
  const line = g.logFormat === 'json' ? JSON.stringify({ level: 'error', msg: message, time }) : `time="${time}" level=error msg=${JSON.stringify(message)}`;
  try {
    appendFileSync(g.log, `${line}\n`);
  } catch { /* the log is a courtesy; stderr has it too */ }
}

const KNOWN_ERRORS = new Set(['StateError', 'ConfigError', 'ConsoleError', 'HookError', 'SpecError', 'CgroupError', 'SysError', 'StepError', 'TypeError', 'RangeError', 'ToolError']);

function idOf(args: string[], command: string): string {
  if (args.length < 1) throw new UsageError(`${command}: requires exactly 1 argument (the container id)`);
  return checkId(args[0]);
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('   ').trimEnd()).join('\n');
}

async function main(): Promise<number> {
  let result: number | Promise<number> = 0;
  let g: Global = { root: DEFAULT_ROOT, logFormat: 'text' };
  const cmd = program(NAME, 'An OCI runtime (runc\'s command line) on the tsns Sandbox and native stage.')
    .usage('[global options] <command> [options] <container-id>')
    .enablePositionalOptions()
    .option('--root <dir>', 'where container state is kept', DEFAULT_ROOT)
    .option('--log <file>', 'also write errors to this file (engines read it)')
    .option('--log-format <format>', 'format of --log: text or json', 'text')
    .option('--debug', 'accepted for runc compatibility; errors are always logged')
    .option('--systemd-cgroup', 'refused: ts-oci manages cgroupfs paths only');

  const sub = (usage: string, description: string, action: (args: string[], o: Record<string, unknown>) => number | Promise<number>) =>
    cmd.command(usage).description(description).allowExcessArguments(true).action((...params: unknown[]) => {
      const c = params[params.length - 1] as Command;
      result = action(c.args, c.opts());
    });

  const createOptions = (c: Command) => c
    .option('-b, --bundle <dir>', 'the bundle: config.json and the root filesystem (default: the current directory)')
    .option('--pid-file <file>', 'write the container process\'s pid here')
    .option('--console-socket <socket>', 'where to send the pty\'s master (process.terminal), a unix socket path')
    .option('--no-pivot', 'accepted: the root is always entered with pivot_root')
    .option('--no-new-keyring', 'accepted: ts-oci never makes a session keyring')
    .option('--preserve-fds <n>', 'refused unless 0: passing extra descriptors is not supported', '0');
  const create = async (args: string[], o: Record<string, unknown>, run: boolean) => {
    const id = idOf(args, run ? 'run' : 'create');
    if (o.preserveFds !== '0') throw new ToolError(`--preserve-fds ${String(o.preserveFds)}: not supported`);
    const { createContainer } = await import('../oci/create.js');
    return createContainer({
      root: g.root, id, bundle: o.bundle as string | undefined, pidFile: o.pidFile as string | undefined,
      consoleSocket: o.consoleSocket as string | undefined, run, detach: o.detach as boolean | undefined,
    });
  };
  createOptions(sub('create <container-id>', 'set the container up; its process waits for start', (a, o) => create(a, o, false)));
  createOptions(sub('run <container-id>', 'create and start the container, wait for it, and remove it', (a, o) => create(a, o, true)))
    .option('-d, --detach', 'return once it runs (the container stays until deleted)');
  sub('start <container-id>', 'run the program of a created container', async (a) => (await start(g.root, idOf(a, 'start')), 0));
  sub('state <container-id>', 'print the state of a container as JSON', (a) => {
    print(JSON.stringify(stateJson(g.root, readState(g.root, idOf(a, 'state'))), null, 2));
    return 0;
  });
  sub('kill <container-id> [signal]', 'send a signal (default SIGTERM) to the container\'s process', (a, o) => {
    if (a.length > 2) throw new UsageError(`kill: unexpected argument '${a[2]}'`);
    kill(g.root, idOf(a, 'kill'), signalOf(a[1] ?? 'SIGTERM'), !!o.all);
    return 0;
  }).option('-a, --all', 'send it to every process of the container');
  sub('delete <container-id>', 'remove a stopped container and its cgroup', async (a, o) => (await remove(g.root, idOf(a, 'delete'), !!o.force), 0))
    .option('-f, --force', 'kill it first if it still runs');
  sub('pause <container-id>', 'freeze every process of the container', (a) => (freeze(g.root, idOf(a, 'pause'), true), 0));
  sub('resume <container-id>', 'thaw a paused container', (a) => (freeze(g.root, idOf(a, 'resume'), false), 0));
  sub('ps <container-id>', 'list the container\'s processes', async (a, o) => {
    const pids = processes(g.root, idOf(a, 'ps'));
    if (o.format === 'json') {
      print(JSON.stringify(pids));
      return 0;
    }
    if (o.format !== 'table') throw new UsageError(`ps: invalid format: ${String(o.format)}`);
    // runc's table: ps -ef's header and the container's rows.
    // Loaded here, not at start-up: child_process brings net, dgram and streams along.
    const { execFileSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    const lines = execFileSync('ps', ['-ef'], { encoding: 'utf8' }).split('\n');
    const pidColumn = lines[0].split(/\s+/).indexOf('PID');
    print([lines[0], ...lines.slice(1).filter((l) => pids.includes(Number(l.trim().split(/\s+/)[pidColumn])))].join('\n'));
    return 0;
  }).option('-f, --format <format>', 'table or json', 'table');
  sub('list', 'list the containers', (_, o) => {
    const states = listIds(g.root).map((id) => {
      try {
        return stateJson(g.root, readState(g.root, id));
      } catch {
        return undefined;
      }
    }).filter((s) => s !== undefined);
    if (o.quiet) print(states.map((s) => s.id).join('\n'));
    else if (o.format === 'json') print(JSON.stringify(states));
    else if (o.format === 'table') print(table([['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...states.map((s) => [s.id, s.pid, s.status, s.bundle, s.created, s.owner].map(String))]));
    else throw new UsageError(`list: invalid format: ${String(o.format)}`);
    return 0;
  }).option('-f, --format <format>', 'table or json', 'table').option('-q, --quiet', 'only the ids');
  sub('spec', 'write a default config.json (runc spec\'s)', (_, o) => {
    const dir = (o.bundle as string | undefined) ?? '.';
    const file = `${dir}/config.json`;
    if (existsSync(file)) throw new ToolError('File config.json exists. Remove it first');
    return import('../oci/defaults.js').then(({ defaultConfig }) => {
      writeFileSync(file, `${JSON.stringify(defaultConfig(!!o.rootless, process.geteuid!(), process.getegid!()), null, '\t')}\n`);
      return 0;
    });
  }).option('-b, --bundle <dir>', 'where to write it (default: the current directory)').option('--rootless', 'for a container run without root (a user namespace)');
  sub('features', 'print what this runtime supports, as JSON', async () => {
    const [{ features }, { CAP_NAMES }] = await Promise.all([import('../oci/defaults.js'), import('../sys/caps.js')]);
    print(JSON.stringify(features([...CAP_NAMES]), null, 4));
    return 0;
  });
  sub('exec <container-id> [command...]', 'run another process in the container', async (a, o) => {
    const { execInContainer } = await import('../oci/exec.js');
    return execInContainer({
      root: g.root, id: idOf(a, 'exec'), args: a.slice(1), process: o.process as string | undefined, detach: !!o.detach,
      pidFile: o.pidFile as string | undefined, cwd: o.cwd as string | undefined, env: o.env as string[] | undefined,
      user: o.user as string | undefined, cap: o.cap as string[] | undefined, noNewPrivs: !!o.noNewPrivs, tty: !!o.tty,
      consoleSocket: o.consoleSocket as string | undefined,
    });
  }).passThroughOptions()
    .option('-p, --process <file>', 'the process as a runtime-spec process.json (instead of a command)')
    .option('-d, --detach', 'return once it runs (its parent is then the caller\'s subreaper)')
    .option('--pid-file <file>', 'write its pid here')
    .option('--cwd <dir>', 'its working directory in the container')
    .option('-e, --env <name=value>', 'set an environment variable (repeatable)', repeatable)
    .option('-u, --user <uid[:gid]>', 'run as this user')
    .option('-c, --cap <cap>', 'add a capability (repeatable)', repeatable)
    .option('--no-new-privs', 'set no_new_privs')
    .option('-t, --tty', 'a pty (with --console-socket)')
    .option('--console-socket <socket>', 'where to send the pty\'s master, a unix socket path');
  sub('update <container-id>', 'set new cgroup limits (a linux.resources document)', async (a, o) => {
    if (o.resources === undefined) throw new UsageError('update: --resources FILE is needed (runc\'s per-limit options are not supported)');
    const { update } = await import('../oci/update.js');
    await update(g.root, idOf(a, 'update'), o.resources as string);
    return 0;
  }).option('-r, --resources <file>', 'the limits as runtime-spec linux.resources JSON ("-": stdin)');
  for (const name of ['checkpoint', 'restore', 'events']) {
    sub(`${name} [args...]`, 'not supported yet', () => {
      throw new ToolError(`${name}: not supported yet`);
    });
  }

  cmd.hook('preAction', () => {
    const o = cmd.opts<Global & { explain?: boolean }>();
    g = o;
    applyExplain(o);
    if (o.logFormat !== 'text' && o.logFormat !== 'json') throw new UsageError(`invalid log format: ${o.logFormat} (text or json)`);
    if (o.systemdCgroup) throw new ToolError('--systemd-cgroup: not supported: ts-oci manages cgroupfs paths (use cgroup_manager = "cgroupfs")');
  });
  try {
    await cmd.parseAsync(process.argv.slice(2), { from: 'user' });
    return await result;
  } catch (err) {
    if (err instanceof Error && KNOWN_ERRORS.has(err.name)) {
      logError(g, err.message);
      throw err instanceof ToolError ? err : new ToolError(err.message);
    }
    throw err;
  }
}

/**
 * What create and run load and build before their work: their modules, and zod's schemas
 * with the state zod sets up at their first parse. Run when scripts/bundle.mjs builds this
 * tool's start-up snapshot, so that none of it is paid per container. Nothing here may
 * look at the host, the environment or the arguments: the snapshot keeps what it saw.
 */
async function prewarm(): Promise<void> {
  const { defaultConfig } = await import('../oci/defaults.js');
  const { parseConfig } = await import('../oci/config.js');
  const { mapConfig } = await import('../oci/mapping.js');
  const { parseSpec } = await import('../sandbox/spec.js');
  await Promise.all([import('../oci/create.js'), import('../sandbox/compile.js'), import('../cgroup/index.js'), import('../oci/seccomp-cache.js'),
    import('../spawn/steps.js'), import('../spawn/index.js'), import('../cli/messages.js'), import('../sys/io.js'), import('../sandbox/limits.js')]);
  parseSpec(mapConfig(parseConfig(defaultConfig(false, 0, 0)), '/').sandbox);
}

if (startupSnapshot.isBuildingSnapshot()) {
  startupSnapshot.setDeserializeMainFunction(() => {
    // What dist/bin/TOOL.cjs does first for a tool without a snapshot (scripts/bundle.mjs).
    process.on('SIGUSR1', () => {});
    void runTool(NAME, main);
  });
  void prewarm();
} else void runTool(NAME, main);
