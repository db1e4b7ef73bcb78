// ts-sandbox against bubblewrap: the same flag lines through both, comparing stdout, the
// exit status and what the sandbox looks like inside (findmnt, ls -l, stat); bad flags in
// bwrap's words; --dry-run; limits; and no Node process left while the program runs.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, pipeText, run, tool } from '../helpers.js';

const TS = `${ROOT}bin/ts-sandbox`;
const have = (await run('bwrap', ['--version'])).exitCode === 0;
const dir = mkdtempSync(join(tmpdir(), 'ts-sandbox-'));
mkdirSync(join(dir, 'd'));
writeFileSync(join(dir, 'd', 'f'), 'in d\n');
writeFileSync(join(dir, 'data'), 'data from fd 3\n');
// A one-instruction seccomp program (RET ALLOW), and bytes that are none.
writeFileSync(join(dir, 'allow.bpf'), Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]));
writeFileSync(join(dir, 'bad.bpf'), 'abc');
writeFileSync(join(dir, 'args'), ['--ro-bind', '/', '/', '--setenv', 'FROM', 'args', ''].join('\0'));
writeFileSync(join(dir, 'lock'), '');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// About 150 tool runs (bwrap's and ours): 36 s here, 74 s with a loaded CPU, so the file
// has more than tap's 180 s; each run is bounded on its own.
t.setTimeout(480_000);

/** Run a shell line with $T as bwrap, then as ts-sandbox; the status as the shell sees it. */
async function both(line: string) {
  const go = async (T: string) => {
    const r = await run('sh', ['-c', `cd ${dir} && H_IPC=$(readlink /proc/self/ns/ipc) && ${line.replaceAll('$T', T)}; echo "status=$?"`]);
    return { stdout: r.stdout, stderr: r.stderr.replaceAll('bwrap: ', 'ts-sandbox: ') };
  };
  return { bwrap: await go('bwrap'), ours: await go(TS) };
}

const R = '--ro-bind / /';
/** An orphan's parent (1: the init), then whether it was reaped once it ended (bounded wait, no timing asserted). */
const ORPHAN = 'p=$(sh -c "sleep 0.2 >/dev/null 2>&1 & echo \\$!"); echo ppid=$(cut -d" " -f4 /proc/$p/stat); i=0; ' +
  'while [ -e /proc/$p ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -e /proc/$p ] && echo "not reaped: $(cut -d" " -f3 /proc/$p/stat)" || echo reaped';
