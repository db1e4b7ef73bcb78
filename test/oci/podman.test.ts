// Podman drives ts-oci as it drives runc: the same podman commands with --runtime runc and
// --runtime bin/ts-oci, their stdout and exit status compared. The image is a busybox root
// filesystem imported from a tar (no registry here); it is removed at the end.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRoot, BUSYBOX } from '../rootfs.js';
import { OCI, withoutTap } from './helpers.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
if (process.geteuid!() !== 0 || !BUSYBOX || !has('podman') || !has('runc') || !has('conmon')) {
  t.skip('needs root, busybox-static, podman, conmon and runc');
  process.exit(0);
}

const IMAGE = `localhost/tsns-oci-test-${process.pid}`;
// This host's hard limits are below Podman's default rlimits (docs/ts-oci.md).
const BASE = ['--cgroup-manager=cgroupfs'];
const RUN = ['--network', 'none', '--ulimit', 'nofile=1024:20000', '--ulimit', 'nproc=1024:1024'];

function podman(runtime: string, args: string[]) {
  const r = spawnSync('podman', [...BASE, '--runtime', runtime, ...args], { encoding: 'utf8', timeout: 120_000, env: withoutTap() });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status };
}

t.before(() => {
  const root = buildBusyboxRoot(t);
  for (const a of ['true', 'false', 'touch', 'grep', 'pwd', 'env', 'wc', 'head', 'tty']) spawnSync('ln', ['-s', 'busybox', join(root, 'bin', a)]);
  const dir = mkdtempSync(join(tmpdir(), 'tsns-oci-img-'));
  spawnSync('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
  const r = spawnSync('podman', ['import', join(dir, 'rootfs.tar'), IMAGE], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`podman import: ${r.stderr}`);
});
t.teardown(() => {
  spawnSync('podman', [...BASE, 'rm', '--force', '--all', '--filter', `ancestor=${IMAGE}`]);
  spawnSync('podman', ['rmi', '--force', IMAGE]);
});

const volume = mkdtempSync(join(tmpdir(), 'tsns-oci-vol-'));
writeFileSync(join(volume, 'f'), 'from the host\n');
t.teardown(() => rmSync(volume, { recursive: true, force: true }));

const cases: [string, string[], string[]][] = [
  ['echo', [], ['echo', 'x']],
  ['an exit status', [], ['sh', '-c', 'exit 3']],
  ['-u', ['-u', '65534:65534'], ['id']],
  ['-u with --cap-add', ['-u', '65534', '--cap-add', 'NET_ADMIN'], ['grep', 'Cap', '/proc/self/status']],
  ['--read-only', ['--read-only'], ['sh', '-c', 'touch /x; echo $?; touch /tmp/x; echo $?']],
  ['-e', ['-e', 'FOO=bar'], ['sh', '-c', 'echo $FOO']],
  ['-w', ['-w', '/tmp'], ['pwd']],
  ['--hostname', ['--hostname', 'h6'], ['hostname']],
  ['-v', ['-v', `${volume}:/mnt`], ['cat', '/mnt/f']],
  ['--memory', ['--memory', '64m'], ['echo', 'limited']],
  ['--pids-limit', ['--pids-limit', '16'], ['echo', 'limited']],
  ['--cap-drop ALL', ['--cap-drop', 'ALL'], ['grep', 'Cap', '/proc/self/status']],
  ['--cap-add', ['--cap-add', 'SYS_ADMIN'], ['grep', 'CapEff', '/proc/self/status']],
  ['no-new-privileges', ['--security-opt', 'no-new-privileges'], ['grep', 'NoNewPrivs', '/proc/self/status']],
  ['a missing program', [], ['/nonexistent']],
  ['the default devices', [], ['sh', '-c', 'echo x > /dev/null && head -c 3 /dev/zero | wc -c']],
  ['-t', ['-t'], ['sh', '-c', 'tty; echo x']],
];

for (const [why, opts, cmd] of cases) {
  t.test(`podman run --rm ${why}`, async (t) => {
    const ours = podman(OCI, ['run', '--rm', ...RUN, ...opts, IMAGE, ...cmd]);
    const theirs = podman('runc', ['run', '--rm', ...RUN, ...opts, IMAGE, ...cmd]);
    // A missing program fails create with both runtimes (podman says so on stderr, in each runtime's words).
    t.equal(ours.stdout, theirs.stdout, `stdout (${ours.stderr.trim()})`);
    t.equal(ours.code, theirs.code, 'exit status');
  });
}

t.test('podman run -d, stop, rm', async (t) => {
  const name = `tsns-oci-d-${process.pid}`;
  const r = podman(OCI, ['run', '-d', '--name', name, ...RUN, IMAGE, 'sh', '-c', 'echo started; exec sleep 1000']);
  t.equal(r.code, 0, `run -d (${r.stderr.trim()})`);
  t.match(podman(OCI, ['ps', '--filter', `name=${name}`]).stdout, name, 'podman ps shows it');
  let logs = '';
  for (let k = 0; k < 100 && !logs.includes('started'); k++) {
    logs = podman(OCI, ['logs', name]).stdout;
    if (!logs.includes('started')) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(logs, 'started\n', 'podman logs: what the program wrote');
  const top = podman(OCI, ['top', name, 'pid', 'args']);
  t.match(top.stdout, /^\s*1\s+sleep 1000\s*$/m, `podman top: the container's processes as it sees them (${top.stderr.trim()})`);
  const e = podman(OCI, ['exec', '-e', 'X=y', '-w', '/tmp', name, 'sh', '-c', 'echo $X; pwd; exit 4']);
  t.equal(e.stdout, 'y\n/tmp\n', `podman exec (${e.stderr.trim()})`);
  t.equal(e.code, 4, 'podman exec: its exit status');
  t.equal(podman(OCI, ['pause', name]).code, 0, 'podman pause');
  t.equal(podman(OCI, ['unpause', name]).code, 0, 'podman unpause');
  t.equal(podman(OCI, ['stop', '--time', '1', name]).code, 0, 'podman stop');
  t.equal(podman(OCI, ['start', name]).code, 0, 'podman start again');
  t.equal(podman(OCI, ['kill', name]).code, 0, 'podman kill');
  t.equal(podman(OCI, ['rm', '--force', name]).code, 0, 'podman rm');
  t.equal(spawnSync('sh', ['-c', 'ls /run/ts-oci 2>/dev/null']).stdout.toString(), '', 'no state left');
});
