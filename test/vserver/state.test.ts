// ts-vserver and ts-chcontext state under kills and concurrency: one init for a name
// started twice at once, SIGKILL of start at several moments then stop with nothing left,
// records of vservers and contexts apart, signals of exec reaching the program, detached
// inits without the caller's descriptors, anonymous contexts swept by the next run.
import t from 'tap';
import { scratch } from './fixture.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup } from '../../dist/index.js';

const { run, rootBase, tag, tool, vserver, config: writeConfig } = scratch('tsns-vs-state-', 's', { atEnd: (s) => s.tool('ts-chcontext', ['--list']) });
const chcontext = (args: string[], opts: Record<string, unknown> = {}) => tool('ts-chcontext', args, opts);

const shared = join(rootBase, 'shared');
function config(name: string): void {
  writeConfig(name, `S_HOSTNAME=${name}\nROOTDIR=${shared}\n`);
}

function groupExists(name: string): boolean {
  try {
    cgroup.openCgroup(name);
    return true;
  } catch {
    return false;
  }
}

/** Whatever a vserver (or context) left: mounts under RUN, its record dir, its cgroup and processes. */
function leftovers(kind: 'vserver' | 'ctx', name: string, group: string): string[] {
  const out: string[] = [];
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(join(run, kind, name))) out.push(`mounts under ${run}/${kind}/${name}`);
  if (existsSync(join(run, kind, name))) out.push(`record dir of ${name}`);
  if (groupExists(group)) out.push(`cgroup ${group}`);
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid namespaces' inits in a group (processes that are pid 1 inside), none when there is no group. */
function inits(group: string): number[] {
  let procs: number[];
  try {
    procs = cgroup.openCgroup(group).procs();
  } catch {
    return [];
  }
  return procs.filter((pid) => {
    try {
      return /^NSpid:.*\s1$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  });
}

/** A number no other test's program sleeps for: it tells our program apart in /proc. */
let seconds = 100_000 + (process.pid % 10_000) * 10;
const uniqueSleep = () => String(++seconds);

/** Host pids whose command line is `marker` (its arguments joined by NULs). */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8') === `${marker}\u0000`) out.push(Number(e));
    } catch {
      // ended while we looked
    }
  }
  return out;
}

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  for (const until = Date.now() + ms; !check();) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.before(async () => {
  const name = `${tag}b`;
  config(name);
  const r = await vserver([name, 'build', '--busybox'], { timeout: 120_000 });
  if (r.exitCode !== 0) throw new Error(r.stderr as string);
});

t.test('the same name started twice at once gives one init; the other says running already', async (t) => {
  const name = `${tag}r`;
  config(name);
  for (let round = 0; round < 10; round++) {
    const [a, b] = await Promise.all([vserver([name, 'start']), vserver([name, 'start'])]);
    const codes = [a.exitCode, b.exitCode].sort();
    t.same(codes, [0, 1], `round ${round}: one start wins (${a.stderr}${b.stderr})`);
    const loser = a.exitCode === 1 ? a : b;
    t.match(loser.stderr, /is running already/, `round ${round}`);
    const found = inits(`tsns-vs-${name}`);
    t.equal(found.length, 1, `round ${round}: one init (${found.join(' ')})`);
    t.equal((await vserver([name, 'stop'])).exitCode, 0);
    t.same(leftovers('vserver', name, `tsns-vs-${name}`), [], `round ${round}: stop leaves nothing`);
  }
});

t.test('stop and start raced: never two inits, never a stack trace, nothing left after a stop', async (t) => {
  const name = `${tag}x`;
  config(name);
  for (let round = 0; round < 10; round++) {
    const all = await Promise.all([vserver([name, 'start']), vserver([name, 'stop']), vserver([name, 'start'])]);
    for (const r of all) t.notMatch(r.stderr, /\n\s+at /, `round ${round}: no stack trace`);
    t.ok(inits(`tsns-vs-${name}`).length <= 1, `round ${round}: at most one init`);
    await vserver([name, 'stop']);
    t.same(leftovers('vserver', name, `tsns-vs-${name}`), [], `round ${round}`);
  }
});

