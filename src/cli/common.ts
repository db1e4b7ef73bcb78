// What every tool shares: error lines in the util-linux shape, --explain, exit statuses.
import { fstatSync, readFileSync } from 'node:fs';
import { Command, CommanderError, Help, type Option } from 'commander';
import { parseExplainMode, setExplain } from '../sys/explain.js';
import { printable } from '../sys/format.js';
import { finishStage, stageWaitsForStatus, takeStageEnv } from './stage.js';

/** Bad input: printed as one line plus the "Try ... --help" hint, exit 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure already worded for the user: printed as one line, exit `code`. */
export class ToolError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.name = 'ToolError';
    this.code = code;
  }
}

/**
 * getopt_long's abbreviations: `--prop` is `--propagation`. An exact name wins; a prefix of
 * several names is refused in glibc's words. Anything else is left as it is.
 */
function expandLong(arg: string, longs: readonly string[]): string {
  if (!arg.startsWith('--') || arg === '--') return arg;
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg : arg.slice(0, eq);
  if (longs.includes(name)) return arg;
  const matches = longs.filter((l) => l.startsWith(name));
  if (matches.length > 1) throw new UsageError(`option '${arg}' is ambiguous; possibilities: ${matches.map((m) => `'${m}'`).join(' ')}`);
  return matches.length ? matches[0] + (eq < 0 ? '' : arg.slice(eq)) : arg;
}

/**
 * A tool's commander program: long options may be abbreviated, as getopt_long allows; a
 * tool's own option of a name program() already gave (ts-lsns's -V) takes its place.
 */
class ToolCommand extends Command {
  private stopsAtOperand = false;
  usageStatus = 1;

  override addOption(option: Option): this {
    const i = option.long === '--version' ? this.options.findIndex((o) => o.long === option.long) : -1;
    if (i >= 0) (this.options as Option[]).splice(i, 1);
    return super.addOption(option);
  }

  // Subcommands (ts-cgroup's) parse as the program does: --explain=MODE, abbreviations.
  override createCommand(name?: string): Command {
    return new ToolCommand(name);
  }

  override passThroughOptions(passThrough = true): this {
    this.stopsAtOperand = passThrough;
    return super.passThroughOptions(passThrough);
  }

  // TSNS_OPTION_TABLE=1: print the option table (for man pages and completion, made at
  // build time from these very definitions) instead of running the tool.
  override parse(argv?: readonly string[], options?: Parameters<Command['parse']>[1]): this {
    if (process.env.TSNS_OPTION_TABLE === '1') printOptionTable(this);
    return super.parse(argv, options);
  }

  override parseAsync(argv?: readonly string[], options?: Parameters<Command['parseAsync']>[1]): Promise<this> {
    if (process.env.TSNS_OPTION_TABLE === '1') printOptionTable(this);
    return super.parseAsync(argv, options);
  }

  override parseOptions(argv: string[]): { operands: string[]; unknown: string[] } {
    const longs = [...this.options.flatMap((o) => (o.long ? [o.long] : [])), '--help'];
    const args = [...argv];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === '--') break;
      if (!a.startsWith('-') || a === '-') {
        if (this.stopsAtOperand) break;
        continue;
      }
      if (a.startsWith('--explain=')) {
        // --explain takes its MODE attached only: `--explain jail` must leave jail an operand.
        explainModeText = a.slice('--explain='.length);
        args[i] = '--explain';
        continue;
      }
      if (a.startsWith('--')) {
        try {
          args[i] = expandLong(a, longs);
        } catch (err) {
          if (this.usageStatus === 1) throw err;
          throw new ToolError(`${(err as Error).message}\nTry '${this.name()} --help' for more information.`, this.usageStatus);
        }
        if (this.options.find((o) => o.long === args[i])?.required) i++;
        continue;
      }
      // A cluster of short options: one that takes a value takes the rest, or the next argument.
      for (let j = 1; j < a.length; j++) {
        const o = this.options.find((opt) => opt.short === `-${a[j]}`);
        if (!o?.required && !o?.optional) continue;
        if (o.required && j === a.length - 1) i++;
        break;
      }
    }
    return super.parseOptions(args);
  }
}