/** Whether some process holds a POSIX lock on the file `lock` (F_GETLK from inside). */
const LOCKED = 'import fcntl,struct;f=open("lock");r=fcntl.fcntl(f,fcntl.F_GETLK,struct.pack("hhqqi",fcntl.F_WRLCK,0,0,0,0));print(["read-locked","write-locked","unlocked"][struct.unpack("hhqqi",r)[0]])';
/** The program's own namespace ids, as --info-fd lines. */
const NS_SEEN = 'for n in mnt net pid uts; do stat -L -c "\\"$n-namespace\\": %i" /proc/self/ns/$n; done';
/** [flag line, what it shows, todo reason if it cannot pass yet]. */
const LINES: [string, string, string?][] = [
  [`$T ${R} true`, 'runs a program'],
  [`$T ${R} sh -c 'exit 7'`, 'exit status'],
  [`$T ${R} sh -c 'kill -9 $$'`, 'killed by a signal: 128+9'],
  [`$T ${R} /nonexistent/cmd`, 'a program that is not there'],
  [`$T ${R} --proc /proc --unshare-pid --as-pid-1 sh -c 'echo $$; cat /proc/1/comm'`, '--as-pid-1 with its own /proc'],
  [`$T ${R} --unshare-pid sh -c 'echo $$'`, 'the program is pid 2 under an init'],
  [`$T ${R} --unshare-pid sh -c 'exit 7'`, 'the init ends with the program\'s status'],
  [`$T ${R} --unshare-pid sh -c 'kill -9 $$'`, 'the init ends as the killed program: 128+9'],
  [`$T ${R} --unshare-pid /nonexistent/cmd`, 'a program that is not there, under an init'],
  [`$T ${R} --dev /dev --proc /proc --unshare-pid sh -c '${ORPHAN}'`, 'an orphan goes to pid 1, which reaps it'],
  [`$T ${R} --lock-file ${dir}/lock /usr/bin/python3 -c '${LOCKED}'`, '--lock-file: held while the program runs'],
  [`$T ${R} --unshare-pid --lock-file ${dir}/lock /usr/bin/python3 -c '${LOCKED}'`, '--lock-file with a pid namespace: its init holds it'],
  [`$T ${R} /usr/bin/python3 -c '${LOCKED}'`, 'no lock without --lock-file'],
  [`$T ${R} --lock-file /nonexistent true`, '--lock-file of a missing file'],
  [`$T ${R} --sync-fd 3 sh -c 'test -e /proc/self/fd/3 && echo has 3 || echo no 3' 3<data`, '--sync-fd: its init holds it, not the program'],
  [`$T ${R} --unshare-pid --as-pid-1 --sync-fd 3 sh -c 'test -e /proc/self/fd/3 && echo has 3 || echo no 3' 3<data`, '--sync-fd with --as-pid-1: the program keeps it'],
  [`$T ${R} --unshare-pid --as-pid-1 --lock-file /x true`, '--lock-file with --as-pid-1'],
  [`$T ${R} --unshare-user --userns-block-fd 5 true`, '--userns-block-fd without --info-fd'],
  [`$T ${R} --unshare-all --info-fd 3 --json-status-fd 4 true 3>info 4>json; sed 's/[0-9][0-9]*/N/g' info json`, '--info-fd and --json-status-fd: bwrap\'s fields and format'],
  [`$T ${R} --info-fd 3 --json-status-fd 4 sh -c 'exit 3' 3>info 4>json; sed 's/[0-9][0-9]*/N/g' info json`, '--info-fd, --json-status-fd without a pid namespace'],
  [`$T ${R} --unshare-pid --unshare-net --unshare-uts --info-fd 3 sh -c '${NS_SEEN}' 3>info >seen; grep -c -F -f seen info`, 'the namespace ids are the program\'s'],
  [`$T ${R} --unshare-uts --hostname box hostname`, '--hostname'],
  [`$T ${R} --setenv A b sh -c 'echo $A'`, '--setenv'],
  [`$T ${R} --clearenv --setenv A b /usr/bin/env`, '--clearenv then --setenv'],
  [`$T ${R} --unsetenv HOME sh -c 'echo \${HOME-unset}'`, '--unsetenv'],
  [`$T ${R} --chdir /usr pwd`, '--chdir'],
  [`$T ${R} --tmpfs /tmp sh -c 'findmnt -n -o FSTYPE /tmp; stat -c %a /tmp; ls -A /tmp'`, '--tmpfs'],
  [`$T ${R} --perms 0700 --tmpfs /tmp stat -c %a /tmp`, '--perms before --tmpfs'],
  [`$T ${R} --size 1048576 --tmpfs /tmp findmnt -n -o FSTYPE,SIZE /tmp`, '--size before --tmpfs'],
  [`$T ${R} --tmpfs /tmp --dir /tmp/x --perms 0750 --dir /tmp/y stat -c '%a %F' /tmp/x /tmp/y`, '--dir and --perms'],
  [`$T ${R} --tmpfs /tmp --symlink /etc /tmp/l readlink /tmp/l`, '--symlink'],
  [`$T ${R} --tmpfs /tmp --file 3 /tmp/f sh -c 'cat /tmp/f; stat -c %a /tmp/f' 3<data`, '--file FD'],
  [`$T ${R} --tmpfs /tmp --bind-data 3 /tmp/f sh -c 'cat /tmp/f; stat -c %a /tmp/f; findmnt -n -o TARGET /tmp/f' 3<data`, '--bind-data FD'],
  [`$T ${R} --tmpfs /tmp --ro-bind-data 3 /tmp/f sh -c 'echo x 2>/dev/null >/tmp/f || echo read-only' 3<data`, '--ro-bind-data FD'],
  [`$T ${R} --tmpfs /tmp --chmod 0700 /tmp stat -c %a /tmp`, '--chmod'],
  [`$T ${R} --dev /dev ls /dev`, '--dev: the minimal /dev'],
  [`$T ${R} --dev /dev --mqueue /dev/mqueue findmnt -n -o FSTYPE /dev/mqueue`, '--mqueue'],
  [`$T ${R} --bind d /mnt sh -c 'touch /mnt/w && echo writable; ls -l /mnt | wc -l'; rm -f d/w`, '--bind'],
  [`$T ${R} --ro-bind d /mnt sh -c 'touch /mnt/w 2>/dev/null || echo read-only; cat /mnt/f'`, '--ro-bind'],
  [`$T ${R} --tmpfs /tmp --remount-ro /tmp sh -c 'touch /tmp/x 2>/dev/null || echo read-only'`, '--remount-ro'],
  [`$T ${R} --bind-try /nonexistent /mnt true`, '--bind-try of a missing source'],
  [`$T ${R} --bind /nonexistent /mnt true`, '--bind of a missing source'],
  [`$T ${R} --bind-fd 3 /mnt ls /mnt 3<d`, '--bind-fd'],
  [`$T ${R} --unshare-net sh -c 'ls /proc/sys/net/ipv4/conf'`, '--unshare-net: only lo'],
  [`$T ${R} --unshare-ipc sh -c 'test "$(readlink /proc/self/ns/ipc)" != "$H_IPC" && echo new ipc'`, '--unshare-ipc'],
  [`$T ${R} --unshare-user --uid 1000 --gid 1000 sh -c 'id -u; id -g'`, '--unshare-user --uid --gid'],
  [`$T ${R} --new-session sh -c 'test "$(cut -d" " -f6 /proc/$$/stat)" = $$ && echo leader'`, '--new-session'],
  [`$T ${R} --overlay-src /usr --tmp-overlay /usr sh -c 'touch /usr/x && echo writable'`, '--tmp-overlay (bwrap 0.9: 0.8 refuses it)'],
  [`$T --args 3 sh -c 'echo $FROM' 3<args`, '--args FD'],
  [`$T ${R} --seccomp 3 sh -c 'grep Seccomp: /proc/self/status' 3<allow.bpf`, '--seccomp FD: a compiled filter'],
  [`$T ${R} --add-seccomp-fd 3 true 3<bad.bpf`, '--add-seccomp-fd with bytes that are no filter'],
  [`$T --foo`, 'an unknown option'],
  [`$T --dir`, 'a missing argument'],
  [`$T ${R} --uid 5 true`, '--uid without a user namespace'],
  [`$T --help | head -1`, '--help'],
];

