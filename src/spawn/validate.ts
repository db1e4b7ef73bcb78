// spawn()'s arguments checked before anything is opened or cloned. TypeScript's types stop
// none of these at run time (a JavaScript caller, JSON, a number parsed from a config),
// and each one, unchecked, did the wrong thing quietly: `namespaces: ['network']` gave no
// isolation, `uid: -1` or `2**32` ran the program as root, a stdio value of 'null' threw a
// BigInt SyntaxError from deep inside the plan encoder.
//
// The errors are thrown synchronously, in the style of Node and execa: a TypeError (wrong
// type, or a value not among those allowed) or a RangeError (a number out of range), whose
// message names the field and the value, and whose `code` is Node's for the case:
//   Expected the `uid` option to be an integer in 0..4294967294, got `-1`
// NUL bytes are refused as child_process refuses them (TypeError, ERR_INVALID_ARG_VALUE):
// a C string would end there, so what ran would differ from what was asked. The caller's
// spec is only read, never changed.
import { constants } from 'node:os';
import { inspect } from 'node:util';
import { capLastCap } from '../sys/caps.js';
import { NAMESPACES } from '../sys/ns.js';
import type { SpawnSpec } from './spec.js';

/** The highest uid/gid: (uid_t)-1 means "no change" to setresuid(2) and is never an id. */
export const MAX_ID = 0xfffffffe;
/** NGROUPS_MAX of Linux (linux/limits.h): the most supplementary groups setgroups(2) takes. */
export const NGROUPS_MAX = 65536;
/** The most lines a uid_map/gid_map may have (Linux 4.15 and later). */
export const MAX_MAP_LINES = 340;
/** The most namespaces a spawn may join (each kind at most twice, say, to leave and come back). */
export const MAX_JOIN = 16;
/** The most stdio entries (child fds 0..1023) a spawn may set up. */
export const MAX_STDIO = 1024;
/** HOST_NAME_MAX and the domain name's limit (__NEW_UTS_LEN), in bytes. */
export const MAX_UTS_NAME = 64;
/** Highest signal number (_NSIG - 1 on x86_64 and arm64): real-time signals included. */
export const MAX_SIGNAL = 64;

const KINDS: readonly string[] = NAMESPACES.map((n) => n.kind);
const STDIO = ['inherit', 'pipe', 'ignore'] as const;
const PROPAGATIONS = ['private', 'slave', 'shared', 'unchanged'] as const;
const SETGROUPS = ['allow', 'deny'] as const;
const MAX_FD = 0x7fffffff;

type Code = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

/** What validateSpawn throws: a TypeError or RangeError with Node's error `code`. */
export type SpawnArgumentError = (TypeError | RangeError) & { code: Code };

function show(value: unknown): string {
  return inspect(value, { depth: 1, breakLength: Infinity, maxArrayLength: 8, maxStringLength: 120 });
}

function fail(code: Code, field: string, expected: string, got: string): never {
  const what = field === 'argv' || field.startsWith('argv[') || field === 'spec' ? 'argument' : 'option';
  const message = `Expected the \`${field}\` ${what} to be ${expected}, got ${got}`;
  const err = (code === 'ERR_OUT_OF_RANGE' ? new RangeError(message) : new TypeError(message)) as SpawnArgumentError;
  err.code = code;
  throw err;
}

const typeError = (field: string, expected: string, value: unknown): never =>
  fail('ERR_INVALID_ARG_TYPE', field, expected, `\`${show(value)}\``);
const valueError = (field: string, expected: string, value: unknown): never =>
  fail('ERR_INVALID_ARG_VALUE', field, expected, `\`${show(value)}\``);
const rangeError = (field: string, expected: string, value: unknown): never =>
  fail('ERR_OUT_OF_RANGE', field, expected, `\`${show(value)}\``);

// ---- one small check per kind of value ----

function boolean(field: string, v: unknown): void {
  if (typeof v !== 'boolean') typeError(field, 'a boolean', v);
}

function integer(field: string, v: unknown, min: number, max: number, expected = `an integer in ${min}..${max}`): asserts v is number {
  if (typeof v !== 'number') typeError(field, expected, v);
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) rangeError(field, expected, v);
}

function id(field: string, v: unknown): asserts v is number {
  integer(field, v, 0, MAX_ID);
}

/** A string handed to C: no NUL bytes, which would cut it short. */
function cString(field: string, v: unknown, expected = 'a string without null bytes'): asserts v is string {
  if (typeof v !== 'string') typeError(field, expected, v);
  if ((v as string).includes('\0')) valueError(field, expected, v);
}