t.test('SIGKILL of start at any moment leaves what stop removes completely', async (t) => {
  const name = `${tag}k`;
  config(name);
  for (const ms of [0, 30, 60, 100, 150, 200, 300, 450, 700]) {
    const starting = vserver([name, 'start']);
    await sleep(ms);
    starting.kill('SIGKILL');
    await starting;
    const st = await vserver([name, 'status']);
    t.ok([0, 1, 3].includes(st.exitCode as number), `after ${ms} ms: status ${st.exitCode}: ${st.stdout}${st.stderr}`);
    if (st.exitCode === 1) t.match(st.stdout, /is broken/);
    await vserver([name, 'stop']);
    t.same(leftovers('vserver', name, `tsns-vs-${name}`), [], `killed after ${ms} ms, then stopped`);
    t.equal((await vserver([name, 'status'])).exitCode, 3, `stopped after ${ms} ms`);
  }
  // The next start after a kill clears what was left by itself.
  const starting = vserver([name, 'start']);
  await sleep(150);
  starting.kill('SIGKILL');
  await starting;
  // (Unless the start was done before the kill: then it runs, and says so.)
  const again = await vserver([name, 'start']);
  if (again.exitCode !== 0) t.match(again.stderr, /is running already/);
  t.equal((await vserver([name, 'status'])).exitCode, 0, 'running');
  t.equal(inits(`tsns-vs-${name}`).length, 1, 'one init');
  t.equal((await vserver([name, 'stop'])).exitCode, 0);
  t.same(leftovers('vserver', name, `tsns-vs-${name}`), []);
});

t.test('records of vservers and chcontext contexts cannot collide', async (t) => {
  const name = 'ctx';
  config(name);
  t.teardown(() => vserver([name, 'stop']));
  t.equal((await vserver([name, 'start'])).exitCode, 0);
  // A context of the same name, and one named after a record file, leave the vserver alone.
  for (const ctx of ['ctx', 'state.json', 'record.json', 'ns']) {
    const r = await chcontext(['--ctx', ctx, 'true']);
    t.equal(r.exitCode, 0, `--ctx ${ctx}: ${r.stderr}`);
  }
  const st = await vserver([name, 'status']);
  t.equal(st.exitCode, 0, st.stdout as string);
  t.equal((await vserver([name, 'stop'])).exitCode, 0);
  t.same(leftovers('vserver', name, 'tsns-vs-ctx'), []);
  t.same(leftovers('ctx', 'ctx', 'tsns-ctx-ctx'), []);
});

t.test('exec: SIGTERM and SIGHUP to the tool reach the program; stop does not wait for it', async (t) => {
  const name = `${tag}e`;
  config(name);
  t.teardown(() => vserver([name, 'stop']));
  t.equal((await vserver([name, 'start'])).exitCode, 0);
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    const marker = `sleep\u0000${uniqueSleep()}`;
    const program = vserver([name, 'exec', 'sleep', marker.slice(6)]);
    await waitFor('the program', () => processesWith(marker).length > 0);
    program.kill(sig);
    const r = await program;
    t.equal(r.signal ?? r.exitCode, sig === 'SIGTERM' ? 'SIGTERM' : 'SIGHUP', `${sig}: the tool ends as the program did`);
    await waitFor('the program to end', () => processesWith(marker).length === 0);
  }
  // A running exec holds no lock: stop goes ahead, and the program goes with the vserver.
  const marker = `sleep\u0000${uniqueSleep()}`;
  const program = vserver([name, 'exec', 'sleep', marker.slice(6)]);
  await waitFor('the program', () => processesWith(marker).length > 0);
  const stopped = await vserver([name, 'stop'], { timeout: 30_000 });
  t.equal(stopped.exitCode, 0, stopped.stderr as string);
  await program;
  t.same(processesWith(marker), []);
  t.same(leftovers('vserver', name, `tsns-vs-${name}`), []);
});

