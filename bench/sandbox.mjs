// Sandbox cost, all measured in this run (root, after `npm run build`; N= sets the count):
// - N (200) sequential `true` sandboxes through the Sandbox lifecycle (create, start,
//   wait, delete: cgroup, records and monitor included) with the default spec (all
//   namespaces but time; the host read-only, private /tmp, own /proc and /dev), against,
//   in alternating rounds so that a change of load on a shared machine weighs on every
//   side of a ratio: a shell loop of that bwrap line; `runc run` on a busybox bundle; crun
//   on the same bundle, inside a private mount namespace with cgroup2 on /sys/fs/cgroup
//   and --cgroup-manager=disabled (crun refuses this hybrid host otherwise); and the
//   kernel's floor, the same tree from a minimal C loop (`floor N sandbox`, floor.c);
// - density: 100 idle sandboxes (sleep), the RSS of what tsns keeps beside the programs
//   (a monitor each, and this process's monitor server) against what bwrap keeps (its
//   processes), both summed from /proc.
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from '../dist/index.js';

const N = Number(process.env.N ?? 200);
const IDLE = Number(process.env.IDLE ?? 100);
const ROUND = 50;
// Every runtime's state (tsns's records, runc's and crun's --root) on a tmpfs, as /run is
// on most hosts. On this VM /run and /tmp are the root ext4, mounted with `discard`: there
// a directory's rmdir alone took 1.5 ms, which every runtime pays once per sandbox.
const STATE = process.env.STATE_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
process.env.TSNS_RUN_DIR = mkdtempSync(join(STATE, 'tsns-bench-'));
const work = mkdtempSync(join(tmpdir(), 'tsns-bench-work-'));
const runtimeRoot = mkdtempSync(join(STATE, 'tsns-bench-oci-'));
const quiet = { stdio: ['ignore', 'ignore', 'ignore'] };
const spec = (args) => ({ process: { args } });
const BWRAP = 'bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp';

