// ts-lsns: util-linux lsns(8) over listNamespaces' scan, printed the way libsmartcols prints
// (aligned columns, a process tree in COMMAND, -r raw, -J JSON), so that the output is
// byte for byte what lsns prints for the same processes.
import { Option } from 'commander';
import { eastAsianWidth } from 'get-east-asian-width';
import { applyExplain, program, runTool, ToolError, UsageError } from './common.js';
import { setExplainLabel } from '../sys/explain.js';
import type { NamespaceKind } from '../sys/ns.js';
import type { Scan, ScannedNamespace, ScannedProcess } from '../ns/list.js';
import type { Filter, HolderData } from '../ns/filter.js';

/* ---------- columns (lsns.c's table: name, width hint, flags, help, JSON type) ---------- */

interface ColInfo {
  name: string;
  /** width hint: a column whose data is at least its header's width grows to this */
  whint: number;
  right?: boolean;
  trunc?: boolean;
  /** multi-line cell, one line per "\n" */
  wrap?: boolean;
  number?: boolean;
  help: string;
}

const INFOS: readonly ColInfo[] = [
  { name: 'NS', whint: 10, right: true, number: true, help: 'namespace identifier (inode number)' },
  { name: 'TYPE', whint: 5, help: 'kind of namespace' },
  { name: 'PATH', whint: 0, help: 'path to the namespace' },
  { name: 'NPROCS', whint: 5, right: true, number: true, help: 'number of processes in the namespace' },
  { name: 'PID', whint: 5, right: true, number: true, help: 'lowest PID in the namespace' },
  { name: 'PPID', whint: 5, right: true, number: true, help: 'PPID of the PID' },
  { name: 'COMMAND', whint: 0, trunc: true, help: 'command line of the PID' },
  { name: 'UID', whint: 0, right: true, number: true, help: 'UID of the PID' },
  { name: 'USER', whint: 0, help: 'username of the PID' },
  { name: 'NETNSID', whint: 0, right: true, help: 'namespace ID as used by network subsystem' },
  { name: 'NSFS', whint: 0, wrap: true, help: 'nsfs mountpoint (usually used network subsystem)' },
  { name: 'PNS', whint: 10, right: true, number: true, help: 'parent namespace identifier (inode number)' },
  { name: 'ONS', whint: 10, right: true, number: true, help: 'owner namespace identifier (inode number)' },
];

const col = (name: string): number => INFOS.findIndex((c) => c.name === name);
const C = {
  NS: col('NS'), TYPE: col('TYPE'), PATH: col('PATH'), NPROCS: col('NPROCS'), PID: col('PID'), PPID: col('PPID'),
  COMMAND: col('COMMAND'), UID: col('UID'), USER: col('USER'), NETNSID: col('NETNSID'), NSFS: col('NSFS'),
  PNS: col('PNS'), ONS: col('ONS'),
};
/** lsns keeps at most twice the number of columns (duplicates allowed) */
const MAX_COLUMNS = INFOS.length * 2;

/* ---------- text: cells hold UTF-8 bytes as latin1 strings, as C strings hold bytes ---------- */

const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
const hex = (c: number): string => '\\x' + c.toString(16).padStart(2, '0');

function utf8Locale(): boolean {
  const lc = process.env.LC_ALL || process.env.LC_CTYPE || process.env.LANG || '';
  return /utf-?8/i.test(lc);
}

