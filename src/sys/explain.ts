// --explain: every system call the library makes (or asks the native stage to make) is
// reported here as one strace-style line, at the moment it is made, after a label naming
// the process that makes it. `why` adds the reason after "   # "; plumbing lines (reads
// that only find things out, descriptor juggling) show only with `all`.

/** What --explain=MODE asks for besides the calls themselves. */
export interface ExplainMode {
  why: boolean;
  all: boolean;
}

let sink: ((line: string) => void) | null = null;
let mode: ExplainMode = { why: false, all: false };
// A library user's Node process is the parent of every child it spawns.
let label = '[parent] ';

/** Turn tracing on (to stderr, or to a given sink) or off. */
export function setExplain(on: boolean | ((line: string) => void), options: Partial<ExplainMode> = {}): void {
  sink = on === false ? null : on === true ? (line) => process.stderr.write(line + '\n') : on;
  mode = { why: options.why ?? false, all: options.all ?? false };
}

/** The label of this process's lines: `[planner] ` under a tool's stage, none for a tool alone (ts-lsns). */
export function setExplainLabel(text: string): void {
  label = text;
}

/** MODE of --explain=MODE: a comma-separated list of `why` and `all` (empty: the calls only). */
export function parseExplainMode(text: string): ExplainMode {
  const words = text === '' ? [] : text.split(',');
  const bad = words.find((w) => w !== 'why' && w !== 'all');
  if (bad !== undefined) throw new RangeError(`invalid argument '${bad}' for --explain (it takes why, all, or both: why,all)`);
  return { why: words.includes('why'), all: words.includes('all') };
}

export function explaining(): boolean {
  return sink !== null;
}

/** The mode, or null when not explaining. */
export function explainMode(): ExplainMode | null {
  return sink ? mode : null;
}

/** A reason, where --explain=why asked for reasons. */
const reason = (why: string | undefined): string => (mode.why && why ? `   # ${why}` : '');

/** A call's line, with its reason when --explain=why asked for reasons. */
export function explain(line: string, why?: string): void {
  sink?.(label + line + reason(why));
}

/** A line that only finds things out or moves descriptors: shown with --explain=all. */
export function explainPlumbing(line: string): void {
  if (mode.all) explain(line);
}

/** A helper program run to do a step (ip, newuidmap): `[exec] ARGV`. */
export function explainExec(argv: readonly string[], why?: string): void {
  sink?.(`[exec] ${argv.join(' ')}${reason(why)}`);
}
