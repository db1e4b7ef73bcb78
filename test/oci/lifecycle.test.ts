// ts-oci on a bundle directly: every state transition and its errors, nothing left behind,
// the same id twice at once, a create killed at any moment, and the runtime's binary
// unreachable from the container (CVE-2019-5736).
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { AS_NOBODY, nobodyCannotRunTools, run, until, waitFor } from '../helpers.js';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BUSYBOX } from '../rootfs.js';
import { cgroupDirsOf, create, makeBundle, oci, OCI, stateOf, withoutTap } from './helpers.js';
import { processStat } from '../../src/oci/state.js';

if (process.geteuid!() !== 0 || !BUSYBOX) {
  t.skip('needs root and busybox-static');
  process.exit(0);
}

// About 250 ts-oci runs (a Node planner each): about 90 s here with other tests running,
// past tap's 180 s per file on a more loaded machine; each run is bounded on its own (60 s).
t.setTimeout(600_000);

const oneLine = (t: Tap.Test, stderr: string, pattern: RegExp, why: string) => {
  t.match(stderr, pattern, why);
  t.equal(stderr.trim().split('\n').length, 1, `${why}: one line`);
  t.notMatch(stderr, /\n\s+at /, `${why}: no stack trace`);
};

t.test('create, start, state, kill, delete', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sh', '-c', 'echo started; exec sleep 1000']; });
  const pidFile = join(b.dir, 'pid');
  t.equal(create(b, 'c1', ['--pid-file', pidFile]).exitCode, 0, 'create');
  const s = stateOf(b, 'c1');
  t.equal(s.status, 'created');
  t.equal(Number(readFileSync(pidFile, 'utf8')), s.pid, 'the pid file holds the state\'s pid');
  // CVE-2019-5736: what the waiting process runs is a sealed memfd copy, not the stage on disk.
  t.match(readlinkSync(`/proc/${s.pid}/exe`), /^\/memfd:tsns-stage/, '/proc/PID/exe is the sealed copy');
  const ppid = Number(readFileSync(`/proc/${s.pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  t.notMatch(readFileSync(`/proc/${ppid}/cmdline`, 'utf8'), /tsns-stage|node/, 'no stage or Node process of ours is its parent');
  t.notOk(readFileSync(b.out, 'utf8').includes('started'), 'the program has not run');
  const list = JSON.parse(oci(b, ['list', '--format', 'json']).stdout);
  t.same(list.map((x: { id: string; status: string }) => [x.id, x.status]), [['c1', 'created']], 'list --format json');

  t.equal(oci(b, ['start', 'c1']).exitCode, 0, 'start');
  t.equal(stateOf(b, 'c1').status, 'running');
  for (let k = 0; k < 3000 && !readFileSync(b.out, 'utf8').includes('started'); k++) await new Promise((r) => setTimeout(r, 10));
  t.match(readFileSync(b.out, 'utf8'), /started/, 'the program ran');
  oneLine(t, oci(b, ['start', 'c1']).stderr, /^ts-oci: cannot start a container in the running state/, 'start twice');
  const busy = oci(b, ['delete', 'c1']);
  t.equal(busy.exitCode, 1);
  oneLine(t, busy.stderr, /^ts-oci: cannot delete container c1 that is not stopped: running/, 'delete while running');

  t.equal(oci(b, ['kill', 'c1', 'KILL']).exitCode, 0, 'kill KILL');
  for (let k = 0; k < 500 && stateOf(b, 'c1').status !== 'stopped'; k++) await new Promise((r) => setTimeout(r, 10));
  t.equal(stateOf(b, 'c1').status, 'stopped');
  oneLine(t, oci(b, ['kill', 'c1']).stderr, /container not running/, 'kill a stopped one');
  t.equal(oci(b, ['delete', 'c1']).exitCode, 0, 'delete');
  t.same(readdirSync(b.root), [], 'nothing left under --root');
  t.same(cgroupDirsOf(b, 'c1'), [], 'no cgroup left');
});

t.test('delete --force of a created and of a running container', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  t.equal(create(b, 'a').exitCode, 0);
  t.equal(create(b, 'b').exitCode, 0);
  t.equal(oci(b, ['start', 'b']).exitCode, 0);
  const pids = [stateOf(b, 'a').pid, stateOf(b, 'b').pid];
  t.equal(oci(b, ['delete', 'a']).exitCode, 0, 'a created container is deleted without --force, as runc does');
  t.equal(oci(b, ['delete', '--force', 'b']).exitCode, 0);
  for (const pid of pids) t.notOk(existsSync(`/proc/${pid}/cmdline`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), `process ${pid} is gone`);
  t.same(readdirSync(b.root), []);
  t.same([...cgroupDirsOf(b, 'a'), ...cgroupDirsOf(b, 'b')], []);
});

t.test('exec, exec --detach, ps, pause and resume', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; c.hostname = 'inside'; });
  t.equal(create(b, 'x1').exitCode, 0);
  t.equal(oci(b, ['start', 'x1']).exitCode, 0);
  const r = oci(b, ['exec', '--env', 'A=b', 'x1', 'sh', '-c', 'echo $A; hostname; exit 5']);
  t.equal(r.exitCode, 5, 'exec ends as its process does');
  t.equal(r.stdout, 'b\ninside\n', 'in the container\'s namespaces, with --env');
  const pidFile = join(b.dir, 'exec.pid');
  t.equal(oci(b, ['exec', '--detach', '--pid-file', pidFile, 'x1', 'sleep', '1000']).exitCode, 0, 'exec --detach');
  const execPid = Number(readFileSync(pidFile, 'utf8'));
  t.same(JSON.parse(oci(b, ['ps', '--format', 'json', 'x1']).stdout).sort(), [stateOf(b, 'x1').pid, execPid].sort(), 'ps lists both');
  t.equal(oci(b, ['pause', 'x1']).exitCode, 0, 'pause');
  t.equal(stateOf(b, 'x1').status, 'paused');
  oneLine(t, oci(b, ['pause', 'x1']).stderr, /cannot pause a container in the paused state/, 'pause twice');
  t.equal(oci(b, ['resume', 'x1']).exitCode, 0, 'resume');
  t.equal(stateOf(b, 'x1').status, 'running');
  oneLine(t, oci(b, ['exec', 'x1']).stderr, /a process \(--process FILE\) or arguments are needed/, 'exec without a command');
  oneLine(t, oci(b, ['exec', '--user', '4294967296', 'x1', 'true']).stderr, /^ts-oci: exec: process\.user\.uid: Too big: expected number to be <=4294967295 \(got 4294967296\)/, 'exec --user beyond 32 bits');
  writeFileSync(join(b.dir, 'process.json'), JSON.stringify({ cwd: '/', args: ['true'], user: { uid: -1 } }));
  oneLine(t, oci(b, ['exec', '--process', join(b.dir, 'process.json'), 'x1']).stderr, /^ts-oci: --process \S+process\.json: process\.user\.uid: Too small: .*\(got -1\)/, 'a bad --process file');
  t.equal(oci(b, ['delete', '--force', 'x1']).exitCode, 0);
  t.notOk(existsSync(`/proc/${execPid}/cmdline`) && !readFileSync(`/proc/${execPid}/stat`, 'utf8').includes(') Z'), 'the exec\'d process went with the container');
  t.same(readdirSync(b.root), []);
});

t.test('start, kill and delete run without Node when all is as expected (native/oci.c)', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  t.equal(create(b, 'f1').exitCode, 0);
  // No Node at all: a planner start would fail, so success means the C path did the work.
  const noNode = { ...withoutTap(), TSNS_NODE: '/bin/false' };
  const fast = (args: string[]) => spawnSync(OCI, ['--root', b.root, ...args], { encoding: 'utf8', env: noNode });
  t.equal(fast(['start', 'f1']).status, 0, 'start');
  t.equal(stateOf(b, 'f1').status, 'running');
  t.equal(fast(['kill', 'f1', 'CONT']).status, 0, 'kill CONT');
  t.equal(fast(['delete', '--force', 'f1']).status, 0, 'delete --force');
  t.same(readdirSync(b.root), [], 'nothing left under --root');
  t.same(cgroupDirsOf(b, 'f1'), [], 'no cgroup left');
  t.not(fast(['start', 'f1']).status, 0, 'what the fast path cannot do goes to the planner (here: none)');
});

t.test('update --resources', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  t.equal(create(b, 'up').exitCode, 0);
  t.equal(oci(b, ['start', 'up']).exitCode, 0);
  const file = join(b.dir, 'resources.json');
  writeFileSync(file, JSON.stringify({ pids: { limit: 20 } }));
  t.equal(oci(b, ['update', '--resources', file, 'up']).exitCode, 0, 'update');
  const pidsDir = cgroupDirsOf(b, 'up').find((d) => d.includes('/pids/'));
  if (pidsDir) t.equal(readFileSync(`${pidsDir}/pids.max`, 'utf8').trim(), '20', 'pids.max');
  writeFileSync(file, JSON.stringify({ cpu: { cpus: '0' } }));
  oneLine(t, oci(b, ['update', '--resources', file, 'up']).stderr, /--resources .*: resources\.cpu\.cpus: "0": cpusets are not supported/, 'a limit it cannot set');
  writeFileSync(file, JSON.stringify({ pids: { limit: 'x' } }));
  oneLine(t, oci(b, ['update', '-r', file, 'up']).stderr, /resources\.pids\.limit/, 'a bad document');
  t.equal(oci(b, ['delete', '--force', 'up']).exitCode, 0);
  t.same(cgroupDirsOf(b, 'up'), []);
});

t.test('a terminal through --console-socket: the pty\'s master arrives over SCM_RIGHTS', async (t) => {
  const b = await makeBundle(t, (c) => {
    c.process.terminal = true;
    c.process.consoleSize = { height: 30, width: 100 };
    c.process.args = ['sh', '-c', 'tty; stty size'];
  });
  oneLine(t, create(b, 'nosock').stderr, /process\.terminal needs --console-socket/, 'a terminal without a socket');
  // The engine's side: accept one connection, take the descriptor, read the pty to its end.
  const sock = join(b.dir, 'console.sock');
  const receiver = spawn('python3', ['-c', `
import socket, sys, os, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
print('ready', flush=True)
c, _ = s.accept()
fds = array.array('i')
msg, anc, _, _ = c.recvmsg(256, socket.CMSG_LEN(fds.itemsize))
for level, kind, data in anc: fds.frombytes(data[:fds.itemsize])
sys.stdout.write('name ' + msg.decode() + '\\n'); sys.stdout.flush()
out = b''
while True:
    try: chunk = os.read(fds[0], 4096)
    except OSError: break
    if not chunk: break
    out += chunk
sys.stdout.write(out.decode()); sys.stdout.flush()
`, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  receiver.stdout.on('data', (d) => { text += d; });
  const done = new Promise((r) => receiver.on('exit', r));
  for (let k = 0; k < 3000 && !text.includes('ready'); k++) await new Promise((r) => setTimeout(r, 10));
  t.equal(create(b, 'tty', ['--console-socket', sock]).exitCode, 0, 'create with a console socket');
  t.equal(oci(b, ['start', 'tty']).exitCode, 0, 'start');
  await done;
  t.match(text, /name \/dev\/pts\/\d+\n/, 'the master comes with its name');
  t.match(text, /\/dev\/pts\/\d+\r\n30 100\r\n/, 'the program\'s stdio is the pty, of consoleSize');
  t.equal(oci(b, ['delete', '--force', 'tty']).exitCode, 0);
});

t.test('linux.seccomp: the filter applies, compiled once and then taken from the cache', async (t) => {
  const b = await makeBundle(t, (c) => {
    c.process.args = ['sh', '-c', 'mkdir /tmp/x; echo $?'];
    c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
  });
  const cache = join(b.dir, 'run');
  const env = { TSNS_RUN_DIR: cache };
  for (const round of ['compiled', 'cached']) {
    const r = spawnSync(OCI, ['--root', b.root, 'run', '--bundle', b.dir, `s-${round}`], { encoding: 'utf8', env: { ...withoutTap(), ...env } });
    t.equal(r.stdout, '1\n', `${round}: mkdir fails with the rule's errno`);
    t.equal(readdirSync(join(cache, 'oci-seccomp')).length, 1, `${round}: one filter kept`);
  }
});

