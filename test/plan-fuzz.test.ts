// Fuzz of the C plan parser (tsns_plan_check in native/build/libtsns.so): valid plans from
// plan.ts's encodePlan, mutated (bits, truncation, length and count fields, op codes,
// operand values at their limits, NULL and NUL in strings, records duplicated, huge lists
// and plans), each judged by the C parser in a child process and by a reference validator
// written here from native/plan.h's documented layout and rules. The verdicts must agree,
// and the child must never die by a signal. Each plan sits right before a PROT_NONE page,
// so a read past its end faults.
//
// Reproduce a run with PLAN_FUZZ_SEED=<seed printed>; PLAN_FUZZ_COUNT changes the number of plans.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePlan, FORK, NS_GET_USERNS, OP, SIOCGSKNS, type Step } from '../src/native/plan.js';

const LIB = fileURLToPath(new URL('../native/build/libtsns.so', import.meta.url));
const HEADER = readFileSync(fileURLToPath(new URL('../native/plan.h', import.meta.url)), 'utf8');
const COUNT = Number(process.env.PLAN_FUZZ_COUNT ?? 24_000);
const SEED = process.env.PLAN_FUZZ_SEED ? Number(process.env.PLAN_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

t.setTimeout(240_000);

// ---------------------------------------------------------------------------------------
// The documented rules (native/plan.h)

interface OpRule { name: string; ints: number; strs: number; nullmask: number }
/** TSNS_OPS rows: code -> fixed counts (-1: a list) and NULL mask. */
const TABLE = new Map<number, OpRule>();
for (const m of HEADER.matchAll(/X\(\s*([A-Z0-9_]+)\s*,\s*(\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*\)/g)) {
  TABLE.set(Number(m[2]), { name: m[1], ints: Number(m[3]), strs: Number(m[4]), nullmask: Number(m[5]) });
}
const limit = (name: string) => Number(new RegExp(`#define\\s+${name}\\s+(\\d+)`).exec(HEADER)?.[1]);
const MAX_STEPS = 4096;
const MAX_GROUPS = 65536;
const MAX_STDIO = 1024;
const MAX_STRS = 262144;
const MAX_SLOTS = 64;
const MAX_FILTER = 4096;
const ID_MAX = 4294967294n; // (uid_t)-1 is "unchanged" to the kernel, never an id
const INT32_MAX = 2147483647n;
const NSIG_MAX = 64n;
/** STDIO's smallest source: -1 (keep), and -2 (close) where plan.h's STDIO row documents it. */
const STDIO_MIN = /X\(STDIO,[^\n]*-2: close/.test(HEADER) ? -2n : -1n;

/** Whether the i64 operand at `at` lies in lo..hi. */
const inRange = (buf: Buffer, at: number, lo: bigint, hi: bigint) => {
  const v = buf.readBigInt64LE(at);
  return v >= lo && v <= hi;
};

/**
 * The reference verdict: whether `buf` is a well-formed plan by plan.h's layout and rules.
 * Records: u32 op; u32 nint; i64 ints[nint]; u32 nstr; nstr x (u32 len; bytes[len]; NUL);
 * u32 tracelen; bytes[tracelen]; NUL. len 0xffffffff is NULL (no bytes, no NUL). Written
 * to stream through big plans (65536 groups, 262144 strings) without building them up.
 */
function reference(buf: Buffer): { ok: boolean; why: string } {
  let at = 0;
  let steps = 0;
  const bad = (why: string) => ({ ok: false, why: `record ${steps - 1} at ${at}: ${why}` });
  const u32 = (): number | undefined => {
    if (buf.length - at < 4) return undefined;
    const v = buf.readUInt32LE(at);
    at += 4;
    return v;
  };
  /** Skip a string: 'null' (NULL), 'ok', or undefined when malformed (cut short, no NUL at its end, a NUL inside). */
  const str = (): 'null' | 'ok' | undefined => {
    const len = u32();
    if (len === undefined) return undefined;
    if (len === 0xffffffff) return 'null';
    if (buf.length - at < len + 1) return undefined;
    if (buf.indexOf(0, at) !== at + len) return undefined;
    at += len + 1;
    return 'ok';
  };
  /** [index, parent steps] of each FORK (and INIT: its own steps): they must all follow it. */
  const forks: [number, number][] = [];
  while (at < buf.length) {
    if (steps === MAX_STEPS) return { ok: false, why: `more than ${MAX_STEPS} steps` };
    steps++;
    const op = u32();
    if (op === undefined) return bad('truncated op');
    const rule = TABLE.get(op);
    if (!rule) return bad(`unknown op ${op}`);
    const nint = u32();
    if (nint === undefined || buf.length - at < 8 * nint) return bad('truncated ints');
    const intsAt = at;
    const int = (k: number) => buf.readBigInt64LE(intsAt + 8 * k);
    at += 8 * nint;
    const nstr = u32();
    if (nstr === undefined) return bad('truncated nstr');
    if (nstr > MAX_STRS) return bad(`${nstr} strings`);
    const nulls: number[] = [];
    const strLens: number[] = [];
    const firstChars: number[] = [];
    for (let k = 0; k < nstr; k++) {
      strLens.push(buf.length - at >= 4 ? buf.readUInt32LE(at) : 0);
      firstChars.push(buf[at + 4] ?? 0);
      const s = str();
      if (s === undefined) return bad(`bad string ${k}`);
      if (s === 'null') nulls.push(k);
    }
    const trace = str();
    if (trace === undefined) return bad('bad trace');
    if (trace === 'null') return bad('NULL trace (only an op\'s own strings may be NULL)');
    if (rule.ints >= 0 && nint !== rule.ints) return bad(`${rule.name} with ${nint} ints`);
    if (rule.strs >= 0 && nstr !== rule.strs) return bad(`${rule.name} with ${nstr} strings`);
    if (rule.name === 'HOOK') {
      // an absolute path (a NULL one is no path); then EXEC's layout
      if (nstr < 1 || nulls.includes(0) || firstChars[0] !== 0x2f) return bad('HOOK path not absolute');
      if (int(1) < -BigInt(MAX_SLOTS) || int(1) > INT32_MAX || int(2) < 0n || int(2) > INT32_MAX / 1000n || int(3) < 0n || int(3) > 1n) return bad('HOOK out of range');
    }
    if (rule.name === 'EXEC' || rule.name === 'HOOK') {
      // argc >= 1; strs: file, argv[argc], NULL, env...: strs[argc+1] is the one NULL
      const argc = int(0);
      if (argc < 1n || argc + 2n > BigInt(nstr)) return bad(`EXEC argc ${argc} of ${nstr} strings`);
      if (nulls.length !== 1 || BigInt(nulls[0]) !== argc + 1n) return bad(`EXEC NULL strings at [${nulls.slice(0, 4)}] for argc ${argc}`);
    } else {
      for (const k of nulls) if (!((rule.nullmask >>> k) & 1)) return bad(`${rule.name} string ${k} NULL`);
    }
    const all = (lo: bigint, hi: bigint) => {
      for (let k = 0; k < nint; k++) if (!inRange(buf, intsAt + 8 * k, lo, hi)) return false;
      return true;
    };
    switch (rule.name) {
      case 'SETGROUPS':
        if (nint > MAX_GROUPS) return bad(`${nint} groups`);
        if (!all(0n, ID_MAX)) return bad('gid out of range');
        break;
      case 'SETUID': case 'SETGID':
        if (!all(0n, ID_MAX)) return bad('id out of range');
        break;
      case 'STDIO':
        if (nint < 1 || nint > MAX_STDIO) return bad(`STDIO of ${nint}`);
        if (!all(STDIO_MIN, INT32_MAX)) return bad('STDIO source out of range');
        break;
      case 'OPEN':
        if (int(1) < 0n || int(1) >= BigInt(MAX_SLOTS)) return bad('slot out of range');
        break;
      case 'SETNS': case 'FCHDIR':
        if (int(0) < -BigInt(MAX_SLOTS) || int(0) > INT32_MAX) return bad('fd out of range');
        break;
      case 'SECCOMP':
        if (nint < 2 || nint - 1 > MAX_FILTER) return bad(`SECCOMP of ${nint}`);
        if (int(0) < 0n || int(0) > 0xffn) return bad('SECCOMP flags out of range');
        break;
      case 'LANDLOCK': case 'FIFO_WAIT':
        if (int(0) < -BigInt(MAX_SLOTS) || int(0) > INT32_MAX) return bad('fd out of range');
        break;
      case 'CONNECT':
        if (int(0) < 0n || int(0) >= BigInt(MAX_SLOTS)) return bad('slot out of range');
        if (strLens[0] >= 108) return bad('CONNECT path longer than sun_path');
        break;
      case 'LOOKUP':
        if (nstr < 1 || int(0) < 0n || int(0) > 1n) return bad('LOOKUP out of range');
        break;
      case 'CONSOLE':
        if (int(0) < -BigInt(MAX_SLOTS) || int(0) > INT32_MAX || int(1) < 0n || int(1) > 0xffffn || int(2) < 0n || int(2) > 0xffffn) return bad('CONSOLE out of range');
        break;
      case 'EXIT_JSON': case 'CLOSE':
        if (int(0) < 0n || int(0) > INT32_MAX) return bad(`${rule.name} fd out of range`);
        break;
      case 'WATCH':
        if (int(0) < 0n || int(1) < 0n || int(2) < 0n || int(2) > 1n || (int(1) > 0n && nulls.includes(0))) return bad('WATCH out of range');
        break;
      case 'LANDLOCK_RULESET':
        if (nint !== 3 + nstr) return bad(`LANDLOCK_RULESET of ${nint} ints for ${nstr} paths`);
        if (int(0) <= 0n || int(1) < 0n || int(2) < 0n || int(2) >= BigInt(MAX_SLOTS)) return bad('LANDLOCK_RULESET out of range');
        for (let k = 3; k < nint; k++) if (int(k) < 0n) return bad('LANDLOCK_RULESET rights out of range');
        break;
      case 'SETRLIMIT':
        if (int(0) < 0n || int(0) >= 16n || int(1) < -1n || int(2) < -1n) return bad('SETRLIMIT out of range');
        break;
      case 'CHMOD': case 'UMASK':
        if (int(0) < 0n || int(0) > 0o7777n) return bad('mode out of range');
        break;
      case 'CLOSE_FROM':
        if (int(0) < 3n || int(0) > INT32_MAX) return bad('CLOSE_FROM out of range');
        break;
      case 'CREATE_FILE':
        if (int(0) < 0n || int(0) > 0o7777n || int(1) < -1n || int(1) > INT32_MAX) return bad('CREATE_FILE out of range');
        if ((int(1) < 0n) !== !nulls.includes(1)) return bad('CREATE_FILE needs data or an fd, not both');
        break;
      case 'MKNOD':
        if (int(0) < 0n || int(0) > 0xffffffffn || int(1) < 0n) return bad('MKNOD out of range');
        break;
      case 'MOUNT_SETATTR':
        if (int(0) < 0n || int(0) > INT32_MAX || int(1) < 0n || int(2) < 0n || int(3) < 0n) return bad('MOUNT_SETATTR out of range');
        break;
      case 'PIDFD_OPEN':
        if (int(0) < 1n || int(0) > INT32_MAX || int(1) < 0n || int(1) >= BigInt(MAX_SLOTS)) return bad('PIDFD_OPEN out of range');
        break;
      case 'PIDFD_GETFD':
        if (int(0) < -BigInt(MAX_SLOTS) || int(0) > INT32_MAX || int(1) < 0n || int(1) > INT32_MAX || int(2) < 0n || int(2) >= BigInt(MAX_SLOTS)) return bad('PIDFD_GETFD out of range');
        break;
      case 'NS_IOCTL':
        if (int(1) !== BigInt(NS_GET_USERNS) && int(1) !== BigInt(SIOCGSKNS)) return bad(`NS_IOCTL request ${int(1)}`);
        if (int(0) < -BigInt(MAX_SLOTS) || int(0) > INT32_MAX || int(2) < 0n || int(2) >= BigInt(MAX_SLOTS)) return bad('NS_IOCTL out of range');
        break;
      case 'FORK':
        if (int(0) < 0n || int(0) > 127n || int(1) < 0n || int(1) > NSIG_MAX) return bad('FORK mode or signal out of range');
        if (int(2) < 0n || int(2) >= BigInt(MAX_STEPS)) return bad('FORK parent steps out of range');
        forks.push([steps - 1, Number(int(2))]);
        break;
      case 'INIT':
        if (int(0) < 0n || int(0) > 127n) return bad('INIT mode out of range');
        if (int(1) < 0n || int(1) >= BigInt(MAX_STEPS)) return bad('INIT steps out of range');
        forks.push([steps - 1, Number(int(1))]);
        break;
    }
  }
  for (const [k, n] of forks) if (k + 1 + n > steps) return { ok: false, why: `FORK at ${k}: ${n} parent steps of ${steps - k - 1} that follow` };
  return { ok: true, why: '' };
}

// ---------------------------------------------------------------------------------------
// Seeded randomness

function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    /** lo..hi inclusive */
    range: (lo: number, hi: number) => lo + int(hi - lo + 1),
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)],
    chance: (p: number) => next() < p,
    u32: () => int(2 ** 32),
    i64: () => BigInt.asIntN(64, (BigInt(int(2 ** 32)) << 32n) | BigInt(int(2 ** 32))),
  };
}
type Rng = ReturnType<typeof prng>;