/** Decode one UTF-8 sequence at i: [code point, length], or null if invalid (as mbrtowc). */
function decodeAt(s: string, i: number): [number, number] | null {
  const b0 = s.charCodeAt(i);
  let n: number, cp: number, min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [n, cp, min] = [2, b0 & 0x1f, 0x80];
  else if (b0 >= 0xe0 && b0 <= 0xef) [n, cp, min] = [3, b0 & 0x0f, 0x800];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [n, cp, min] = [4, b0 & 0x07, 0x10000];
  else return null;
  if (i + n > s.length) return null;
  for (let k = 1; k < n; k++) {
    const b = s.charCodeAt(i + k);
    if ((b & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return [cp, n];
}

const NONPRINT = /[\p{Cc}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/u;
const ZERO = /[\p{Mn}\p{Me}\p{Cf}]/u;
/**
 * wcwidth(3) as glibc gives it in a UTF-8 locale: 0 for combining and format marks (but the
 * soft hyphen) and for Hangul's conjoining vowels and final consonants (they join the
 * initial before them into one syllable cell), 2 for East Asian wide and fullwidth
 * characters (CJK, emoji presentation), else 1; ambiguous-width characters are narrow,
 * as glibc counts them.
 */
function wcwidth(cp: number): number {
  if (cp !== 0xad && ZERO.test(String.fromCodePoint(cp))) return 0;
  if ((cp >= 0x1160 && cp <= 0x11ff) || (cp >= 0xd7b0 && cp <= 0xd7ff)) return 0;
  return eastAsianWidth(cp);
}

/**
 * libsmartcols' "safe" encoding for terminal output: control characters, invalid or
 * unprintable multibyte sequences and a literal "\x" become \xHH; returns the text and
 * its width in terminal cells.
 */
function safeEncode(s: string, utf8: boolean, safechars = ''): { text: string; width: number } {
  let text = '';
  let width = 0;
  for (let i = 0; i < s.length;) {
    const c = s.charCodeAt(i);
    if (safechars.includes(s[i])) {
      text += s[i++];
      continue;
    }
    if ((c === 0x5c && s[i + 1] === 'x') || c < 0x20 || c === 0x7f) {
      text += hex(c);
      width += 4;
      i++;
    } else if (c < 0x80) {
      text += s[i++];
      width++;
    } else {
      const d = utf8 ? decodeAt(s, i) : null;
      if (!d) {
        text += hex(c);
        width += 4;
        i++;
      } else if (NONPRINT.test(String.fromCodePoint(d[0]))) {
        for (let k = 0; k < d[1]; k++) text += hex(s.charCodeAt(i + k));
        width += 4 * d[1];
        i += d[1];
      } else {
        text += s.slice(i, i + d[1]);
        width += wcwidth(d[0]);
        i += d[1];
      }
    }
  }
  return { text, width };
}

/** Cut already encoded text to at most `width` cells; returns it and its width. */
function truncateCells(s: string, width: number): { text: string; width: number } {
  let w = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const d = c >= 0x80 ? decodeAt(s, i) : null;
    const [cw, n] = d ? [wcwidth(d[0]), d[1]] : [1, 1];
    if (w + cw > width) break;
    w += cw;
    i += n;
  }
  return { text: s.slice(0, i), width: w };
}

/** -r: blanks, backslashes and anything unprintable as \xHH, byte by byte. */
function rawEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c === 0x20 || c === 0x09 || c === 0x5c || c < 0x20 || c >= 0x7f ? hex(c) : s[i];
  }
  return out;
}

function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + s[i];
    else if (c >= 0x20) out += s[i];
    else out += ({ 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' } as Record<number, string>)[c]
      ?? '\\u00' + c.toString(16).padStart(2, '0');
  }
  return out + '"';
}

/* ---------- the table (the part of libsmartcols lsns uses) ---------- */

interface Column {
  info: ColInfo;
  right: boolean;
  trunc: boolean;
  wrap: boolean;
  tree: boolean;
  width: number;
  widthMin: number;
  widthTreeart: number;
}

interface Line {
  cells: string[];
  parent: Line | null;
  children: Line[];
}

class Table {
  readonly lines: Line[] = [];
  constructor(
    readonly cols: Column[],
    readonly format: 'human' | 'raw' | 'json',
    readonly noheadings: boolean,
  ) {}

  add(cells: string[], parent: Line | null): Line {
    const line: Line = { cells, parent, children: [] };
    this.lines.push(line);
    parent?.children.push(line);
    return line;
  }

  private get isTree(): boolean {
    return this.cols.some((c) => c.tree);
  }

  /** Lines in print order: as added, or depth first from each root when there is a tree column. */
  private order(): Line[] {
    if (!this.isTree) return this.lines;
    const out: Line[] = [];
    const walk = (l: Line) => {
      out.push(l);
      l.children.forEach(walk);
    };
    this.lines.filter((l) => !l.parent).forEach(walk);
    return out;
  }

  render(): string {
    if (this.format === 'json') return this.renderJson();
    if (this.lines.length === 0) return '';
    return this.format === 'raw' ? this.renderRaw() : this.renderHuman();
  }

  private symbols() {
    return utf8Locale()
      ? { branch: bytes('├─'), vert: bytes('│ '), right: bytes('└─') }
      : { branch: '|-', vert: '| ', right: '`-' };
  }

  /** The tree art of the ancestors of a line (each level: a vertical bar or blanks). */
  private art(l: Line | null, sym: ReturnType<Table['symbols']>): string {
    if (!l?.parent) return '';
    return this.art(l.parent, sym) + (isLastChild(l) ? '  ' : sym.vert);
  }

  private cellData(l: Line, i: number, sym: ReturnType<Table['symbols']>): { data: string; treeart: number } {
    const c = this.cols[i];
    const data = l.cells[i] ?? '';
    if (!c.tree || !l.parent || this.format === 'json') return { data, treeart: 0 };
    const art = this.art(l.parent, sym) + (isLastChild(l) ? sym.right : sym.branch);
    return { data: art + data, treeart: safeEncode(art, utf8Locale()).width };
  }

  private renderRaw(): string {
    const sym = this.symbols();
    const rows: string[] = [];
    if (!this.noheadings) rows.push(this.cols.map((c) => rawEncode(c.info.name)).join(' '));
    for (const l of this.order()) rows.push(this.cols.map((_, i) => rawEncode(this.cellData(l, i, sym).data)).join(' '));
    return rows.join('\n') + '\n';
  }

  private renderJson(): string {
    let out = '{\n   "namespaces": [\n';
    const ind = (n: number) => '   '.repeat(n);
    const value = (l: Line, i: number, depth: number) => {
      const c = this.cols[i];
      const data = l.cells[i] ?? '';
      const v = !data ? 'null' : c.info.number ? data : jsonString(data);
      return `${ind(depth)}${jsonString(c.info.name.toLowerCase())}: ${v}`;
    };
    const object = (l: Line, depth: number): string => {
      const fields = this.cols.map((_, i) => value(l, i, depth + 1));
      let s = `{\n${fields.join(',\n')}`;
      if (this.isTree && l.children.length) {
        s += `,\n${ind(depth + 1)}"children": [\n${ind(depth + 2)}`;
        s += l.children.map((ch) => object(ch, depth + 2)).join(',');
        s += `\n${ind(depth + 1)}]`;
      }
      return s + `\n${ind(depth)}}`;
    };
    const roots = this.isTree ? this.lines.filter((l) => !l.parent) : this.lines;
    if (roots.length) out += ind(2) + roots.map((l) => object(l, 2)).join(',');
    return out + '\n   ]\n}\n';
  }

  private renderHuman(): string {
    const utf8 = utf8Locale();
    const sym = this.symbols();
    const order = this.order();
    const ncols = this.cols.length;

    // column widths: the widest cell, at least the header; a width hint where the data reaches the header
    for (const [i, c] of this.cols.entries()) {
      c.widthMin = Math.max(safeEncode(c.info.name, utf8).width, 1);
      c.width = 0;
      c.widthTreeart = 0;
      for (const l of order) {
        const { data, treeart } = this.cellData(l, i, sym);
        const w = c.wrap
          ? Math.max(0, ...data.split('\n').map((chunk) => safeEncode(chunk, utf8).width))
          : safeEncode(data, utf8).width;
        c.width = Math.max(c.width, w);
        c.widthTreeart = Math.max(c.widthTreeart, treeart);
      }
      if (c.width < c.widthMin) c.width = c.widthMin;
      else if (c.info.whint >= 1 && c.width < c.info.whint && c.widthMin < c.info.whint) c.width = c.info.whint;
    }

    // on a terminal, narrow the truncatable columns (COMMAND) one cell at a time until the line fits
    if (process.stdout.isTTY) {
      const termwidth = process.stdout.columns || Number(process.env.COLUMNS) || 80;
      let width = this.cols.reduce((s, c) => s + c.width, 0) + ncols - 1;
      while (width > termwidth) {
        const before = width;
        for (const c of this.cols) {
          if (width <= termwidth) break;
          if (c.width === c.widthMin || c.width === 0) continue;
          if (c.tree && width <= c.widthTreeart) continue;
          if (!c.trunc) continue;
          c.width--;
          width--;
        }
        if (before === width) break;
      }
    }

    const out: string[] = [];
    const cell = (c: Column, i: number, text: string, len: number): string => {
      const last = i === ncols - 1;
      let width = c.width;
      if (last && len < width && !c.right) width = len;
      if (len > width && c.trunc) ({ text, width: len } = truncateCells(text, width));
      let s = '';
      if (text) {
        if (c.right && len < width) {
          s += ' '.repeat(width - len);
          len = width;
        }
        s += text;
      }
      if (last) return s;
      if (len < width) s += ' '.repeat(width - len);
      return s + ' ';
    };

    if (!this.noheadings) {
      out.push(this.cols.map((c, i) => {
        const e = safeEncode(c.info.name, utf8);
        return cell(c, i, e.text, e.width);
      }).join(''));
    }
    for (const l of order) {
      const pending = new Map<number, string[]>();
      let row = '';
      for (const [i, c] of this.cols.entries()) {
        let e = safeEncode(this.cellData(l, i, sym).data, utf8, c.wrap ? '\n' : '');
        if (c.wrap && e.text.includes('\n')) {
          const [first, ...rest] = e.text.split('\n');
          pending.set(i, rest);
          e = { text: first, width: safeEncode(first, utf8).width };
        }
        row += cell(c, i, e.text, e.width);
      }
      out.push(row);
      // the further lines of multi-line cells (NSFS with several mount points)
      while ([...pending.values()].some((p) => p.length)) {
        let extra = '';
        const stillPending = () => [...pending.values()].some((p) => p.length);
        for (const [i, c] of this.cols.entries()) {
          const chunks = pending.get(i);
          if (chunks?.length) {
            const chunk = chunks.shift()!;
            extra += cell(c, i, chunk, safeEncode(chunk, utf8).width);
            continue;
          }
          let art = '';
          if (c.tree) {
            art = this.art(l, sym);
            if (l.children.length && stillPending()) art += sym.vert;
          }
          const last = i === ncols - 1;
          const len = safeEncode(art, utf8).width;
          extra += art + (last ? '' : ' '.repeat(Math.max(0, c.width - len)) + ' ');
        }
        out.push(extra);
      }
    }
    return out.join('\n') + '\n';
  }
}

function isLastChild(l: Line): boolean {
  return !l.parent || l.parent.children[l.parent.children.length - 1] === l;
}

/* ---------- options ---------- */

type Tree = 'none' | 'process' | 'owner' | 'parent';

interface Options {
  json?: boolean;
  list?: boolean;
  noheadings?: boolean;
  output?: string;
  outputAll?: boolean;
  task?: number;
  raw?: boolean;
  notruncate?: boolean;
  nowrap?: boolean;
  type?: NamespaceKind[];
  persistent?: boolean;
  filter?: Filter;
  explain?: boolean;
}

const SPACE = '[ \\t\\n\\v\\f\\r]*';

/** strtos32_or_err(): a base-10 int32, with util-linux's messages. */
function parseS32(s: string, what: string): number {
  if (!new RegExp(`^${SPACE}[+-]?\\d+$`).test(s)) throw new ToolError(`${what}: '${s}'`);
  const n = BigInt(s.trim());
  if (n < -(2n ** 31n) || n > 2n ** 31n - 1n) throw new ToolError(`${what}: '${s}': Numerical result out of range`);
  return Number(n);
}

/** strtou64_or_err(): a base-10 uint64; negative numbers are out of range. */
function parseU64(s: string, what: string): bigint {
  if (!new RegExp(`^${SPACE}[+-]?\\d+$`).test(s)) throw new ToolError(`${what}: '${s}'`);
  const n = BigInt(s.trim());
  if ((n < 0n && !/^\s*-0+$/.test(s)) || n > 2n ** 64n - 1n) {
    throw new ToolError(`${what}: '${s}': Numerical result out of range`);
  }
  return n < 0n ? 0n : n;
}

/**
 * string_add_to_idarray(): "+LIST" appends to the columns, "LIST" replaces them. An empty
 * item fails without a message, as in util-linux; an unknown name is reported with the
 * rest of the list.
 */
function parseColumns(list: string, columns: number[]): number[] | null {
  let rest = list;
  let out = columns;
  if (rest.startsWith('+')) rest = rest.slice(1);
  else out = [];
  if (!list || !rest) return null;
  out = [...out];
  let begin = -1;
  for (let p = 0; p < rest.length; p++) {
    if (out.length >= MAX_COLUMNS) return null;
    if (begin < 0) begin = p;
    let end = -1;
    if (rest[p] === ',') end = p;
    if (p + 1 === rest.length) end = p + 1;
    if (end < 0) continue;
    if (end <= begin) return null;
    const name = rest.slice(begin, end);
    const id = INFOS.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
    if (id < 0) {
      process.stderr.write(`ts-lsns: unknown column: ${rest.slice(begin)}\n`);
      return null;
    }
    out.push(id);
    begin = -1;
  }
  return out;
}

function usageColumns(): string {
  return '\nAvailable output columns:\n' + INFOS.map((c) => ` ${c.name.padStart(11)}  ${c.help}`).join('\n') + '\n';
}

// lsns's getopt_long table: 0 no argument, 1 required, 2 optional (attached only)
const LONG_OPTS: readonly [string, 0 | 1 | 2][] = [
  ['json', 0], ['task', 1], ['help', 0], ['output', 1], ['output-all', 0], ['notruncate', 0], ['version', 0],
  ['noheadings', 0], ['nowrap', 0], ['list', 0], ['raw', 0], ['type', 1], ['tree', 2], ['persistent', 0],
  ['filter', 1], ['explain', 0],
];
const SHORT_OPTS: Record<string, 0 | 1 | 2> = {
  J: 0, l: 0, P: 0, p: 1, o: 1, n: 0, r: 0, u: 0, h: 0, V: 0, t: 1, T: 2, W: 0, Q: 1,
};
const SHORT_LONG: Record<string, string> = { p: 'task', o: 'output', t: 'type', Q: 'filter' };

/**
 * Rewrite argv the way getopt_long reads it, for commander: unique prefixes of long options
 * become the full name, option values are attached (--type=net), and -T/--tree take their
 * argument only when attached (-Tparent, --tree=parent), passed on as --tree-rel. getopt's
 * messages for what commander words differently (ambiguous, missing or unwanted arguments).
 */
function getoptArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const exact = LONG_OPTS.find(([n]) => n === name);
      const matches = exact ? [exact] : LONG_OPTS.filter(([n]) => n.startsWith(name));
      if (matches.length === 0 || !name) {
        out.push(a); // commander: unrecognized option
        continue;
      }
      if (matches.length > 1) {
        throw new UsageError(`option '--${name}' is ambiguous; possibilities:${matches.map(([n]) => ` '--${n}'`).join('')}`);
      }
      const [long, has] = matches[0];
      if (has === 0) {
        // --explain=MODE is every tool's (common.ts takes the MODE out).
        if (eq >= 0 && long !== 'explain') throw new UsageError(`option '--${long}' doesn't allow an argument`);
        out.push(eq >= 0 ? `--${long}${a.slice(eq)}` : `--${long}`);
      } else if (has === 1) {
        let value: string | undefined = eq >= 0 ? a.slice(eq + 1) : args[++i];
        if (value === undefined) throw new UsageError(`option '--${long}' requires an argument`);
        out.push(`--${long}=${value}`);
      } else {
        out.push('--tree');
        if (eq >= 0) out.push(`--tree-rel=${a.slice(eq + 1)}`);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const has = SHORT_OPTS[c];
        if (has === undefined) throw new UsageError(`invalid option -- '${c}'`);
        if (has === 0) {
          out.push(`-${c}`);
          continue;
        }
        const rest = a.slice(j + 1);
        if (has === 2) {
          out.push('-T');
          if (rest) out.push(`--tree-rel=${rest}`);
          break;
        }
        const value = rest || args[++i];
        if (value === undefined) throw new UsageError(`option requires an argument -- '${c}'`);
        out.push(`--${SHORT_LONG[c]}=${value}`);
        break;
      }
      continue;
    }
    out.push(a);
  }
  return out;
}

