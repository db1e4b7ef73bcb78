// ts-vserver: util-vserver's `vserver NAME start|stop|enter|exec|...` on namespaces.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { runProgram, waitForProgram } from './run.js';
import { Command } from 'commander';
import { program, runTool, applyExplain, EXPLAIN_HELP, documentSubcommands, helpSection, exitLike, ToolError, UsageError } from './common.js';

const COMMANDS = ['build', 'start', 'stop', 'restart', 'enter', 'exec', 'status', 'ps', 'kill'] as const;

const USAGE = '<name> <command> [<argument>...]';

/** The command list and environment of --help (each command's own: `ts-vserver NAME COMMAND --help`). */
const COMMAND_LIST: [string, string][] = [
  ['<name> build [options]', 'make the root filesystem'],
  ['<name> start [-- <command>...]', 'boot its init (or the command) in a new context'],
  ['<name> stop', 'TERM its init, kill what is left, remove every trace'],
  ['<name> restart', 'stop, then start'],
  ['<name> enter', 'a shell inside'],
  ['<name> exec <command>...', 'run a command inside'],
  ['<name> status', 'running or not (exit 0 or 3)'],
  ['<name> ps', 'its processes, with the pids seen inside'],
  ['<name> kill <pid> [<signal>]', 'signal a process by its pid inside'],
  ['start --all-onboot', 'start every vserver with ONBOOT=yes'],
  ['list', 'every vserver, running or not'],
];
const ENVIRONMENT: [string, string][] = [
  ['TSNS_VSERVER_CONFDIR', 'configs (default /etc/tsns/vservers)'],
  ['TSNS_VSERVER_ROOT', 'root filesystems (default /var/lib/tsns/vservers)'],
  ['TSNS_RUN_DIR', 'records of running vservers (default /run/tsns)'],
];

/** Each command as a commander command: its --help (`ts-vserver NAME build --help`), man page and completion. */
function subcommands(): Command[] {
  const sub = (name: string, usage: string, description: string) =>
    new Command(name === 'list' ? 'ts-vserver list' : `ts-vserver <name> ${name}`).usage(usage).description(description)
      .helpOption('-h, --help', 'display this help');
  return [
    sub('build', '[--busybox | --debootstrap <suite>] [--force]', 'Make the root filesystem of the vserver (a config with the defaults is written if there is none).')
      .option('--busybox', 'a busybox root (the default)')
      .option('--debootstrap <suite>', 'a Debian root made by debootstrap, e.g. bookworm')
      .option('--force', 'replace an existing root'),
    sub('start', '[--explain] [-- <command>...]', 'Boot its init (or the command) in a new context.')
      .option('--explain', EXPLAIN_HELP),
    sub('stop', '', 'TERM its init, kill what is left, remove every trace.'),
    sub('restart', '[-- <command>...]', 'Stop, then start.'),
    sub('enter', '', 'A login shell inside.'),
    sub('exec', '<command>...', 'Run a command inside.'),
    sub('status', '', 'Running or not: exit 0 running, 1 broken, 3 stopped, 4 being started.'),
    sub('ps', '', 'Its processes, with the pids seen inside.'),
    sub('kill', '<pid> [<signal>]', 'Signal a process by its pid inside.'),
    sub('list', '', 'Every vserver, running or not.'),
  ];
}

/** `NAME COMMAND --help` (options of COMMAND before its operands): that command's help. */
function subcommandHelp(subs: Command[], args: string[]): boolean {
  const word = args.find((a) => (COMMANDS as readonly string[]).includes(a) || a === 'list');
  if (!word) return false;
  const rest = args.slice(args.indexOf(word) + 1);
  const end = rest.findIndex((a) => a === '--' || (word !== 'build' && !a.startsWith('-')));
  if (!rest.slice(0, end < 0 ? rest.length : end).some((a) => a === '--help' || a === '-h')) return false;
  subs.find((c) => c.name().endsWith(` ${word}`))!.outputHelp();
  return true;
}

