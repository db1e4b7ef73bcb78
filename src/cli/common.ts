// What every tool shares: error lines in the util-linux shape, --explain, exit statuses.
import { fstatSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { setExplain } from '../sys/explain.js';
import { finishStage, hasStage } from './stage.js';

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
 * A commander program set up the util-linux way: options stop at the first operand
 * (like getopt's "+"), errors go to stderr as "NAME: message" plus a --help hint, exit 1.
 */
export function program(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .passThroughOptions()
    .allowExcessArguments(true)
    .option('--explain', 'print each system call as it is made (to stderr)')
    .helpOption('-h, --help', 'display this help')
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // getopt's wording, so messages read as util-linux's do
      outputError: (s, write) => write(`${name}: ${s.replace(/^error: /, '')
        .replace(/^unknown option '(--[^']*)'/, "unrecognized option '$1'")
        .replace(/^unknown option '-(.)'/, "invalid option -- '$1'")}`),
    })
    .showSuggestionAfterError(false)
    .exitOverride();
}

/** commander's argument parser for an option that may be given more than once. */
export const repeatable = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Turn on --explain if the parsed options ask for it. */
export function applyExplain(opts: { explain?: boolean }): void {
  if (opts.explain) setExplain(true);
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
  // A reader that went away (`| head`) ends us quietly, as SIGPIPE ends a C tool. Only
  // a pipe has readers that go away; touching process.stdout otherwise would load Node's
  // streams for nothing at start-up.
  if (isPipe(1)) {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
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
  if (hasStage()) {
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
    process.stderr.write(`${name}: ${err.message}\nTry '${name} --help' for more information.\n`);
    return 1;
  }
  if (err instanceof ToolError) {
    process.stderr.write(`${name}: ${err.message}\n`);
    return err.code;
  }
  if (err instanceof Error && ['SysError', 'StepError', 'StageError', 'NativeMissingError', 'TypeError', 'RangeError', 'CgroupError', 'ConfigError', 'NetError'].includes(err.name)) {
    process.stderr.write(`${name}: ${err.message}\n`);
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
 * the short form takes no value, as in unshare's), leaving the bare flags. Stops at the first operand or "--", as getopt with "+" does.
 */
export function takeOptionalValues(argv: readonly string[], names: Record<string, string>): { argv: string[]; values: Map<string, string> } {
  const out: string[] = [];
  const values = new Map<string, string>();
  const shorts = new Map(Object.entries(names).filter(([, short]) => short).map(([long, short]) => [short, long]));
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    const long = /^--([^=]+)=(.*)$/s.exec(a);
    if (long && long[1] in names) {
      values.set(long[1], long[2]);
      out.push(`--${long[1]}`);
      continue;
    }
    const short = /^-([A-Za-z])(.+)$/s.exec(a);
    if (short && shorts.has(short[1]) && !a.startsWith('--')) {
      const name = shorts.get(short[1])!;
      values.set(name, short[2].replace(/^=/, ''));
      out.push(`--${name}`);
      continue;
    }
    out.push(a);
  }
  return { argv: [...out, ...argv.slice(i)], values };
}