/* ---------- --filter ---------- */

let FILTER: typeof import('../ns/filter.js');

/** -Q EXPR: parsed when given, as lsns does, so a bad expression fails before any scan. */
function parseFilterOption(expr: string): Filter {
  try {
    return FILTER.parseFilter(expr);
  } catch (err) {
    if (err instanceof FILTER.FilterError) throw new ToolError(`failed to parse "${expr}": ${err.message}`);
    throw err;
  }
}

/** The column ids the filter names (case does not matter, as with -o); an unknown name is an error. */
function filterColumns(filter: Filter): number[] {
  return filter.holders.map((name) => {
    const id = INFOS.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
    if (id < 0) throw new ToolError(`failed to initialize filter: unknown column: ${name}`);
    return id;
  });
}

/** Whether a row passes: a number column (NS, PID...) compares as a number, the others as text; an empty cell is empty. */
function filterMatches(filter: Filter, cell: (id: number) => string): boolean {
  try {
    return filter.matches((name): HolderData => {
      const id = INFOS.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
      const data = cell(id);
      return { data: data === '' ? null : Buffer.from(data, 'latin1').toString('utf8'), type: INFOS[id].number ? 'u64' : 'string' };
    });
  } catch (err) {
    if (err instanceof FILTER.FilterError) throw new ToolError(`failed to apply filter: ${err.message}`);
    throw err;
  }
}

