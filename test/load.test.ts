// spawn() and enter() with 32 in flight while libuv's thread pool is busy (gzip, readdir,
// readFile). spawn() and enter() block the calling process until the program has exec'd,
// so a child that hangs (a glibc fork() or a malloc lock in a memory copy of Node) hangs
// the process that called them, timers and all. The scenarios therefore run in a child
// process (test/load-child.ts) that this test watches: no output for a while means it
// hangs, and the test fails with what each of its processes is waiting in, then kills
// them all (the child runs in a process group of its own).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./load-child.ts', import.meta.url));
/** The child's first line may take a while on a loaded machine (TypeScript compiles); after that, this long without a line is a hang. */
const START_MS = 90_000;
const STALL_MS = 45_000;
const TOTAL_MS = 240_000;

t.setTimeout(3 * TOTAL_MS + 60_000);

const skip = process.getuid?.() !== 0 ? 'needs root (namespaces)' : undefined;

interface Proc { pid: number; ppid: number; comm: string; state: string; wchan: string; stack: string[]; threads: number }

/** Every process in process group `pgid`, with where it waits. */
function group(pgid: number): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) !== pgid) continue;
      const read = (file: string) => { try { return readFileSync(`/proc/${name}/${file}`, 'latin1'); } catch { return ''; } };
      out.push({
        pid: Number(name), ppid: Number(f[1]), comm, state: f[0], wchan: read('wchan'),
        stack: read('stack').split('\n').filter(Boolean).slice(0, 6), threads: Number(f[17]),
      });
    } catch { /* gone */ }
  }
  return out;
}

function killGroup(pgid: number): void {
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* none left */ }
}

interface Outcome {
  lines: Record<string, unknown>[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** set when the child stopped making progress: its processes at that moment */
  hung?: { after: string; procs: Proc[] };
  pgid: number;
}

/** Run one scenario of load-child.ts, watched. */
function watch(scenario: string): Promise<Outcome> {
  // Only the TypeScript loader of tap's (not its coverage hooks) and no NODE_OPTIONS.
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a.includes('tsx') || a.includes('ts-node'));
  const { NODE_OPTIONS: _, ...env } = process.env;
  const child = spawn(process.execPath, [...loader, CHILD, scenario], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  const pgid = child.pid!;
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let hung: Outcome['hung'];
  let buffered = '';
  const begun = Date.now();
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const quiet = now - last;
    const reason = now - begun > TOTAL_MS ? `${TOTAL_MS} ms in all`
      : lines.length === 0 && quiet > START_MS ? `no output for ${START_MS} ms after start`
        : lines.length > 0 && quiet > STALL_MS ? `no progress for ${STALL_MS} ms after ${JSON.stringify(lines.at(-1))}` : undefined;
    if (!reason || hung) return;
    hung = { after: reason, procs: group(pgid) };
    killGroup(pgid);
  }, 500);
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      last = Date.now();
      try { lines.push(JSON.parse(line)); } catch { lines.push({ text: line }); }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; last = Date.now(); });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearInterval(timer);
      resolve({ lines, code, signal, stderr, hung, pgid });
    });
  });
}

async function run(t: Test, scenario: string): Promise<void> {
  let pgid = 0;
  t.teardown(() => { if (pgid) killGroup(pgid); });
  const o = await watch(scenario);
  pgid = o.pgid;
  if (o.hung) {
    const procs = o.hung.procs.map((p) => `${p.pid} (ppid ${p.ppid}) ${p.comm} ${p.state} threads=${p.threads} wchan=${p.wchan || '-'}${p.stack.length ? ` [${p.stack.join(' | ')}]` : ''}`);
    t.fail(`${scenario}: hangs (${o.hung.after}); its processes then:\n  ${procs.join('\n  ')}`);
  }
  const error = o.lines.find((l) => 'error' in l);
  if (error) t.fail(`${scenario}: ${error.error}`);
  for (const c of o.lines.filter((l) => 'check' in l)) t.ok(c.ok, `${scenario}: ${c.check}`, c.ok ? {} : { detail: c.detail });
  if (!o.hung) {
    t.ok(o.lines.some((l) => l.done === scenario), `${scenario}: ran to the end`, { stderr: o.stderr.slice(-3000), last: o.lines.at(-1) });
    t.equal(o.code, 0, `${scenario}: the child exited 0`);
  }
  // Whatever the outcome, nothing it started may outlive it.
  const deadline = Date.now() + 30_000;
  let left = group(pgid);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = group(pgid);
  }
  t.same(left.map((p) => `${p.pid} ${p.comm} ${p.state}`), [], `${scenario}: no process of it is left`);
  killGroup(pgid);
}

t.test('spawn(): 200 sandboxes, 32 alive at a time, under a busy thread pool', { skip }, (t) => run(t, 'spawn'));
t.test('enter(): 200 programs into a pid namespace, 32 alive at a time, under a busy thread pool', { skip }, (t) => run(t, 'enter'));
t.test('enter(): the pid is the program\'s, its fds are 0-2, a listening socket is not kept', { skip }, (t) => run(t, 'fds'));