const CHARS = ['a', 'b', 'z', '/', '.', '-', ' ', '=', '\n', '\t', 'é', '€', '😀', '\u0001', '\u007f', '"', '\\'];
function text(r: Rng, max = 12): string {
  let s = '';
  for (let n = r.int(max + 1); n > 0; n--) s += r.pick(CHARS);
  return s;
}
const path = (r: Rng) => '/' + text(r, 20);

/** Interesting 64-bit values: the limits of every range the parser checks, and beyond. */
const EDGES = [0n, 1n, -1n, -2n, 2n, 31n, 32n, 63n, 64n, 65n, -63n, -64n, -65n, 1023n, 1024n, 1025n, 65535n, 65536n, 65537n,
  INT32_MAX, INT32_MAX + 1n, -INT32_MAX - 1n, -INT32_MAX - 2n, ID_MAX, ID_MAX + 1n, ID_MAX + 2n, 2n ** 63n - 1n, -(2n ** 63n),
  2n ** 62n, 0x7fffffffn, 0xfffffffen, 0xffffffffn, 0x100000000n];
const edge = (r: Rng) => (r.chance(0.8) ? r.pick(EDGES) : r.i64());

/** A random well-formed step of every kind plan.ts has. */
function randomStep(r: Rng): Step {
  const id = () => (r.chance(0.3) ? r.pick([0, 1, 65534, 4294967294]) : r.int(4294967295));
  const fd = () => (r.chance(0.5) ? r.range(-64, 10) : r.pick([0, 2147483647, r.int(2147483648)]));
  const kind = r.pick(Object.keys(OP) as (keyof typeof OP)[]);
  switch (kind) {
    case 'writeFile': return { op: 'writeFile', path: path(r), data: text(r, 40) };
    case 'unshare': return { op: 'unshare', flags: r.pick([0x20000, 0x10000000, 0x20000000, 0x40000000, 0x80, r.u32()]) };
    case 'setns': return { op: 'setns', fd: fd(), nstype: r.pick([0, 0x20000, 0x10000000, r.u32()]), ...(r.chance(0.3) ? { path: path(r) } : {}) };
    case 'mount': return {
      op: 'mount', source: r.chance(0.3) ? null : text(r), target: path(r), fstype: r.chance(0.3) ? null : r.pick(['proc', 'tmpfs', 'sysfs', text(r)]),
      flags: r.u32(), ...(r.chance(0.5) ? { data: r.chance(0.5) ? null : text(r, 30) } : {}),
    };
    case 'umount2': return { op: 'umount2', target: path(r), flags: r.range(0, 15) };
    case 'pivotRoot': return { op: 'pivotRoot', newRoot: path(r), putOld: path(r) };
    case 'chroot': return { op: 'chroot', path: path(r) };
    case 'chdir': return { op: 'chdir', path: path(r) };
    case 'fchdir': return { op: 'fchdir', fd: fd(), ...(r.chance(0.3) ? { path: path(r) } : {}) };
    case 'sethostname': return { op: 'sethostname', name: text(r, 64) };
    case 'setdomainname': return { op: 'setdomainname', name: text(r, 64) };
    case 'setgroups': return { op: 'setgroups', gids: Array.from({ length: r.pick([0, 1, 2, r.int(40)]) }, id) };
    case 'setgid': return { op: 'setgid', gid: id() };
    case 'setuid': return { op: 'setuid', uid: id() };
    case 'prctl': return { op: 'prctl', option: r.pick([1, 8, 23, 24, 38, 39, 47, r.int(100)]), ...(r.chance(0.7) ? { arg2: r.int(64) } : {}), ...(r.chance(0.5) ? { arg3: r.int(64) } : {}) };
    case 'capset': return { op: 'capset', sets: { effective: BigInt.asUintN(64, r.i64()), permitted: BigInt.asUintN(64, r.i64()), inheritable: r.chance(0.5) ? 0n : BigInt.asUintN(41, r.i64()) } };
    case 'stdio': return { op: 'stdio', sources: Array.from({ length: r.range(1, r.chance(0.1) ? 1024 : 8) }, () => (r.chance(0.3) ? 'keep' as const : r.chance(0.8) ? r.int(100) : 2147483647)) };
    case 'sync': return { op: 'sync' };
    case 'fork': return {
      op: 'fork', mode: r.chance(0.5) ? r.int(128) : r.pick([0, FORK.reportPid | FORK.closeFds, FORK.forward | FORK.ignoreInt | FORK.initStatus, 127]),
      deathSignal: r.chance(0.5) ? r.int(65) : r.pick([0, 9, 15, 64]), ...(r.chance(0.5) ? { parentSteps: r.pick([0, 1, 2, r.int(4096)]) } : {}),
    };
    case 'remove': return { op: 'remove', path: path(r) };
    case 'symlink': return { op: 'symlink', target: text(r, 20), path: path(r) };
    case 'chmod': return { op: 'chmod', path: path(r), mode: r.pick([0o755, 0o1777, 0o7777, r.int(0o7777)]) };
    case 'mountSetattr': return { op: 'mountSetattr', path: path(r), flags: r.pick([0, 0x8000, r.u32() & 0x7fffffff]), set: r.int(256), clear: r.int(256), propagation: r.pick([0, 0x40000, 0x80000]) };
    case 'seccomp': return { op: 'seccomp', flags: r.int(16), filter: Buffer.from(Array.from({ length: 8 * r.range(1, r.chance(0.05) ? 4096 : 16) }, () => r.int(256))) };
    case 'landlock': return { op: 'landlock', fd: fd() };
    case 'detach': return { op: 'detach' };
    case 'fifoWait': return { op: 'fifoWait', fd: fd() };
    case 'connect': return { op: 'connect', path: r.chance(0.9) ? path(r) : 'x'.repeat(r.pick([1, 100, 107])), slot: r.pick([0, 63, r.int(64)]) };
    case 'console': return { op: 'console', fd: fd(), rows: r.pick([0, 24, 65535]), columns: r.pick([0, 80, r.int(65536)]) };
    case 'exitJson': return { op: 'exitJson', fd: r.pick([0, 3, 2147483647, r.int(1000)]) };
    case 'init': return { op: 'init', mode: r.chance(0.5) ? r.int(128) : r.pick([0, FORK.forward | FORK.ignoreInt, 127]), ...(r.chance(0.5) ? { initSteps: r.pick([0, 1, 2, r.int(4096)]) } : {}) };
    case 'lockFile': return { op: 'lockFile', path: path(r) };
    case 'close': return { op: 'close', fd: r.pick([0, 3, 2147483647, r.int(1000)]) };
    case 'watch': return {
      // A CPU limit needs the file it is read from.
      op: 'watch', timeoutMs: r.pick([0, 1, 60000, r.int(2 ** 31)]), cpuMs: r.pick([0, 0, 1500, r.int(2 ** 31)]), cpuFile: path(r), cpuNs: r.chance(0.5),
      killFile: r.chance(0.5) ? null : path(r), timeoutNote: r.chance(0.5) ? null : text(r, 20), cpuNote: r.chance(0.5) ? null : text(r, 20),
    };
    case 'landlockRuleset': return {
      op: 'landlockRuleset', handled: r.pick([1, 0x1fff, 0xffff, r.u32()]), fileAccess: r.pick([0, 0xd003, r.u32()]), slot: r.int(64),
      rules: Array.from({ length: r.pick([0, 1, 2, r.int(20)]) }, () => ({ path: path(r), access: r.pick([0, 7, 0xffff, r.u32()]) })),
    };
    case 'setrlimit': return { op: 'setrlimit', resource: r.int(16), soft: r.pick([-1, 0, 1024, r.int(2 ** 31)]), hard: r.pick([-1, 4096, r.int(2 ** 31)]) };
    case 'umask': return { op: 'umask', mask: r.int(0o10000) };
    case 'closeFrom': return { op: 'closeFrom', first: r.pick([3, 4, 100, 2147483647]) };
    case 'createFile': return r.chance(0.5) ? { op: 'createFile', path: path(r), mode: r.int(0o10000), data: text(r, 40) } : { op: 'createFile', path: path(r), mode: r.int(0o10000), fd: r.int(100) };
    case 'mknod': return { op: 'mknod', path: path(r), mode: r.pick([0o20666, 0o60660, r.u32()]), dev: r.pick([0, 259, r.u32()]) };
    case 'note': return { op: 'note', signal: r.pick([0, 9, -9, r.range(-65, 65)]), above: r.pick([0, -1, r.int(1000)]), file: path(r), key: text(r, 8), message: text(r, 40) };
    case 'mkdir': return { op: 'mkdir', path: path(r), mode: r.pick([0o755, 0o700, 0, r.u32()]) };
    case 'setsid': return { op: 'setsid' };
    case 'exec': return {
      op: 'exec', file: text(r, 20) || 'x', argv: Array.from({ length: r.range(1, 5) }, () => text(r, 10)),
      env: Array.from({ length: r.int(4) }, () => `${text(r, 5)}=${text(r, 8)}`), search: r.chance(0.5),
    };
    case 'lookup': return { op: 'lookup', file: text(r, 20) || 'x', search: r.chance(0.5), env: Array.from({ length: r.int(4) }, () => `${text(r, 5)}=${text(r, 8)}`) };
    case 'hook': return {
      op: 'hook', path: path(r), argv: Array.from({ length: r.range(1, 4) }, () => text(r, 10)),
      env: Array.from({ length: r.int(3) }, () => `${text(r, 5)}=${text(r, 8)}`), stdin: fd(), timeoutSec: r.pick([0, 1, 2147483, r.int(100)]), inHostRoot: r.chance(0.5),
    };
    case 'open': return { op: 'open', path: path(r), flags: r.pick([0, 0o2000000, 0x200000, r.u32()]), slot: r.int(64) };
    case 'pidfdOpen': return { op: 'pidfdOpen', pid: r.pick([1, 2147483647, r.range(1, 100000)]), slot: r.int(64) };
    case 'pidfdGetfd': return { op: 'pidfdGetfd', pidfd: fd(), targetFd: r.pick([0, 3, 2147483647, r.int(1000)]), slot: r.int(64) };
    case 'nsIoctl': return { op: 'nsIoctl', fd: fd(), request: r.pick([NS_GET_USERNS, SIOCGSKNS]), slot: r.int(64) };
  }
}