async function main(): Promise<number> {
  const cmd = program('ts-vserver', 'Build, start, stop and enter virtual private servers.')
    .usage(USAGE)
    .argument('[args...]');
  cmd.addHelpText('after', () => `\n${helpSection(cmd, 'Commands:', COMMAND_LIST)}\n${helpSection(cmd, 'Environment:', ENVIRONMENT)}`);
  const subs = subcommands();
  documentSubcommands(cmd, subs);
  cmd.parse(process.argv.slice(2), { from: 'user' });
  applyExplain(cmd.opts());
  let args = [...cmd.args];
  if (subcommandHelp(subs, args)) return 0;
  const vs = await import('../vserver/index.js');

  if (args[0] === 'list') return list(vs);
  if (args[0] === 'start' && args[1] === '--all-onboot') {
    let failed = 0;
    for (const n of await vs.onbootNames()) {
      if (vs.running(n)) continue;
      try {
        await vs.start(n);
      } catch (err) {
        process.stderr.write(`ts-vserver: ${n}: ${(err as Error).message}\n`);
        failed++;
      }
    }
    return failed ? 1 : 0;
  }
  // util-vserver's vps/vkill order (`ps NAME`) as well as `NAME ps`.
  if ((COMMANDS as readonly string[]).includes(args[0]) && args.length >= 2 && !args[1].startsWith('-')) {
    args = [args[1], args[0], ...args.slice(2)];
  }
  const [name, command, ...rest] = args;
  if (!name) throw new UsageError('no vserver name given');
  if (!command) throw new UsageError('no command given');
  try {
    (await import('../vserver/context.js')).checkContextName(name, 'vserver');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (['stop', 'status', 'ps', 'enter'].includes(command) && rest.length) throw new UsageError(`${command} takes no argument (got '${rest[0]}')`);
  try {
    switch (command) {
      case 'build': return await build(vs, name, rest);
      case 'start': return await start(vs, name, rest);
      case 'stop':
        if (!(await vs.stop(name))) throw new ToolError(`vserver ${name} is not running`);
        return 0;
      case 'restart':
        await vs.stop(name);
        return await start(vs, name, rest);
      case 'enter': return await inside(vs, name, []);
      case 'exec': {
        // `exec --` alone is no command either (it would become `enter`).
        const argv = rest[0] === '--' ? rest.slice(1) : rest;
        if (!argv.length) throw new UsageError('exec needs a command');
        return await inside(vs, name, argv);
      }
      case 'status': return await status(vs, name);
      case 'ps': {
        const rows = [['PID', 'HOSTPID', 'STAT', 'COMMAND'], ...vs.ps(name).map((p) => [String(p.inside), String(p.pid), p.state, p.cmd])];
        table(rows);
        return 0;
      }
      case 'kill': {
        const [pid, sig] = rest;
        if (!pid || !/^\d+$/.test(pid)) throw new UsageError('kill needs a pid (as seen inside) and optionally a signal');
        const { signalNumber } = await import('../spawn/index.js');
        let signal: number;
        try {
          signal = sig === undefined ? signalNumber('SIGTERM') : /^\d+$/.test(sig) ? Number(sig) : signalNumber(sig);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        // kill(2) takes 0 to SIGRTMAX; Node throws on anything else.
        if (signal > 64) throw new UsageError(`unknown signal: ${sig}`);
        vs.kill(name, Number(pid), signal);
        return 0;
      }
      default:
        throw new UsageError(`unknown command '${command}' (known: ${COMMANDS.join(', ')})`);
    }
  } catch (err) {
    if (err instanceof Error && ['VserverError', 'ContextError', 'BuildError'].includes(err.name)) throw new ToolError(err.message);
    const { spawnFailure } = await import('./messages.js');
    throw spawnFailure(err);
  }
}

async function build(vs: typeof import('../vserver/index.js'), name: string, rest: string[]): Promise<number> {
  let kind: 'busybox' | 'debootstrap' = 'busybox';
  let suite: string | undefined;
  let force = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--busybox') kind = 'busybox';
    else if (rest[i] === '--debootstrap') {
      kind = 'debootstrap';
      suite = rest[++i];
      if (!suite) throw new UsageError('--debootstrap needs a suite (e.g. bookworm)');
    } else if (rest[i] === '--force') force = true;
    else throw new UsageError(`build: unknown option '${rest[i]}'`);
  }
  const file = vs.configFile(name);
  // Like util-vserver's build, a vserver without config gets one with the defaults.
  if (!existsSync(file)) {
    mkdirSync(vs.confDir(), { recursive: true });
    writeFileSync(file, `# ts-vserver ${name}: see docs/ts-vserver.md\nS_HOSTNAME=${name}\nONBOOT=no\n`);
  }
  const cfg = await vs.loadConfig(name);
  if (vs.running(name)) throw new ToolError(`vserver ${name} is running: stop it first`);
  // What it is doing, on stderr (stdout stays for what a command reports).
  const say = (line: string) => process.stderr.write(`ts-vserver: ${name}: ${line}\n`);
  if (kind === 'debootstrap') return vs.buildDebootstrap(cfg.rootdir, suite!, { force, say });
  vs.buildBusybox(name, cfg.rootdir, { force, hostname: cfg.hostname, say });
  return 0;
}

async function start(vs: typeof import('../vserver/index.js'), name: string, rest: string[]): Promise<number> {
  // Options of start come before its command (or `--`): `start --explain` is not an init.
  let i = 0;
  for (; i < rest.length && rest[i].startsWith('-'); i++) {
    if (rest[i] === '--') {
      i++;
      break;
    }
    const explain = /^--explain(?:=(.*))?$/.exec(rest[i]);
    if (!explain) throw new UsageError(`start: unknown option '${rest[i]}'`);
    applyExplain({ explain: true }, explain[1] ?? '');
  }
  await vs.start(name, rest.slice(i));
  return 0;
}

/** util-vserver's (and LSB's) status codes: 0 running, 1 dead but records left, 3 stopped, 4 unknown. */
async function status(vs: typeof import('../vserver/index.js'), name: string): Promise<number> {
  const s = await vs.status(name);
  if (s.error && s.condition === 'stopped') throw new ToolError(s.error);
  const out = {
    running: [`vserver ${name} is running (pid ${s.pid}, ${s.procs} processes)`, 0],
    broken: [`vserver ${name} is broken (a start was killed, or its init died): 'ts-vserver ${name} stop' removes what is left`, 1],
    stopped: [`vserver ${name} is stopped`, 3],
    starting: [`vserver ${name} is being started`, 4],
  } as const;
  const [line, code] = out[s.condition];
  process.stdout.write(`${line}\n`);
  return code;
}

async function inside(vs: typeof import('../vserver/index.js'), name: string, argv: string[]): Promise<number> {
  // enter: a login shell as root inside, as `vserver NAME enter` gives.
  const program = argv.length ? argv : ['/bin/sh', '-l'];
  const { hasStage } = await import('./stage.js');
  if (!hasStage()) return exitLike(await waitForProgram(await vs.exec(name, program)));
  // Through the stage the program runs in the tool's process; joining the pid namespace
  // forks, and the small parent that waits passes SIGINT, SIGTERM and SIGHUP on.
  const { spec, lock } = await vs.prepareExec(name);
  const { FORK } = await import('../native/plan.js');
  try {
    return await runProgram(spec, program, { inPlace: { joinForkMode: FORK.stops | FORK.forward } });
  } finally {
    lock.release();
  }
}

async function list(vs: typeof import('../vserver/index.js')): Promise<number> {
  const { formatSize } = await import('../cgroup/parse.js');
  const rows = [['NAME', 'STATUS', 'PID', 'PROCS', 'MEMORY', 'IP', 'HOSTNAME']];
  for (const s of await vs.list()) {
    rows.push([
      s.name, s.error && s.condition === 'stopped' ? 'bad-config' : s.condition, s.pid ? String(s.pid) : '-',
      s.procs !== undefined ? String(s.procs) : '-', s.memory !== undefined ? formatSize(s.memory) : '-',
      s.ips.length ? s.ips.join(',') : '-', s.hostname ?? '-',
    ]);
  }
  table(rows);
  return 0;
}

function table(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]))).join('  ') + '\n');
}

// The reaper of spawn() holds the event loop while a detached child runs: leave when done.
void runTool('ts-vserver', main).then(() => process.exit());
