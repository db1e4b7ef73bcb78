// /etc/tsns/vservers/NAME.conf: util-vserver's shell-variable style, parsed (never run
// by a shell) into a typed config. Every error names FILE:LINE.
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * Why `path` cannot hold files of ours, or undefined. /proc and /sys are the kernel's
 * views (mkdir there fails, and Node's recursive mkdir loops forever on the ENOENT);
 * symlinks up to the deepest part that exists are followed. A part that exists but is
 * no directory is named too.
 */
export function unusablePath(path: string): string | undefined {
  let at = resolve(path);
  while (at !== '/') {
    try {
      if (!statSync(at).isDirectory()) return `${at} is not a directory`;
      at = join(realpathSync(at), relative(at, resolve(path)));
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return `${at}: ${code}`;
      at = dirname(at);
    }
  }
  const kernel = ['/proc', '/sys'].find((k) => at === k || at.startsWith(`${k}/`));
  return kernel && `${path} is under ${kernel}, the kernel's own files`;
}

/** $NAME, or `fallback`, checked by unusablePath. */
function dirFromEnv(name: string, fallback: string): string {
  const dir = process.env[name] || fallback;
  const why = unusablePath(dir);
  if (why) throw new ConfigError(name, 0, why);
  return dir;
}

/** Where configs live: $TSNS_VSERVER_CONFDIR, default /etc/tsns/vservers. */
export function confDir(): string {
  return dirFromEnv('TSNS_VSERVER_CONFDIR', '/etc/tsns/vservers');
}

/** Where root filesystems live by default: $TSNS_VSERVER_ROOT, default /var/lib/tsns/vservers. */
export function rootBase(): string {
  return dirFromEnv('TSNS_VSERVER_ROOT', '/var/lib/tsns/vservers');
}

export function configFile(name: string): string {
  return join(confDir(), `${name}.conf`);
}

/** A config that cannot be used: `FILE:LINE: what is wrong`. */
export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, what: string) {
    super(line > 0 ? `${file}:${line}: ${what}` : `${file}: ${what}`);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
  }
}

export const FLAGS = ['lock', 'nproc', 'sched', 'private', 'fakeinit'] as const;
export type Flag = (typeof FLAGS)[number];

export interface VserverConfig {
  name: string;
  file: string;
  hostname: string;
  /** Normal form a.b.c.d/prefix (IPROOTMASK applied where an address has none). */
  ips: string[];
  dev?: string;
  bcast?: string;
  nice?: number;
  flags: Flag[];
  /** ulimit(1) arguments, e.g. ['-H', '-n', '1024']. */
  ulimit: string[];
  /** Capabilities kept beyond the secure default (names as given). */
  caps: string[];
  onboot: boolean;
  rootdir: string;
  memory?: string;
  pids?: string;
  cpu?: string;
}

export const KEYS = [
  'S_HOSTNAME', 'S_DOMAINNAME', 'IPROOT', 'IPROOTDEV', 'IPROOTMASK', 'IPROOTBCAST', 'S_NICE', 'S_FLAGS',
  'ULIMIT', 'S_CAPS', 'ONBOOT', 'ROOTDIR', 'MEMORY', 'PIDS', 'CPU', 'S_CONTEXT',
] as const;
type Key = (typeof KEYS)[number];

/** One assignment as written: key, value after unquoting, line number. */
export interface Assignment {
  key: string;
  value: string;
  line: number;
}

/**
 * Shell assignments without the shell: `KEY=value`, `KEY="value"`, `KEY='value'`,
 * optional `export`, comments and blank lines. Expansions ($X, `cmd`) are refused, since
 * nothing here runs a shell to perform them.
 */
export function parseAssignments(text: string, file: string): Assignment[] {
  const out: Assignment[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(s);
    if (!m) throw new ConfigError(file, line, `expected KEY=value, got '${s}'`);
    out.push({ key: m[1], value: unquote(m[2], file, line), line });
  });
  return out;
}