const path = (field: string, v: unknown): void => cString(field, v, 'a path (a string without null bytes)');

function oneOf(field: string, v: unknown, allowed: readonly string[]): void {
  if (typeof v !== 'string' || !allowed.includes(v)) valueError(field, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
}

function array(field: string, v: unknown, expected: string, max = Infinity, min = 0): asserts v is readonly unknown[] {
  if (!Array.isArray(v)) typeError(field, expected, v);
  const n = (v as unknown[]).length;
  if (n > max) fail('ERR_OUT_OF_RANGE', field, `${expected} with at most ${max} entries`, `${n} entries`);
  if (n < min) fail('ERR_OUT_OF_RANGE', field, `${expected} with at least ${min} ${min === 1 ? 'entry' : 'entries'}`, `${n} entries`);
}

function object(field: string, v: unknown, expected: string): asserts v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) typeError(field, expected, v);
}

/** `env.PATH`, or `env["odd key"]` where a dot would mislead. */
function member(field: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${field}.${key}` : `${field}[${JSON.stringify(key)}]`;
}

function namespaceKind(field: string, v: unknown): void {
  oneOf(field, v, KINDS);
}

function uts(field: string, v: unknown): void {
  cString(field, v);
  const bytes = Buffer.byteLength(v as string);
  if (bytes > MAX_UTS_NAME) fail('ERR_OUT_OF_RANGE', field, `a string of at most ${MAX_UTS_NAME} bytes`, `\`${show(v)}\` (${bytes} bytes)`);
}

function idMap(field: string, v: unknown): void {
  const expected = `'root', 'current', an id (an integer in 0..${MAX_ID}) or an array of { inside, outside, count } ranges`;
  if (typeof v === 'number') return id(field, v);
  if (typeof v === 'string') return oneOf(field, v, ['root', 'current']);
  array(field, v, expected, MAX_MAP_LINES, 1);
  v.forEach((r, i) => {
    const at = `${field}[${i}]`;
    object(at, r, 'an object { inside, outside, count }');
    id(`${at}.inside`, r.inside);
    id(`${at}.outside`, r.outside);
    // The kernel refuses a range whose last id would be (u32)-1 or past it.
    integer(`${at}.count`, r.count, 1, MAX_ID + 1);
    for (const side of ['inside', 'outside'] as const) {
      const end = (r[side] as number) + (r.count as number);
      if (end > MAX_ID + 1) {
        fail('ERR_OUT_OF_RANGE', at, `a range whose ids end at ${MAX_ID} at most (${side} + count <= ${MAX_ID + 1})`,
          `\`${show(r)}\` (${side} + count = ${end})`);
      }
    }
  });
}

function stdioEntry(field: string, v: unknown): void {
  const expected = `'inherit', 'pipe', 'ignore' or a file descriptor (an integer in 0..${MAX_FD})`;
  if (typeof v === 'number') return integer(field, v, 0, MAX_FD, expected);
  if (typeof v !== 'string' || !(STDIO as readonly string[]).includes(v)) valueError(field, expected, v);
}

let lastCap: number | undefined;

function signal(field: string, v: unknown): void {
  const expected = `a signal name (like 'SIGTERM') or number in 1..${MAX_SIGNAL}`;
  if (typeof v === 'number') return integer(field, v, 1, MAX_SIGNAL, expected);
  if (typeof v !== 'string') typeError(field, expected, v);
  const upper = (v as string).toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!Object.hasOwn(constants.signals, name)) valueError(field, expected, v);
}

// ---- the fields of SpawnSpec; each check sees a value that is not undefined ----

type Check = (field: string, v: unknown) => void;

