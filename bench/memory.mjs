// Memory per CLI sandbox: RSS of the process that stays behind with `-p -f sleep`, ours
// (the C stage) against util-linux unshare's parent, measured in one run; and that of
// `ts-cgroup run sleep` (the C stage too, which removes the group after).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const tsUnshare = fileURLToPath(new URL('../bin/ts-unshare', import.meta.url));
const tsCgroup = fileURLToPath(new URL('../bin/ts-cgroup', import.meta.url));
const N = Number(process.env.N ?? 10);

const rssKb = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const childOf = (pid) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();

/** Start `file ...args sleep 30`, wait until its child runs sleep, read the parent's RSS. */
async function parentRss(file, args = ['-p', '-f']) {
  const p = spawn(file, [...args, 'sleep', '30'], { stdio: 'ignore' });
  let child = '';
  try {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
      child = childOf(p.pid);
      if (child && readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'sleep') return rssKb(p.pid);
    }
    throw new Error(`${file}: the program did not start`);
  } finally {
    // Without --kill-child the program outlives its parent (as util-linux's): end it
    // first, and let the parent end with it (ts-cgroup's removes its group then).
    if (child) try { process.kill(Number(child), 'SIGKILL'); } catch { /* ended already */ }
    const timer = setTimeout(() => p.kill('SIGKILL'), child ? 5000 : 0);
    if (p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r));
    clearTimeout(timer);
  }
}

let ours = 0, theirs = 0, cgroup = 0;
for (let i = 0; i < N; i++) {
  ours += await parentRss(tsUnshare);
  theirs += await parentRss('unshare');
  if (process.geteuid() === 0) cgroup += await parentRss(tsCgroup, ['run', '--']);
}
console.log(`util-linux unshare -p -f parent   ${(theirs / N / 1024).toFixed(2)} MB`);
console.log(`ts-unshare -p -f parent           ${(ours / N / 1024).toFixed(2)} MB   ratio ${(ours / theirs).toFixed(2)} (goal <= 2)`);
if (cgroup) console.log(`ts-cgroup run parent             ${(cgroup / N / 1024).toFixed(2)} MB`);