// ---------------------------------------------------------------------------------------
// Plans as records, for structural mutations, and back to bytes with a map of the fields

interface Rec { op: number; ints: bigint[]; strs: (Buffer | null)[]; trace: Buffer | null }

/** Decode a plan that is known to be well formed (encodePlan's output). */
function decode(buf: Buffer): Rec[] {
  const recs: Rec[] = [];
  let at = 0;
  const u32 = () => { const v = buf.readUInt32LE(at); at += 4; return v; };
  const str = () => {
    const len = u32();
    if (len === 0xffffffff) return null;
    const s = Buffer.from(buf.subarray(at, at + len));
    at += len + 1;
    return s;
  };
  while (at < buf.length) {
    const op = u32();
    const nint = u32();
    const ints = Array.from({ length: nint }, (_, k) => buf.readBigInt64LE(at + 8 * k));
    at += 8 * nint;
    const nstr = u32();
    const strs = Array.from({ length: nstr }, str);
    recs.push({ op, ints, strs, trace: str() });
  }
  return recs;
}

interface Fields {
  /** offsets of u32 fields: op codes, counts, string lengths */
  ops: number[]; counts: number[]; lens: number[];
  /** offsets of i64 operands */
  ints: number[];
  /** [offset, length] of string bytes (with the NUL after them at offset + length) */
  strs: [number, number][];
  /** [start, end) of each record */
  records: [number, number][];
}