/** One command's options, operands and subcommands, as the man page and completion generators read them. */
export interface CommandTable {
  name: string;
  description: string;
  usage: string;
  arguments: { name: string; description: string; required: boolean; variadic: boolean }[];
  options: { flags: string; short?: string; long?: string; value?: string; optional: boolean; description: string; hidden: boolean }[];
  commands: CommandTable[];
}

/** Subcommands a tool parses itself (ts-vserver's `NAME build`), described as commander commands for help and the table. */
const extraCommands = new WeakMap<Command, Command[]>();
export function documentSubcommands(cmd: Command, subs: Command[]): void {
  extraCommands.set(cmd, subs);
  for (const sub of subs) helpLayout(sub);
}

export function optionTable(cmd: Command): CommandTable {
  return {
    name: cmd.name(),
    description: cmd.description(),
    usage: cmd.usage(),
    arguments: cmd.registeredArguments.map((a) => ({ name: a.name(), description: a.description, required: a.required, variadic: a.variadic })),
    options: cmd.createHelp().visibleOptions(cmd).map((o) => ({
      flags: o.flags, short: o.short, long: o.long, optional: o.optional, hidden: o.hidden, description: o.description,
      value: o.required || o.optional ? /[<[]([^>\]]*)[>\]]/.exec(o.flags)?.[1] : undefined,
    })),
    commands: [...cmd.commands, ...(extraCommands.get(cmd) ?? [])].map(optionTable),
  };
}

function printOptionTable(cmd: Command): never {
  process.stdout.write(`${JSON.stringify(optionTable(cmd))}\n`);
  process.exit(0);
}

/** The width --help wraps to: COLUMNS, else the terminal's, else 80. */
export function helpWidth(): number {
  const columns = Number(process.env.COLUMNS);
  if (Number.isInteger(columns) && columns > 0) return columns;
  return (process.stdout.isTTY && process.stdout.columns) || 80;
}

/**
 * --help laid out as util-linux's: wrapped to helpWidth(); the option column is at most a
 * third of the width, and a longer option has its description on the next line.
 */
export function helpLayout(cmd: Command): Command {
  // Measured when help is shown, not at start-up: asking stdout for its width builds the
  // stream, which costs every run of a tool milliseconds.
  return cmd.configureHelp({
    get helpWidth() {
      return helpWidth();
    },
    minWidthToWrap: 20,
    padWidth(c, helper) {
      return Math.min(Math.max(16, Math.floor(helpWidth() / 3)), Help.prototype.padWidth.call(helper, c, helper));
    },
    formatItem(term, termWidth, description, helper) {
      if (term.length <= termWidth || !description) return Help.prototype.formatItem.call(helper, term, termWidth, description, helper);
      const width = helpWidth();
      const indent = ' '.repeat(termWidth + 4);
      const wrapped = helper.boxWrap(description, width - indent.length).replace(/\n/g, `\n${indent}`);
      return `  ${term}\n${indent}${wrapped}`;
    },
  });
}

/** A titled list of (term, description) laid out as --help's options are: for help text of a tool's own. */
export function helpSection(cmd: Command, title: string, items: [string, string][]): string {
  const helper = cmd.createHelp();
  const pad = Math.min(Math.max(16, Math.floor(helpWidth() / 3)), Math.max(...items.map(([term]) => term.length)));
  return `${title}\n${items.map(([term, description]) => helper.formatItem(term, pad, description, helper)).join('\n')}\n`;
}

/** package.json's version, read only when asked for (start-up time). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** commander's error text in getopt's wording (glibc's messages), without the "error: ". */
function getoptWording(s: string, cmd: Command): string {
  s = s.replace(/^error: /, '');
  // getopt names the form that was typed; a missing value can only be the last argument's.
  const missing = /^option '(?:-(\w), )?(--[\w-]+)[^']*' argument missing/.exec(s);
  if (missing) {
    const typed = process.argv[process.argv.length - 1] ?? '';
    return missing[1] && !typed.startsWith('--') ? `option requires an argument -- '${missing[1]}'\n` : `option '${missing[2]}' requires an argument\n`;
  }
  const withValue = /^unknown option '(--[^'=]+)=/.exec(s);
  if (withValue && cmd.options.some((o) => o.long === withValue[1] && !o.required && !o.optional)) return `option '${withValue[1]}' doesn't allow an argument\n`;
  return s.replace(/^unknown option '(--[^']*)'/, "unrecognized option '$1'")
    .replace(/^unknown option '-(.)'/, "invalid option -- '$1'");
}