t.test('the same as bwrap', { skip: have ? false : 'bwrap is not installed (apt-get install bubblewrap)' }, async (t) => {
  const bwrap08 = /^bubblewrap 0\.8/.test((await run('bwrap', ['--version'])).stdout);
  for (const [line, why, todo] of LINES) {
    const { bwrap, ours } = await both(line);
    // bwrap 0.8 (Debian's) lacks the 0.9 additions: ours is checked against what 0.9 does.
    if (bwrap08 && /overlay/.test(line)) {
      t.equal(ours.stdout, 'writable\nstatus=0', `${why}: ours`);
      continue;
    }
    const opts = todo ? { todo } : {};
    t.equal(ours.stdout.replaceAll('usage: ' + TS, 'usage: bwrap'), bwrap.stdout, `${why}: stdout and status (${line})`, opts);
    if (/status=[1-9]/.test(bwrap.stdout) && !/kill|exit 7/.test(line)) {
      t.equal(ours.stderr.split('\n')[0], bwrap.stderr.split('\n')[0], `${why}: the message`, opts);
    }
  }
});

t.test('bad flags: one line in bwrap\'s words, exit 1, never a stack trace', async (t) => {
  const cases: [string[], string][] = [
    [['--perms', '0800', '--dir', '/x', 'true'], '--perms takes an octal argument <= 07777'],
    [['--size', '10', '--dir', '/x', 'true'], '--size must be followed by --tmpfs'],
    [['--overlay-src', '/a', 'true'], '--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay'],
    [['--memory', '12Q', 'true'], 'limits.memory: a size such as 512M, 1G or 4096 (got "12Q")'],
    [['--spec', join(dir, 'missing.yaml'), 'true'], `cannot read ${join(dir, 'missing.yaml')}: ENOENT`],
    [['--argv0'], '--argv0 takes one argument'],
    [['--rlimit', 'nofile=x', 'true'], "--rlimit nofile: 'x' is not a number or unlimited"],
    // bwrap's own words, but its monitor dies there and leaves its child waiting forever.
    [['--ro-bind', '/', '/', '--userns2', '1', 'true'], 'Setting userns2 failed: Invalid argument'],
  ];
  for (const [args, message] of cases) {
    const r = await tool('ts-sandbox', args);
    t.equal(r.stderr, `ts-sandbox: ${message}`, args.join(' '));
    t.equal(r.exitCode, 1);
  }
  const none = await tool('ts-sandbox', []);
  t.match(none.stderr, /^usage: .*ts-sandbox \[OPTIONS\.\.\.\] \[--\] COMMAND \[ARGS\.\.\.\]/);
  t.equal(none.exitCode, 1, 'no arguments: usage on stderr, exit 1 (as bwrap)');
});

