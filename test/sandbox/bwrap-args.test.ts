// bwrap's command line -> SandboxSpec, as a pure function: many flag lines, bwrap's parse
// order and modifiers, and its refusals in its own words.
import t from 'tap';
import { BwrapArgError, parseArgs, toBwrapArgs, toSpec } from '../../src/sandbox/bwrap-args.js';
import { parseSpec } from '../../src/sandbox/spec.js';

const root = { uid: 0, gid: 0 };
const noFd = (fd: number): Buffer => { throw new Error(`no fd ${fd}`); };
const spec = (line: string[], readFd = noFd) => {
  const parsed = parseArgs(line, readFd);
  return { ...parsed, spec: parseSpec(toSpec(parsed, undefined, root)) };
};
const fails = (line: string[], message: string, ids = root) =>
  t.throws(() => toSpec(parseArgs(line, noFd), undefined, ids), new BwrapArgError(message), line.join(' '));

t.test('defaults: an empty tmpfs root in a new mount namespace, the rest the caller\'s', async (t) => {
  const { spec: s, command } = spec(['true']);
  t.same(s, { namespaces: { mount: 'new' }, filesystem: { root: 'tmpfs' } });
  t.same(command, ['true']);
});

t.test('namespaces', async (t) => {
  t.same(spec(['--unshare-all', 'sh']).spec.namespaces, { mount: 'new', user: 'new', ipc: 'new', pid: 'new', uts: 'new', net: 'new', cgroup: 'new' });
  t.same(spec(['--unshare-all', 'sh']).spec.network, { mode: 'none' });
  const shared = spec(['--unshare-all', '--share-net', 'sh']).spec;
  t.equal(shared.namespaces!.net, undefined);
  t.equal(shared.network, undefined);
  // Order matters: a later --unshare-net takes the network again.
  t.equal(spec(['--share-net', '--unshare-net', 'sh']).spec.namespaces!.net, 'new');
  t.same(spec(['--unshare-pid', '--unshare-cgroup-try', '--unshare-ipc', '--unshare-uts', 'sh']).spec.namespaces, { mount: 'new', pid: 'new', cgroup: 'new', ipc: 'new', uts: 'new' });
  t.same(spec(['--userns', '5', '--pidns', '6', 'sh']).spec.namespaces, { mount: 'new', user: { fd: 5 }, pid: { fd: 6 } });
  t.same(spec(['--net', 'ns:/run/netns/x', 'sh']).spec.network, { mode: 'ns', path: '/run/netns/x' });
  t.same(spec(['--net', 'veth:10.1.2.3/24', 'sh']).spec.network, { mode: 'veth', address: '10.1.2.3/24' });
});

t.test('ids, hostname, chdir, environment in order', async (t) => {
  const s = spec(['--unshare-user', '--uid', '1000', '--gid', '100', '--unshare-uts', '--hostname', 'box', '--chdir', '/tmp', 'id']).spec;
  t.equal(s.uidMap, 1000);
  t.equal(s.gidMap, 100);
  t.equal(s.hostname, 'box');
  t.equal(s.process!.cwd, '/tmp');
  // Without a user namespace, --uid of the caller's own id is no change (bwrap's check).
  t.equal(spec(['--uid', '0', 'id']).spec.process, undefined);
  const env = spec(['--setenv', 'A', '1', '--setenv', 'B', '2', '--unsetenv', 'A', '--clearenv', '--setenv', 'C', '3', '--unsetenv', 'HOME', 'env']).spec.process;
  t.same(env, { clearEnv: true, env: { C: '3' }, unsetEnv: ['HOME'] });
  t.same(spec(['--unsetenv', 'X', '--setenv', 'X', 'y', 'env']).spec.process, { env: { X: 'y' } });
});