const FIELDS: { [K in keyof SpawnSpec]?: Check } = {
  namespaces: (f, v) => {
    array(f, v, 'an array of namespace kinds');
    v.forEach((k, i) => namespaceKind(`${f}[${i}]`, k));
  },
  pidInit: boolean,
  join: (f, v) => {
    // No more than two per kind: the descriptors derived from them take slots of the plan's 64.
    array(f, v, 'an array of { kind, path } or { kind: \'net\', socket }', MAX_JOIN);
    v.forEach((target, i) => {
      object(`${f}[${i}]`, target, 'an object { kind, path } or { kind: \'net\', socket: { pid, fd } }');
      namespaceKind(`${f}[${i}].kind`, target.kind);
      if (target.socket !== undefined) {
        if (target.kind !== 'net') valueError(`${f}[${i}].kind`, "'net' with `socket`", target.kind);
        object(`${f}[${i}].socket`, target.socket, 'an object { pid, fd }');
        integer(`${f}[${i}].socket.pid`, target.socket.pid, 1, MAX_FD);
        integer(`${f}[${i}].socket.fd`, target.socket.fd, 0, MAX_FD);
        return;
      }
      path(`${f}[${i}].path`, target.path);
      if (target.parent !== undefined) {
        boolean(`${f}[${i}].parent`, target.parent);
        if (target.parent && target.kind !== 'user') valueError(`${f}[${i}].kind`, "'user' with `parent`", target.kind);
      }
    });
  },
  forkAfterJoin: boolean,
  uidMap: idMap,
  gidMap: idMap,
  setgroups: (f, v) => oneOf(f, v, SETGROUPS),
  propagation: (f, v) => oneOf(f, v, PROPAGATIONS),
  mountProc: (f, v) => {
    if (typeof v !== 'boolean') cString(f, v, 'a boolean or a path (a string without null bytes)');
  },
  mountBinfmt: (f, v) => {
    if (typeof v !== 'boolean') cString(f, v, 'a boolean or a path (a string without null bytes)');
  },
  binfmtRegister: (f, v) => cString(f, v),
  owner: (f, v) => {
    object(f, v, 'an object { uid, gid }');
    id(`${f}.uid`, v.uid);
    id(`${f}.gid`, v.gid);
  },
  hostname: (f, v) => uts(f, v),
  domainname: (f, v) => uts(f, v),
  root: (f, v) => path(f, v),
  pivotRoot: boolean,
  protectProc: boolean,
  rootSteps: (f, v) => steps(f, v),
  finalSteps: (f, v) => steps(f, v),
  securitySteps: (f, v) => steps(f, v),
  landlock: (f, v) => {
    object(f, v, 'an object { handled, fileAccess, rules }');
    integer(`${f}.handled`, v.handled, 1, 0x7fffffff);
    integer(`${f}.fileAccess`, v.fileAccess, 0, 0x7fffffff);
    array(`${f}.rules`, v.rules, 'an array of { path, access }');
    (v.rules as unknown[]).forEach((r, i) => {
      object(`${f}.rules[${i}]`, r, 'an object { path, access }');
      path(`${f}.rules[${i}].path`, (r as { path: unknown }).path);
      integer(`${f}.rules[${i}].access`, (r as { access: unknown }).access, 0, 0x7fffffff);
    });
  },
  cwd: (f, v) => path(f, v),
  argv0: (f, v) => cString(f, v),
  uid: (f, v) => id(f, v),
  gid: (f, v) => id(f, v),
  groups: (f, v) => {
    array(f, v, 'an array of group ids', NGROUPS_MAX);
    v.forEach((g, i) => id(`${f}[${i}]`, g));
  },
  keepCaps: boolean,
  dropCaps: (f, v) => {
    array(f, v, 'an array of capability numbers');
    if (v.length === 0) return;
    lastCap ??= capLastCap();
    v.forEach((c, i) => integer(`${f}[${i}]`, c, 0, lastCap!));
  },
  noNewPrivs: boolean,
  timeOffsets: (f, v) => {
    object(f, v, 'an object { monotonic, boottime }');
    for (const clock of ['monotonic', 'boottime'] as const) {
      const o = v[clock];
      if (o !== undefined) integer(`${f}.${clock}`, o, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'an integer (seconds)');
    }
  },
  persist: (f, v) => {
    object(f, v, 'an object of namespace kind -> file');
    for (const [kind, file] of Object.entries(v)) {
      if (!KINDS.includes(kind)) valueError(`${f}`, `an object whose keys are namespace kinds (${KINDS.map((k) => `'${k}'`).join(', ')})`, kind);
      path(member(f, kind), file);
    }
  },
  cgroups: (f, v) => {
    array(f, v, 'an array of cgroup directories');
    v.forEach((dir, i) => path(`${f}[${i}]`, dir));
  },
  deathSignal: signal,
  setsid: boolean,
  env: (f, v) => {
    object(f, v, 'an object of strings');
    for (const [key, value] of Object.entries(v)) {
      if (key === '' || key.includes('=') || key.includes('\0')) {
        valueError(f, 'an object whose keys are non-empty and contain no \'=\' or null bytes', key);
      }
      // The field's name is worked out only for the error: env is checked on every spawn.
      if (value !== undefined && (typeof value !== 'string' || value.includes('\0'))) {
        cString(member(f, key), value, 'a string without null bytes (or undefined)');
      }
    }
  },
  stdio: (f, v) => {
    if (!Array.isArray(v)) return stdioEntry(f, v);
    array(f, v, 'an array of stdio values', MAX_STDIO);
    // Indexed, not forEach: a hole in the array is an error, not a skipped fd.
    for (let i = 0; i < v.length; i++) stdioEntry(`${f}[${i}]`, v[i]);
  },
  prepare: (f, v) => {
    if (typeof v !== 'function') typeError(f, 'a function', v);
  },
};

