// Filter expressions as libsmartcols reads them (scols-filter(5)), for ts-lsns --filter:
// 'USER != "root" and NPROCS > 1'. Parsing and evaluation only; the caller names the
// columns (holders) and gives each row's cell text. No I/O.

/** The data types of libsmartcols' filter: u64 (as bigint), float, string, boolean. */
export type FilterType = 'u64' | 'float' | 'string' | 'boolean';

/** A parse or evaluation failure, already worded for one line after "failed to parse ...: ". */
export class FilterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

type Value = bigint | number | string | boolean;
type Op = 'and' | 'or' | 'eq' | 'ne' | 'le' | 'lt' | 'ge' | 'gt' | 'reg' | 'nreg';
type Node =
  | { kind: 'literal'; type: FilterType; value: Value }
  | { kind: 'holder'; name: string }
  | { kind: 'not'; operand: Node }
  | { kind: 'binary'; op: Op; left: Node; right: Node; re?: RegExp };

/** A column's text in one row (null: an empty cell) and the type the filter reads it as. */
export interface HolderData {
  data: string | null;
  type: FilterType;
}

export interface Filter {
  /** The column names the expression refers to, each once, as written. */
  readonly holders: readonly string[];
  /** Whether a row passes: `get` gives a holder's data in that row. Throws FilterError when a cell cannot be read as the type compared. */
  matches(get: (holder: string) => HolderData): boolean;
}

// libsmartcols' limits (SCOLS_FILTER_MAX_EXPRSZ, _MAX_NODES, _MAX_REGSZ, _MAX_REPCNT)
const MAX_EXPR = 1024;
const MAX_NODES = 256;
const MAX_REGEX = 256;
const MAX_REPEAT = 1024;

const KEYWORDS: Record<string, string> = {
  and: 'and', AND: 'and', '&&': 'and', or: 'or', OR: 'or', '||': 'or', '!': 'not', not: 'not', NOT: 'not',
  eq: 'eq', EQ: 'eq', '==': 'eq', ne: 'ne', NE: 'ne', '!=': 'ne', le: 'le', LE: 'le', '<=': 'le',
  lt: 'lt', LT: 'lt', '<': 'lt', ge: 'ge', GE: 'ge', '>=': 'ge', gt: 'gt', GT: 'gt', '>': 'gt',
  '=~': 'reg', '!~': 'nreg', true: 'true', TRUE: 'true', false: 'false', FALSE: 'false',
};
const COMPARISONS = new Set(['eq', 'ne', 'le', 'lt', 'ge', 'gt', 'reg', 'nreg']);

interface Token {
  /** 'and', 'eq', ... for operators and keywords; '(' ')'; 'number', 'float', 'string', 'holder'; 'end' */
  kind: string;
  text: string;
  value?: Value;
}

const SUFFIX = 'KMGTPEZY';

/** The scanner's rules, longest match first as flex takes them (a keyword wins a tie with a column name). */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const rules: [RegExp, (m: string) => Token][] = [
    [/^[ \t\n]+/, () => ({ kind: 'blank', text: '' })],
    [/^(&&|\|\||==|!=|<=|>=|=~|!~|[!<>()])/, (m) => ({ kind: KEYWORDS[m] ?? m, text: m })],
    [/^\d+\.\d+/, (m) => ({ kind: 'float', text: m, value: Number(m) })],
    [/^\d+[KMGTPEZY](iB)?/, (m) => {
      const n = BigInt(/^\d+/.exec(m)![0]) * 1024n ** BigInt(SUFFIX.indexOf(m[m.search(/[A-Z]/)]) + 1);
      if (n > 2n ** 64n - 1n) throw new FilterError(`"${m}" number too large`);
      return { kind: 'number', text: m, value: n };
    }],
    [/^\d+/, (m) => ({ kind: 'number', text: m, value: BigInt.asUintN(64, BigInt(m)) })],
    [/^[a-zA-Z][a-zA-Z_.%:/\-0-9]*/, (m) => ({ kind: KEYWORDS[m] ?? 'holder', text: m })],
    [/^("[^"\n]*"|'[^'\n]*')/, (m) => ({ kind: 'string', text: m, value: m.slice(1, -1) })],
  ];
  for (let i = 0; i < src.length;) {
    const rest = src.slice(i);
    let best: { len: number; make: (m: string) => Token; m: string } | null = null;
    for (const [re, make] of rules) {
      const m = re.exec(rest)?.[0];
      if (m && (!best || m.length > best.len)) best = { len: m.length, make, m };
    }
    if (!best) {
      const ch = String.fromCodePoint(rest.codePointAt(0)!);
      throw new FilterError(ch === '"' || ch === "'" ? `unterminated string at ${ch}${rest.slice(1, 20)}` : `unexpected character '${ch}'`);
    }
    const tok = best.make(best.m);
    if (tok.kind !== 'blank') out.push(tok);
    i += best.len;
  }
  out.push({ kind: 'end', text: '' });
  return out;
}

