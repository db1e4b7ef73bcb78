// Sandbox cost, all measured in this run (root, after `npm run build`; N= sets the count):
// - 200 sequential `true` sandboxes through the Sandbox lifecycle (create, start, wait,
//   delete: cgroup, records and monitor included) with the default spec (all namespaces
//   but time; the host read-only, private /tmp, own /proc and /dev), against a
//   shell loop of that bwrap line (the two in alternating rounds), and `runc run` on a
//   bundle where runc is installed;
// - density: 100 idle sandboxes (sleep), the RSS of what tsns keeps beside each program
//   (its monitor) against what bwrap keeps (its processes), both summed from /proc.
import { execFileSync, spawn as spawnChild } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from '../dist/index.js';

const N = Number(process.env.N ?? 200);
const IDLE = Number(process.env.IDLE ?? 100);
process.env.TSNS_RUN_DIR = mkdtempSync(join(tmpdir(), 'tsns-bench-'));
const quiet = { stdio: ['ignore', 'ignore', 'ignore'] };
const spec = (args) => ({ process: { args } });
const BWRAP = 'bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp';

function shellLoop(cmd, n = N) {
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', `i=0; while [ $i -lt ${n} ]; do ${cmd} >/dev/null || exit 1; i=$((i+1)); done`], { stdio: 'inherit' });
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function one() {
  const sb = await Sandbox.create(spec(['true']), quiet);
  await sb.start();
  const exit = await sb.wait();
  await sb.delete();
  if (exit.code !== 0) throw new Error(`sandbox failed: ${JSON.stringify(exit)}`);
}

/**
 * The library and the bwrap loop in alternating rounds of 50, so that a change of load
 * on a shared machine weighs on both sides of the ratio; ms per sandbox for each.
 */
async function sequential(withBwrap) {
  const rounds = Math.max(1, Math.round(N / 50));
  const per = Math.ceil(N / rounds);
  let lib = 0;
  let bwrap = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < per; i++) await one();
    lib += Number(process.hrtime.bigint() - t0) / 1e6;
    if (withBwrap) bwrap += shellLoop(BWRAP + ' true', per) * per;
  }
  return { lib: lib / (rounds * per), bwrap: withBwrap ? bwrap / (rounds * per) : NaN };
}

/** runc on a bundle whose rootfs is the host's / (read-only), where runc exists and runs here. */
function runcLoop() {
  try {
    execFileSync('runc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'runc is not installed';
  }
  const bundle = mkdtempSync(join(tmpdir(), 'tsns-bench-runc-'));
  try {
    execFileSync('runc', ['spec', '--rootless=false'], { cwd: bundle });
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    config.root = { path: '/', readonly: true };
    config.process.terminal = false;
    config.process.args = ['true'];
    // This host's hard limits are below runc's defaults, and CAP_SYS_RESOURCE is missing (machine-facts).
    config.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }];
    execFileSync('sh', ['-c', `cat > config.json`], { cwd: bundle, input: JSON.stringify(config) });
    return shellLoop(`(cd ${bundle} && runc run tsns-bench-$i)`);
  } catch (err) {
    return `runc failed here: ${String(err.message).split('\n')[0]}`;
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

function rssKb(pid) {
  try {
    return Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
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
  const tsns = monitors.reduce((a, p) => a + rssKb(p), 0);
  await Promise.all(boxes.map((sb) => sb.delete()));
  const before = new Set(pidsNamed('bwrap'));
  const children = Array.from({ length: IDLE }, () => spawnChild('sh', ['-c', `exec ${BWRAP} sleep 600`], { stdio: 'ignore' }));
  let bw = [];
  for (let tries = 0; tries < 200; tries++) {
    bw = pidsNamed('bwrap').filter((p) => !before.has(p));
    if (bw.length >= 2 * IDLE) break; // bwrap's parent and its pid 1 in the new namespace
    await new Promise((r) => setTimeout(r, 50));
  }
  const bwrap = bw.reduce((a, p) => a + rssKb(p), 0);
  for (const c of children) c.kill('SIGKILL');
  return { tsns, bwrap, monitors: monitors.length, bwrapProcs: bw.length };
}

await one(); // warm up: koffi, the native library, zod
const { lib, bwrap } = await sequential(existsSync('/usr/bin/bwrap'));
const runc = runcLoop();
console.log(`${N} sequential \`true\` sandboxes (create+start+wait+delete, cgroup and monitor included):`);
console.log(`  tsns Sandbox   ${lib.toFixed(2)} ms each`);
console.log(`  bwrap (shell)  ${bwrap.toFixed(2)} ms each   tsns/bwrap = ${(lib / bwrap).toFixed(2)}`);
console.log(typeof runc === 'number' ? `  runc run       ${runc.toFixed(2)} ms each   tsns/runc = ${(lib / runc).toFixed(2)}` : `  runc: ${runc}`);
const d = await density();
console.log(`density, ${IDLE} idle sandboxes (sleep): RSS of what stays beside the programs`);
console.log(`  tsns monitors  ${(d.tsns / 1024).toFixed(1)} MB (${d.monitors} processes, ${(d.tsns / d.monitors).toFixed(0)} kB each)`);
console.log(`  bwrap          ${(d.bwrap / 1024).toFixed(1)} MB (${d.bwrapProcs} processes)   tsns/bwrap = ${(d.tsns / d.bwrap).toFixed(2)}`);
rmSync(process.env.TSNS_RUN_DIR, { recursive: true, force: true });
