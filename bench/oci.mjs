// ts-oci against runc, measured in this run (root, after `npm run build`; N= sets the count):
// - `ts-oci run` and `runc run` on the same busybox bundle (runc spec's config, `true`),
//   sequential, in alternating rounds so that a change of load weighs on both;
// - `podman run --rm IMAGE true` with --runtime bin/ts-oci and --runtime runc (cgroupfs,
//   no network, this host's rlimits), alternating too, where podman is installed.
// Prints ms per container for each and the ratios.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const N = Number(process.env.N ?? 40);
const ROUND = 10;
const root = new URL('../', import.meta.url).pathname;
const OCI = `${root}bin/ts-oci`;
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
if (!busybox || !has('runc')) {
  console.log('needs busybox-static and runc');
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'tsns-bench-oci-'));
const rootfs = join(dir, 'rootfs');
for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
copyFileSync(busybox, join(rootfs, 'bin/busybox'));
for (const a of ['sh', 'true']) symlinkSync('busybox', join(rootfs, 'bin', a));
execFileSync(OCI, ['spec', '--bundle', dir]);
const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
config.process.terminal = false;
config.process.args = ['true'];
writeFileSync(join(dir, 'config.json'), JSON.stringify(config));

function time(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) fn(k);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** ms per call of each of `cases`, run in alternating rounds of ROUND. */
function alternate(cases) {
  const total = cases.map(() => 0);
  for (let done = 0; done < N; done += ROUND) cases.forEach((c, i) => { total[i] += time(c, ROUND); });
  return total.map((t) => t / N);
}

const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };
const run = (bin, state) => (k) => {
  const r = spawnSync(bin, ['--root', join(dir, state), 'run', '--bundle', dir, `b${k}`], quiet);
  if (r.status !== 0) throw new Error(`${bin} run failed`);
};
const [ours, runc] = alternate([run(OCI, 'ts-oci'), run('runc', 'runc')]);
console.log(`run on a bundle: ts-oci ${ours.toFixed(1)} ms, runc ${runc.toFixed(1)} ms, ratio ${(ours / runc).toFixed(2)}`);

if (has('podman') && has('conmon')) {
  const image = `localhost/tsns-bench-oci-${process.pid}`;
  execFileSync('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
  execFileSync('podman', ['import', join(dir, 'rootfs.tar'), image], { stdio: 'ignore' });
  const podman = (runtime) => () => {
    const r = spawnSync('podman', ['--cgroup-manager=cgroupfs', '--runtime', runtime, 'run', '--rm', '--network', 'none',
      '--ulimit', 'nofile=1024:20000', '--ulimit', 'nproc=1024:1024', image, 'true'], quiet);
    if (r.status !== 0) throw new Error(`podman with ${runtime} failed`);
  };
  try {
    const [p1, p2] = alternate([podman(OCI), podman('runc')]);
    console.log(`podman run --rm true: ts-oci ${p1.toFixed(1)} ms, runc ${p2.toFixed(1)} ms, ratio ${(p1 / p2).toFixed(2)}`);
  } finally {
    spawnSync('podman', ['rmi', '--force', image], { stdio: 'ignore' });
  }
}
rmSync(dir, { recursive: true, force: true });