t.test('mounts in order, with --perms and --size for the next one', async (t) => {
  const line = [
    '--ro-bind', '/usr', '/usr', '--bind-try', '/nope', '/nope', '--dev-bind', '/dev', '/dev', '--bind', '/tmp', 'tmp',
    '--symlink', 'usr/lib', '/lib', '--proc', '/proc', '--dev', '/dev', '--mqueue', '/dev/mqueue',
    '--perms', '0700', '--size', '0x100000', '--tmpfs', '/run', '--perms', '750', '--dir', '/run/x', '--dir', '/run/y',
    '--file', '3', '/etc/a', '--perms', '0444', '--bind-data', '4', '/etc/b', '--ro-bind-data', '5', '/etc/c',
    '--chmod', '1777', '/run/x', '--remount-ro', '/usr', '--bind-fd', '6', '/fd', '--ro-bind-fd', '7', '/rofd',
    '--overlay-src', '/a', '--overlay-src', '/b', '--tmp-overlay', '/o1', '--overlay-src', '/a', '--overlay', '/rw', '/work', '/o2',
    '--overlay-src', '/a', '--overlay-src', '/b', '--ro-overlay', '/o3', 'sh',
  ];
  t.same(spec(line).spec.filesystem!.mounts, [
    { type: 'bind', source: '/usr', dest: '/usr', readOnly: true },
    { type: 'bind', source: '/nope', dest: '/nope', try: true },
    { type: 'bind', source: '/dev', dest: '/dev', devices: true },
    { type: 'bind', source: '/tmp', dest: '/tmp' },
    { type: 'symlink', target: 'usr/lib', dest: '/lib' },
    { type: 'proc', dest: '/proc' },
    { type: 'dev', dest: '/dev' },
    { type: 'mqueue', dest: '/dev/mqueue' },
    { type: 'tmpfs', dest: '/run', perms: 0o700, size: 1048576 },
    { type: 'dir', dest: '/run/x', perms: 0o750 },
    { type: 'dir', dest: '/run/y' },
    { type: 'file', dest: '/etc/a', fd: 3, perms: 0o666 },
    { type: 'file', dest: '/etc/b', fd: 4, perms: 0o444, bind: true },
    { type: 'file', dest: '/etc/c', fd: 5, perms: 0o600, bind: true, readOnly: true },
    { type: 'chmod', dest: '/run/x', perms: 0o1777 },
    { type: 'remount-ro', dest: '/usr' },
    { type: 'bind', fd: 6, dest: '/fd' },
    { type: 'bind', fd: 7, dest: '/rofd', readOnly: true },
    { type: 'overlay', dest: '/o1', lower: ['/a', '/b'], tmp: true },
    { type: 'overlay', dest: '/o2', lower: ['/a'], upper: '/rw', work: '/work' },
    { type: 'overlay', dest: '/o3', lower: ['/a', '/b'], readOnly: true },
  ]);
});

t.test('--args FD inserts NUL-separated options where it stands', async (t) => {
  const reads: number[] = [];
  const readFd = (fd: number) => (reads.push(fd), Buffer.from('--unshare-pid\0--setenv\0A\0b c\0'));
  const r = spec(['--args', '9', '--unshare-uts', 'sh', '-c', 'x'], readFd);
  t.same(reads, [9]);
  t.equal(r.spec.namespaces!.pid, 'new');
  t.same(r.spec.process!.env, { A: 'b c' });
  t.same(r.command, ['sh', '-c', 'x']);
  // bwrap ignores what follows a non-option in the file; --args may not nest.
  t.same(spec(['--args', '9', 'echo'], () => Buffer.from('--unshare-pid\0ls\0--unshare-net\0')).spec.namespaces, { mount: 'new', pid: 'new' });
  t.throws(() => parseArgs(['--args', '9', 'sh'], () => Buffer.from('--args\x003\0')), new BwrapArgError('--args not supported in arguments file'));
  t.throws(() => parseArgs(['--args', '9', 'sh'], () => { throw new Error('Bad file descriptor'); }), new BwrapArgError("Can't read --args data: Bad file descriptor"));
});

t.test('-- and the first non-option end the options', async (t) => {
  t.same(spec(['--unshare-pid', '--', '--unshare-net', 'x']).command, ['--unshare-net', 'x']);
  t.same(spec(['echo', '--unshare-net']).command, ['echo', '--unshare-net']);
  t.same(spec([]).command, []);
  t.ok(parseArgs(['--unshare-pid', '--help', '--bogus'], noFd).tool.help);
  t.ok(parseArgs(['--version'], noFd).tool.version);
});