function serialize(recs: Rec[]): { buf: Buffer; fields: Fields } {
  let size = 0;
  for (const r of recs) size += 12 + 8 * r.ints.length + [...r.strs, r.trace].reduce((n, s) => n + 4 + (s ? s.length + 1 : 0), 0);
  const buf = Buffer.alloc(size);
  const fields: Fields = { ops: [], counts: [], lens: [], ints: [], strs: [], records: [] };
  let at = 0;
  for (const r of recs) {
    const start = at;
    fields.ops.push(at);
    at = buf.writeUInt32LE(r.op >>> 0, at);
    fields.counts.push(at);
    at = buf.writeUInt32LE(r.ints.length, at);
    for (const v of r.ints) {
      fields.ints.push(at);
      at = buf.writeBigInt64LE(BigInt.asIntN(64, v), at);
    }
    fields.counts.push(at);
    at = buf.writeUInt32LE(r.strs.length, at);
    for (const s of [...r.strs, r.trace]) {
      fields.lens.push(at);
      if (s === null) {
        at = buf.writeUInt32LE(0xffffffff, at);
        continue;
      }
      at = buf.writeUInt32LE(s.length, at);
      fields.strs.push([at, s.length]);
      at += s.copy(buf, at) + 1;
    }
    fields.records.push([start, at]);
  }
  return { buf, fields };
}

