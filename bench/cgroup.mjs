// Cost of one cgroup's life from one process: create + limit (memory, pids) + join (a
// sleeping child moves into it) + remove, N times; against a shell loop doing the same
// with mkdir/echo/rmdir. Needs root and a built dist/ (npx tsc -p .).
import { spawn, execFileSync } from 'node:child_process';
import { createCgroup } from '../dist/cgroup/index.js';

const N = Number(process.env.N ?? 1000);
const prefix = `tsns-bench-${process.pid}`;
const child = spawn('sleep', ['600'], { stdio: 'ignore' });
process.on('exit', () => child.kill('SIGKILL'));

// The library: each round moves the child into a new group and removes the previous one.
async function library() {
  let prev;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const g = createCgroup(`${prefix}-${i}`);
    g.limit({ memory: 64 * 2 ** 20, pids: 64 });
    g.join(child.pid);
    if (prev) await prev.remove();
    prev = g;
  }
  // The last group: move the child back to where it started, then remove.
  const back = createCgroup(`${prefix}-back`);
  back.join(child.pid);
  await prev.remove();
  const t1 = process.hrtime.bigint();
  back.join(child.pid);
  execFileSync('sh', ['-c', `kill -9 ${child.pid}`]);
  await new Promise((r) => setTimeout(r, 50));
  await back.remove();
  return Number(t1 - t0) / 1e6 / N;
}

// The same with a shell loop over the same directories (one mkdir/rmdir process per
// hierarchy, echo is a builtin).
function shell(dirs) {
  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  const script = `
    set -e
    pid=${sleeper.pid}; prev=
    i=0
    while [ $i -lt ${N} ]; do
      name=${prefix}-sh-$i
      for b in ${dirs.bases.join(' ')}; do mkdir "$b/$name"; done
      echo 67108864 > "${dirs.memory}/$name/${dirs.memoryFile}"
      echo 64 > "${dirs.pids}/$name/pids.max"
      for b in ${dirs.bases.join(' ')}; do echo $pid > "$b/$name/cgroup.procs"; done
      if [ -n "$prev" ]; then for b in ${dirs.bases.join(' ')}; do rmdir "$b/$prev"; done; fi
      prev=$name
      i=$((i+1))
    done
    for b in ${dirs.bases.join(' ')}; do echo $pid > "$b/cgroup.procs"; rmdir "$b/$prev"; done
  `;
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', script], { stdio: 'inherit' });
  const t1 = process.hrtime.bigint();
  sleeper.kill('SIGKILL');
  return Number(t1 - t0) / 1e6 / N;
}

const probe = createCgroup(`${prefix}-probe`);
const bases = probe.dirs.map((d) => d.slice(0, d.lastIndexOf('/')));
const memDir = probe.dirs.find((d) => d.includes('/memory')) ?? probe.dirs[0];
const memory = memDir.slice(0, memDir.lastIndexOf('/'));
const pidsDir = probe.dirs.find((d) => d.includes('/pids')) ?? probe.dirs[0];
await probe.remove();
const layout = probe.layout.kind;

const lib = await library();
const sh = shell({
  bases, memory, pids: pidsDir.slice(0, pidsDir.lastIndexOf('/')),
  memoryFile: layout === 'v2' ? 'memory.max' : 'memory.limit_in_bytes',
});
console.log(`cgroup life (create + limit memory,pids + join + remove), ${N} times, ${layout} layout, ${bases.length} hierarchies per group`);
console.log(`  tsns library:          ${lib.toFixed(3)} ms per cgroup`);
console.log(`  shell mkdir/echo/rmdir: ${sh.toFixed(3)} ms per cgroup`);
console.log(`  ratio library/shell:   ${(lib / sh).toFixed(2)}  (goal: library < 2 ms)`);
process.exit(0);
