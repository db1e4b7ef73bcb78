// The Sandbox filesystem on the real kernel: bubblewrap's vocabulary compared with bwrap
// itself flag line by flag line, then what bwrap has no flag for, then escape attempts.
import t from 'tap';
import { pipeText } from '../helpers.js';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../src/sandbox/compile.js';
import { hostReadOnly } from '../../src/sandbox/filesystem.js';
import { parseSpec, SpecError, type MountOp } from '../../src/sandbox/spec.js';
import { spawn } from '../../src/spawn/index.js';
import { buildBusyboxRoot, BUSYBOX } from '../rootfs.js';

type Filesystem = NonNullable<Parameters<typeof parseSpec>[0]> & object;
interface Run { code: number | null; out: string; err: string }

/** Run `script` with sh in a sandbox whose filesystem is `filesystem` (default namespaces: bwrap's --unshare-all). */
async function run(filesystem: Filesystem, script: string, extra: object = {}): Promise<Run> {
  const c = compile(parseSpec({ filesystem, ...extra }), ['sh', '-c', script]);
  const s = spawn({ ...c.spawn, stdio: ['ignore', 'pipe', 'pipe'] }, c.argv);
  // The output is all there once both pipes end, which may be after the exit is reaped.
  const [out, err, { code }] = await Promise.all([pipeText(s.stdout!), pipeText(s.stderr!), s.exited]);
  return { code, out, err };
}

const BWRAP = existsSync('/usr/bin/bwrap') ? '/usr/bin/bwrap' : undefined;
function bwrap(args: string[], script: string, fd3?: string): Run {
  const input = fd3 === undefined ? 'ignore' : openSync(fd3, 'r');
  const r = spawnSync(BWRAP!, ['--unshare-all', ...args, 'sh', '-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', input], timeout: 20_000 });
  if (typeof input === 'number') closeSync(input);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A system to run sh, findmnt and ls with: /usr read-only and the merged-/usr links, in both tools. */
const BASE_ARGS = ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64'];
const BASE: MountOp[] = [
  { type: 'bind', source: '/usr', dest: '/usr', readOnly: true },
  { type: 'symlink', target: 'usr/bin', dest: '/bin' }, { type: 'symlink', target: 'usr/lib', dest: '/lib' }, { type: 'symlink', target: 'usr/lib64', dest: '/lib64' },
];
/** Mounts and listings, without dates; /proc's covers differ on purpose (runc's list, a superset of bwrap's). */
const LOOK = 'findmnt -rn -o TARGET,FSTYPE,OPTIONS | grep -v "^/proc/"; echo ---; ls -lA --time-style=+ / | grep -v " proc$"';

const work = mkdtempSync(join(tmpdir(), 'tsns-fs-'));
chmodSync(work, 0o755);
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const data = join(work, 'data');
writeFileSync(data, 'hello from fd 3\n');
const src = join(work, 'src');
mkdirSync(src);
writeFileSync(join(src, 'f'), 'in src\n');

