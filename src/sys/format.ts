// Rendering of call arguments in the strace style used by --explain and SysError.

// What a terminal acts on: the C0 controls but the newline (ESC starts a sequence, CR
// rewrites the line), DEL, the C1 controls (U+009B is an 8-bit CSI), the line and paragraph
// separators and the bidi overrides, which reorder what is shown. JSON.stringify escapes
// only the C0 ones.
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Text with every character a terminal would act on as a \uXXXX escape (newlines kept). */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A C string argument: "text" with every control escaped (JSON.parse reads it back), or NULL. */
export function cstr(s: string | null | undefined): string {
  return s == null ? 'NULL' : printable(JSON.stringify(s));
}

/** A bit mask as FLAG_A|FLAG_B, with any unnamed rest in hex; 0 stays 0. */
export function flagNames(value: number | bigint, table: Record<string, number | bigint>): string {
  let rest = BigInt(value);
  const names: string[] = [];
  for (const [name, bit] of Object.entries(table)) {
    const b = BigInt(bit);
    if (b !== 0n && (rest & b) === b) {
      names.push(name);
      rest &= ~b;
    }
  }
  if (rest !== 0n) names.push('0x' + rest.toString(16));
  return names.length ? names.join('|') : '0';
}

/** The name of a value among exclusive constants, or the number. */
export function constName(value: number, table: Record<string, number>): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return String(value);
}