t.test('--dry-run: the resolved spec and the bwrap line', async (t) => {
  const r = await tool('ts-sandbox', ['--dry-run', '--unshare-all', '--share-net', '--ro-bind', '/usr', '/usr', '--tmpfs', '/tmp', 'sh', '-c', 'x']);
  t.equal(r.exitCode, 0);
  const out = JSON.parse(r.stdout) as { spec: unknown; command: string[]; bwrap: string[] | null };
  t.same(out.command, ['sh', '-c', 'x']);
  t.same(out.spec, {
    namespaces: { mount: 'new', user: 'new', ipc: 'new', pid: 'new', uts: 'new', cgroup: 'new' },
    filesystem: { root: 'tmpfs', mounts: [{ type: 'bind', source: '/usr', dest: '/usr', readOnly: true }, { type: 'tmpfs', dest: '/tmp' }] },
  });
  t.same(out.bwrap, ['--unshare-user', '--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup', '--ro-bind', '/usr', '/usr', '--tmpfs', '/tmp', 'sh', '-c', 'x']);
  const lim = JSON.parse((await tool('ts-sandbox', ['--dry-run', '--memory', '512M', '--pids', '100', 'true'])).stdout) as { bwrap: unknown; spec: { limits: unknown } };
  t.equal(lim.bwrap, null, 'limits have no bwrap line');
  t.same(lim.spec.limits, { memory: '512M', pids: 100 });
});

const HOST = join(dir, 'host.yaml');
writeFileSync(HOST, 'filesystem: { root: host }\nnamespaces: { mount: new, pid: new }\n');

t.test('a spec file, exit statuses, exec failures', async (t) => {
  const r = await tool('ts-sandbox', ['--spec', HOST, 'sh', '-c', 'echo $$; exit 3']);
  t.equal(r.stdout, '2', 'pid 2: an init is pid 1');
  t.equal(r.exitCode, 3);
  const missing = await tool('ts-sandbox', ['--spec', HOST, 'no-such-program']);
  t.equal(missing.stderr, 'ts-sandbox: execvp no-such-program: No such file or directory');
  t.equal(missing.exitCode, 1, 'exit 1, as bwrap (not 127)');
});

