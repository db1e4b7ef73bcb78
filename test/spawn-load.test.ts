// spawn() and enter() under load: 32 in flight while libuv's thread pool is busy. Before
// the raw clone, enter() hung after a few rounds (glibc's fork() in a copy of Node took
// malloc's locks that absent threads held), so every test here is bounded in time.
import t from 'tap';
import { gzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawn, enter } from '../src/spawn/index.js';

/** Keep the thread pool busy (gzip, readdir, readFile) until `stop` is set. */
function busyPool(): { stop: () => Promise<void> } {
  let running = true;
  const job = async () => {
    while (running) {
      await new Promise((resolve, reject) => gzip(randomBytes(256 * 1024), (e, r) => (e ? reject(e) : resolve(r))));
      await readdir('/proc');
      await readFile('/proc/self/status');
    }
  };
  const jobs = Array.from({ length: 6 }, job);
  return { stop: async () => { running = false; await Promise.all(jobs); } };
}

/** Run `n` tasks with `width` in flight; reject if it takes longer than `ms`. */
async function bounded(n: number, width: number, ms: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => { while (next < n) await task(next++); };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`not done in ${ms} ms: a hang`)), ms); });
  try {
    await Promise.race([Promise.all(Array.from({ length: width }, worker)), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

t.test('spawn(): 300 sandboxes, 32 in flight, thread pool busy', async (t) => {
  const pool = busyPool();
  let failed = 0;
  try {
    await bounded(300, 32, 120_000, async () => {
      const s = spawn({ namespaces: ['user', 'pid', 'mount', 'uts'], uidMap: 'root', gidMap: 'root', mountProc: true, stdio: 'ignore' }, ['true']);
      if ((await s.exited).code !== 0) failed++;
    });
  } finally {
    await pool.stop();
  }
  t.equal(failed, 0);
});

t.test('enter(): 200 joins of a pid namespace, 32 in flight, thread pool busy; the pid is the program\'s and it holds no descriptor of Node', async (t) => {
  const box = spawn({ namespaces: ['pid', 'mount'], mountProc: true, stdio: 'ignore' }, ['sleep', '120']);
  t.teardown(() => box.kill('SIGKILL'));
  // A listening socket of ours: a copy of Node that kept it would keep the port in LISTEN.
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;

  const probe = enter(box.pid, ['pid', 'mount'], ['sleep', '30'], { stdio: 'ignore' });
  t.equal(readFileSync(`/proc/${probe.pid}/cmdline`, 'utf8'), 'sleep\x0030\x00', 'the pid enter() returns is the program\'s');
  const fds = (await readdir(`/proc/${probe.pid}/fd`)).map(Number).sort((a, b) => a - b);
  t.same(fds.filter((fd) => fd <= 2), [0, 1, 2]);
  const sockets = fds.filter((fd) => { try { return /^socket:/.test(readlinkSync(`/proc/${probe.pid}/fd/${fd}`)); } catch { return false; } });
  t.same(sockets, [], 'no socket of Node in the program');
  probe.kill('SIGKILL');
  t.equal((await probe.exited).signal, 'SIGKILL', 'kill() reaches the program, and exited follows it');

  const pool = busyPool();
  let failed = 0;
  try {
    await bounded(200, 32, 120_000, async () => {
      const s = enter(box.pid, ['pid'], ['true'], { stdio: 'ignore' });
      if ((await s.exited).code !== 0) failed++;
    });
  } finally {
    await pool.stop();
  }
  t.equal(failed, 0);
  await new Promise((r) => server.close(r));
  const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n')
    .filter((l) => l.split(/\s+/)[2]?.endsWith(`:${port.toString(16).toUpperCase().padStart(4, '0')}`) && l.split(/\s+/)[4] === '0A');
  t.same(listening, [], 'the port is not left in LISTEN by a copy of Node');
});