t.test('the same flag lines in bwrap and tsns: same mounts and listings', { skip: !BWRAP && 'bwrap is not installed (apt-get install bubblewrap)' }, async (t) => {
  const cases: [string[], MountOp[], string][] = [
    [[], [], LOOK],
    [['--proc', '/proc', '--dev', '/dev'], [{ type: 'proc', dest: '/proc' }, { type: 'dev', dest: '/dev' }], `${LOOK}; ls -lA --time-style=+ /dev`],
    [['--tmpfs', '/tmp'], [{ type: 'tmpfs', dest: '/tmp' }], `${LOOK}; ls -ld --time-style=+ /tmp`],
    [['--perms', '1777', '--size', '1048576', '--tmpfs', '/tmp'], [{ type: 'tmpfs', dest: '/tmp', perms: 0o1777, size: '1M' }], `${LOOK}; ls -ld --time-style=+ /tmp`],
    [['--dir', '/mnt', '--bind', src, '/mnt/s'], [{ type: 'dir', dest: '/mnt' }, { type: 'bind', source: src, dest: '/mnt/s' }], `${LOOK}; cat /mnt/s/f; ls -ln --time-style=+ /mnt`],
    [['--ro-bind', src, '/s'], [{ type: 'bind', source: src, dest: '/s', readOnly: true }], `${LOOK}; touch /s/new 2>&1 | sed 's/^.*: //'`],
    [['--dev-bind', '/dev', '/dev'], [{ type: 'bind', source: '/dev', dest: '/dev', devices: true }], 'findmnt -rn -o TARGET,FSTYPE,OPTIONS / /dev; head -c 4 /dev/zero | wc -c'],
    [['--ro-bind-try', '/nonexistent', '/x', '--bind-try', src, '/y'], [{ type: 'bind', source: '/nonexistent', dest: '/x', readOnly: true, try: true }, { type: 'bind', source: src, dest: '/y', try: true }], LOOK],
    [['--perms', '0700', '--dir', '/a/b/c'], [{ type: 'dir', dest: '/a/b/c', perms: 0o700 }], 'ls -ld --time-style=+ /a /a/b /a/b/c'],
    [['--dir', '/d', '--chmod', '0710', '/d'], [{ type: 'dir', dest: '/d' }, { type: 'chmod', dest: '/d', perms: 0o710 }], 'ls -ld --time-style=+ /d'],
    [['--symlink', '/usr/bin/env', '/e', '--symlink', '../x', '/l/up'], [{ type: 'symlink', target: '/usr/bin/env', dest: '/e' }, { type: 'symlink', target: '../x', dest: '/l/up' }], 'ls -l --time-style=+ /e /l'],
    [['--mqueue', '/mq'], [{ type: 'mqueue', dest: '/mq' }], LOOK],
    [['--ro-bind-data', '3', '/etc/ro'], [{ type: 'file', dest: '/etc/ro', data: 'hello from fd 3\n', bind: true, readOnly: true }], `${LOOK}; cat /etc/ro; ls -l --time-style=+ /etc`],
    [['--perms', '0640', '--bind-data', '3', '/etc/rw'], [{ type: 'file', dest: '/etc/rw', data: 'hello from fd 3\n', bind: true, perms: 0o640 }], `${LOOK}; echo more >> /etc/rw; cat /etc/rw; ls -l --time-style=+ /etc`],
    [['--perms', '0600', '--file', '3', '/etc/f'], [{ type: 'file', dest: '/etc/f', data: 'hello from fd 3\n', perms: 0o600 }], 'cat /etc/f; ls -l --time-style=+ /etc'],
    [['--bind', src, '/w', '--remount-ro', '/w'], [{ type: 'bind', source: src, dest: '/w' }, { type: 'remount-ro', dest: '/w' }], LOOK],
    [['--remount-ro', '/'], [{ type: 'remount-ro', dest: '/' }], 'findmnt -rn -o TARGET,FSTYPE,OPTIONS; mkdir /x 2>&1 | sed "s/^.*: //"'],
  ];
  // Parents a bind, symlink or proc op creates are 0755 here; bwrap makes them 0700 (such
  // ops have perms 0 there), which a program run under another uid could not enter. The
  // lines below make such parents with --dir, the same in both.
  for (const [args, mounts, script] of cases) {
    const line = args.join(' ') || '(base only)';
    const theirs = bwrap([...BASE_ARGS, ...args], script, args.includes('3') ? data : undefined);
    // /tmp only exists (bwrap's cwd) where the case makes it; tsns goes to / otherwise too.
    const ours = await run({ mounts: [...BASE, ...mounts] }, script);
    t.equal(ours.code, theirs.code, `${line}: exit status`);
    t.equal(ours.out, theirs.out, `${line}: output`);
    t.equal(ours.err, theirs.err, `${line}: messages`);
  }
});

