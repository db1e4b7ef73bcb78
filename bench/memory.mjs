// Memory per CLI sandbox: RSS of the process that stays behind with `-p -f sleep`, ours
// (the C stage) against util-linux unshare's parent, measured in one run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const tsUnshare = fileURLToPath(new URL('../bin/ts-unshare', import.meta.url));
const N = Number(process.env.N ?? 10);

const rssKb = (pid) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const childOf = (pid) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();

/** Start `file -p -f sleep 30`, wait until its child runs sleep, read the parent's RSS. */
async function parentRss(file) {
  const p = spawn(file, ['-p', '-f', 'sleep', '30'], { stdio: 'ignore' });
  let child = '';
  try {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
      child = childOf(p.pid);
      if (child && readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'sleep') return rssKb(p.pid);
    }
    throw new Error(`${file}: the program did not start`);
  } finally {
    // Without --kill-child the program outlives its parent (as util-linux's): end it first.
    if (child) try { process.kill(Number(child), 'SIGKILL'); } catch { /* ended already */ }
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
  }
}

let ours = 0, theirs = 0;
for (let i = 0; i < N; i++) {
  ours += await parentRss(tsUnshare);
  theirs += await parentRss('unshare');
}
console.log(`util-linux unshare -p -f parent   ${(theirs / N / 1024).toFixed(2)} MB`);
console.log(`ts-unshare -p -f parent           ${(ours / N / 1024).toFixed(2)} MB   ratio ${(ours / theirs).toFixed(2)} (goal <= 2)`);