function unquote(v: string, file: string, line: number): string {
  let out = '';
  let i = 0;
  while (i < v.length) {
    const c = v[i];
    if (c === "'") {
      const end = v.indexOf("'", i + 1);
      if (end < 0) throw new ConfigError(file, line, 'unterminated single quote');
      out += v.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= v.length) throw new ConfigError(file, line, 'unterminated double quote');
        const d = v[i];
        if (d === '"') { i++; break; }
        if (d === '\\' && i + 1 < v.length && '"\\$`'.includes(v[i + 1])) { out += v[i + 1]; i += 2; continue; }
        if (d === '$' || d === '`') throw new ConfigError(file, line, 'expansions ($ or `) are not supported: write the value itself');
        out += d;
        i++;
      }
    } else if (c === '\\' && i + 1 < v.length) {
      out += v[i + 1];
      i += 2;
    } else if (/\s/.test(c)) {
      // Unquoted white space ends the value: the rest must be a comment.
      const rest = v.slice(i).trim();
      if (rest && !rest.startsWith('#')) throw new ConfigError(file, line, `unexpected '${rest}' after the value (quote values with spaces)`);
      break;
    } else if (c === '$' || c === '`') {
      throw new ConfigError(file, line, 'expansions ($ or `) are not supported: write the value itself');
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const words = (v: string) => v.split(/[\s,]+/).filter(Boolean);

/** Parse and check a config text; `name` is the vserver's. */
export async function parseConfig(text: string, file: string, name: string): Promise<VserverConfig> {
  const { parseMemory, parseCount, parseCpu } = await import('../cgroup/parse.js');
  const { parseCidr, parseIpv4Address, cidrString } = await import('../net/address.js');
  const { parseCap } = await import('../sys/caps.js');
  const cfg: VserverConfig = {
    name, file, hostname: name, ips: [], flags: [], ulimit: [], caps: [], onboot: false,
    rootdir: '',
  };
  const seen = new Map<Key, Assignment>();
  for (const a of parseAssignments(text, file)) {
    if (!(KEYS as readonly string[]).includes(a.key)) throw new ConfigError(file, a.line, `unknown key '${a.key}' (known: ${KEYS.join(' ')})`);
    seen.set(a.key as Key, a);
  }
  // Each check throws its own message; this adds FILE:LINE and the key.
  const check = <T>(key: Key, f: (v: string) => T): T | undefined => {
    const a = seen.get(key);
    if (!a) return undefined;
    try {
      return f(a.value);
    } catch (err) {
      throw new ConfigError(file, a.line, `${key}: ${(err as Error).message}`);
    }
  };
  cfg.hostname = check('S_HOSTNAME', (v) => {
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(v)) throw new Error(`invalid hostname '${v}'`);
    return v;
  }) ?? name;
  check('S_DOMAINNAME', () => undefined);
  check('S_CONTEXT', (v) => {
    if (!/^\d+$/.test(v)) throw new Error(`expected a context number, got '${v}'`);
  });
  const mask = check('IPROOTMASK', (v) => {
    // Validated through a sample address; the prefix (or dotted mask) is what is kept.
    parseCidr(`10.0.0.1/${v}`);
    return v;
  });
  // IPROOTMASK is util-vserver's IPv4 netmask: an IPv6 address without a prefix is a /128
  cfg.ips = check('IPROOT', (v) => words(v).map((ip) => {
    const ipv4 = !ip.includes(':');
    return cidrString(parseCidr(ip.includes('/') || mask === undefined || !ipv4 ? ip : `${ip}/${mask}`));
  })) ?? [];
  cfg.dev = check('IPROOTDEV', (v) => {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(v) || v === '.' || v === '..') throw new Error(`invalid device name '${v}': 1 to 15 letters, digits, '_', '.', '-'`);
    return v;
  });
  cfg.bcast = check('IPROOTBCAST', (v) => parseIpv4Address(v, 'broadcast address'));
  cfg.nice = check('S_NICE', (v) => {
    if (!/^-?\d+$/.test(v) || Number(v) < -20 || Number(v) > 19) throw new Error(`expected a number from -20 to 19, got '${v}'`);
    return Number(v);
  });
  cfg.flags = check('S_FLAGS', (v) => words(v).map((f) => {
    if (!(FLAGS as readonly string[]).includes(f)) throw new Error(`unknown flag '${f}' (known: ${FLAGS.join(' ')})`);
    return f as Flag;
  })) ?? [];
  cfg.ulimit = check('ULIMIT', parseUlimit) ?? [];
  cfg.caps = check('S_CAPS', (v) => words(v).map((c) => {
    parseCap(c);
    return c;
  })) ?? [];
  cfg.onboot = check('ONBOOT', (v) => {
    if (/^(yes|true|1|on)$/i.test(v)) return true;
    if (/^(no|false|0|off|)$/i.test(v)) return false;
    throw new Error(`expected yes or no, got '${v}'`);
  }) ?? false;
  cfg.rootdir = check('ROOTDIR', (v) => {
    if (!v.startsWith('/')) throw new Error(`expected an absolute path, got '${v}'`);
    const why = unusablePath(v);
    if (why) throw new Error(why);
    return v;
  }) ?? join(rootBase(), name);
  cfg.memory = check('MEMORY', (v) => { parseMemory(v); return v; });
  cfg.pids = check('PIDS', (v) => { parseCount(v, 'pids limit'); return v; });
  cfg.cpu = check('CPU', (v) => { parseCpu(v, 'cpu limit'); return v; });
  // Conflicts, one line each, at the line that asks for the missing piece.
  if (cfg.flags.includes('nproc') && cfg.pids === undefined && !cfg.ulimit.includes('-u')) {
    throw new ConfigError(file, seen.get('S_FLAGS')!.line, 'S_FLAGS nproc needs a process limit: set PIDS (or ULIMIT -u)');
  }
  for (const k of ['IPROOTDEV', 'IPROOTMASK', 'IPROOTBCAST'] as const) {
    if (seen.has(k) && cfg.ips.length === 0) throw new ConfigError(file, seen.get(k)!.line, `${k} needs IPROOT`);
  }
  return cfg;
}