/**
 * A commander program set up the util-linux way: options stop at the first operand
 * (like getopt's "+"), errors go to stderr as "NAME: message" plus a --help hint, exit 1;
 * -V/--version prints "NAME from tsns VERSION". With `coreutils`, as coreutils' tools:
 * --help and --version only ("NAME (tsns) VERSION"), and exit 125 on a bad option.
 */
export function program(name: string, description: string, style: { coreutils?: boolean } = {}): Command {
  const usageStatus = style.coreutils ? 125 : 1;
  let usageError = '';
  const tool = new ToolCommand(name);
  tool.usageStatus = usageStatus;
  const cmd: Command = tool
    .description(description)
    .passThroughOptions()
    .allowExcessArguments(true)
    .option('--explain', EXPLAIN_HELP)
    .helpOption(style.coreutils ? '--help' : '-h, --help', 'display this help')
    .option(style.coreutils ? '--version' : '-V, --version', 'display version')
    .on('option:version', () => {
      const text = style.coreutils ? `${name} (tsns) ${packageVersion()}` : `${name} from tsns ${packageVersion()}`;
      process.stdout.write(`${text}\n`);
      throw new CommanderError(0, 'commander.version', text);
    })
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // getopt's wording, so messages read as util-linux's do
      outputError: (s, write) => {
        usageError = getoptWording(s, cmd);
        if (usageStatus === 1) write(`${name}: ${usageError}`);
      },
    })
    .showSuggestionAfterError(false)
    .exitOverride((err) => {
      // Another status than commander's 1: the same two lines, from runTool.
      if (usageStatus !== 1 && err.exitCode !== 0) throw new ToolError(`${usageError}Try '${name} --help' for more information.`, usageStatus);
      throw err;
    });
  // Subcommands made later (ts-cgroup's) inherit these settings.
  helpLayout(cmd);
  return cmd;
}

/** commander's argument parser for an option that may be given more than once. */
export const repeatable = (value: string, previous: string[] = []): string[] => [...previous, value];

/** --explain's help, for the tools that declare it themselves. */
export const EXPLAIN_HELP = 'print each system call as it is made (to stderr); --explain=why adds the reasons, --explain=all the plumbing';

/** MODE of the last `--explain=MODE` seen: ToolCommand takes it out before commander parses. */
let explainModeText = '';

/** Turn on --explain if the parsed options ask for it (`mode`: a tool's own parser's MODE). */
export function applyExplain(opts: { explain?: boolean }, mode = explainModeText): void {
  if (!opts.explain) return;
  try {
    setExplain(true, parseExplainMode(mode));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function isPipe(fd: number): boolean {
  try {
    return fstatSync(fd).isFIFO();
  } catch {
    return false;
  }
}

/**
 * Run a tool's main and exit with its status. Known failures become one line on stderr;
 * anything else is a bug and keeps its stack.
 */
export async function runTool(name: string, main: () => Promise<number | void> | number | void): Promise<void> {
  takeStageEnv();
  // A reader that went away (`| head`) ends us quietly, as SIGPIPE ends a C tool. Only
  // a pipe has readers that go away; touching process.stdout otherwise would load Node's
  // streams for nothing at start-up.
  if (isPipe(1)) {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  // A reader of --explain lines that went away (`2>&1 | head`) must not end us before we
  // take back what we made: the lines stop, the work goes on.
  if (isPipe(2)) {
    process.stderr.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      setExplain(false);
    });
  }
  toolName = name;
  let code: number;
  try {
    code = (await main()) ?? 0;
  } catch (err) {
    code = reportError(err);
  }
  process.exitCode = code;
  if (stageWaitsForStatus()) {
    // The stage exits as soon as it is told: what we printed must be out first.
    await Promise.all([process.stdout, process.stderr].map((s) =>
      s.writableLength > 0 ? new Promise((resolve) => s.once('drain', resolve)) : undefined));
    finishStage(code);
  }
}

let toolName = '';

/** Print a failure the tool's way (one line, or a usage hint) and give the status to end with. */
export function reportError(err: unknown): number {
  const name = toolName;
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    process.stderr.write(`Try '${name} --help' for more information.\n`);
    return 1;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`${name}: ${printable(err.message)}\nTry '${name} --help' for more information.\n`);
    return 1;
  }
  if (err instanceof ToolError) {
    process.stderr.write(`${name}: ${printable(err.message)}\n`);
    return err.code;
  }
  if (err instanceof Error && ['SysError', 'StepError', 'StageError', 'NativeMissingError', 'TypeError', 'RangeError', 'CgroupError', 'ConfigError', 'NetError'].includes(err.name)) {
    process.stderr.write(`${name}: ${printable(err.message)}\n`);
    return 1;
  }
  throw err;
}