const OP_CODES = [...TABLE.keys()];

/** One structural mutation, in place; returns its name. */
function mutateRecords(r: Rng, recs: Rec[]): string {
  if (recs.length === 0) recs.push(decode(encodePlan([randomStep(r)]))[0]);
  const rec = r.pick(recs);
  const k = (n: number) => r.int(Math.max(n, 1));
  switch (r.int(14)) {
    case 0: {
      const code = r.chance(0.7) ? r.pick(OP_CODES) : r.pick([0, 26, 27, 39, 49, 53, 255, 256, 0x80000000, 0xffffffff]);
      rec.op = code;
      return `op ${code}`;
    }
    case 1: case 2: {
      if (!rec.ints.length) { rec.ints.push(edge(r)); return 'int added'; }
      const at = k(rec.ints.length);
      rec.ints[at] = edge(r);
      return `int ${at} = ${rec.ints[at]}`;
    }
    case 3:
      if (r.chance(0.5) && rec.ints.length) { rec.ints.pop(); return 'int removed'; }
      rec.ints.push(edge(r));
      return 'int added';
    case 4:
      if (r.chance(0.5) && rec.strs.length) { rec.strs.splice(k(rec.strs.length), 1); return 'string removed'; }
      rec.strs.splice(r.int(rec.strs.length + 1), 0, r.chance(0.2) ? null : Buffer.from(text(r)));
      return 'string added';
    case 5: {
      if (!rec.strs.length) { rec.trace = null; return 'NULL trace'; }
      const at = k(rec.strs.length);
      rec.strs[at] = null;
      return `string ${at} NULL`;
    }
    case 6: {
      // a NUL inside a string (or the trace)
      const all = [...rec.strs.keys(), -1];
      const which = r.pick(all);
      const s = which < 0 ? rec.trace : rec.strs[which];
      const b = Buffer.from(s ?? Buffer.from('x'));
      const nb = Buffer.concat([b.subarray(0, r.int(b.length + 1)), Buffer.from([0]), b.subarray(r.int(b.length + 1))]);
      if (which < 0) rec.trace = nb; else rec.strs[which] = nb;
      return `NUL in string ${which}`;
    }
    case 7: {
      const at = k(recs.length);
      recs.splice(at, 0, ...Array.from({ length: r.range(1, 3) }, () => ({ ...recs[at], ints: [...recs[at].ints], strs: [...recs[at].strs] })));
      return `record ${at} duplicated`;
    }
    case 8:
      recs.splice(k(recs.length), 1);
      return 'record removed';
    case 9: {
      // EXEC's argc and its NULL
      const exec = recs.find((x) => x.op === OP.exec) ?? rec;
      if (!exec.ints.length) exec.ints.push(1n);
      exec.ints[0] = r.pick([exec.ints[0] - 1n, exec.ints[0] + 1n, 0n, -1n, BigInt(exec.strs.length), BigInt(exec.strs.length - 1), BigInt(exec.strs.length - 2), 2n ** 62n, edge(r)]);
      if (r.chance(0.3) && exec.strs.length) exec.strs[k(exec.strs.length)] = null;
      if (r.chance(0.2)) exec.strs = exec.strs.map((s) => s ?? Buffer.from('x'));
      return `exec argc ${exec.ints[0]}`;
    }
    case 10: {
      // a short SETGROUPS with a gid at the edge of its range
      recs.splice(k(recs.length), 0, { op: OP.setgroups, ints: [0n, edge(r)], strs: [], trace: Buffer.from('setgroups') });
      return 'setgroups edge';
    }
    case 11: {
      const n = r.pick([0, 1, 2]);
      recs.splice(k(recs.length), 0, { op: OP.stdio, ints: Array.from({ length: n }, () => r.pick([-3n, -2n, -1n, 0n, 5n, INT32_MAX, INT32_MAX + 1n])), strs: [], trace: Buffer.from('dup2') });
      return `stdio of ${n}`;
    }
    case 12: {
      rec.trace = r.chance(0.5) ? Buffer.alloc(0) : Buffer.from(text(r, 300));
      return 'trace changed';
    }
    default: {
      const other = decode(encodePlan(Array.from({ length: r.range(1, 3) }, () => randomStep(r))));
      recs.splice(r.int(recs.length + 1), 0, ...other);
      return 'records spliced in';
    }
  }
}

