// The op table in native/plan.h (TSNS_OPS X-macro, the FORK and REPORT enums, the reply
// and planner defines) against src/native/plan.ts, and the operand counts plan.ts's
// encoder writes for each op against the fixed counts plan.h declares.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as plan from '../src/native/plan.js';
import { encodePlan, FORK, OP, type Step } from '../src/native/plan.js';

const header = readFileSync(fileURLToPath(new URL('../native/plan.h', import.meta.url)), 'utf8');

/** writeFile -> WRITE_FILE, umount2 -> UMOUNT2, blockIntTerm -> BLOCK_INT_TERM */
const snake = (camel: string) => camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

interface OpRow { name: string; code: number; ints: number; strs: number; nullmask: number }

/** The X(name, code, ints, strs, nullmask) rows of TSNS_OPS. */
function opTable(): OpRow[] {
  const start = header.indexOf('#define TSNS_OPS(X)');
  if (start < 0) throw new Error('plan.h has no TSNS_OPS(X) macro');
  // the macro runs over backslash-continued lines
  let end = start;
  for (;;) {
    const nl = header.indexOf('\n', end);
    if (nl < 0 || !/\\\s*$/.test(header.slice(end, nl))) { end = nl < 0 ? header.length : nl; break; }
    end = nl + 1;
  }
  const body = header.slice(start, end).replace(/\/\*[\s\S]*?\*\//g, '');
  const rows: OpRow[] = [];
  const row = /X\(\s*([A-Z0-9_]+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*\)/g;
  for (const m of body.matchAll(row)) {
    rows.push({ name: m[1], code: Number(m[2]), ints: Number(m[3]), strs: Number(m[4]), nullmask: Number(m[5]) });
  }
  // every X( in the macro must have parsed: a row the regex missed would go unchecked
  const xs = (body.match(/\bX\s*\(/g) ?? []).length;
  if (xs !== rows.length) throw new Error(`TSNS_OPS has ${xs} rows, parsed ${rows.length}`);
  return rows;
}

/** NAME = value members of a C enum. */
function enumMembers(name: string): Map<string, number> {
  const m = new RegExp(`enum\\s+${name}\\s*\\{([\\s\\S]*?)\\}`).exec(header);
  if (!m) throw new Error(`plan.h has no enum ${name}`);
  const body = m[1].replace(/\/\*[\s\S]*?\*\//g, '');
  const out = new Map<string, number>();
  for (const e of body.matchAll(/([A-Z][A-Z0-9_]*)\s*=\s*(-?(?:0x[0-9a-fA-F]+|\d+))/g)) out.set(e[1], Number(e[2]));
  return out;
}

/** #define NAME value, value an integer, possibly parenthesized and negative. */
function define(name: string): number {
  const m = new RegExp(`^#define\\s+${name}\\s+\\(?\\s*(-?(?:0x[0-9a-fA-F]+|\\d+))\\s*\\)?\\s*(?:/\\*.*)?$`, 'm').exec(header);
  if (!m) throw new Error(`plan.h has no #define ${name}`);
  return Number(m[1]);
}

const rows = opTable();

t.test('TSNS_OPS: one row per op of plan.ts, same codes', async (t) => {
  t.ok(rows.length >= 20, `parsed ${rows.length} rows`);
  const fromTs = Object.entries(OP).map(([name, code]) => ({ name: snake(name), code })).sort((a, b) => a.code - b.code);
  const fromC = rows.map(({ name, code }) => ({ name, code })).sort((a, b) => a.code - b.code);
  t.same(fromC, fromTs, 'same names and codes');
  t.equal(new Set(rows.map((r) => r.code)).size, rows.length, 'codes are distinct');
  t.equal(new Set(rows.map((r) => r.name)).size, rows.length, 'names are distinct');
  const max = enumMembers('tsns_op').get('TSNS_OP_MAX');
  t.equal(max, Math.max(...rows.map((r) => r.code)), 'TSNS_OP_MAX is the largest code');
  t.ok(rows.every((r) => r.code >= 1), 'no op 0 (the parser refuses it)');
  for (const r of rows) {
    t.ok(r.ints >= -1 && r.strs >= -1, `${r.name}: counts are fixed or -1 (a list)`);
    if (r.strs >= 0) t.equal(r.nullmask >>> r.strs, 0, `${r.name}: NULL mask names only its ${r.strs} strings`);
  }
});

t.test('FORK mode bits, reports, reply and planner codes', async (t) => {
  const fork = enumMembers('tsns_fork');
  t.same(
    [...fork].sort(([a], [b]) => a.localeCompare(b)),
    Object.entries(FORK).map(([k, v]) => [`TSNS_FORK_${snake(k)}`, v] as [string, number]).sort(([a], [b]) => a.localeCompare(b)),
    'enum tsns_fork = FORK',
  );
  const bits = [...fork.values()];
  t.ok(bits.every((b) => b > 0 && (b & (b - 1)) === 0), 'each FORK mode is one bit');
  t.equal(bits.reduce((a, b) => a | b, 0), 127, 'the bits are 1..64 (the parser allows FORK and INIT modes 0..127)');

  const reports = enumMembers('tsns_report');
  const tsReports = Object.entries(plan).filter(([k]) => k.startsWith('REPORT_')).map(([k, v]) => [`TSNS_${k}`, v as number] as [string, number]);
  t.same([...reports].sort(([a], [b]) => a.localeCompare(b)), tsReports.sort(([a], [b]) => a.localeCompare(b)), 'enum tsns_report = REPORT_*');
  t.ok(reports.size >= 4, `${reports.size} report kinds`);

  t.equal(define('TSNS_REPLY_GO'), plan.REPLY_GO, 'TSNS_REPLY_GO = REPLY_GO');
  t.equal(define('TSNS_NS_GET_USERNS'), plan.NS_GET_USERNS, 'TSNS_NS_GET_USERNS = NS_GET_USERNS');
  t.equal(define('TSNS_SIOCGSKNS'), plan.SIOCGSKNS, 'TSNS_SIOCGSKNS = SIOCGSKNS');
  const planners = Object.entries(plan).filter(([k]) => k.startsWith('PLANNER_'));
  t.ok(planners.length >= 2, 'plan.ts has the PLANNER_* codes');
  for (const [k, v] of planners) t.equal(define(`TSNS_${k}`), v, `TSNS_${k} = ${k}`);
  // A reply or planner code must never be a status 0..255.
  for (const v of [plan.REPLY_GO, ...planners.map(([, v]) => v as number)]) t.ok((v as number) < 0, `${v} is not an exit status`);
});

/** Samples of every op; list ops with lists of several lengths. */
const samples: Record<keyof typeof OP, Step[]> = {
  writeFile: [{ op: 'writeFile', path: '/proc/self/uid_map', data: '0 0 1\n' }],
  unshare: [{ op: 'unshare', flags: 0x20000 }],
  setns: [{ op: 'setns', fd: 5, nstype: 0 }, { op: 'setns', fd: -1, nstype: 0x10000000, path: '/proc/1/ns/user' }],
  mount: [
    { op: 'mount', source: 'proc', target: '/proc', fstype: 'proc', flags: 14, data: 'hidepid=2' },
    { op: 'mount', source: null, target: '/', fstype: null, flags: 0x40000 | 0x4000, data: null },
    { op: 'mount', source: '/a', target: '/b', fstype: null, flags: 4096 },
  ],
  umount2: [{ op: 'umount2', target: '/old', flags: 2 }],
  pivotRoot: [{ op: 'pivotRoot', newRoot: '.', putOld: '.' }],
  chroot: [{ op: 'chroot', path: '/srv/root' }],
  chdir: [{ op: 'chdir', path: '/' }],
  fchdir: [{ op: 'fchdir', fd: 3 }, { op: 'fchdir', fd: -64, path: '/x' }],
  sethostname: [{ op: 'sethostname', name: 'box' }],
  setdomainname: [{ op: 'setdomainname', name: '' }],
  setgroups: [{ op: 'setgroups', gids: [] }, { op: 'setgroups', gids: [0] }, { op: 'setgroups', gids: [1, 2, 3, 4294967294] }],
  setgid: [{ op: 'setgid', gid: 0 }],
  setuid: [{ op: 'setuid', uid: 4294967294 }],
  prctl: [{ op: 'prctl', option: 38, arg2: 1 }, { op: 'prctl', option: 1, arg2: 9, arg3: 0 }],
  capset: [{ op: 'capset', sets: { effective: 0n, permitted: (1n << 41n) - 1n, inheritable: 1n << 63n } }],
  stdio: [{ op: 'stdio', sources: ['keep'] }, { op: 'stdio', sources: [4, 'keep', 7] }],
  sync: [{ op: 'sync' }],
  fork: [{ op: 'fork', mode: 0, deathSignal: 0 }, { op: 'fork', mode: FORK.reportPid | FORK.closeFds, deathSignal: 9, parentSteps: 2 }],
  mkdir: [{ op: 'mkdir', path: '/tmp/x', mode: 0o755 }],
  setsid: [{ op: 'setsid' }],
  exec: [
    { op: 'exec', file: 'true', argv: ['true'], env: [], search: true },
    { op: 'exec', file: '/bin/sh', argv: ['sh', '-c', 'echo $0'], env: ['PATH=/bin', 'A=b'], search: false },
  ],
  open: [{ op: 'open', path: '/proc/self/ns/net', flags: 0, slot: 63 }],
  remove: [{ op: 'remove', path: '/sys/fs/cgroup/unified/x' }],
  note: [{ op: 'note', signal: -9, above: 0, file: '/sys/fs/cgroup/x/memory.events', key: 'oom_kill', message: 'out of memory' }],
  symlink: [{ op: 'symlink', target: 'usr/bin', path: '/newroot/bin' }],
  chmod: [{ op: 'chmod', path: '/newroot/tmp', mode: 0o1777 }],
  mountSetattr: [{ op: 'mountSetattr', path: '/newroot/usr', flags: 0x8000, set: 1, clear: 0, propagation: 0 }],
  seccomp: [
    { op: 'seccomp', flags: 0, filter: Buffer.from('0600000000000000', 'hex') },
    { op: 'seccomp', flags: 2, filter: Buffer.alloc(8 * 3, 0xff) },
  ],
  landlock: [{ op: 'landlock', fd: 7 }, { op: 'landlock', fd: -3 }],
  setrlimit: [{ op: 'setrlimit', resource: 7, soft: 1024, hard: -1 }],
  umask: [{ op: 'umask', mask: 0o22 }],
  closeFrom: [{ op: 'closeFrom', first: 3 }],
  createFile: [{ op: 'createFile', path: '/newroot/etc/passwd', mode: 0o644, data: 'root:x:0:0::/:/bin/sh\n' }, { op: 'createFile', path: '/f', mode: 0o600, fd: 5 }],
  mknod: [{ op: 'mknod', path: '/newroot/dev/null', mode: 0o20666, dev: 259 }],
  exitJson: [{ op: 'exitJson', fd: 4 }],
  init: [{ op: 'init', mode: 0 }, { op: 'init', mode: FORK.forward | FORK.ignoreInt, initSteps: 1 }],
  lockFile: [{ op: 'lockFile', path: '/run/app.lock' }],
  close: [{ op: 'close', fd: 5 }],
  pidfdOpen: [{ op: 'pidfdOpen', pid: 1, slot: 63 }],
  pidfdGetfd: [{ op: 'pidfdGetfd', pidfd: -64, targetFd: 3, slot: 62, pid: 1234 }, { op: 'pidfdGetfd', pidfd: 7, targetFd: 0, slot: 0 }],
  nsIoctl: [{ op: 'nsIoctl', fd: -63, request: plan.SIOCGSKNS, slot: 61 }, { op: 'nsIoctl', fd: 5, request: plan.NS_GET_USERNS, slot: 0, path: '/proc/1/ns/user' }],
  detach: [{ op: 'detach' }],
  fifoWait: [{ op: 'fifoWait', fd: -1 }, { op: 'fifoWait', fd: 5 }],
  connect: [{ op: 'connect', path: '/run/conmon/console.sock', slot: 2 }],
  console: [{ op: 'console', fd: -3, rows: 24, columns: 80 }, { op: 'console', fd: 7, rows: 0, columns: 0 }],
  lookup: [{ op: 'lookup', file: 'sh', search: true, env: ['PATH=/bin'] }, { op: 'lookup', file: '/bin/true', search: false, env: [] }],
  hook: [{ op: 'hook', path: '/usr/bin/hook', argv: ['hook', 'create'], env: ['A=1'], stdin: -63, timeoutSec: 5, inHostRoot: true },
    { op: 'hook', path: '/bin/sh', argv: ['sh'], env: [], stdin: 0, timeoutSec: 0, inHostRoot: false }],
  watch: [
    { op: 'watch', timeoutMs: 60000, cpuMs: 0, cpuFile: null, cpuNs: false, killFile: '/sys/fs/cgroup/x/cgroup.kill', timeoutNote: 'ts-sandbox: timeout', cpuNote: null },
    { op: 'watch', timeoutMs: 0, cpuMs: 1500, cpuFile: '/sys/fs/cgroup/cpuacct/x/cpuacct.usage', cpuNs: true, killFile: null, timeoutNote: null, cpuNote: 'cpu' },
  ],
  landlockRuleset: [
    { op: 'landlockRuleset', handled: 0xffff, fileAccess: 0xd003, slot: 63, rules: [] },
    { op: 'landlockRuleset', handled: 0x1fff, fileAccess: 0x3, slot: 0, rules: [{ path: '/usr', access: 0xd }, { path: '/tmp', access: 0x1fff }] },
  ],
};

interface Decoded { op: number; ints: bigint[]; strs: (Buffer | null)[]; trace: Buffer | null }

/** Records of a plan by plan.h's layout; throws on anything that does not fit exactly. */
function decode(buf: Buffer): Decoded[] {
  const out: Decoded[] = [];
  let at = 0;
  const need = (n: number) => { if (buf.length - at < n) throw new Error(`truncated at ${at}`); };
  const u32 = () => { need(4); const v = buf.readUInt32LE(at); at += 4; return v; };
  const str = () => {
    const len = u32();
    if (len === 0xffffffff) return null;
    need(len + 1);
    const s = buf.subarray(at, at + len);
    if (buf[at + len] !== 0) throw new Error(`no NUL after string at ${at}`);
    at += len + 1;
    return s;
  };
  while (at < buf.length) {
    const op = u32();
    const nint = u32();
    need(8 * nint);
    const ints = Array.from({ length: nint }, (_, k) => buf.readBigInt64LE(at + 8 * k));
    at += 8 * nint;
    const nstr = u32();
    const strs = Array.from({ length: nstr }, str);
    out.push({ op, ints, strs, trace: str() });
  }
  return out;
}

t.test('the encoder writes each op with the counts plan.h fixes', async (t) => {
  const byCode = new Map(rows.map((r) => [r.code, r]));
  for (const [name, steps] of Object.entries(samples) as [keyof typeof OP, Step[]][]) {
    const row = byCode.get(OP[name])!;
    t.ok(row, `${name} is in TSNS_OPS`);
    if (!row) continue;
    for (const step of steps) {
      const what = `${name} ${JSON.stringify(step, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`;
      const recs = decode(encodePlan([step], { why: false, all: true }));
      t.equal(recs.length, 1, `${what}: one record`);
      const [r] = recs;
      t.equal(r.op, row.code, `${what}: op code`);
      if (row.ints >= 0) t.equal(r.ints.length, row.ints, `${what}: ${row.ints} ints`);
      if (row.strs >= 0) t.equal(r.strs.length, row.strs, `${what}: ${row.strs} strings`);
      // NULL only where the mask allows it (EXEC's and HOOK's argv terminator is their own rule)
      r.strs.forEach((s, k) => {
        if (s === null && name !== 'exec' && name !== 'hook') t.ok((row.nullmask >>> k) & 1, `${what}: string ${k} may be NULL`);
      });
      t.ok(r.trace !== null && r.trace.length > 0, `${what}: has a trace`);
    }
  }
  // the lists: their lengths are the list's
  const list = (step: Step) => decode(encodePlan([step]))[0];
  for (const s of samples.setgroups) t.equal(list(s).ints.length, (s as { gids: number[] }).gids.length, 'setgroups: one int per gid');
  for (const s of samples.stdio) t.equal(list(s).ints.length, (s as { sources: unknown[] }).sources.length, 'stdio: one int per fd');
  for (const s of samples.seccomp) t.equal(list(s).ints.length, 1 + (s as { filter: Buffer }).filter.length / 8, 'seccomp: flags, then one int per instruction');
  for (const s of samples.exec) {
    const e = s as Extract<Step, { op: 'exec' }>;
    const r = list(s);
    t.equal(r.ints.length, byCode.get(OP.exec)!.ints, 'exec: fixed ints');
    t.equal(r.ints[0], BigInt(e.argv.length), 'exec: ints[0] is argc');
    t.equal(r.strs.length, 1 + e.argv.length + 1 + e.env.length, 'exec: file, argv, NULL, env');
    t.equal(r.strs[e.argv.length + 1], null, 'exec: strs[argc+1] is NULL');
    t.equal(r.strs.filter((x) => x === null).length, 1, 'exec: no other NULL');
  }
  // the ops whose table counts are -1 are exactly the list ops plan.ts encodes from lists
  t.same(rows.filter((r) => r.ints < 0).map((r) => r.name).sort(), ['LANDLOCK_RULESET', 'SECCOMP', 'SETGROUPS', 'STDIO'], 'ops with a list of ints');
  t.same(rows.filter((r) => r.strs < 0).map((r) => r.name).sort(), ['EXEC', 'HOOK', 'LANDLOCK_RULESET', 'LOOKUP'], 'ops with a list of strings');
  // a plan of every sample decodes back into as many records, in order
  const all = Object.values(samples).flat();
  t.same(decode(encodePlan(all)).map((r) => r.op), all.map((s) => OP[s.op]), 'a whole plan decodes record by record');
});