/**
 * End this process the way a child ended: with its exit code, or by the same signal
 * (re-raised with the default action), as util-linux does.
 */
export function exitLike(status: { code: number | null; signal: NodeJS.Signals | null }): number {
  if (status.signal) {
    process.removeAllListeners(status.signal);
    process.kill(process.pid, status.signal);
    return 128; // not reached for signals whose default action ends the process
  }
  return status.code ?? 1;
}

/**
 * getopt's optional arguments (`--mount[=file]`, `-m/file`) cannot be told apart from
 * an operand by commander (it would read `--mount ls` as file "ls"). Before parsing, take
 * the attached values out of the options in `names` (long name -> short letter, or '' where
 * the short form takes no value, as in unshare's), leaving the bare flags. `takesValue`
 * lists the options whose value is the next argument (`-t`, `--propagation`): that value
 * is skipped, not read as an option; a short form of an option in `names` listed there takes
 * its value from the next argument too (nsenter's `-W dir`, whose `--wdns[=dir]` is optional). Short options may be clustered (`-Ft 1`, `-um/file`).
 * Long options in `longs` may be abbreviated (getopt_long's unambiguous prefixes).
 * Stops at the first operand or "--", as getopt with "+" does. Values are kept as given
 * (`-m=x` is "=x"; nsenter strips the "=" itself, as util-linux does).
 */
export function takeOptionalValues(argv: readonly string[], names: Record<string, string>, takesValue: readonly string[] = [], longs: readonly string[] = []): { argv: string[]; values: Map<string, string> } {
  const out: string[] = [];
  const values = new Map<string, string>();
  const shorts = new Map(Object.entries(names).filter(([, short]) => short).map(([long, short]) => [short, long]));
  const needsValue = new Set(takesValue);
  let i = 0;
  for (; i < argv.length; i++) {
    const a = expandLong(argv[i], longs);
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      if (eq >= 0 && name in names) {
        values.set(name, a.slice(eq + 1));
        out.push(`--${name}`);
        continue;
      }
      out.push(a);
      if (eq < 0 && needsValue.has(a) && i + 1 < argv.length) out.push(argv[++i]);
      continue;
    }
    // A cluster of short options: flags, up to one that takes the rest (or the next argument).
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      const rest = a.slice(j + 1);
      const long = shorts.get(c);
      if (long !== undefined) {
        // Optional when attached; a short form listed in takesValue requires it (nsenter's -W).
        if (rest) values.set(long, rest);
        else if (needsValue.has(`-${c}`)) {
          if (i + 1 >= argv.length) throw new UsageError(`option requires an argument -- '${c}'`);
          values.set(long, argv[++i]);
        }
        out.push(`--${long}`);
        break;
      }
      if (needsValue.has(`-${c}`)) {
        out.push(`-${c}`);
        if (rest) out.push(rest);
        else if (i + 1 < argv.length) out.push(argv[++i]);
        break;
      }
      out.push(`-${c}`);
    }
  }
  return { argv: [...out, ...argv.slice(i)], values };
}