const describe = (t: Token) => (t.kind === 'end' ? 'end of expression' : `'${t.text}'`);

/**
 * libsmartcols' grammar: "and" and "or" bind alike, left to right; the comparisons bind
 * tighter, also left to right; "!" negates one operand (a term or a parenthesized
 * expression). A term alone is true when it is not empty (not zero, not false).
 */
class Parser {
  private pos = 0;
  private nodes = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.logical();
    const t = this.peek();
    if (t.kind !== 'end') throw new FilterError(`syntax error, unexpected ${describe(t)}`);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.pos];
  }

  private count<T extends Node>(n: T): T {
    if (++this.nodes > MAX_NODES) throw new FilterError(`too many nodes (the limit is ${MAX_NODES})`);
    return n;
  }

  private logical(): Node {
    let left = this.comparison();
    for (let t = this.peek(); t.kind === 'and' || t.kind === 'or'; t = this.peek()) {
      this.pos++;
      left = this.count({ kind: 'binary', op: t.kind as Op, left, right: this.comparison() });
    }
    return left;
  }

  private comparison(): Node {
    let left = this.unary();
    for (let t = this.peek(); COMPARISONS.has(t.kind); t = this.peek()) {
      this.pos++;
      const right = this.unary();
      const node: Node = this.count({ kind: 'binary', op: t.kind as Op, left, right });
      if (t.kind === 'reg' || t.kind === 'nreg') {
        if (right.kind !== 'literal' || right.type !== 'string') throw new FilterError(`the right side of '${t.text}' must be a string`);
        node.re = compileRegex(right.value as string);
      }
      left = node;
    }
    return left;
  }

  private unary(): Node {
    const t = this.peek();
    if (t.kind === 'not') {
      this.pos++;
      return this.count({ kind: 'not', operand: this.unary() });
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.tokens[this.pos++];
    switch (t.kind) {
      case '(': {
        const inner = this.logical();
        const close = this.tokens[this.pos++];
        if (close.kind !== ')') throw new FilterError(`syntax error, unexpected ${describe(close)}, expecting ')'`);
        return inner;
      }
      case 'number': return this.count({ kind: 'literal', type: 'u64', value: t.value! });
      case 'float': return this.count({ kind: 'literal', type: 'float', value: t.value! });
      case 'string': return this.count({ kind: 'literal', type: 'string', value: t.value! });
      case 'true': case 'false': return this.count({ kind: 'literal', type: 'boolean', value: t.kind === 'true' });
      case 'holder': return this.count({ kind: 'holder', name: t.text });
      default: throw new FilterError(`syntax error, unexpected ${describe(t)}`);
    }
  }
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', xdigit: '0-9A-Fa-f', cntrl: '\\x00-\\x1f\\x7f', print: ' -~', graph: '!-~',
};

/**
 * A POSIX extended regular expression as JavaScript runs it, with the patterns libsmartcols
 * refuses for the memory they cost (consecutive quantifiers, a repeated group holding a
 * quantifier, an interval bound over 1024) refused as well.
 */
