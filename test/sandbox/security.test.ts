// The Sandbox's security section on the real kernel: seccomp by name (deny, kill, log,
// argument conditions, allow lists, the default profile), Landlock, and capabilities by
// name and as OCI's five sets. Each sandbox is compile() + spawn(), bounded in time.
import t from 'tap';
import { pipeText } from '../helpers.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../src/sandbox/compile.js';
import { parseSpec, SpecError } from '../../src/sandbox/spec.js';
import { spawn } from '../../src/spawn/index.js';
import { childPlan } from '../../src/spawn/steps.js';
import { landlockAbi } from '../../src/sys/landlock.js';

type Security = NonNullable<ReturnType<typeof parseSpec>['security']>;
interface Run { code: number | null; signal: string | null; out: string; err: string }

const work = mkdtempSync(join(tmpdir(), 'tsns-security-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** Run argv in a sandbox with the host's root (in its own mount namespace) and `security` (and more of a spec). */
async function run(security: Security, argv: string[], more: Record<string, unknown> = {}): Promise<Run> {
  const c = compile(parseSpec({ filesystem: { root: 'host' }, security, ...more }), argv);
  const s = spawn({ ...c.spawn, stdio: ['ignore', 'pipe', 'pipe'] }, c.argv);
  const timer = setTimeout(() => s.kill('SIGKILL'), 20_000);
  // The output is all there once both pipes end, which may be after the exit is reaped.
  const [out, err, { code, signal }] = await Promise.all([pipeText(s.stdout!), pipeText(s.stderr!), s.exited]);
  clearTimeout(timer);
  return { code, signal, out, err };
}

/** Capability sets of the program, from its /proc/self/status. */
async function capsOf(security: Security): Promise<Record<string, bigint>> {
  const r = await run(security, ['grep', '^Cap', '/proc/self/status']);
  return Object.fromEntries([...r.out.matchAll(/^(Cap\w+):\s*([0-9a-f]+)$/gm)].map((m) => [m[1], BigInt('0x' + m[2])]));
}

// glibc may make mkdir(2) or mkdirat(2) for mkdir(3): deny both.
const MKDIR = ['mkdir', 'mkdirat'];
let n = 0;
const fresh = () => join(work, `d${n++}`);

t.test('seccomp deny: EPERM by default, another errno, kill, log mode', async (t) => {
  const d = fresh();
  const denied = await run({ seccomp: { deny: MKDIR } }, ['mkdir', d]);
  t.equal(denied.code, 1);
  t.match(denied.err, /Operation not permitted/, 'mkdir gets EPERM');
  const eacces = await run({ seccomp: { deny: MKDIR, errno: 13 } }, ['mkdir', d]);
  t.match(eacces.err, /Permission denied/, 'errno 13: EACCES');
  for (const action of ['kill', 'kill-process'] as const) {
    const killed = await run({ seccomp: { deny: MKDIR, action } }, ['mkdir', d]);
    t.equal(killed.signal, 'SIGSYS', `${action}: the program dies of SIGSYS`);
  }
  const logged = await run({ seccomp: { deny: MKDIR, log: true } }, ['mkdir', d]);
  t.equal(logged.code, 0, `log mode: allowed (${logged.err})`);
  const ok = await run({ seccomp: { deny: ['rmdir'] } }, ['mkdir', fresh()]);
  t.equal(ok.code, 0, 'what is not denied runs');
});

t.test('seccomp rules with argument conditions: socket(AF_INET) only', async (t) => {
  const py = (family: string) => ['python3', '-c', `import socket; socket.socket(socket.${family}); print("made")`];
  const rules = [{ names: ['socket'], action: 'errno' as const, errno: 97, args: [{ index: 0, value: 2, op: 'EQ' as const }] }];
  const inet = await run({ seccomp: { rules } }, py('AF_INET'));
  t.match(inet.err, /Address family not supported/, 'AF_INET: errno 97 (EAFNOSUPPORT)');
  const unix = await run({ seccomp: { rules } }, py('AF_UNIX'));
  t.equal(unix.out, 'made\n', 'AF_UNIX: made');
  // OCI: conditions on the same argument are alternatives.
  const either = [{ names: ['socket'], action: 'errno' as const, args: [{ index: 0, value: 2, op: 'EQ' as const }, { index: 0, value: 1, op: 'EQ' as const }] }];
  t.match((await run({ seccomp: { rules: either } }, py('AF_UNIX'))).err, /Operation not permitted/, 'AF_UNIX or AF_INET: AF_UNIX refused');
  t.match((await run({ seccomp: { rules: either } }, py('AF_INET'))).err, /Operation not permitted/, 'and AF_INET');
  t.equal((await run({ seccomp: { rules: either } }, py('AF_INET6'))).out, 'made\n', 'AF_INET6 not');
});

t.test('seccomp allow list: the program starts, the rest gets the default errno', async (t) => {
  t.equal((await run({ seccomp: { allow: ['uname'] } }, ['true'])).code, 0, 'true runs on the start-up calls alone');
  const d = fresh();
  const r = await run({ seccomp: { allow: ['uname', 'fstat'] } }, ['mkdir', d]);
  t.not(r.code, 0, 'mkdir is not on the list');
  const killed = await run({ seccomp: { allow: ['uname'], defaultAction: 'kill-process' } }, ['mkdir', d]);
  t.equal(killed.signal, 'SIGSYS', 'defaultAction kill-process');
});

t.test('the default profile: no new user namespace, clone3 ENOSYS, threads work', async (t) => {
  const un = await run({ seccomp: { profile: 'default' } }, ['unshare', '-r', 'true']);
  t.equal(un.code, 1);
  t.match(un.err, /Operation not permitted/, `unshare -r: EPERM (${un.err.trim()})`);
  const probe = [
    'import ctypes, threading',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'r = libc.syscall(435, None, 0)',
    'print("clone3", r, ctypes.get_errno())',
    'th = threading.Thread(target=print, args=("thread ran",)); th.start(); th.join()',
  ].join('\n');
  const r = await run({ seccomp: { profile: 'default' } }, ['python3', '-c', probe]);
  t.match(r.out, /^clone3 -1 38$/m, 'clone3: ENOSYS');
  t.match(r.out, /^thread ran$/m, `a thread starts (${r.err})`);
  const keys = await run({ seccomp: { profile: 'default' } }, ['python3', '-c', 'import ctypes; l = ctypes.CDLL(None, use_errno=True); print(l.syscall(250, 0, 0, 0, 0, 0), ctypes.get_errno())']);
  t.equal(keys.out, '-1 1\n', 'keyctl: EPERM');
  const plain = await run({}, ['unshare', '-r', 'true']);
  t.equal(plain.code, 0, 'without a profile, unshare -r works inside');
});

t.test('bad seccomp sections: one SpecError naming the field', async (t) => {
  const cases: [Security, RegExp][] = [
    [{ seccomp: { deny: ['mkdir', 'nosuchcall'] } }, /^security\.seccomp\.deny\[1\]: unknown system call 'nosuchcall'$/],
    [{ seccomp: { rules: [{ names: ['read', 'bogus'], action: 'errno' }] } }, /^security\.seccomp\.rules\[0\]\.names\[1\]: unknown system call 'bogus'$/],
    [{ seccomp: { deny: ['mkdir'], allow: ['mkdir'] } }, /^security\.seccomp\.deny: 'mkdir' is in allow too$/],
    [{ seccomp: { deny: ['mkdir'], flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] } }, /^security\.seccomp\.flags: unknown flag/],
    [{ seccomp: { deny: ['mkdir'], architectures: ['SCMP_ARCH_VAX'] } }, /^security\.seccomp\.architectures: unknown architecture 'SCMP_ARCH_VAX'$/],
    [{ capDrop: ['NET_RAW', 'NOPE'] }, /^security\.capDrop\[1\]: unknown capability 'NOPE'$/],
    [{ capabilities: { bounding: ['CHOWN'] }, capDrop: ['NET_RAW'] }, /^security\.capabilities: /],
  ];
  for (const [security, message] of cases) {
    t.throws(() => compile(parseSpec({ security }), ['true']), message);
    const err = (() => { try { compile(parseSpec({ security }), ['true']); } catch (e) { return e; } })();
    t.ok(err instanceof SpecError, 'a SpecError');
  }
  // OCI's rule for unknown names: ignored.
  const r = await run({ seccomp: { deny: [...MKDIR, 'nosuchcall'], unknownSyscalls: 'ignore', flags: ['SECCOMP_FILTER_FLAG_LOG'], architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'] } }, ['mkdir', fresh()]);
  t.match(r.err, /Operation not permitted/, 'unknownSyscalls: ignore; flags and architectures by OCI\'s names');
});

t.test('Landlock: only the listed paths', { skip: !landlockAbi() && 'this kernel has no Landlock' }, async (t) => {
  const open = join(work, 'open');
  const closed = join(work, 'closed');
  const rw = join(work, 'rw');
  for (const d of [open, closed, rw]) mkdirSync(d);
  writeFileSync(join(open, 'f'), 'listed\n');
  writeFileSync(join(closed, 'f'), 'secret\n');
  const landlock = { ro: ['/usr', '/etc', open], rw: [rw] };
  const r = await run({ landlock }, ['sh', '-c', `cat ${open}/f; cat ${closed}/f; echo x > ${open}/g; echo y > ${rw}/g && cat ${rw}/g`]);
  t.match(r.out, /^listed\n/, 'a read-only path reads');
  t.notMatch(r.out, /secret/, 'a path not listed does not');
  t.match(r.err, new RegExp(`${closed}/f: Permission denied`));
  t.match(r.err, /Permission denied/, 'a read-only path is not written');
  t.match(r.out, /^y$/m, 'a read-write path is');
  // A listed file (no directory) gets only file rights.
  const file = await run({ landlock: { ro: ['/usr', '/etc', join(open, 'f')] } }, ['cat', join(open, 'f')]);
  t.equal(file.out, 'listed\n', 'a listed file');
  const missing = await run({ landlock: { ro: ['/usr', join(work, 'nonexistent')] } }, ['true']).catch((e: Error) => e);
  t.match(String((missing as Error).message ?? ''), /^openat2\("\/proc\/\d+\/root", ".*\/nonexistent", .*ENOENT/, 'a missing path fails the spawn, naming the call and the path');
});

t.test('Landlock: the ruleset is the parent\'s, its paths the sandbox\'s, and it does not reach the program', { skip: !landlockAbi() && 'this kernel has no Landlock' }, async (t) => {
  // The sandbox's /tmp is a tmpfs of its own: a rule made from the host's /tmp would not cover it.
  const fs = { root: 'host', mounts: [{ type: 'tmpfs', dest: '/tmp' }] };
  const landlock = { ro: ['/usr', '/etc', '/proc'], rw: ['/tmp'] };
  const r = await run({ landlock }, ['sh', '-c', 'echo inside > /tmp/f && cat /tmp/f; ls -l /proc/self/fd/'], { filesystem: fs });
  t.match(r.out, /^inside$/m, `a path resolved in the sandbox's root (${r.err.trim()})`);
  t.notMatch(r.out, /landlock-ruleset/, 'no ruleset descriptor in the program');
  const c = compile(parseSpec({ filesystem: fs, security: { landlock } }), ['true']);
  const ops = childPlan(c.spawn, c.argv, { join: [], stdio: [], ruleset: 40 }).steps.map((s) => s.op);
  t.notOk(ops.includes('landlockRuleset'), 'the library\'s child builds no ruleset');
  t.ok(ops.indexOf('sync') < ops.indexOf('landlock'), 'it waits for the rules, then restricts itself');
});

t.test('capabilities: capDrop and capAdd by name, OCI\'s five sets', async (t) => {
  const NET_RAW = 1n << 13n;
  const all = await capsOf({});
  t.ok(all.CapEff & NET_RAW, 'in a new user namespace the sandbox has CAP_NET_RAW');
  const dropped = await capsOf({ capDrop: ['NET_RAW'] });
  t.equal(dropped.CapEff & NET_RAW, 0n, 'capDrop NET_RAW: not effective');
  t.equal(dropped.CapBnd & NET_RAW, 0n, 'nor bounding');
  t.equal(dropped.CapEff, all.CapEff & ~NET_RAW, 'the rest stays');
  const only = await capsOf({ capDrop: ['ALL'], capAdd: ['CHOWN', 'cap_kill'] });
  t.equal(only.CapEff, (1n << 0n) | (1n << 5n), 'capDrop ALL, capAdd CHOWN and KILL');
  const oci = await capsOf({
    capabilities: {
      bounding: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'],
      effective: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'],
      permitted: ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE'],
      inheritable: ['CAP_NET_BIND_SERVICE'],
      ambient: ['CAP_NET_BIND_SERVICE'],
    },
  });
  t.same(oci, { CapInh: 0x400n, CapPrm: 0x401n, CapEff: 0x401n, CapBnd: 0x401n, CapAmb: 0x400n }, 'the five sets exactly');
});

t.test('noNewPrivs false: seccomp and Landlock go in before the capabilities and ids change (runc\'s order)', async (t) => {
  const SYS_ADMIN = 1n << 21n;
  const keepRoot = { namespaces: { mount: 'new', pid: 'new' } };
  const landlock = landlockAbi() ? { ro: ['/usr', '/etc', '/proc'] } : undefined;
  writeFileSync(join(work, 'nothing-listed'), 'secret\n');
  const probe = ['sh', '-c', `grep -E '^(NoNewPrivs|CapEff|Uid)' /proc/self/status; mkdir ${join(work, 'nnp')}; cat ${work}/nothing-listed`];
  for (const [name, more] of [['real root', keepRoot], ['a new user namespace', {}]] as const) {
    for (const change of [{ capDrop: ['SYS_ADMIN'] }, { capDrop: ['ALL'] }] as Security[]) {
      const r = await run({ ...change, noNewPrivs: false, seccomp: { deny: MKDIR }, ...(landlock ? { landlock } : {}) }, probe, more);
      const what = `${name}, capDrop ${change.capDrop}`;
      t.match(r.out, /^NoNewPrivs:\s+0$/m, `${what}: no_new_privs stays off (${r.err.trim()})`);
      const eff = BigInt('0x' + (/^CapEff:\s+([0-9a-f]+)$/m.exec(r.out)?.[1] ?? '0'));
      t.equal(eff & SYS_ADMIN, 0n, `${what}: CAP_SYS_ADMIN is gone`);
      t.match(r.err, /mkdir: .*Operation not permitted/, `${what}: the filter holds`);
      if (landlock) t.match(r.err, /nothing-listed: Permission denied/, `${what}: Landlock holds`);
    }
  }
  // A change of uid (which clears every capability) after an allow list: the list admits what the stage calls after it.
  const asNobody = await run({ noNewPrivs: false, seccomp: { allow: ['uname'] } }, ['true'], { ...keepRoot, process: { uid: 65534, gid: 65534 } });
  t.equal(asNobody.code, 0, `an allow list installed before setgroups, setgid and setuid (${asNobody.err.trim()})`);
  const nnp = await run({ seccomp: { deny: MKDIR } }, ['grep', '^NoNewPrivs', '/proc/self/status'], keepRoot);
  t.match(nnp.out, /^NoNewPrivs:\s+1$/m, 'the default keeps no_new_privs');
});

t.test('where the security steps go: last with no_new_privs, before the capability drop without', async (t) => {
  const order = (noNewPrivs: boolean) => {
    const c = compile(parseSpec({ filesystem: { root: 'host' }, process: { uid: 1000 }, security: { noNewPrivs, capDrop: ['NET_RAW'], seccomp: { deny: MKDIR } } }), ['true']);
    const ops = childPlan(c.spawn, c.argv, { join: [], stdio: [] }).steps.map((s) => s.op);
    return { seccomp: ops.indexOf('seccomp'), setuid: ops.indexOf('setuid'), exec: ops.indexOf('exec'), firstDrop: ops.indexOf('prctl') };
  };
  const late = order(true);
  t.equal(late.seccomp, late.exec - 1, 'with no_new_privs: right before the exec');
  const early = order(false);
  t.ok(early.seccomp < early.setuid && early.seccomp < early.firstDrop, 'without: before the bounding set and the uid change');
});