/** Compiled steps (the Sandbox's): checked in full by encodePlan and the stage's parser. */
function steps(f: string, v: unknown): void {
  array(f, v, 'an array of plan steps');
  v.forEach((step, i) => object(`${f}[${i}]`, step, 'a plan step { op, ... }'));
}

/** What one field needs of the others. */
function together(spec: SpawnSpec): void {
  const newUser = spec.namespaces?.includes('user') ?? false;
  // Without a user namespace of its own the instance would be the host's: a registration there is everyone's.
  if (spec.mountBinfmt && !newUser) valueError('mountBinfmt', 'used with a new user namespace (`namespaces` with \'user\')', spec.mountBinfmt);
  if (spec.binfmtRegister !== undefined && !spec.mountBinfmt) valueError('binfmtRegister', 'used with `mountBinfmt`', spec.binfmtRegister);
  if (spec.owner) {
    if (!newUser) valueError('owner', 'used with a new user namespace (`namespaces` with \'user\')', spec.owner);
    // The namespaces come after the change of ids, from unshare(2): the child cannot be pid 1.
    if (spec.namespaces?.includes('pid') && spec.pidInit !== false) valueError('pidInit', 'false with `owner` and a new pid namespace', spec.pidInit);
    for (const f of ['uidMap', 'gidMap'] as const) {
      const map = spec[f];
      if (map !== undefined && !Array.isArray(map)) valueError(f, 'an array of ranges with `owner` (the child may no longer write a single id)', map);
    }
  }
  // A pid is looked up in the pid namespace the child is in: a new one would not know it.
  if (spec.join?.some((t) => 'socket' in t) && spec.namespaces?.includes('pid')) valueError('join', 'without a new pid namespace when a target has `socket`', 'pid');
  if (spec.rootSteps) {
    for (const f of ['root', 'pivotRoot', 'mountProc'] as const) if (spec[f] !== undefined) valueError(f, 'left out with `rootSteps`, which build the root', spec[f]);
    if (!spec.namespaces?.includes('mount')) valueError('rootSteps', 'used with a new mount namespace (`namespaces` with \'mount\')', true);
  }
  if (spec.pivotRoot) {
    if (spec.root === undefined) valueError('pivotRoot', 'used with `root`', true);
    if (!spec.namespaces?.includes('mount') && !spec.mountProc) valueError('pivotRoot', 'used with a new mount namespace (`namespaces` with \'mount\', or `mountProc`)', true);
    if (spec.join?.length) valueError('pivotRoot', 'used without `join` (a joined namespace keeps its own root)', true);
    // pivot_root(2) refuses a shared root or new root (EINVAL).
    const p = spec.propagation ?? 'private';
    if (p !== 'private' && p !== 'slave') valueError('propagation', `'private' or 'slave' with \`pivotRoot\``, p);
  }
  if (spec.protectProc) {
    if (!spec.mountProc) valueError('protectProc', 'used with `mountProc`', true);
    // A chroot's masks would be whatever ROOT/dev/null is, and a chroot can be left anyway.
    if (spec.root !== undefined && !spec.pivotRoot) valueError('protectProc', 'used with `pivotRoot` when `root` is given', true);
  }
}

const FIELD_NAMES = Object.keys(FIELDS) as (keyof SpawnSpec)[];

/**
 * Check spawn()'s `spec` and `argv`; throws a TypeError or RangeError naming the first bad
 * field and its value. Fields it does not know are left alone.
 */
export function validateSpawn(spec: unknown, argv: unknown): void {
  object('spec', spec, 'a SpawnSpec object');
  for (const key of FIELD_NAMES) {
    const v = spec[key];
    if (v !== undefined) FIELDS[key]!(key, v);
  }
  together(spec as SpawnSpec);
  array('argv', argv, 'an array of strings');
  for (let i = 0; i < argv.length; i++) cString(`argv[${i}]`, argv[i]);
}
