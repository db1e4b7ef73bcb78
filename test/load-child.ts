// The process test/load.test.ts watches: spawn() and enter() under a busy libuv thread
// pool. spawn() and enter() are synchronous, so a child that hangs before its exec
// blocks this whole process, timers included; only a watcher outside can tell. Prints
// one JSON line per event on stdout: {progress}, {check}, {done}, {error}.
//
// Usage: node --import <ts loader> test/load-child.ts spawn|enter|fds
import { createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { gzip } from 'node:zlib';
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { spawn as nodeSpawn } from 'node:child_process';
import { spawn, enter, type Spawned, type ExitStatus } from '../src/spawn/index.js';

const say = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n');
const check = (name: string, ok: boolean, detail?: unknown) => say({ check: name, ok, ...(ok ? {} : { detail }) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the thread pool kept busy: gzip of random buffers, directory listings, file reads

let busy = true;
let poolJobs = 0;
/** Keep `n` jobs queued on libuv's pool: more than its 4 threads, so they have work queued even while spawn() blocks the main thread. */
function keepPoolBusy(n: number): Promise<void>[] {
  const data = [randomBytes(1 << 20), randomBytes(256 << 10)];
  const files = ['/etc/passwd', '/proc/self/status', '/usr/lib/os-release', process.execPath];
  const one = async (k: number) => {
    while (busy) {
      switch ((k + poolJobs) % 3) {
        case 0:
          await new Promise<void>((resolve, reject) => gzip(data[k % 2], (err) => (err ? reject(err) : resolve())));
          break;
        case 1:
          await readdir('/usr/lib', { withFileTypes: true });
          break;
        default:
          await readFile(files[poolJobs % files.length]).catch(() => undefined);
      }
      poolJobs++;
    }
  };
  return Array.from({ length: n }, (_, k) => one(k));
}

/** Run `total` jobs with at most `inFlight` started and not yet ended. */
async function pool(total: number, inFlight: number, start: (k: number) => Spawned, after?: (sb: Spawned, k: number) => void): Promise<ExitStatus[]> {
  const statuses: ExitStatus[] = new Array(total);
  const alive = new Set<Promise<void>>();
  for (let k = 0; k < total; k++) {
    while (alive.size >= inFlight) await Promise.race(alive);
    // Let the pool's completions run (and refill it) between the synchronous spawns.
    await new Promise((r) => setImmediate(r));
    const sb = start(k);
    after?.(sb, k);
    const p: Promise<void> = sb.exited.then((s) => {
      statuses[k] = s;
      alive.delete(p);
    });
    alive.add(p);
    if (k % 10 === 9) say({ progress: k + 1, of: total, poolJobs });
  }
  await Promise.all(alive);
  return statuses;
}

const started: Spawned[] = [];
function killAll(): void {
  for (const sb of started) {
    try { sb.kill('SIGKILL'); } catch { /* gone */ }
  }
}

/** A process whose own pid 1 is `sleep 600` (it must outlast a scenario however slow), with its own /proc: what enter() joins. */
function target(): Spawned {
  const sb = spawn({ namespaces: ['pid', 'mount'], mountProc: true, deathSignal: 'SIGKILL', stdio: 'ignore' }, ['sleep', '600']);
  started.push(sb);
  return sb;
}

const nsOf = (pid: number, kind: string) => readlinkSync(`/proc/${pid}/ns/${kind}`);

/** Lines of /proc/net/tcp in LISTEN (state 0A) on 127.0.0.1:port. */
function listening(port: number): string[] {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === hex && f[3] === '0A';
  });
}

/** Poll `ok` until it holds (true) or `ms` have passed (false). */
async function until(ok: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

const scenarios: Record<string, () => Promise<void>> = {
  /** 200 sandboxes, 32 alive at a time: the fast path (CLONE_VM|CLONE_VFORK) and the memory-copy path (a sync step). */
  async spawn() {
    const statuses = await pool(200, 32, (k) => {
      const sb = k % 2
        ? spawn({ namespaces: ['pid', 'mount', 'uts', 'ipc'], mountProc: true, hostname: `box${k}`, deathSignal: 'SIGKILL', stdio: 'ignore' }, ['sleep', '0.1'])
        // prepare() makes the child stop at a sync step: it runs as a copy of this process
        : spawn({ namespaces: ['user', 'pid', 'mount'], uidMap: 'root', gidMap: 'root', mountProc: true, deathSignal: 'SIGKILL', stdio: 'ignore', prepare: () => {} }, ['sleep', '0.1']);
      started.push(sb);
      return sb;
    });
    const bad = statuses.map((s, k) => ({ k, ...s })).filter((s) => s.code !== 0);
    check('every sandbox exited 0', bad.length === 0, bad.slice(0, 5));
  },

  /** 200 enter()s into one pid namespace, 32 alive at a time. */
  async enter() {
    const t = target();
    const pidns = nsOf(t.pid, 'pid');
    const wrong: unknown[] = [];
    const statuses = await pool(200, 32, () => {
      const sb = enter(t.pid, ['pid'], ['true'], { stdio: 'ignore', deathSignal: 'SIGKILL' });
      started.push(sb);
      return sb;
    }, (sb, k) => {
      // `true` may be gone already; if it is still there, it is in the target's pid namespace
      try {
        if (nsOf(sb.pid, 'pid') !== pidns) wrong.push({ k, pid: sb.pid, ns: nsOf(sb.pid, 'pid') });
      } catch { /* exited */ }
    });
    const bad = statuses.map((s, k) => ({ k, ...s })).filter((s) => s.code !== 0);
    check('every entered program exited 0', bad.length === 0, bad.slice(0, 5));
    check('every entered program ran in the target\'s pid namespace', wrong.length === 0, wrong.slice(0, 5));
    t.kill('SIGKILL');
    const s = await t.exited;
    check('the target ended by SIGKILL', s.signal === 'SIGKILL', s);
  },

  /** enter()'s pid is the program's, and the program holds fds 0-2 only, while this process listens on a socket. */
  async fds() {
    const server: Server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    check('the server listens', listening(port).length === 1, listening(port));
    // What a program may hold besides 0-2: descriptors this process inherited without
    // close-on-exec (a test harness's pipe, say), which Node's child_process passes on too.
    const fdsOf = (pid: number) => Object.fromEntries(readdirSync(`/proc/${pid}/fd`).sort((a, b) => Number(a) - Number(b))
      .map((fd) => [fd, (() => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return '?'; } })()]));
    const inheritable = Object.keys(fdsOf(process.pid)).filter((fd) => {
      try {
        return Number(fd) > 2 && (parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))![1], 8) & 0o2000000) === 0;
      } catch { return false; }
    });
    const expected = ['0', '1', '2', ...inheritable];
    // A program opens files of its own as it starts (sleep: /etc/locale.alias): its
    // descriptors are read once it sleeps (wchan hrtimer_nanosleep), its start-up over.
    const settled = async (pid: number) => {
      const asleep = await until(() => { try { return readFileSync(`/proc/${pid}/wchan`, 'latin1').includes('nanosleep'); } catch { return false; } }, 30_000);
      return asleep ? fdsOf(pid) : { error: `pid ${pid} never reached nanosleep`, ...fdsOf(pid) };
    };
    const ref = nodeSpawn('sleep', ['60'], { stdio: 'ignore' });
    const refFds = await settled(ref.pid!);
    ref.kill('SIGKILL');
    check(`child_process gives a program fds ${expected.join(', ')}`, Object.keys(refFds).join(',') === expected.join(','), refFds);
    const t = target();
    const pidns = nsOf(t.pid, 'pid');
    const programs: Spawned[] = [];
    for (let k = 0; k < 8; k++) {
      await new Promise((r) => setImmediate(r));
      // Killed below: they must not end by themselves first, however slow the checks are.
      const sb = enter(t.pid, ['pid'], ['sleep', '600'], { stdio: 'ignore', deathSignal: 'SIGKILL' });
      started.push(sb);
      programs.push(sb);
      const cmdline = readFileSync(`/proc/${sb.pid}/cmdline`, 'latin1');
      check(`enter() #${k} returns the program's pid`, cmdline === 'sleep\x00600\x00', { pid: sb.pid, cmdline });
      check(`enter() #${k}: the program is in the target's pid namespace`, nsOf(sb.pid, 'pid') === pidns);
      const fds = await settled(sb.pid);
      check(`enter() #${k}: the program holds fds 0, 1, 2 only (and what child_process would pass on: ${expected.slice(3).join(', ') || 'nothing'})`,
        Object.keys(fds).join(',') === expected.join(','), fds);
      check(`enter() #${k}: the program holds no socket`, !Object.values(fds).some((l) => l.startsWith('socket:')), fds);
    }
    // The server closes while the programs run: nothing but this process may have held it.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const gone = await until(() => listening(port).length === 0);
    check('the port is not in LISTEN once the server closed, the programs still running', gone, listening(port));
    for (const sb of programs) sb.kill('SIGKILL');
    const statuses = await Promise.all(programs.map((sb) => sb.exited));
    check('the programs ended by SIGKILL', statuses.every((s) => s.signal === 'SIGKILL'), statuses);
    t.kill('SIGKILL');
    await t.exited;
    check('the port is not in LISTEN after the programs exited', listening(port).length === 0, listening(port));
  },
};

async function main(): Promise<void> {
  const name = process.argv[2];
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const jobs = keepPoolBusy(Number(process.env.LOAD_POOL_JOBS ?? 12));
  await sleep(50); // the pool is busy before the first spawn
  try {
    await scenario();
  } finally {
    busy = false;
    killAll();
  }
  await Promise.all(jobs);
  say({ done: name, poolJobs });
}

main().then(() => process.exit(0), (err: unknown) => {
  say({ error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) });
  killAll();
  process.exit(1);
});