t.test('limits: a cgroup made, joined, the hit pids limit said in one line, then removed', async (t) => {
  const r = await tool('ts-sandbox', ['--spec', HOST, '--pids', '4', '--memory', '64M', 'sh', '-c', 'grep -o "ts-sandbox-[0-9]*" /proc/self/cgroup | head -1; for i in 1 2 3 4 5; do sleep 1 & done 2>/dev/null; wait']);
  const name = r.stdout.split('\n')[0];
  t.match(name, /^ts-sandbox-\d+$/, 'the program runs in its group');
  t.match(r.stderr, /^ts-sandbox: the pids limit \(4\) was hit: a fork failed$/m);
  const left = readdirSync('/sys/fs/cgroup/pids').filter((d) => d === name);
  t.same(left, [], 'the group is gone');
  // Other test files' runs add and remove records there meanwhile: one may go between the listing and its read.
  const record = (f: string) => { try { return readFileSync(join('/run/tsns/cgroup', f), 'utf8'); } catch { return ''; } };
  t.notOk(readdirSync('/run/tsns/cgroup').some((f) => record(f).includes(`"${name}"`)), 'its record too');
});

/** Host pids whose command line is exactly `argv`. */
function processesRunning(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      return readFileSync(`/proc/${e}/cmdline`, 'utf8') === want;
    } catch {
      return false;
    }
  }).map(Number);
}

t.test('--timeout and --cpu-time kill the whole tree, said in one line; nothing survives', async (t) => {
  // A tree of three without a pid namespace of its own: only the group can end all of them.
  const secs = String(200_000 + (process.pid % 10_000));
  const r = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--timeout', '1', 'sh', '-c', `sleep ${secs} & sleep ${secs} & sleep ${secs}`]);
  t.equal(r.signal, 'SIGKILL', 'ends as the killed program did');
  t.match(r.stderr, /^ts-sandbox: timeout: killed after 1 s$/m);
  t.same(processesRunning(['sleep', secs]), [], 'no sleep survives');
  const c = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--cpu-time', '0.5', 'sh', '-c', 'while :; do :; done']);
  t.equal(c.signal, 'SIGKILL');
  t.match(c.stderr, /^ts-sandbox: cpu-time: killed after 0\.5 s of CPU time$/m);
  const ok = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--timeout', '30', 'echo', 'in time']);
  t.equal(ok.exitCode, 0);
  t.equal(ok.stdout, 'in time');
});

t.test('--info-fd and --json-status-fd: the program\'s pid', async (t) => {
  const r = await run('sh', ['-c', `${TS} --spec ${HOST} --info-fd 3 --json-status-fd 4 sh -c 'echo $$ >&2' 3>${dir}/info 4>${dir}/status`]);
  const info = JSON.parse(readFileSync(join(dir, 'info'), 'utf8')) as { 'child-pid': number };
  const status = readFileSync(join(dir, 'status'), 'utf8');
  t.equal(r.stderr, '2', 'pid 2 inside its pid namespace');
  t.ok(info['child-pid'] > 1, 'the pid of its init as seen outside');
  t.match(status, /^\{ "child-pid": \d+, "mnt-namespace": \d+, "pid-namespace": \d+ \}\n\{ "exit-code": 0 \}\n$/, 'one JSON document a line, as bwrap: the pid and namespaces, then the exit code');
  const exit3 = await run('sh', ['-c', `${TS} --ro-bind / / --json-status-fd 4 sh -c 'exit 3' 4>${dir}/status3`]);
  t.equal(exit3.exitCode, 3);
  t.match(readFileSync(join(dir, 'status3'), 'utf8'), /\{ "exit-code": 3 \}\n$/, 'without a pid namespace too (a fork waits to tell it)');
});