const U32_EDGES = [0, 1, 2, 3, 4, 7, 8, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x1fffffff, 0x20000000, 0x40000, 0x40001];

/** One byte-level mutation; returns the new bytes and its name. */
function mutateBytes(r: Rng, buf: Buffer, fields: Fields): [Buffer, string] {
  const b = Buffer.from(buf);
  // after an earlier cut or insertion the map is approximate: keep what is still inside the bytes
  const fits = (n: number) => (at: number) => at + n <= b.length;
  const f: Fields = {
    ops: fields.ops.filter(fits(4)), counts: fields.counts.filter(fits(4)), lens: fields.lens.filter(fits(4)),
    ints: fields.ints.filter(fits(8)), strs: fields.strs.filter(([at, len]) => at + len < b.length),
    records: fields.records.filter(([, end]) => end <= b.length),
  };
  const anyU32 = [...f.ops, ...f.counts, ...f.lens];
  switch (r.int(11)) {
    case 0: {
      const n = r.range(1, 4);
      for (let j = 0; j < n && b.length; j++) b[r.int(b.length)] ^= 1 << r.int(8);
      return [b, `${n} bits flipped`];
    }
    case 1: {
      const at = r.chance(0.3) && b.length ? b.length - r.range(1, Math.min(9, b.length)) : r.int(b.length + 1);
      return [b.subarray(0, at), `truncated to ${at}`];
    }
    case 2: case 3: {
      if (!f.lens.length) return [b, 'no length'];
      const at = r.pick(f.lens);
      const old = b.readUInt32LE(at);
      const v = r.chance(0.5) ? r.pick(U32_EDGES) : (old + r.pick([-2, -1, 1, 2, 3, 1001])) >>> 0;
      b.writeUInt32LE(v >>> 0, at);
      return [b, `length at ${at}: ${old} -> ${v >>> 0}`];
    }
    case 4: {
      if (!f.counts.length) return [b, 'no count'];
      const at = r.pick(f.counts);
      const old = b.readUInt32LE(at);
      const v = r.chance(0.5) ? r.pick(U32_EDGES) : (old + r.pick([-1, 1, 2, -2])) >>> 0;
      b.writeUInt32LE(v >>> 0, at);
      return [b, `count at ${at}: ${old} -> ${v >>> 0}`];
    }
    case 5: {
      if (!f.ints.length) return [b, 'no int'];
      const at = r.pick(f.ints);
      b.writeBigInt64LE(BigInt.asIntN(64, edge(r)), at);
      return [b, `int at ${at}`];
    }
    case 6: {
      const at = r.int(b.length + 1);
      const n = r.range(1, 16);
      const junk = Buffer.from(Array.from({ length: n }, () => r.int(256)));
      return [r.chance(0.5) ? Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]) : Buffer.concat([b.subarray(0, at), junk, b.subarray(Math.min(b.length, at + n))]), `${n} random bytes at ${at}`];
    }
    case 7: {
      const at = r.int(b.length + 1);
      const end = Math.min(b.length, at + r.range(1, 12));
      return [Buffer.concat([b.subarray(0, at), b.subarray(end)]), `bytes ${at}..${end} deleted`];
    }
    case 8: {
      // the NUL after a string made something else, or a NUL put inside it
      if (!f.strs.length) return [b, 'no string'];
      const [at, len] = r.pick(f.strs);
      if (r.chance(0.5) || len === 0) { b[at + len] = r.range(1, 255); return [b, `terminator of string at ${at} not NUL`]; }
      b[at + r.int(len)] = 0;
      return [b, `NUL inside string at ${at}`];
    }
    case 9: {
      // a record's bytes repeated, or a partial record appended
      if (!f.records.length) return [b, 'no record'];
      const [s, e] = r.pick(f.records);
      const part = r.chance(0.5) ? b.subarray(s, e) : b.subarray(s, s + r.int(e - s));
      return [Buffer.concat([b, part]), `record ${s}..${e} appended${part.length < e - s ? ' in part' : ''}`];
    }
    default: {
      if (!anyU32.length) return [b, 'no field'];
      const at = r.pick(anyU32);
      b.writeUInt32LE(r.pick(U32_EDGES) >>> 0, at);
      return [b, `u32 at ${at}`];
    }
  }
}

interface Case { plan: Buffer; how: string }