t.test('a detached init keeps none of the caller\'s descriptors', async (t) => {
  const name = `${tag}d`;
  config(name);
  t.teardown(() => vserver([name, 'stop']));
  // fds 3 and 4 are pipes without close-on-exec in the tool.
  const r = await vserver([name, 'start'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  t.equal(r.exitCode, 0, r.stderr as string);
  const state = JSON.parse(readFileSync(join(run, 'vserver', name, 'state.json'), 'utf8'));
  t.same(readdirSync(`/proc/${state.pid}/fd`).map(Number).sort(), [0, 1, 2]);
  const ctx = `${tag}dc`;
  const c = await chcontext(['--ctx', ctx, '--disconnect', '--flag', 'fakeinit', 'sleep', '1000'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  t.equal(c.exitCode, 0, c.stderr as string);
  const cs = JSON.parse(readFileSync(join(run, 'ctx', ctx, 'state.json'), 'utf8'));
  // sleep opens locale files as it starts (fd 3, for a moment): its descriptors are read once it sleeps.
  await waitFor('the init to sleep', () => { try { return readFileSync(`/proc/${cs.pid}/wchan`, 'utf8').includes('nanosleep'); } catch { return false; } });
  t.same(readdirSync(`/proc/${cs.pid}/fd`).map(Number).sort(), [0, 1, 2]);
  process.kill(cs.pid, 'SIGKILL');
  await waitFor('the init to end', () => !existsSync(`/proc/${cs.pid}/stat`) || /\) Z/.test(readFileSync(`/proc/${cs.pid}/stat`, 'utf8')));
  const l = await chcontext(['--list']);
  t.notMatch(l.stdout, new RegExp(`^${ctx}\\s`, 'm'));
  t.same(leftovers('ctx', ctx, `tsns-ctx-${ctx}`), [], '--list clears an ended context');
});

t.test('SIGKILL of ts-chcontext ends its context, and the next run removes what is left', async (t) => {
  const marker = `sleep\u0000${uniqueSleep()}`;
  const tool_ = chcontext(['sleep', marker.slice(6)]);
  await waitFor('the program', () => processesWith(marker).length > 0);
  const anon = readdirSync(join(run, 'anon'));
  t.ok(anon.length >= 1, 'recorded before it was made');
  tool_.kill('SIGKILL');
  // The program holds the tool's stdout: the tool's result comes once the program ends too.
  await waitFor('the tool to end', () => !existsSync(`/proc/${tool_.pid}/cmdline`) || readFileSync(`/proc/${tool_.pid}/cmdline`, 'utf8') === '');
  await waitFor('the program to end with the tool', () => processesWith(marker).length === 0);
  await tool_;
  const r = await chcontext(['true']);
  t.equal(r.exitCode, 0, r.stderr as string);
  for (const a of anon) t.same(leftovers('anon' as 'ctx', a, `tsns-ctx-${a}`), [], `${a} swept`);
});

t.test('bad input: one line, no stack trace', async (t) => {
  const r = await chcontext(['--hostname', '', 'true']);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /invalid hostname ''/);
  const name = `${tag}b`;
  const s = await vserver([name, 'start', '--explain', '--', 'sh', '-c', 'exit 0']);
  t.notMatch(s.stderr, /\n\s+at /);
  t.match(s.stderr, /unshare|clone/, '--explain is taken as an option, not as the init');
  await vserver([name, 'stop']);
  const bad = await vserver([name, 'start', '--bogus']);
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /unknown option '--bogus'/);
});

t.test('ts-chcontext and ts-vserver exec run in place: a small C waiter, the caller\'s descriptors', async (t) => {
  const name = `${tag}p`;
  config(name);
  t.teardown(() => vserver([name, 'stop']));
  t.equal((await vserver([name, 'start'])).exitCode, 0);
  for (const [label, run_] of [
    ['ts-chcontext', (args: string[], o: Record<string, unknown>) => chcontext(args, o)],
    ['ts-vserver exec', (args: string[], o: Record<string, unknown>) => vserver([name, 'exec', ...args], o)],
  ] as const) {
    const marker = `sleep\u0000${uniqueSleep()}`;
    const program = run_(['sleep', marker.slice(6)], {});
    await waitFor('the program', () => processesWith(marker).length > 0);
    const status = readFileSync(`/proc/${program.pid}/status`, 'utf8');
    t.match(status, /^Name:\s+(memfd:)?tsns-stag/m, `${label}: the process that waits is the stage`);
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
    t.ok(rss < 8192, `${label}: it keeps ${rss} kB`);
    program.kill('SIGTERM');
    // (Under ts-chcontext the program's parent is the context's init, a shell that ends as it did: 143.)
    const ended = await program;
    t.ok(ended.signal === 'SIGTERM' || ended.exitCode === 143, `${label}: SIGTERM reaches the program (${ended.signal ?? ended.exitCode})`);
    t.same(processesWith(marker), []);
    // A descriptor of the caller's reaches a context's program (util-linux's `read -u 4`);
    // none goes into a vserver, whose root it could lead out of.
    const reader = run_(['sh', '-c', 'read -r line <&4 && echo "got $line"'], { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe'] });
    (reader.stdio[4] as NodeJS.WritableStream).end('fd4\n');
    const r = await reader;
    if (label === 'ts-chcontext') t.equal(r.stdout, 'got fd4', `${label}: ${r.stderr}`);
    else t.not(r.exitCode, 0, `${label}: fd 4 is not open inside (${r.stdout})`);
  }
});