function compileRegex(pattern: string): RegExp {
  if (Buffer.byteLength(pattern) > MAX_REGEX) throw new FilterError(`regular expression longer than ${MAX_REGEX} bytes`);
  const unsafe = /[+*][+*]/.test(pattern) || /\([^(]*[+*][^(]*\)[+*]/.test(pattern)
    || [...pattern.matchAll(/\{([^}]*)\}?/g)].some((m) => (m[1].match(/\d+/g) ?? []).some((n) => Number(n) > MAX_REPEAT));
  if (unsafe) throw new FilterError(`unsafe regular expression '${pattern}'`);
  try {
    return new RegExp(pattern.replace(/\[:([a-z]+):\]/g, (all, name: string) => POSIX_CLASSES[name] ?? all));
  } catch (err) {
    throw new FilterError(`invalid regular expression '${pattern}': ${(err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')}`);
  }
}

/** Parse an expression; the empty one lets every row pass. Throws FilterError naming what is wrong. */
export function parseFilter(expr: string): Filter {
  if (typeof expr !== 'string') throw new TypeError(`Expected the filter expression to be a string, got \`${String(expr)}\``);
  if (Buffer.byteLength(expr) > MAX_EXPR) throw new FilterError(`expression longer than ${MAX_EXPR} bytes`);
  const root = expr === '' ? null : new Parser(tokenize(expr)).parse();
  const holders: string[] = [];
  const walk = (n: Node): void => {
    if (n.kind === 'holder' && !holders.includes(n.name)) holders.push(n.name);
    if (n.kind === 'not') walk(n.operand);
    if (n.kind === 'binary') [n.left, n.right].forEach(walk);
  };
  if (root) walk(root);
  return { holders, matches: (get) => (root ? truth(root, get) : true) };
}

/** A value with libsmartcols' "empty" mark: an empty cell compares false with any number. */
interface Param {
  type: FilterType;
  value: Value | null;
}

/** Cell text as libsmartcols keeps it: trimmed, a leading quote and its match removed. */
function cellText(s: string): string {
  const q = s[0];
  const inner = (q === '"' || q === "'") ? s.slice(1, s.endsWith(q) && s.length > 1 ? -1 : undefined) : s;
  return inner.trim();
}

function fetch(n: Node, get: (h: string) => HolderData): Param {
  switch (n.kind) {
    case 'literal': return { type: n.type, value: n.value };
    case 'holder': {
      const h = get(n.name);
      return cast({ type: 'string', value: h.data === null ? null : cellText(h.data) }, h.type, n.name);
    }
    default: return { type: 'boolean', value: truth(n, get) };
  }
}

const typeOfNode = (n: Node, get: (h: string) => HolderData): FilterType =>
  n.kind === 'literal' ? n.type : n.kind === 'holder' ? get(n.name).type : 'boolean';

function truth(n: Node, get: (h: string) => HolderData): boolean {
  if (n.kind === 'not') return !truth(n.operand, get);
  if (n.kind !== 'binary') {
    const p = fetch(n, get);
    if (p.value === null) return false;
    return p.type === 'string' ? p.value !== '' : p.type === 'boolean' ? p.value === true : Number(p.value) !== 0;
  }
  if (n.op === 'and') return truth(n.left, get) && truth(n.right, get);
  if (n.op === 'or') return truth(n.left, get) || truth(n.right, get);
  // the type compared in: both sides' if alike; else a literal's rather than a column's; float before u64
  const l = typeOfNode(n.left, get);
  const r = typeOfNode(n.right, get);
  let type = l;
  if (l !== r) {
    if (n.left.kind === 'holder' && n.right.kind !== 'holder') type = r;
    if (type === 'u64' && (l === 'float' || r === 'float')) type = 'float';
  }
  const a = cast(fetch(n.left, get), type, describeNode(n.left));
  const b = cast(fetch(n.right, get), type, describeNode(n.right));
  if (n.op === 'reg' || n.op === 'nreg') return n.re!.test(String(a.value ?? '')) === (n.op === 'reg');
  if (type === 'string') {
    // an empty cell sorts before any text, as strcmp with NULL does in libsmartcols
    const c = a.value === b.value ? 0 : a.value === null ? -1 : b.value === null ? 1 : (a.value as string) < (b.value as string) ? -1 : 1;
    return compare(n.op, c);
  }
  if (a.value === null || b.value === null) return false;
  const [x, y] = [a.value, b.value].map((v) => (typeof v === 'boolean' ? Number(v) : v)) as (number | bigint)[];
  return compare(n.op, x === y ? 0 : x < y ? -1 : 1);
}

function compare(op: Op, c: number): boolean {
  switch (op) {
    case 'eq': return c === 0;
    case 'ne': return c !== 0;
    case 'le': return c <= 0;
    case 'lt': return c < 0;
    case 'ge': return c >= 0;
    default: return c > 0;
  }
}

const describeNode = (n: Node): string => (n.kind === 'holder' ? n.name : n.kind === 'literal' ? String(n.value) : 'expression');

/** libsmartcols' casts between the four types; a cell that is not a number where one is compared is an error. */
function cast(p: Param, type: FilterType, what: string): Param {
  if (p.type === type || p.value === null) return { type, value: p.value };
  const v = p.value;
  switch (type) {
    case 'string':
      return { type, value: typeof v === 'number' ? formatFloat(v) : String(v) };
    case 'u64':
      if (typeof v === 'string') {
        if (!/^\s*\+?\d+$/.test(v) || BigInt(v.trim()) > 2n ** 64n - 1n) throw new FilterError(`${what}: '${v}' is not an unsigned number`);
        return { type, value: BigInt(v.trim()) };
      }
      return { type, value: typeof v === 'boolean' ? BigInt(v) : BigInt(Math.trunc(Number(v))) };
    case 'float':
      if (typeof v === 'string') {
        const f = Number(v.trim());
        if (v.trim() === '' || Number.isNaN(f)) throw new FilterError(`${what}: '${v}' is not a number`);
        return { type, value: f };
      }
      return { type, value: Number(v) };
    default:
      if (typeof v === 'string') return { type, value: v === '1' || v.toLowerCase() === 'true' || /^[yY]/.test(v) };
      return { type, value: Number(v) > 0 };
  }
}

/** printf's %Lg: six significant digits, no trailing zeros. */
function formatFloat(f: number): string {
  if (f === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(f)));
  if (exp < -4 || exp >= 6) {
    const [m, e] = f.toExponential(5).split('e');
    return `${m.replace(/\.?0+$/, '')}e${e[0]}${e.slice(1).padStart(2, '0')}`;
  }
  return f.toPrecision(6).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}