t.test('hooks: createRuntime, poststart and poststop get the state on stdin; a failing createRuntime fails create', async (t) => {
  const b = await makeBundle(t, (c) => {
    c.process.args = ['sleep', '1000'];
    const dump = (name: string) => [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${c.root.path}/../${name}.json`] }];
    c.hooks = { createRuntime: dump('createRuntime'), poststart: dump('poststart'), poststop: dump('poststop') };
  });
  const config = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8'));
  const out = (name: string) => JSON.parse(readFileSync(join(config.root.path, '..', `${name}.json`), 'utf8'));
  t.equal(create(b, 'h1').exitCode, 0, 'create');
  t.match(out('createRuntime'), { id: 'h1', status: 'creating', bundle: b.dir }, 'createRuntime saw the container being created');
  t.ok(out('createRuntime').pid > 0, 'with its pid');
  t.equal(oci(b, ['start', 'h1']).exitCode, 0, 'start (the Node path: it has hooks)');
  t.match(out('poststart'), { id: 'h1', status: 'running' }, 'poststart');
  t.equal(oci(b, ['delete', '--force', 'h1']).exitCode, 0, 'delete');
  t.match(out('poststop'), { id: 'h1', status: 'stopped' }, 'poststop, once it was gone');
  t.same(readdirSync(b.root), []);

  const bad = await makeBundle(t, (c) => { c.hooks = { createRuntime: [{ path: '/bin/false' }] }; });
  const r = create(bad, 'h2');
  t.equal(r.exitCode, 1, 'a failing createRuntime hook fails create');
  oneLine(t, r.stderr, /hooks\.createRuntime\[0\]: \/bin\/false exited with status 1/, 'it names the hook');
  t.notOk(existsSync(join(bad.root, 'h2')), 'no record');
  t.same(cgroupDirsOf(bad, 'h2'), [], 'no cgroup');
});

t.test('hooks in the container: createContainer in its namespaces before its root changes, startContainer after start; a failure names the hook', async (t) => {
  const hostMnt = readlinkSync('/proc/self/ns/mnt');
  const b = await makeBundle(t, (c) => {
    c.process.args = ['sh', '-c', 'cat /tmp/start.json; echo; ls /tmp; echo program ran'];
    const rootfs = c.root.path;
    // From the host's /bin/sh: what it sees, and a mount it makes into the container's root.
    const probe = `{ cat; echo; hostname; readlink /proc/self/ns/mnt; test -e ${rootfs}/proc/self/stat && echo proc-mounted; } > ${rootfs}/../createContainer.out;`
      + ` mount -t tmpfs hook-tmpfs ${rootfs}/tmp && touch ${rootfs}/tmp/from-hook`;
    c.hooks = {
      createContainer: [{ path: '/bin/sh', args: ['sh', '-c', probe] }],
      // The container's own sh (busybox), its own /tmp.
      startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'cat > /tmp/start.json'], timeout: 20 }],
    };
  });
  const config = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8'));
  t.equal(create(b, 'in1').exitCode, 0, 'create');
  const [state, hostname, mnt, proc] = readFileSync(join(config.root.path, '..', 'createContainer.out'), 'utf8').split('\n');
  t.match(JSON.parse(state), { id: 'in1', status: 'creating', pid: 1, bundle: b.dir }, 'createContainer: the state, with the pid the container sees');
  t.equal(hostname, config.hostname, 'in the container\'s UTS namespace');
  t.not(mnt, hostMnt, 'in the container\'s mount namespace');
  t.equal(proc, 'proc-mounted', 'its root, mounts included, where config.json has it');
  t.equal(oci(b, ['start', 'in1']).exitCode, 0, 'start');
  await waitFor(() => readFileSync(b.out, 'utf8').includes('program ran'), 30_000);
  const lines = readFileSync(b.out, 'utf8').split('\n');
  t.match(JSON.parse(lines[0]), { id: 'in1', status: 'created', pid: 1 }, 'startContainer: the state on stdin, in the container');
  t.same(lines.slice(1, 3), ['from-hook', 'start.json'], 'the createContainer hook\'s mount is the container\'s');
  t.notOk(existsSync(join(config.root.path, 'tmp', 'from-hook')), 'not the host\'s directory');
  t.equal(oci(b, ['delete', '--force', 'in1']).exitCode, 0);
  t.same(readdirSync(b.root), [], 'delete leaves nothing, the hooks\' state files included');
  // run removes the container itself, the hooks' state files with it.
  const r = oci(b, ['run', '--bundle', b.dir, 'in4']);
  t.equal(r.exitCode, 0, `run with both hooks (${r.stderr.trim()})`);
  t.match(r.stdout, /program ran/);
  t.same(readdirSync(b.root), [], 'run leaves nothing');

  for (const [hook, why] of [[{ path: '/bin/false' }, /hooks\.createContainer\[0\]: \/bin\/false exited with status 1/],
    [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }, /hooks\.createContainer\[0\]: \/bin\/sleep timed out after 1 s/],
    [{ path: '/nonexistent/hook' }, /hooks\.createContainer\[0\]: \/nonexistent\/hook No such file or directory/]] as const) {
    const bad = await makeBundle(t, (c) => { c.hooks = { createContainer: [hook] }; });
    const r = create(bad, 'in2');
    t.equal(r.exitCode, 1, `create fails: ${hook.path}`);
    oneLine(t, r.stderr, why, 'it names the hook');
    t.notOk(existsSync(join(bad.root, 'in2')), 'no record');
    t.same(cgroupDirsOf(bad, 'in2'), [], 'no cgroup');
  }

  const failing = await makeBundle(t, (c) => {
    c.process.args = ['sh', '-c', 'echo program ran'];
    // Its path is the container's: busybox's sh.
    c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
  });
  t.equal(create(failing, 'in3').exitCode, 0, 'create');
  t.equal(oci(failing, ['start', 'in3']).exitCode, 0, 'start');
  await waitFor(() => stateOf(failing, 'in3').status === 'stopped', 30_000);
  t.notMatch(readFileSync(failing.out, 'utf8'), /program ran/, 'a failing startContainer hook: the program does not run');
  t.match(readFileSync(failing.out, 'utf8'), /hook \/bin\/sh: exited with status 3/, 'the container says why');
  t.equal(oci(failing, ['delete', '--force', 'in3']).exitCode, 0);
});

t.test('a create SIGKILLed while a createContainer hook runs: the hook ends by its timeout, and nothing is left', async (t) => {
  const argv = 'sleep\u000029.125\u0000';
  const hooks = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8') === argv;
    } catch {
      return false;
    }
  });
  const b = await makeBundle(t, (c) => {
    c.process.args = ['sleep', '1000'];
    c.hooks = { createContainer: [{ path: '/bin/sleep', args: ['sleep', '29.125'], timeout: 2 }] };
  });
  const child = spawn(OCI, ['--root', b.root, 'create', '--bundle', b.dir, 'hk'], { stdio: 'ignore', env: withoutTap() });
  const exited = new Promise((r) => child.once('exit', r));
  t.ok(await waitFor(() => hooks().length > 0, 30_000), 'the hook runs');
  child.kill('SIGKILL');
  await exited;
  // The container's process waits for its hook, which its timeout ends; the create then
  // fails and its planner removes what it made, or delete --force does.
  t.ok(await waitFor(() => hooks().length === 0, 20_000), 'the hook is gone');
  t.ok(await waitFor(() => !existsSync(join(b.root, 'hk')) || oci(b, ['delete', '--force', 'hk']).exitCode === 0, 20_000), 'the container is gone');
  t.same(readdirSync(b.root), [], 'no record');
  t.same(cgroupDirsOf(b, 'hk'), [], 'no cgroup');
});

t.test('a program that is not there fails create, as runc\'s does, with nothing left', async (t) => {
  for (const [args, why] of [[['nosuch-program'], /^ts-oci: exec: "nosuch-program": executable file not found in \$PATH/],
    [['/bin/nosuch'], /^ts-oci: exec: "\/bin\/nosuch": No such file or directory/],
    [['/etc'], /^ts-oci: exec: "\/etc": Permission denied/]] as const) {
    const b = await makeBundle(t, (c) => { c.process.args = [...args]; });
    const r = create(b, 'np');
    t.equal(r.exitCode, 1, `create of ${args[0]} fails`);
    oneLine(t, r.stderr, why, 'runc\'s words');
    t.same(existsSync(b.root) ? readdirSync(b.root) : [], [], 'no record');
    t.same(cgroupDirsOf(b, 'np'), [], 'no cgroup');
  }
  // Found on the container's PATH, not ours: busybox's sh is /bin/sh inside.
  const b = await makeBundle(t, (c) => { c.process.args = ['sh', '-c', 'true']; c.process.env = ['PATH=/bin']; });
  t.equal(create(b, 'ok').exitCode, 0, 'a program on the container\'s PATH');
  t.equal(oci(b, ['delete', '--force', 'ok']).exitCode, 0);
});

t.test('rootless: spec --rootless and run as nobody (a user namespace, no cgroup)', async (t) => {
  const why = await nobodyCannotRunTools();
  if (why) return t.skip(why);
  const b = await makeBundle(t);
  chmodSync(b.dir, 0o777);
  const dir = join(b.dir, 'rootless');
  mkdirSync(dir, { mode: 0o777 });
  chmodSync(dir, 0o777);
  // Through the shared helper: it keeps tap's loaders, which nobody could not write for, out.
  const asNobody = (args: string[]) => run('setpriv', [...AS_NOBODY, 'sh', '-c', 'cd "$0" && exec "$@"', dir, OCI, ...args]);
  t.equal((await asNobody(['spec', '--rootless'])).exitCode, 0, 'spec --rootless');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  t.same(config.linux.uidMappings, [{ containerID: 0, hostID: 65534, size: 1 }], 'the caller mapped to root');
  config.root.path = JSON.parse(readFileSync(join(b.dir, 'config.json'), 'utf8')).root.path;
  // Mount points must be there: root inside is nobody outside, who cannot make them.
  mkdirSync(join(config.root.path, 'sys'), { recursive: true });
  config.process.terminal = false;
  config.process.args = ['sh', '-c', 'id; echo inside'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const r = await asNobody(['--root', join(dir, 'state'), 'run', '--bundle', dir, 'rl']);
  // (tap's process records, which it injects into every child, cannot be written by nobody: that noise aside)
  t.notMatch(r.stderr, /ts-oci:/, 'no error');
  t.match(r.stdout, /^uid=0(\(root\))? gid=0(\(root\))?\ninside$/, 'root inside, as nobody outside');
  t.equal(r.exitCode, 0);
  t.same(readdirSync(join(dir, 'state')), [], 'nothing left');
});

t.test('run: the exit status, and nothing left', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sh', '-c', 'echo out; exit 7']; });
  const r = oci(b, ['run', '--bundle', b.dir, 'r1']);
  t.equal(r.exitCode, 7);
  t.equal(r.stdout, 'out\n');
  t.same(readdirSync(b.root), []);
  t.same(cgroupDirsOf(b, 'r1'), []);
});

t.test('unknown ids, bad ids, bad signals, bad input', async (t) => {
  const b = await makeBundle(t);
  for (const cmd of ['state', 'start', 'kill', 'delete', 'pause', 'ps']) {
    const r = oci(b, [cmd, 'nope']);
    t.equal(r.exitCode, 1, `${cmd} of an unknown id`);
    oneLine(t, r.stderr, /^ts-oci: container does not exist: nope$/m, `${cmd} of an unknown id`);
  }
  t.equal(oci(b, ['delete', '--force', 'nope']).exitCode, 0, 'delete --force of an unknown id succeeds (runc)');
  oneLine(t, oci(b, ['state', '../x']).stderr, /invalid container id format/, 'an id with a slash');
  oneLine(t, oci(b, ['--systemd-cgroup', 'state', 'x']).stderr, /systemd-cgroup: not supported/, '--systemd-cgroup');
  const log = join(b.dir, 'log.json');
  oci(b, ['--log', log, '--log-format', 'json', 'start', 'nope']);
  t.match(JSON.parse(readFileSync(log, 'utf8').trim()), { level: 'error', msg: 'container does not exist: nope' }, '--log-format json');
  t.equal(create(b, 'k').exitCode, 0);
  oneLine(t, oci(b, ['kill', 'k', 'SIGNOPE']).stderr, /unknown signal "SIGNOPE"/, 'a bad signal');
  t.equal(oci(b, ['kill', '--all', 'k', '9']).exitCode, 0, 'kill --all by number');
  t.equal(oci(b, ['delete', '--force', 'k']).exitCode, 0);
  const features = JSON.parse(oci(b, ['features']).stdout);
  t.equal(features.linux.cgroup.systemd, false, 'features');
  t.match(oci(b, ['spec', '--bundle', b.dir]).stderr, /config.json exists/, 'spec refuses to overwrite');
});

t.test('config.json: schema errors and what cannot be honoured name the property and value', async (t) => {
  const cases: [string, (c: any) => void, RegExp][] = [
    ['args not strings', (c) => { c.process.args = [1]; }, /config.json: process\.args\[0\]: .*\(got 1\)/],
    ['no cwd', (c) => { delete c.process.cwd; }, /config.json: process\.cwd/],
    ['apparmor', (c) => { c.process.apparmorProfile = 'x'; }, /config.json: process\.apparmorProfile: "x": /],
    ['terminal without a socket', (c) => { c.process.terminal = true; }, /process\.terminal needs --console-socket/],
    ['host sysctl', (c) => { c.linux.sysctl = { 'vm.swappiness': '1' }; }, /linux\.sysctl\.vm\.swappiness: "1": not a namespaced sysctl/],
    ['cpuset', (c) => { c.linux.resources = { cpu: { cpus: '0' } }; }, /linux\.resources\.cpu\.cpus: "0"/],
    ['a relative hook path', (c) => { c.hooks = { createContainer: [{ path: 'bin/hook' }] }; }, /hooks\.createContainer\[0\]\.path: "bin\/hook": must be an absolute path/],
    // Found once the id is claimed and its group made (checked while the join's grace
    // period runs): what was made goes again.
    ['a bind source that is not there', (c) => { c.mounts.push({ destination: '/x', type: 'bind', source: '/nonexistent-src', options: ['bind'] }); }, /Can't find source path \/nonexistent-src: No such file or directory/],
  ];
  for (const [why, edit, pattern] of cases) {
    const b = await makeBundle(t, edit);
    const r = create(b, 'x');
    t.equal(r.exitCode, 1, why);
    oneLine(t, r.stderr, pattern, why);
    t.notOk(existsSync(join(b.root, 'x')), `${why}: nothing made`);
    t.same(cgroupDirsOf(b, 'x'), [], `${why}: no cgroup`);
  }
  const b = await makeBundle(t, (c) => { c.unknownThing = { a: 1 }; c.process.args = ['sh', '-c', 'exit 0']; });
  t.equal(oci(b, ['run', '--bundle', b.dir, 'u']).exitCode, 0, 'unknown properties are ignored');
  const missing = oci(b, ['create', '--bundle', '/nonexistent', 'm']);
  oneLine(t, missing.stderr, /cannot read \/nonexistent\/config.json: ENOENT/, 'a bad bundle');
});

t.test('the same id created twice at once: one wins', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  const one = () => new Promise<number>((resolve) => {
    spawn(OCI, ['--root', b.root, 'create', '--bundle', b.dir, 'same'], { stdio: 'ignore', env: withoutTap() }).on('exit', (code) => resolve(code ?? -1));
  });
  const codes = await Promise.all(Array.from({ length: 4 }, one));
  t.same(codes.filter((c) => c === 0).length, 1, `exactly one create succeeds (${codes})`);
  t.equal(stateOf(b, 'same').status, 'created');
  t.equal(oci(b, ['delete', '--force', 'same']).exitCode, 0);
  t.same(readdirSync(b.root), []);
});

t.test('32 creates in flight, each its own id', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  const one = (id: string) => new Promise<number>((resolve) => {
    spawn(OCI, ['--root', b.root, 'create', '--bundle', b.dir, id], { stdio: 'ignore', env: withoutTap() }).on('exit', (code) => resolve(code ?? -1));
  });
  const ids = Array.from({ length: 32 }, (_, k) => `p${k}`);
  const codes = await Promise.all(ids.map(one));
  t.same(codes, ids.map(() => 0), 'all 32 succeed');
  t.same(JSON.parse(oci(b, ['list', '--format', 'json']).stdout).map((s: { status: string }) => s.status), ids.map(() => 'created'), 'all 32 wait');
  for (const id of ids) t.equal(oci(b, ['delete', '--force', id]).exitCode, 0, `delete ${id}`);
  t.same(readdirSync(b.root), []);
  t.same(ids.flatMap((id) => cgroupDirsOf(b, id)), []);
});

/** The planner of the create of `id` (node running dist/bin/oci.cjs with that id), if it runs. */
function plannerOf(id: string): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('dist/bin/oci.cjs')) && argv.includes(id) && argv.includes('create')) return Number(pid);
    } catch { /* gone */ }
  }
  return undefined;
}

t.test('a create whose planner is SIGKILLed leaves what delete removes', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  for (let k = 0; k < 6; k++) {
    const id = `n${k}`;
    const child = spawn(OCI, ['--root', b.root, 'create', '--bundle', b.dir, id], { stdio: 'ignore', env: withoutTap() });
    const exited = new Promise((r) => child.once('exit', r));
    // Wait for the planner, then let it run a little longer each round.
    let planner: number | undefined;
    for (let w = 0; w < 500 && planner === undefined; w++) {
      planner = plannerOf(id);
      if (planner === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, k * 15));
    if (planner !== undefined) try { process.kill(planner, 'SIGKILL'); } catch { /* it finished */ }
    await exited;
    t.equal(oci(b, ['delete', '--force', id]).exitCode, 0, `delete after the planner's kill at +${k * 15} ms`);
    t.notOk(existsSync(join(b.root, id)), `${id}: no record`);
    t.same(cgroupDirsOf(b, id), [], `${id}: no cgroup`);
  }
  // A planner killed while it claimed its id leaves its claim@PID directory: the next create
  // removes it, also while the planner is a zombie that its reaper has not collected yet (a
  // child of sleep, which never reaps: it ends once its parent is sleep).
  const child = 'for i in $(seq 3000); do [ "$(cat /proc/$PPID/comm)" = sleep ] && exit 0; sleep 0.01; done';
  const holder = spawn('sh', ['-c', `sh -c '${child}' & echo $!; exec sleep 120`], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const zombie = Number((await until(holder.stdout, '\n')).trim());
    t.ok(await waitFor(() => processStat(zombie)?.state === 'Z', 60_000), 'a zombie');
    mkdirSync(join(b.root, 'claim@999999999'), { recursive: true });
    mkdirSync(join(b.root, `claim@${zombie}`, 'z'), { recursive: true });
    t.equal(create(b, 'after').exitCode, 0);
    t.equal(oci(b, ['delete', '--force', 'after']).exitCode, 0);
    t.same(readdirSync(b.root), [], 'nothing left under --root');
  } finally {
    holder.kill('SIGKILL');
  }
});

t.test('a create SIGKILLed at any moment leaves what delete removes', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sleep', '1000']; });
  for (let k = 0; k < 8; k++) {
    const id = `k${k}`;
    const child = spawn(OCI, ['--root', b.root, 'create', '--bundle', b.dir, id], { stdio: 'ignore', env: withoutTap() });
    // Listened for at once: a create that is done before the kill has exited already.
    const exited = new Promise((r) => child.once('exit', r).once('error', r));
    // Spread over create's life: from before the planner runs to after the container waits.
    await new Promise((r) => setTimeout(r, k * 25));
    child.kill('SIGKILL');
    await exited;
    // A planner still running finishes or undoes its work; delete --force then removes the rest.
    for (let w = 0; w < 300 && oci(b, ['state', id]).stdout.includes('"creating"'); w++) await new Promise((r) => setTimeout(r, 10));
    t.equal(oci(b, ['delete', '--force', id]).exitCode, 0, `delete after a kill at ${k * 25} ms`);
    t.notOk(existsSync(join(b.root, id)), `${id}: no record`);
    t.same(cgroupDirsOf(b, id), [], `${id}: no cgroup`);
  }
});