t.test('a missing source: skipped with try, else one line in bwrap\'s words', async (t) => {
  const err = t.throws(() => compile(parseSpec({ filesystem: { mounts: [{ type: 'bind', source: '/nonexistent', dest: '/x' }] } }), ['true'])) as Error;
  t.type(err, SpecError);
  t.equal(err.message, "filesystem.mounts[0].source: Can't find source path /nonexistent: No such file or directory");
  t.match((t.throws(() => compile(parseSpec({ filesystem: { root: { path: '/nonexistent' } } }))) as Error).message, /^filesystem\.root\.path: Can't find root \/nonexistent: No such file/);
  t.match((t.throws(() => compile(parseSpec({ filesystem: { mounts: [{ type: 'overlay', dest: '/o', lower: [src] }] } }))) as Error).message, /^filesystem\.mounts\[0\]\.lower: a read-only overlay needs at least two/);
  const r = await run({ mounts: [...BASE, { type: 'bind', source: '/nonexistent', dest: '/x', try: true }] }, 'ls /x 2>&1; echo $?');
  t.match(r.out, /No such file or directory\n2\n$/);
});

t.test('a read-only bind is read-only in its submounts too', async (t) => {
  // A tree with a mount inside it, on the host (removed at the end).
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  t.equal(spawnSync('mount', ['-t', 'tmpfs', 'tsns-sub', join(tree, 'sub')]).status, 0);
  t.teardown(() => { spawnSync('umount', ['-l', join(tree, 'sub')]); });
  const r = await run({ mounts: [...BASE, { type: 'proc', dest: '/proc' }, { type: 'bind', source: tree, dest: '/t', readOnly: true }] },
    'findmnt -rn -o TARGET,OPTIONS /t/sub | cut -d, -f1; touch /t/sub/x 2>&1 | sed "s/^.*: //"; touch /t/x 2>&1 | sed "s/^.*: //"');
  t.equal(r.out, '/t/sub ro\nRead-only file system\nRead-only file system\n');
  t.same(readdirSync(join(tree, 'sub')), [], 'nothing was written on the host');
});

t.test('destinations cannot leave the new root: links and .. stay inside', async (t) => {
  const victim = join(work, 'victim');
  mkdirSync(victim, { mode: 0o755 });
  chmodSync(victim, 0o755);
  // A host tree whose links point at the staging root's view of the host.
  const tree = join(work, 'links');
  mkdirSync(tree);
  symlinkSync(`/oldroot${victim}`, join(tree, 'abs'));
  symlinkSync(`../../../../../../../oldroot${victim}`, join(tree, 'rel'));
  const r = await run({
    mounts: [
      ...BASE,
      { type: 'symlink', target: `/oldroot${victim}`, dest: '/etc/x' },
      { type: 'file', dest: '/etc/x/pwned-by-link', data: 'x' },
      { type: 'tmpfs', dest: '/etc/x/mnt' },
      { type: 'bind', source: src, dest: '/etc/x/bound', readOnly: true },
      { type: 'chmod', dest: '/etc/x', perms: 0o777 },
      { type: 'symlink', target: `../../../../oldroot${victim}`, dest: '/y' },
      { type: 'dir', dest: '/y/pwned-by-dotdot' },
      { type: 'file', dest: `/../../oldroot${victim}/pwned-by-dest`, data: 'x' },
      { type: 'bind', source: tree, dest: '/t' },
      { type: 'file', dest: '/t/abs/pwned-by-host-link', data: 'x' },
      { type: 'dir', dest: '/t/rel/pwned-by-host-relative-link' },
    ],
  }, `ls /oldroot${victim} | sort`);
  t.equal(r.code, 0, r.err);
  t.same(readdirSync(victim), [], 'nothing was made in the host directory');
  t.equal(statSync(victim).mode & 0o777, 0o755, 'its mode is unchanged');
  // Inside, the links led to a directory of the same name under the new root.
  t.equal(r.out, ['bound', 'mnt', 'pwned-by-dest', 'pwned-by-dotdot', 'pwned-by-host-link', 'pwned-by-host-relative-link', 'pwned-by-link', ''].join('\n'));
  const loop = [{ type: 'symlink', target: '/b', dest: '/a' }, { type: 'symlink', target: '/a', dest: '/b' }, { type: 'dir', dest: '/a/x' }];
  t.match((t.throws(() => compile(parseSpec({ filesystem: { mounts: loop } }))) as Error).message, /^filesystem\.mounts\[2\]\.dest: \/a\/x: Too many levels of symbolic links$/);
});

t.test('nothing of the old root is reachable after the pivot', async (t) => {
  const r = await run({ mounts: [...BASE, { type: 'proc', dest: '/proc' }, { type: 'dev', dest: '/dev' }] },
    'readlink /proc/1/root; ls /proc/1/root | tr "\\n" " "; echo; ls -d /oldroot /newroot /work 2>&1 | wc -l; cut -d" " -f5 /proc/self/mountinfo | sort | tr "\\n" " "');
  t.equal(r.code, 0, r.err);
  const [root, listing, missing, points] = r.out.split('\n');
  t.equal(root, '/');
  t.equal(listing, 'bin dev lib lib64 proc usr ');
  t.equal(missing, '3', 'no /oldroot, /newroot or host directory');
  for (const p of points.trim().split(' ')) t.match(p, /^\/(usr|proc|dev)?(\/|$)/, `mount point ${p} is one the sandbox made`);
});

t.test('a spec without a filesystem gets hostReadOnly: a program runs, the host stays unchanged', async (t) => {
  const c = compile(parseSpec({}), ['sh', '-c', 'touch /etc/x 2>/dev/null || echo read-only; touch /tmp/y && echo tmp; ls /proc/1/root/tmp']);
  const s = spawn({ ...c.spawn, stdio: ['ignore', 'pipe', 'pipe'] }, c.argv);
  const [out, , { code }] = await Promise.all([pipeText(s.stdout!), pipeText(s.stderr!), s.exited]);
  t.equal(code, 0);
  t.equal(out, 'read-only\ntmp\ny\n', 'the host read-only, a private /tmp');
  t.notOk(existsSync('/tmp/y') && statSync('/tmp/y').mtimeMs > Date.now() - 10_000, 'the host\'s /tmp untouched');
});

t.test('hostReadOnly: the host read-only, /tmp private, chosen paths writable', async (t) => {
  const writable = join(work, 'rw');
  mkdirSync(writable);
  const r = await run(hostReadOnly({ writable: [writable] }),
    `touch /etc/x 2>&1 | sed 's/^.*: //'; touch /usr/x 2>&1 | sed 's/^.*: //'; touch /tmp/x && ls /tmp/x; echo hi > ${writable}/made; findmnt -rn -o TARGET,OPTIONS / | cut -d, -f1`);
  t.equal(r.out, 'Read-only file system\nRead-only file system\n/tmp/x\n/ ro\n', r.err);
  t.ok(existsSync(join(writable, 'made')), 'the writable path reached the host');
  t.notOk(existsSync('/tmp/x') && statSync('/tmp/x').mtimeMs > Date.now() - 10_000, '/tmp was private');
  // The caller's directory: writable with cwdWritable, and where the program starts.
  const cwd = process.cwd();
  process.chdir(writable);
  try {
    const w = await run(hostReadOnly({ cwdWritable: true }), 'pwd; echo x > here && echo wrote');
    t.equal(w.out, `${writable}\nwrote\n`);
  } finally {
    process.chdir(cwd);
  }
});

t.test('masked and read-only paths (OCI), noexec, protected /proc', async (t) => {
  const r = await run({ ...hostReadOnly(), maskedPaths: ['/etc/passwd', '/usr/share', '/nonexistent'], readonlyPaths: ['/tmp'] },
    'wc -c < /etc/passwd; ls /usr/share | wc -l; touch /tmp/x 2>&1 | sed "s/^.*: //"; { echo 1 > /proc/sys/kernel/ns_last_pid; } 2>&1 | sed "s/^.*: //"; wc -c < /proc/keys');
  t.equal(r.out, '0\n0\nRead-only file system\nRead-only file system\n0\n', r.err);
  const cp = await run({ mounts: [...BASE, { type: 'tmpfs', dest: '/x', noexec: true }] }, 'cp /usr/bin/true /x/t; /x/t 2>&1 | sed "s/^.*: //"; echo $?');
  t.match(cp.out, /Permission denied\n/);
});

t.test('overlay: a tmp overlay keeps the host unchanged, an upper dir takes the writes', async (t) => {
  const lower = join(work, 'lower'), upper = join(work, 'upper'), wd = join(work, 'wd');
  for (const d of [lower, upper, wd]) mkdirSync(d);
  writeFileSync(join(lower, 'a'), 'lower\n');
  const tmp = await run({ mounts: [...BASE, { type: 'proc', dest: '/proc' }, { type: 'overlay', dest: '/o', lower: [lower, src], tmp: true }] }, 'ls /o | tr "\\n" " "; echo new > /o/a; cat /o/a; findmnt -rn -o FSTYPE /o');
  // Where this kernel refuses overlayfs in a user namespace, say so rather than pass.
  if (/Operation not permitted|EPERM/.test(tmp.err)) return t.skip(`overlayfs in a user namespace refused here: ${tmp.err.trim()}`);
  t.equal(tmp.out, 'a f new\noverlay\n', tmp.err);
  t.equal(readdirSync(lower).join(), 'a', 'the lower dir is unchanged');
  const up = await run({ mounts: [...BASE, { type: 'overlay', dest: '/o', lower: [lower], upper, work: wd }] }, 'echo up > /o/b; cat /o/a');
  t.equal(up.out, 'lower\n', up.err);
  t.equal(readdirSync(upper).join(), 'b', 'the write went to the upper dir');
});

t.test('bind from a descriptor', async (t) => {
  const fd = openSync(src, 'r');
  t.teardown(() => closeSync(fd));
  const r = await run({ mounts: [...BASE, { type: 'bind', fd, dest: '/fd', readOnly: true }] }, 'cat /fd/f; touch /fd/x 2>&1 | sed "s/^.*: //"');
  t.equal(r.out, 'in src\nRead-only file system\n', r.err);
});

t.test('a directory as the root (OCI root.path), read-only', { skip: !BUSYBOX && 'busybox-static is not installed' }, async (t) => {
  const root = buildBusyboxRoot(t);
  const r = await run({ root: { path: root, readOnly: true }, mounts: [{ type: 'proc', dest: '/proc' }, { type: 'tmpfs', dest: '/tmp' }] },
    'ls /; touch /x 2>&1 | grep -c Read-only; touch /tmp/y && echo tmp ok; echo $$; ls /proc/1/root/');
  t.equal(r.out, 'bin\ndev\netc\nproc\ntmp\n1\ntmp ok\n1\nbin\ndev\netc\nproc\ntmp\n', r.err);
  t.same(readdirSync(join(root, 'tmp')), [], 'the tmpfs hid the root\'s /tmp, nothing written');
});

t.test("root 'host': the caller's tree with its own /proc, in the caller's directory", async (t) => {
  const r = await run({ root: 'host' }, 'pwd; ps -e --no-headers | wc -l; test -d /work && echo host');
  // sh is pid 1; ps and wc are the only others.
  t.equal(r.out, `${process.cwd()}\n3\nhost\n`, r.err);
});

t.test('the host\'s /proc without a pid namespace, protectProc off, propagation, a generic mount', async (t) => {
  const shared = await run({ mounts: [...BASE, { type: 'proc', dest: '/proc' }], propagation: 'shared' },
    'findmnt -n -o PROPAGATION /; test "$(ls /proc | grep -c "^[0-9]")" -gt 5 && echo host pids; findmnt -rn -o TARGET /proc/sys',
    { namespaces: { user: 'new', mount: 'new' } });
  t.equal(shared.out, 'shared\nhost pids\n/proc/sys\n', shared.err);
  const open = await run({ mounts: [...BASE, { type: 'proc', dest: '/proc' }, { type: 'mount', fstype: 'tmpfs', dest: '/m', options: ['ro', 'nosuid', 'size=4k'] }], protectProc: false },
    'findmnt -rn -o TARGET,OPTIONS | grep -c "^/proc/"; findmnt -rn -o TARGET,FSTYPE,OPTIONS /m');
  t.equal(open.out, '0\n/m tmpfs ro,nosuid,relatime,size=4k\n', open.err);
});