/** Bytes of a plan written field by field, for the big ones (no Buffer per string). */
class Writer {
  private buf = Buffer.alloc(1 << 16);
  private at = 0;
  private room(n: number) {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
  u32(v: number): this { this.room(4); this.at = this.buf.writeUInt32LE(v >>> 0, this.at); return this; }
  i64(v: bigint): this { this.room(8); this.at = this.buf.writeBigInt64LE(BigInt.asIntN(64, v), this.at); return this; }
  str(s: string | null): this {
    if (s === null) return this.u32(0xffffffff);
    const n = Buffer.byteLength(s);
    this.u32(n).room(n + 1);
    this.at += this.buf.write(s, this.at);
    this.buf[this.at++] = 0;
    return this;
  }
  /** ints: an array, or { length, at(k) } for long lists */
  record(op: number, ints: { length: number; at: (k: number) => bigint | undefined }, nstr: number, strAt: (k: number) => string | null, trace = 'x'): this {
    this.u32(op).u32(ints.length);
    for (let k = 0; k < ints.length; k++) this.i64(ints.at(k)!);
    this.u32(nstr);
    for (let k = 0; k < nstr; k++) this.str(strAt(k));
    return this.str(trace);
  }
  done(): Buffer { return Buffer.from(this.buf.subarray(0, this.at)); }
}

/** Plans at and past the parser's limits: groups, steps, stdio entries, strings. Built once: they are big. */
function limits(r: Rng): Case[] {
  const cases: Case[] = [];
  const add = (buf: Buffer, how: string) => {
    cases.push({ plan: buf, how });
    // and the same cut short, or with its last terminator damaged
    cases.push({ plan: buf.subarray(0, buf.length - r.range(1, 9)), how: `${how}, truncated` });
    const b = Buffer.from(buf);
    b[b.length - 1] = 0x41;
    cases.push({ plan: b, how: `${how}, last NUL not NUL` });
  };
  const list = (n: number, f: (k: number) => bigint) => ({ length: n, at: f });
  const none = () => null;
  for (const n of [MAX_GROUPS - 1, MAX_GROUPS, MAX_GROUPS + 1]) {
    add(new Writer().record(OP.setgroups, list(n, BigInt), 0, none).done(), `setgroups of ${n}`);
    for (const last of [ID_MAX, ID_MAX + 1n, -1n]) add(new Writer().record(OP.setgroups, list(n, (j) => (j === n - 1 ? last : ID_MAX)), 0, none).done(), `setgroups of ${n} ending in ${last}`);
  }
  for (const n of [MAX_STEPS - 1, MAX_STEPS, MAX_STEPS + 1, 2 * MAX_STEPS]) {
    const one = new Writer();
    const two = new Writer();
    for (let j = 0; j < n; j++) {
      one.record(OP.setsid, [], 0, none, '');
      if (j % 2) two.record(OP.chdir, [], 1, () => '/');
      else two.record(OP.sync, [], 0, none);
    }
    add(one.done(), `${n} steps`);
    add(two.done(), `${n} steps of two kinds`);
  }
  for (const n of [MAX_STDIO - 1, MAX_STDIO, MAX_STDIO + 1]) add(new Writer().record(OP.stdio, list(n, (j) => BigInt(j % 4) - 2n), 0, none).done(), `stdio of ${n}`);
  for (const n of [MAX_STRS - 1, MAX_STRS, MAX_STRS + 1]) {
    // EXEC with argc 1: file, argv[0], NULL, then environment strings up to n
    add(new Writer().record(OP.exec, [1n, 0n], n, (k) => (k === 2 ? null : '')).done(), `exec of ${n} strings`);
    add(new Writer().record(OP.exec, [BigInt(n - 2), 1n], n, (k) => (k === n - 1 ? null : 'a')).done(), `exec with argc ${n - 2}`);
  }
  // a count that promises more than the plan holds
  add(new Writer().record(OP.setgroups, [], 0, none).done(), 'setgroups of 0');
  for (const n of [0x1fffffff, 0x20000000, 0x40001, 0xffffffff]) {
    const b = new Writer().record(OP.setgroups, [1n], 0, none).done();
    b.writeUInt32LE(n, 4);
    cases.push({ plan: b, how: `setgroups claiming ${n} gids` });
    const e = new Writer().record(OP.exec, [1n, 0n], 3, (k) => (k === 2 ? null : 'f')).done();
    e.writeUInt32LE(n, 24);
    cases.push({ plan: e, how: `exec claiming ${n} strings` });
  }
  return cases;
}

function generate(seed: number, count: number): Case[] {
  const r = prng(seed);
  const cases: Case[] = [
    { plan: Buffer.alloc(0), how: 'empty plan' },
    { plan: Buffer.from([1]), how: 'one byte' },
    { plan: Buffer.alloc(12), how: 'op 0, no operands' },
    ...limits(r),
  ];
  while (cases.length < count) {
    const steps = Array.from({ length: r.range(1, 6) }, () => randomStep(r));
    // A fork's parent steps are among the steps after it (mutations try the others).
    steps.forEach((s, k) => {
      if (s.op === 'fork' && s.parentSteps) s.parentSteps = Math.min(s.parentSteps, steps.length - k - 1);
      if (s.op === 'init' && s.initSteps) s.initSteps = Math.min(s.initSteps, steps.length - k - 1);
    });
    const valid = encodePlan(steps);
    if (r.chance(0.05)) {
      cases.push({ plan: valid, how: 'as encoded' });
      continue;
    }
    const recs = decode(valid);
    const how: string[] = [];
    for (let n = r.chance(0.6) ? r.range(1, 2) : 0; n > 0; n--) how.push(mutateRecords(r, recs));
    let { buf, fields } = serialize(recs);
    for (let n = how.length === 0 ? r.range(1, 3) : r.int(2); n > 0; n--) {
      const [b, what] = mutateBytes(r, buf, fields);
      buf = b;
      how.push(what);
    }
    cases.push({ plan: buf, how: how.join('; ') });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// The C verdicts, from a child process

/** koffi as src/sys/libc.ts loads it: the platform package, else koffi's own loader. */
function koffiPath(): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(`@koromix/koffi-${process.platform}-${process.arch}`);
  } catch {
    return require.resolve('koffi');
  }
}

// Reads the plans file (u32 length + bytes, repeated), judges each with tsns_plan_check
// on a copy that ends right before a PROT_NONE page, and writes each i32 verdict to
// a results file as soon as it has it: a child killed by a signal has written the verdicts of
// the plans before the one that killed it.
const CHILD = `
const fs = require('node:fs');
const koffi = require(process.argv[1]);
const lib = koffi.load(process.argv[2]);
const libc = koffi.load('libc.so.6');
const check = lib.func('int tsns_plan_check(uintptr_t plan, size_t len)');
const mmap = libc.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, intptr_t off)');
const mprotect = libc.func('int mprotect(uintptr_t addr, size_t len, int prot)');
const memcpy = libc.func('uintptr_t memcpy(uintptr_t dst, const uint8_t *src, size_t n)');
const PAGE = 4096, RW = 3, NONE = 0, PRIVATE_ANON = 0x22;
const all = fs.readFileSync(process.argv[3]);
let max = 0;
for (let at = 0; at < all.length; at += 4 + all.readUInt32LE(at)) max = Math.max(max, all.readUInt32LE(at));
const size = Math.ceil(max / PAGE) * PAGE;
const map = Number(mmap(0, size + PAGE, RW, PRIVATE_ANON, -1, 0));
if (!(map > 0 && map < 2 ** 53)) throw new Error('mmap failed');
if (mprotect(map + size, PAGE, NONE) !== 0) throw new Error('mprotect failed');
const out = Buffer.alloc(4);
const results = fs.openSync(process.argv[4], 'w');
for (let at = 0; at < all.length; ) {
  const len = all.readUInt32LE(at);
  const plan = all.subarray(at + 4, at + 4 + len);
  at += 4 + len;
  const dst = map + size - len;
  if (len) memcpy(dst, plan, len);
  out.writeInt32LE(check(dst, len));
  fs.writeSync(results, out);
}
`;

interface ChildResult { verdicts: Int32Array; code: number | null; signal: NodeJS.Signals | null; stderr: string }

function judge(cases: Case[], dir: string, timeoutMs: number): Promise<ChildResult> {
  const file = join(dir, 'plans.bin');
  const parts: Buffer[] = [];
  for (const c of cases) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(c.plan.length);
    parts.push(len, c.plan);
  }
  writeFileSync(file, Buffer.concat(parts));
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.perturb=165' };
    delete env.NODE_OPTIONS;
    const results = join(dir, 'verdicts.bin');
    const child = spawn(process.execPath, ['-e', CHILD, koffiPath(), LIB, file, results], { stdio: ['ignore', 'ignore', 'pipe'], env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => {
      const all = existsSync(results) ? readFileSync(results) : Buffer.alloc(0);
      const verdicts = new Int32Array(Math.floor(all.length / 4));
      for (let k = 0; k < verdicts.length; k++) verdicts[k] = all.readInt32LE(4 * k);
      resolve({ verdicts, code, signal, stderr });
    });
  });
}