t.test('no Node process stays while the program runs; the waiting parent is small', async (t) => {
  const child = spawn(TS, ['--spec', HOST, '--pids', '50', 'sleep', '5'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  let tree: string[] = [];
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 50));
    // The stage, its init, the program.
    const kids = (await run('pgrep', ['-P', String(child.pid)])).stdout.split('\n').filter(Boolean);
    const grandkids = kids.length ? (await run('pgrep', ['-P', kids.join(',')])).stdout.split('\n').filter(Boolean) : [];
    tree = [String(child.pid), ...kids, ...grandkids].map((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return ''; } });
    if (tree.includes('sleep')) break;
  }
  t.ok(tree.includes('sleep'), `the program runs (${tree.join(', ')})`);
  t.notOk(tree.some((c) => /node/.test(c)), 'no node among them');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
  t.ok(rss < 4096, `the parent that waits is the C stage (${rss} kB)`);
});

/** A shell script run with $T as bwrap, then as ts-sandbox (in `dir`); stdout as the shell saw it. */
async function bothScripts(script: string) {
  const go = async (T: string) => (await run('sh', ['-c', `cd ${dir} && T=${T}\n${script}`])).stdout;
  return { bwrap: await go('bwrap'), ours: await go(TS) };
}

t.test('--userns-block-fd and --userns2, as bwrap', { skip: have ? false : 'bwrap is not installed' }, async (t) => {
  // The caller reads the child's pid from --info-fd, writes its maps, then lets it go on.
  const block = await bothScripts(`rm -f block info; mkfifo block; exec 5<>block
$T ${R} --unshare-user --userns-block-fd 5 --info-fd 6 sh -c 'id -u; id -g; cat /proc/self/uid_map' 6>info & b=$!
i=0; until grep -q '}' info 2>/dev/null || [ $i -ge 400 ]; do sleep 0.05; i=$((i+1)); done
pid=$(sed -n 's/.*"child-pid": \\([0-9]*\\).*/\\1/p' info)
echo "0 0 1" > /proc/$pid/uid_map && echo "0 0 1" > /proc/$pid/gid_map && echo mapped
echo go >&5; wait $b; echo "status=$?"`);
  t.equal(block.ours, block.bwrap, '--userns-block-fd: the caller writes the maps');
  t.match(block.ours, /^mapped\n0\n0\n\s+0\s+0\s+1\nstatus=0$/);
  // A user namespace A and B inside it: --userns A, then --userns2 B once the root is built.
  const two = await bothScripts(`unshare -U -r sh -c 'unshare -U -r sleep 60 & wait' & A=$!
i=0; B=; while [ $i -lt 400 ]; do B=$(tr -d ' ' < /proc/$A/task/$A/children 2>/dev/null); [ -n "$B" ] && [ "$(readlink /proc/$B/exe)" = /usr/bin/sleep ] && break; sleep 0.05; i=$((i+1)); done
$T ${R} --userns 5 --userns2 6 --setenv B_NS "$(readlink /proc/$B/ns/user)" sh -c 'test "$(readlink /proc/self/ns/user)" = "$B_NS" && echo in B; id -u' 5</proc/$A/ns/user 6</proc/$B/ns/user
echo "status=$?"; kill $B; wait`);
  t.equal(two.ours, two.bwrap, '--userns2: the program runs in the second user namespace');
  t.equal(two.ours, 'in B\n0\nstatus=0');
});

t.test('--argv0: the program gets VALUE as argv[0] (bwrap 0.9)', async (t) => {
  const r = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--argv0', 'renamed', 'sh', '-c', 'tr "\\0" " " < /proc/$$/cmdline']);
  t.equal(r.stdout, 'renamed -c tr "\\0" " " < /proc/$$/cmdline ');
  const missing = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--argv0', 'renamed', 'no-such-program']);
  t.equal(missing.stderr, 'ts-sandbox: execvp renamed: No such file or directory', 'bwrap names argv[0]');
});