const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** A loop of `cmd` n times in one shell (`$i` counts); `wrap` puts the loop inside another command. Total ms. */
function shellLoop(cmd, n, wrap = (loop) => ['sh', '-c', loop]) {
  const loop = `i=0; while [ $i -lt ${n} ]; do ${cmd} >/dev/null || exit 1; i=$((i+1)); done`;
  const [file, ...args] = wrap(loop);
  const t0 = process.hrtime.bigint();
  execFileSync(file, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function one() {
  const sb = await Sandbox.create(spec(['true']), quiet);
  await sb.start();
  const exit = await sb.wait();
  await sb.delete();
  if (exit.code !== 0) throw new Error(`sandbox failed: ${JSON.stringify(exit)}`);
}

/**
 * An OCI bundle for `true`: a busybox root (as test/rootfs.ts makes) and `runc spec`'s
 * config, with no terminal, a read-only root, and rlimits within this host's hard limits
 * (runtimes cannot raise them: the bounding set lacks CAP_SYS_RESOURCE, machine-facts).
 */
function ociBundle() {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!busybox) return 'busybox-static is not installed';
  const bundle = join(work, 'bundle');
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['bin', 'dev', 'proc', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(rootfs, 'bin/true'));
  execFileSync('runc', ['spec'], { cwd: bundle });
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  config.root.readonly = true;
  config.process.terminal = false;
  config.process.args = ['true'];
  const nofile = Math.min(1024, Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' })) || 1024);
  config.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
  return bundle;
}

/** The floor program, compiled here; or why not. */
function floorProgram() {
  const out = join(work, 'floor');
  try {
    execFileSync('cc', ['-O2', '-o', out, new URL('floor.c', import.meta.url).pathname], { stdio: ['ignore', 'ignore', 'inherit'] });
    return out;
  } catch {
    return 'no C compiler';
  }
}

/** Every contender: a name and run(n) -> total ms, or the reason it is left out. */
function contenders() {
  const all = [{ name: 'tsns Sandbox', run: async (n) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await one();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } }];
  const skipped = [];
  if (has('bwrap')) all.push({ name: 'bwrap (shell)', short: 'bwrap', run: (n) => shellLoop(`${BWRAP} true`, n) });
  else skipped.push('bwrap: not installed');
  const bundle = has('runc') || has('crun') ? ociBundle() : 'neither runc nor crun is installed';
  const ids = (rt) => `tsns-bench-${rt}-${process.pid}-$i`;
  if (!bundle.startsWith('/')) skipped.push(`runc, crun: ${bundle}`);
  else {
    if (has('runc')) all.push({ name: 'runc run', short: 'runc', run: (n) => shellLoop(`runc --root ${runtimeRoot}/runc run --bundle ${bundle} ${ids('runc')}`, n) });
    else skipped.push('runc: not installed');
    // crun only runs in a unified hierarchy: its own in a private mount namespace.
    if (has('crun')) all.push({ name: 'crun run', short: 'crun', run: (n) => shellLoop(`crun --root ${runtimeRoot}/crun --cgroup-manager=disabled run --bundle ${bundle} ${ids('crun')}`, n,
      (loop) => ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t cgroup2 none /sys/fs/cgroup && ${loop}`]) });
    else skipped.push('crun: not installed');
  }
  const floor = floorProgram();
  if (floor.startsWith('/')) all.push({ name: 'kernel floor (C)', short: 'floor', run: (n) => Number(execFileSync(floor, [String(n), 'sandbox'], { encoding: 'utf8' })) * n });
  else skipped.push(`kernel floor: ${floor}`);
  return { all, skipped };
}

/** All contenders in alternating rounds of ROUND; ms per sandbox for each. */
async function sequential(all) {
  const rounds = Math.max(1, Math.round(N / ROUND));
  const per = Math.ceil(N / rounds);
  const total = all.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < all.length; k++) {
      if (all[k].failed) continue;
      try {
        total[k] += await all[k].run(per);
      } catch (err) {
        all[k].failed = String(err.message).split('\n')[0];
      }
    }
  }
  return total.map((t) => t / (rounds * per));
}

function rssKb(pid) {
  try {
    return Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function pidsNamed(name) {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  }).map(Number);
}

async function density() {
  const boxes = [];
  for (let i = 0; i < IDLE; i++) {
    const sb = await Sandbox.create(spec(['sleep', '600']), quiet);
    await sb.start();
    boxes.push(sb);
  }
  const monitors = boxes.map((sb) => JSON.parse(readFileSync(join(process.env.TSNS_RUN_DIR, 'sandbox', sb.id, 'state.json'), 'utf8')).monitor.pid);
  // The server that cloned them stays too: "tsns-monitor -S", a child of this process.
  const servers = pidsNamed('tsns-monitor').filter((p) => !monitors.includes(p) && parentOf(p) === process.pid);
  const tsns = [...monitors, ...servers].reduce((a, p) => a + rssKb(p), 0);
  await Promise.all(boxes.map((sb) => sb.delete()));
  const before = new Set(pidsNamed('bwrap'));
  // Each in a process group of its own: bwrap's pid 1 inside and the program outlive a
  // SIGKILL of its outer process (no --die-with-parent), the group's kill takes them all.
  const children = Array.from({ length: IDLE }, () => spawnChild('sh', ['-c', `exec ${BWRAP} sleep 600`], { stdio: 'ignore', detached: true }));
  let bw = [];
  for (let tries = 0; tries < 200; tries++) {
    bw = pidsNamed('bwrap').filter((p) => !before.has(p));
    if (bw.length >= 2 * IDLE) break; // bwrap's parent and its pid 1 in the new namespace
    await new Promise((r) => setTimeout(r, 50));
  }
  const bwrap = bw.reduce((a, p) => a + rssKb(p), 0);
  for (const c of children) process.kill(-c.pid, 'SIGKILL');
  return { tsns, bwrap, monitors: monitors.length + servers.length, bwrapProcs: bw.length };
}

await one(); // warm up: koffi, the native library, zod
const { all, skipped } = contenders();
const ms = await sequential(all);
const lib = ms[0];
console.log(`${N} sequential \`true\` sandboxes (create+start+wait+delete, cgroup and monitor included), alternating rounds of ${ROUND}, state in ${STATE}:`);
all.forEach((c, k) => {
  if (c.failed) return console.log(`  ${c.name.padEnd(17)} failed here: ${c.failed}`);
  console.log(`  ${c.name.padEnd(17)} ${ms[k].toFixed(2)} ms each${k ? `   tsns/${c.short} = ${(lib / ms[k]).toFixed(2)}` : ''}`);
});
const at = (name) => ms[all.findIndex((c) => c.name === name && !c.failed)];
const bwrap = at('bwrap (shell)');
const floor = at('kernel floor (C)');
if (bwrap && floor) console.log(`  the floor / bwrap = ${(floor / bwrap).toFixed(2)} (the issue's goal for tsns: <= 0.5); tsns is ${(lib - floor).toFixed(2)} ms above the floor`);
for (const s of skipped) console.log(`  left out: ${s}`);
const d = await density();
console.log(`density, ${IDLE} idle sandboxes (sleep): RSS of what stays beside the programs`);
console.log(`  tsns monitors  ${(d.tsns / 1024).toFixed(1)} MB (${d.monitors} processes with the server, ${(d.tsns / d.monitors).toFixed(0)} kB each)`);
console.log(`  bwrap          ${(d.bwrap / 1024).toFixed(1)} MB (${d.bwrapProcs} processes)   tsns/bwrap = ${(d.tsns / d.bwrap).toFixed(2)}`);
rmSync(process.env.TSNS_RUN_DIR, { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });
rmSync(runtimeRoot, { recursive: true, force: true });