/* ---------- main ---------- */

async function main(): Promise<number> {
  // util-linux's exclusive groups, each reported with its options in table order
  const seen = new Set<string>();
  const exclusive = (flag: string) => {
    seen.add(flag);
    for (const group of [['json', 'raw'], ['persistent', 'task']]) {
      if (group.every((f) => seen.has(f))) throw new ToolError(`mutually exclusive arguments: ${group.map((f) => `--${f}`).join(' ')}`);
    }
  };
  const cmd = program('ts-lsns', 'List system namespaces.')
    .passThroughOptions(false) // like getopt_long, options may follow the <namespace> operand
    .usage('[options] [<namespace>]')
    .argument('[namespace]', 'namespace inode: list its processes')
    .option('-J, --json', 'use JSON output format')
    .option('-l, --list', 'use list format output')
    .option('-n, --noheadings', "don't print headings")
    .option('-o, --output <list>', 'define which output columns to use')
    .option('--output-all', 'output all columns')
    .option('-P, --persistent', 'namespaces without processes')
    .option('-p, --task <pid>', 'print process namespaces', (v) => parseS32(v, 'invalid PID argument'))
    .option('-Q, --filter <expr>', 'apply display filter', (v) => parseFilterOption(v))
    .option('-r, --raw', 'use the raw output format')
    .option('-u, --notruncate', "don't truncate text in columns")
    .option('-W, --nowrap', "don't use multi-line representation")
    .option('-t, --type <name>', 'namespace type (mnt, net, ipc, user, pid, uts, cgroup, time)', (v, prev: NamespaceKind[] | undefined) => {
      const kind = LIST.kindOfName(v);
      if (!kind || v === 'mount') throw new ToolError(`unknown namespace type: ${v}`);
      return [...(prev ?? []), kind];
    })
    .option('-T, --tree', 'use tree format (parent, owner, or process); -Tparent, --tree=parent')
    .addOption(new Option('--tree-rel <rel>').hideHelp().argParser((v) => {
      const rel = v.startsWith('=') ? v.slice(1) : v;
      if (rel !== 'parent' && rel !== 'process' && rel !== 'owner') throw new ToolError(`unknown tree type: ${rel}`);
      return rel as Tree;
    }))
    .option('-V, --version', 'display version')
    .addHelpText('after', usageColumns)
    .on('option:json', () => exclusive('json'))
    .on('option:raw', () => exclusive('raw'))
    .on('option:persistent', () => exclusive('persistent'))
    .on('option:task', () => exclusive('task'));
  cmd.parse(getoptArgs(process.argv.slice(2)), { from: 'user' });
  const opts = cmd.opts<Options & { version?: boolean; tree?: boolean; treeRel?: Tree }>();
  applyExplain(opts);
  setExplainLabel('');   // one process, which spawns nothing: no label to tell processes apart
  if (opts.version) {
    process.stdout.write('ts-lsns from tsns 0.1.0\n');
    return 0;
  }

  let tree: Tree = opts.treeRel ?? (opts.tree ? 'owner' : 'none');
  const forceList = !!opts.list;
  const noWrap = !!(opts.nowrap || opts.raw);
  const types = opts.type ?? [];
  const isNet = types.includes('net');
  const pid = opts.task ?? 0;
  let columns: number[] = opts.outputAll ? INFOS.map((_, i) => i) : [];

  let nsid: bigint | null = null;
  if (cmd.args.length) {
    if (pid) throw new ToolError('--task is mutually exclusive with <namespace>');
    nsid = parseU64(cmd.args[0], 'invalid namespace argument');
    if (tree === 'none' && !forceList) tree = 'process';
    if (!columns.length) columns = [C.PID, C.PPID, C.USER, C.COMMAND];
  }
  if (!columns.length) {
    columns = [C.NS, C.TYPE, C.NPROCS, C.PID, C.USER];
    if (isNet) columns.push(C.NETNSID, C.NSFS);
    columns.push(C.COMMAND);
    if (tree === 'none' && !forceList) tree = 'process';
  }
  if (opts.output !== undefined) {
    const parsed = parseColumns(opts.output, columns);
    if (!parsed) return 1;
    columns = parsed;
  }

  const filter = opts.filter;
  // the filter's columns, which need not be shown: their data is read all the same
  const filtered = filter ? filterColumns(filter) : [];
  const has = (id: number) => columns.includes(id) || filtered.includes(id);
  const scan = await LIST.scanNamespaces({
    types: types.length ? types : undefined,
    relations: has(C.PNS) || has(C.ONS) || tree === 'owner' || tree === 'parent',
    netnsid: has(C.NETNSID),
    persistent: !!opts.persistent,
    // the trees show the owners and parents no process is in, as lsns does
    ancestors: tree === 'owner' || tree === 'parent',
  });
  const mounts = has(C.NSFS) ? LIST.nsfsMounts() : null;
  const users = new LIST.UserNames();
  const uidOf = (ns: ScannedNamespace, proc: ScannedProcess | null) => proc?.uid ?? ns.ownerUid ?? 0;
  const uids = [...scan.processes.map((p) => p.uid), ...scan.namespaces.map((n) => n.ownerUid ?? 0)];
  if (has(C.USER) && uids.some((uid) => !users.inFiles(uid))) await LIST.enableNssLookups();

  const cols: Column[] = columns.map((id) => {
    const info = INFOS[id];
    let right = !!info.right;
    let tr = false;
    if (tree === 'process' && id === C.COMMAND) tr = true;
    if ((tree === 'owner' || tree === 'parent') && id === C.NS) {
      tr = true;
      right = false;
    }
    return {
      info, right, tree: tr,
      trunc: !!info.trunc && !opts.notruncate,
      wrap: !!info.wrap && !noWrap,
      width: 0, widthMin: 0, widthTreeart: 0,
    };
  });
  const format = opts.json ? 'json' : opts.raw ? 'raw' : 'human';
  const table = new Table(cols, format, !!opts.noheadings);

  const cellOf = (id: number, ns: ScannedNamespace, proc: ScannedProcess | null): string => {
    const file = LIST.nsFile(ns.kind);
    switch (id) {
      case C.NS: return String(ns.ino);
      case C.TYPE: return file;
      case C.PATH: return proc ? `/proc/${proc.pid}/ns/${file}` : '';
      case C.NPROCS: return String(ns.processes.length);
      case C.PID: return proc ? String(proc.pid) : '';
      case C.PPID: return proc ? String(proc.ppid) : '';
      case C.COMMAND: return proc ? LIST.readCommand(proc.pid)?.toString('latin1') ?? '' : '';
      case C.UID: return String(uidOf(ns, proc));
      case C.USER: return bytes(users.name(uidOf(ns, proc)));
      case C.NETNSID: {
        const id = proc ? proc.netnsid : ns.netnsid;
        if (ns.kind !== 'net' || id == null) return '';
        return id >= 0 ? String(id) : id === -1 ? 'unassigned' : '';
      }
      case C.NSFS: return nsfsCell(mounts?.get(`${file}:[${ns.ino}]`) ?? [], noWrap ? ',' : '\n');
      case C.PNS: return String(ns.parent);
      case C.ONS: return String(ns.owner);
      default: return '';
    }
  };
  // the row's cells, or null when the filter leaves it out
  const cellsFor = (ns: ScannedNamespace, proc: ScannedProcess | null): string[] | null => {
    if (filter && !filterMatches(filter, (id) => cellOf(id, ns, proc))) return null;
    return columns.map((id) => cellOf(id, ns, proc));
  };

  const outline = new Map<ScannedProcess, Line>();
  if (nsid !== null) {
    const ns = scan.namespaces.find((n) => BigInt(n.ino) === nsid);
    if (!ns) throw new ToolError(`not found namespace: ${nsid}`);
    // each process under its parent, when the parent is in the same namespace
    const show = (proc: ScannedProcess) => {
      if (tree === 'process' && proc.parent && !outline.has(proc.parent) && proc.parent.ns[ns.kind] === proc.ns[ns.kind]) {
        show(proc.parent);
      }
      const parent = tree === 'process' && proc.parent ? outline.get(proc.parent) ?? null : null;
      const cells = cellsFor(ns, proc);
      if (cells) outline.set(proc, table.add(cells, parent));
    };
    for (const proc of ns.processes) if (!outline.has(proc)) show(proc);
  } else {
    showNamespaces(scan, { tree, pid, persistent: !!opts.persistent }, table, cellsFor, outline);
  }
  process.stdout.write(Buffer.from(table.render(), 'latin1'));
  return 0;
}