t.test('the init holds nothing the program could take: no capabilities, not dumpable', async (t) => {
  const r = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--proc', '/proc', '--unshare-pid', '--unshare-user', '--cap-add', 'ALL', 'sh', '-c',
    'grep CapEff /proc/1/status; cat /proc/1/environ >/dev/null 2>&1 && echo environ readable || echo environ refused; ls /proc/1/fd >/dev/null 2>&1 && echo fds readable || echo fds refused']);
  t.equal(r.stdout, 'CapEff:\t0000000000000000\nenviron refused\nfds refused');
});

t.test('signals to ts-sandbox reach the program through its init; SIGINT from a terminal is the program\'s alone', async (t) => {
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    const child = spawn(TS, ['--ro-bind', '/', '/', '--unshare-pid', 'sh', '-c', `trap "echo got ${sig}; exit 3" ${sig.slice(3)}; echo ready; while :; do sleep 0.05; done`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = pipeText(child.stdout!);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill(sig);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    t.equal(await out, `ready\ngot ${sig}\n`, `${sig} passed on`);
    t.equal(code, 3, 'and the program\'s status');
  }
});

/** Processes in the pid namespace whose /proc/PID/ns/pid inode is `ino`, after a bounded wait for them to go. */
async function leftIn(ino: number): Promise<number[]> {
  const inNs = () => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      return statSync(`/proc/${e}/ns/pid`).ino === ino;
    } catch {
      return false;
    }
  }).map(Number);
  for (let i = 0; i < 600 && inNs().length; i++) await new Promise((r) => setTimeout(r, 50));
  return inNs();
}

/** ts-sandbox through `sh -c LINE` (which has it as $T), with --info-fd on the shell's fd 3 piped back. */
function sandboxWithInfo(line: string) {
  const child = spawn('sh', ['-c', line.replaceAll('$T', TS)], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  // The sandbox's processes hold the pipe too: the document ends at its closing brace.
  const info = new Promise<Record<string, number>>((resolve) => {
    let text = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => {
      text += d;
      if (text.endsWith('}\n')) resolve(JSON.parse(text) as Record<string, number>);
    });
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, info, exited };
}

t.test('the fault: a SIGKILL leaves nothing running in the sandbox', async (t) => {
  // The init killed: a pid namespace ends with its pid 1; the waiting parent ends as it did.
  const a = sandboxWithInfo(`exec $T ${R} --unshare-pid --info-fd 3 sh -c 'sleep 300 & sleep 300'`);
  const ia = await a.info;
  process.kill(ia['child-pid'], 'SIGKILL');
  t.same(await a.exited, { code: null, signal: 'SIGKILL' }, 'ts-sandbox ends as its init did');
  t.same(await leftIn(ia['pid-namespace']), [], 'nothing of the namespace is left');
  // The caller killed with --die-with-parent: the waiting parent dies with it, the init with that.
  const b = sandboxWithInfo(`$T ${R} --unshare-pid --die-with-parent --info-fd 3 sh -c 'sleep 300 & sleep 300' & wait`);
  const ib = await b.info;
  b.child.kill('SIGKILL');
  await b.exited;
  t.same(await leftIn(ib['pid-namespace']), [], '--die-with-parent: nothing of the namespace is left');
  // The program killed: the init ends with it, and the namespace.
  const c = sandboxWithInfo(`exec $T ${R} --unshare-pid --info-fd 3 --proc /proc sh -c 'sleep 300 & kill -9 $$'`);
  const ic = await c.info;
  t.same(await c.exited, { code: null, signal: 'SIGKILL' }, 'ends as the program did');
  t.same(await leftIn(ic['pid-namespace']), [], 'its background process went with it');
});

t.test('the race: 32 sandboxes with inits in flight, one lock file', async (t) => {
  const all = await Promise.all(Array.from({ length: 32 }, () =>
    tool('ts-sandbox', ['--ro-bind', '/', '/', '--unshare-pid', '--lock-file', join(dir, 'lock'), 'sh', '-c', 'echo $$'], { timeout: 120_000 })));
  t.same(all.map((r) => [r.stdout, r.exitCode]), Array.from({ length: 32 }, () => ['2', 0]), 'each is pid 2, each read lock granted');
});
