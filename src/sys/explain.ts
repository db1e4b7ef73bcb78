// --explain: every system call the library makes (or asks the native stage to make)
// is reported here as one strace-like line, at the moment it is made.
let sink: ((line: string) => void) | null = null;

/** Turn tracing on (to stderr, or to a given sink) or off. */
export function setExplain(on: boolean | ((line: string) => void)): void {
  sink = on === false ? null : on === true ? (line) => process.stderr.write(line + '\n') : on;
}

export function explaining(): boolean {
  return sink !== null;
}

export function explain(line: string): void {
  sink?.(line);
}
