// Per-sandbox cost of library spawns (user+pid+mount with own /proc+uts+ipc, running `true`)
// against shell loops of util-linux unshare and bwrap, all measured in this run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from '../dist/index.js';

const N = Number(process.env.N ?? 500);
const spec = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc'], uidMap: 'root', gidMap: 'root', mountProc: true, stdio: 'ignore' };

function shellLoop(cmd) {
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', `i=0; while [ $i -lt ${N} ]; do ${cmd} || exit 1; i=$((i+1)); done`], { stdio: 'inherit' });
  return Number(process.hrtime.bigint() - t0) / 1e6 / N;
}

async function sequential() {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const s = spawn(spec, ['true']);
    if ((await s.exited).code !== 0) throw new Error('sandbox failed');
  }
  return Number(process.hrtime.bigint() - t0) / 1e6 / N;
}

async function inFlight(width) {
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next++ < N) if ((await spawn(spec, ['true']).exited).code !== 0) throw new Error('sandbox failed');
  };
  await Promise.all(Array.from({ length: width }, worker));
  return Number(process.hrtime.bigint() - t0) / 1e6 / N;
}

await sequential(); // warm up koffi and the native library
const util = shellLoop('unshare --user --map-root-user --pid --fork --mount-proc --uts --ipc true');
let bwrap = NaN;
try {
  bwrap = shellLoop('bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true');
} catch {
  console.log('bwrap not available (apt-get install bubblewrap)');
}
// The same sandbox from a minimal C loop: what the kernel alone costs on this machine.
const dir = mkdtempSync(join(tmpdir(), 'tsns-floor-'));
let floor = NaN;
try {
  execFileSync('cc', ['-O2', '-o', join(dir, 'floor'), new URL('floor.c', import.meta.url).pathname]);
  floor = Number(execFileSync(join(dir, 'floor'), [String(N)], { encoding: 'utf8' }));
} catch {
  console.log('no C compiler: the kernel floor is not measured');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const seq = await sequential();
const par = await inFlight(8);
const row = (name, ms) => console.log(`${name.padEnd(36)} ${ms.toFixed(3)} ms/sandbox   ratio to util-linux ${(ms / util).toFixed(2)}   to bwrap ${(ms / bwrap).toFixed(2)}`);
row('util-linux unshare loop', util);
row('bwrap loop', bwrap);
row('kernel floor (C clone loop)', floor);
row(`tsns spawn, sequential (${N})`, seq);
row(`tsns spawn, 8 in flight (${N})`, par);