/**
 * The rows of the namespace list; with the process tree, each under its process's parent's
 * last row. -p and -P choose the namespaces listed, yet an owner or parent tree still shows
 * their owners and parents (as lsns does); a row the filter leaves out has no children.
 */
function showNamespaces(
  scan: Scan, { tree, pid, persistent }: { tree: Tree; pid: number; persistent: boolean }, table: Table,
  cellsFor: (ns: ScannedNamespace, proc: ScannedProcess | null) => string[] | null,
  outline: Map<ScannedProcess, Line>,
): void {
  const nsLine = new Map<number, Line>();
  const byIno = new Map(scan.namespaces.map((n) => [n.ino, n]));
  // --tree=owner|parent: each namespace under its owner (or parent) when that one is listed too
  const related = (ns: ScannedNamespace): ScannedNamespace | undefined => {
    if (tree === 'owner') return ns.owner ? byIno.get(ns.owner) : undefined;
    if (tree === 'parent') {
      const p = (ns.kind === 'pid' || ns.kind === 'user') && ns.parent ? byIno.get(ns.parent) : undefined;
      return p ?? (ns.owner ? byIno.get(ns.owner) : undefined);
    }
    return undefined;
  };
  const show = (ns: ScannedNamespace) => {
    const rel = related(ns);
    if (rel && rel !== ns && !nsLine.has(rel.ino)) show(rel);
    let parent: Line | null = null;
    if (tree === 'process') parent = ns.proc?.parent ? outline.get(ns.proc.parent) ?? null : null;
    else if (tree === 'owner' && rel && rel !== ns) parent = nsLine.get(rel.ino) ?? null;
    else if (tree === 'parent' && (ns.kind === 'pid' || ns.kind === 'user') && ns.parent) parent = nsLine.get(ns.parent) ?? null;
    const cells = cellsFor(ns, ns.proc);
    if (!cells) return;
    const line = table.add(cells, parent);
    if (tree === 'owner' || tree === 'parent') nsLine.set(ns.ino, line);
    else if (ns.proc) outline.set(ns.proc, line);
  };
  for (const ns of scan.namespaces) {
    if (pid !== 0 && !ns.processes.some((p) => p.pid === pid)) continue;
    if (persistent && ns.processes.length) continue;
    if (!nsLine.has(ns.ino)) show(ns);
  }
}

/** NSFS: the nsfs mount points of a namespace, each once (util-linux's substring check). */
function nsfsCell(targets: string[], sep: string): string {
  let s = '';
  for (const t of targets.map(bytes)) {
    if (!s) s = t;
    else if (!pathIncluded(s, t, sep)) s += sep + t;
  }
  return s;
}

function pathIncluded(set: string, elt: string, sep: string): boolean {
  const at = set.indexOf(elt);
  if (at < 0) return false;
  if (at === 0 && (set.length === elt.length || set[elt.length] === sep)) return true;
  return at > 0 && set[at - 1] === sep && (set[at + elt.length] === sep || at + elt.length === set.length);
}

let LIST: typeof import('../ns/list.js');
void runTool('ts-lsns', async () => {
  LIST = await import('../ns/list.js');
  FILTER = await import('../ns/filter.js');
  return main();
});