const ULIMIT_LETTERS = 'cdefilmnqrstuvx';

/** ulimit arguments: -H/-S, then -LETTER VALUE pairs (VALUE a number or 'unlimited'). */
export function parseUlimit(v: string): string[] {
  const t = words(v);
  const out: string[] = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '-H' || t[i] === '-S') { out.push(t[i]); continue; }
    const m = /^-([a-z])$/.exec(t[i]);
    if (!m || !ULIMIT_LETTERS.includes(m[1])) throw new Error(`unknown ulimit option '${t[i]}' (known: -H -S ${[...ULIMIT_LETTERS].map((l) => '-' + l).join(' ')})`);
    const value = t[i + 1];
    if (value === undefined || !/^(\d+|unlimited)$/.test(value)) throw new Error(`ulimit ${t[i]} needs a number or 'unlimited'`);
    out.push(t[i], value);
    i++;
  }
  return out;
}

/** Read NAME's config; a missing file is a ConfigError too. */
export async function loadConfig(name: string): Promise<VserverConfig> {
  const file = configFile(name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read: ${(err as NodeJS.ErrnoException).code} (is '${name}' a vserver? configs live in ${confDir()}, see TSNS_VSERVER_CONFDIR)`);
  }
  return parseConfig(text, file, name);
}

/** The names of every configured vserver. */
export function configuredNames(): string[] {
  const dir = confDir();
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.conf')).map((f) => f.slice(0, -5)).sort();
  } catch {
    return [];
  }
}
