// Rendering of call arguments in the strace style used by --explain and SysError.

/** A C string argument: "text", or NULL. */
export function cstr(s: string | null | undefined): string {
  return s == null ? 'NULL' : JSON.stringify(s);
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
