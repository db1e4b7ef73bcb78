// --explain lines for the file calls Node makes itself (cgroupfs, /proc maps, nsfs), in
// strace's shape: the call, then its result or -1 and the errno symbol with its text.
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { cstr } from './format.js';
import { errnoName, reasonOf } from './errors.js';
import { explain, explainMode } from './explain.js';

type Outcome = number | string | NodeJS.ErrnoException;

/** One call and its outcome (a result, or the error it threw). Plumbing shows with --explain=all only. */
export function explainFs(call: string, outcome: Outcome, options: { why?: string; plumbing?: boolean } = {}): void {
  const mode = explainMode();
  if (!mode || (options.plumbing && !mode.all)) return;
  const result = typeof outcome === 'object'
    ? `-1 ${outcome.code ?? errnoName(-(outcome.errno ?? 0))} (${reasonOf(outcome)})`
    : String(outcome);
  explain(`${call} = ${result}`, options.why);
}

/** The calls of open+write+close of `data` into `path` through descriptor `fd`. */
export function explainWrite(path: string, flags: string, fd: number | NodeJS.ErrnoException, data: string, written: number | NodeJS.ErrnoException, why?: string): void {
  explainFs(`openat(AT_FDCWD, ${cstr(path)}, ${flags})`, fd);
  if (typeof fd === 'number') explainFs(`write(${fd}, ${cstr(data)}, ${Buffer.byteLength(data)})`, written, { why });
}

/**
 * Read a whole file, each call shown with --explain=all (reading only finds things out).
 * `shown` stands in for contents a trace must not carry (another process's environment).
 */
export function readExplained(path: string, shown?: (text: string) => string): string {
  const open = `openat(AT_FDCWD, ${cstr(path)}, O_RDONLY|O_CLOEXEC)`;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (err) {
    explainFs(open, err as NodeJS.ErrnoException, { plumbing: true });
    throw err;
  }
  try {
    explainFs(open, fd, { plumbing: true });
    const text = readFileSync(fd, 'utf8');
    const what = shown ? shown(text) : cstr(text.length > 200 ? text.slice(0, 200) + '...' : text);
    explainFs(`read(${fd}, ${what}, ${Buffer.byteLength(text)})`, Buffer.byteLength(text), { plumbing: true });
    return text;
  } finally {
    closeSync(fd);
  }
}