const hex = (b: Buffer, max = 256) => b.subarray(0, max).toString('hex') + (b.length > max ? `... (${b.length} bytes)` : '');
const EINVAL = -22;
const ENOMEM = -12;

t.test('C plan parser against the reference validator', { skip: existsSync(LIB) ? false : `${LIB} not built (make -C native)` }, async (t) => {
  t.comment(`seed ${SEED} (PLAN_FUZZ_SEED=${SEED} to repeat), ${COUNT} plans`);
  // the reference's limits are plan.h's
  t.same([limit('TSNS_MAX_STEPS'), limit('TSNS_MAX_GROUPS'), limit('TSNS_MAX_STDIO'), limit('TSNS_MAX_STRS'), limit('TSNS_MAX_SLOTS')],
    [MAX_STEPS, MAX_GROUPS, MAX_STDIO, MAX_STRS, MAX_SLOTS], 'plan.h limits as the reference knows them');
  t.equal(TABLE.size, Object.keys(OP).length, 'the reference knows every op of plan.h');

  const t0 = Date.now();
  const cases = generate(SEED, COUNT);
  const t1 = Date.now();
  const expected = cases.map((c) => reference(c.plan));
  t.comment(`generated in ${t1 - t0} ms, reference in ${Date.now() - t1} ms`);
  const valid = expected.filter((e) => e.ok).length;
  t.comment(`${valid} well-formed, ${cases.length - valid} malformed by the reference`);
  const reasons = new Map<string, number>();
  for (const e of expected) if (!e.ok) {
    const why = e.why.replace(/^record \d+ at \d+: /, '').replace(/\d+/g, 'N').replace(/^(\w+) with N (ints|strings)$/, 'op with N $2').replace(/EXEC .*/, 'EXEC layout');
    reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  t.comment(`why malformed: ${[...reasons].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${w}: ${n}`).join('; ')}`);
  t.ok(reasons.size >= 15, `${reasons.size} different reasons a plan is malformed`);
  t.ok(valid > cases.length * 0.05 && valid < cases.length * 0.95, 'both verdicts are well represented');

  const dir = mkdtempSync(join(tmpdir(), 'tsns-plan-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const t2 = Date.now();
  const res = await judge(cases, dir, 180_000);
  t.comment(`judged by C in ${Date.now() - t2} ms`);

  if (res.signal || res.code !== 0 || res.verdicts.length !== cases.length) {
    const at = res.verdicts.length;
    const c = cases[at];
    t.fail(`the parser's child ended with ${res.signal ? `signal ${res.signal}` : `status ${res.code}`} after ${at} of ${cases.length} plans`
      + (c ? `; at plan ${at} (${c.how}): ${hex(c.plan)}` : ''), { stderr: res.stderr.slice(-2000) });
  } else {
    t.pass(`the child judged all ${cases.length} plans and exited normally`);
  }

  const encoded = cases.flatMap((c, k) => (c.how === 'as encoded' ? [k] : []));
  t.ok(encoded.length > 100 && encoded.every((k) => expected[k].ok), `encodePlan's ${encoded.length} unmutated plans are well-formed to the reference`);

  // Disagreements, grouped by what the reference says, the smallest plan of each shown.
  const groups = new Map<string, { n: number; smallest: number }>();
  let bad = 0;
  for (let k = 0; k < res.verdicts.length; k++) {
    const v = res.verdicts[k];
    const want = expected[k];
    const agree = want.ok ? v === 0 : v === EINVAL || v === ENOMEM;
    if (agree) continue;
    const key = `C ${v}, reference ${want.ok ? 'well-formed' : `malformed (${want.why.replace(/^record \d+ at \d+: /, '').replace(/\d+/g, 'N')})`}`;
    bad++;
    const g = groups.get(key);
    if (!g) groups.set(key, { n: 1, smallest: k });
    else {
      g.n++;
      if (cases[k].plan.length < cases[g.smallest].plan.length) g.smallest = k;
    }
  }
  for (const [key, { n, smallest }] of groups) {
    const c = cases[smallest];
    t.fail(`${n} plan(s): ${key}; e.g. plan ${smallest} (${c.how}; reference: ${expected[smallest].why || 'ok'}): ${hex(c.plan)}`);
  }
  t.equal(bad, 0, `C and the reference agree on all ${res.verdicts.length} plans judged`);
});