t.test('descriptors, session, caps, seccomp filters', async (t) => {
  const r = spec(['--unshare-pid', '--sync-fd', '3', '--info-fd', '4', '--json-status-fd', '5', '--block-fd', '6', '--new-session',
    '--die-with-parent', '--as-pid-1', '--cap-add', 'CAP_NET_ADMIN', '--cap-drop', 'ALL', '--add-seccomp-fd', '7', '--add-seccomp-fd', '8', 'sh']);
  t.same(r.spec.process, { keepFds: [3], newSession: true, dieWithParent: true, asPid1: true });
  t.same(r.spec.security, { capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'], seccompFilters: [7, 8] });
  t.same([r.tool.infoFd, r.tool.jsonStatusFd, r.tool.blockFd], [4, 5, 6]);
  t.same(spec(['--seccomp', '9', 'sh']).spec.security, { seccompFilters: [9] });
  t.same(spec(['--exec-label', 'a', '--file-label', 'b', 'sh']).tool.labels, ['a', 'b']);
  const u = spec(['--unshare-user', '--userns-block-fd', '3', '--info-fd', '4', '--userns2', '5', '--lock-file', '/a', '--lock-file', 'b', '--argv0', 'x', 'sh']).tool;
  t.same([u.usernsBlockFd, u.userns2, u.lockFiles, u.argv0], [3, 5, ['/a', 'b'], 'x'], 'the init\'s and the user namespaces\' descriptors are the tool\'s, not the spec\'s');
  const d = spec(['--unshare-user', '--disable-userns', 'sh']).spec.security!.seccomp!.rules!;
  t.same(d.map((r) => r.names), [['unshare', 'clone'], ['clone3']]);
});

t.test('ts-sandbox\'s own flags', async (t) => {
  const s = spec(['--memory', '512M', '--pids', '100', '--cpu', '0.5', '--timeout', '60', '--cpu-time', '1.5', '--rlimit', 'NOFILE=64:128',
    '--rlimit', 'core=0', '--seccomp-deny', 'ptrace,mount', '--seccomp-deny', 'bpf', '--seccomp-default', '--landlock-ro', '/usr',
    '--landlock-rw', '/tmp', '--net', 'host', 'sh']).spec;
  t.same(s.limits, { memory: '512M', pids: 100, cpu: 0.5, timeoutMs: 60000, cpuTimeMs: 1500, rlimits: { nofile: { soft: 64, hard: 128 }, core: { soft: 0, hard: 0 } } });
  t.same(s.security, { seccomp: { profile: 'default', deny: ['ptrace', 'mount', 'bpf'] }, landlock: { ro: ['/usr'], rw: ['/tmp'] } });
  t.same(s.network, { mode: 'host' });
  const p = parseArgs(['--spec', 'f.yaml', '--dry-run', '--explain', 'x'], noFd).tool;
  t.same([p.specFile, p.dryRun, p.explain], ['f.yaml', true, true]);
});

t.test('flags on top of a --spec file', async (t) => {
  const base = parseSpec({ namespaces: { user: 'new', pid: 'new', mount: 'new' }, filesystem: { root: 'host', mounts: [{ type: 'tmpfs', dest: '/tmp' }] }, limits: { pids: 10, rlimits: { core: { soft: 0, hard: 0 } } }, process: { env: { A: '1' } } });
  const s = toSpec(parseArgs(['--unshare-net', '--tmpfs', '/run', '--pids', '20', '--rlimit', 'nofile=9', '--setenv', 'B', '2', 'sh'], noFd), base, root);
  t.same(s.namespaces, { user: 'new', pid: 'new', mount: 'new', net: 'new' });
  t.same(s.filesystem, { root: 'host', mounts: [{ type: 'tmpfs', dest: '/tmp' }, { type: 'tmpfs', dest: '/run' }] });
  t.same(s.limits, { pids: 20, rlimits: { core: { soft: 0, hard: 0 }, nofile: { soft: 9, hard: 9 } } });
  t.same(s.process!.env, { A: '1', B: '2' });
  t.same(base.filesystem!.mounts!.length, 1, 'the base spec is not changed');
});

t.test('refusals in bwrap\'s words', async (t) => {
  fails(['--foo'], 'Unknown option --foo');
  fails(['-x'], 'Unknown option -x');
  fails(['--dir'], '--dir takes an argument');
  fails(['--chdir'], '--chdir takes one argument');
  fails(['--bind', '/a'], '--bind takes two arguments');
  fails(['--ro-bind-fd', '3'], '--bind-fd takes two arguments');
  fails(['--file', '3'], '--file takes two arguments');
  fails(['--overlay', 'a', 'b'], '--overlay takes three arguments');
  fails(['--overlay', 'a', 'b', 'c'], '--overlay requires at least one --overlay-src');
  fails(['--overlay-src', '/a', '--ro-overlay', '/x'], '--ro-overlay requires at least two --overlay-src');
  fails(['--overlay-src', '/a', 'sh'], '--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay');
  fails(['--overlay-src', '/a', '--proc', '/proc'], '--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay');
  fails(['--userns', 'x'], 'Invalid fd: x');
  fails(['--sync-fd', '-1'], 'Invalid fd: -1');
  fails(['--file', '', '/a'], 'Invalid fd: ');
  fails(['--uid', 'abc'], 'Invalid uid: abc');
  fails(['--gid', '-3'], 'Invalid gid: -3');
  fails(['--perms', '0800', '--dir', '/x'], '--perms takes an octal argument <= 07777');
  fails(['--perms', '17777', '--dir', '/x'], '--perms takes an octal argument <= 07777');
  fails(['--perms', '0700', '--perms', '0700'], '--perms given twice for the same action');
  fails(['--perms', '0700', '--proc', '/proc'], '--perms must be followed by an option that creates a file');
  fails(['--size', '0', '--tmpfs', '/x'], '--size takes a non-zero number of bytes');
  fails(['--size', '-5', '--tmpfs', '/x'], '--size takes a non-zero number of bytes');
  fails(['--size', '10', '--dir', '/x'], '--size must be followed by --tmpfs');
  fails(['--size', '9223372036854775808', '--tmpfs', '/x'], '--size (for tmpfs) is limited to 9223372036854775807');
  fails(['--chmod', '9', '/x'], '--chmod takes an octal argument <= 07777');
  fails(['--seccomp', '3', '--add-seccomp-fd', '4'], '--add-seccomp-fd cannot be combined with --seccomp');
  fails(['--add-seccomp-fd', '4', '--seccomp', '3'], '--seccomp cannot be combined with --add-seccomp-fd');
  fails(['--userns', '3', '--unshare-user', 'sh'], '--userns not compatible --unshare-user');
  fails(['--userns', '3', '--unshare-all', 'sh'], '--userns not compatible --unshare-user-try');
  fails(['--disable-userns', 'sh'], '--disable-userns requires --unshare-user');
  fails(['--uid', '5', 'sh'], 'Specifying --uid requires --unshare-user or --userns');
  fails(['--gid', '5', 'sh'], 'Specifying --gid requires --unshare-user or --userns');
  fails(['--hostname', 'x', 'sh'], 'Specifying --hostname requires --unshare-uts');
  fails(['--as-pid-1', 'sh'], 'Specifying --as-pid-1 requires --unshare-pid');
  fails(['--argv0'], '--argv0 takes one argument');
  fails(['--lock-file'], '--lock-file takes an argument');
  fails(['--userns2', 'x', 'sh'], 'Invalid fd: x');
  fails(['--unshare-all', '--userns-block-fd', '3', '--info-fd', '4', 'sh'], '--userns-block-fd requires --unshare-user');
  fails(['--unshare-user', '--userns-block-fd', '3', 'sh'], '--userns-block-fd requires --info-fd');
  fails(['--unshare-user', '--disable-userns', '--userns-block-fd', '3', '--info-fd', '4', 'sh'], '--disable-userns is not compatible with  --userns-block-fd');
  fails(['--unshare-pid', '--as-pid-1', '--lock-file', '/x', 'sh'], 'Specifying --as-pid-1 and --lock-file is not permitted');
  fails(['--pids', '0'], "--pids takes a number of processes, not '0'");
  fails(['--timeout', 'soon'], "--timeout takes seconds, not 'soon'");
  fails(['--rlimit', 'files=3'], "--rlimit takes NAME=SOFT[:HARD] with NAME one of as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack, not 'files=3'");
  fails(['--net', 'wifi'], "--net takes none, host, veth:IP/PREFIX or ns:PATH, not 'wifi'");
  // As a user other than root, a --uid of one's own is no change.
  t.doesNotThrow(() => toSpec(parseArgs(['--uid', '1000', 'sh'], noFd), undefined, { uid: 1000, gid: 1000 }));
});

t.test('--perms left over before the command is not an error (bwrap checks after each option)', async (t) => {
  t.same(spec(['--perms', '0700', 'true']).command, ['true']);
});

t.test('the bwrap line back, where one exists', async (t) => {
  const lines = [
    ['--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', 'true'],
    ['--unshare-all', '--share-net', '--ro-bind', '/usr', '/usr', '--perms', '0700', '--size', '4096', '--tmpfs', '/tmp', 'sh', '-c', 'x'],
    ['--unshare-user', '--uid', '5', '--unshare-uts', '--hostname', 'h', '--chdir', '/', '--clearenv', '--setenv', 'A', 'b', 'env'],
    ['--overlay-src', '/a', '--tmp-overlay', '/o', '--symlink', 'a', '/b', '--chmod', '0755', '/o', '--', '-x'],
  ];
  for (const line of lines) {
    const { spec: s, command } = spec(line);
    const back = toBwrapArgs(s, command);
    t.ok(back, line.join(' '));
    t.same(spec(back!).spec, s, `round trip of ${line.join(' ')}`);
  }
  t.equal(toBwrapArgs(spec(['--memory', '1G', 'x']).spec, ['x']), undefined, 'limits have no bwrap form');
  t.equal(toBwrapArgs(parseSpec({ filesystem: { root: 'host' } }), ['x']), undefined, 'nor another root');
});
