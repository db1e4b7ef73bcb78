// ts-lsns against util-linux lsns on the same processes: a few sleeps in fresh namespaces
// that this test starts, so that the rows compared do not change between the two runs.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listNamespaces } from '../src/ns/list.js';

const bin = fileURLToPath(new URL('../bin/ts-lsns', import.meta.url));
const dist = fileURLToPath(new URL('../dist/bin/lsns.cjs', import.meta.url));
const haveLsns = spawnSync('lsns', ['--version']).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root' : !haveLsns ? 'util-linux lsns not installed'
  : !existsSync(dist) ? 'not built (npx tsc)' : false;

// About 50 tool starts (a Node each): on a loaded 2-core machine that alone can pass
// tap's default limit, so the file has more time; each run is bounded on its own.
t.setTimeout(480_000);

interface Run { stdout: string; stderr: string; status: number | null }
// the tools run without tap's coverage hooks (NODE_OPTIONS), which would slow every start
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C.UTF-8' };
/** One run, killed after a minute: a hang fails its assertion instead of the whole file. */
const run = (cmd: string, args: string[]): Promise<Run> => new Promise((resolve) => {
  const c = spawn(cmd, args, { env, timeout: 60_000, killSignal: 'SIGKILL' });
  let stdout = '';
  let stderr = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  c.on('error', (err) => (stderr += String(err)));
  c.on('close', (status) => resolve({ stdout, stderr, status }));
});
/**
 * util-linux lsns. Version 2.38 gives up when a process exits while it scans /proc
 * (fstatat of /proc/PID/ns/X fails with ESRCH, which it does not skip as it skips
 * ENOENT): exit status 1 with no output at all, which no real error of it gives. Any
 * process anywhere ending at that moment does it, so that run is repeated.
 */
let reruns = 0;
const lsns = async (args: string[]): Promise<Run> => {
  let r = await run('lsns', args);
  for (let i = 0; i < 20 && r.status !== 0 && !r.stdout && !r.stderr; i++, reruns++) r = await run('lsns', args);
  return r;
};
t.teardown(() => { if (reruns) t.comment(`util-linux lsns lost a process mid-scan and was run again ${reruns} time(s)`); });
const ours = (args: string[]) => run(bin, [...args]);
/** util-linux lsns and ts-lsns with the same arguments, at the same time. */
const both = (args: string[]) => Promise.all([lsns(args), ours(args)]);
const theirs = lsns;
const ino = (pid: number, file: string) => Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${file}`))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `get` gives a value; throw (naming `what`) after a deadline, however loaded the machine. */
async function until<T>(what: string, get: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(10);
  }
}

const readOr = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};
/** Wait until `pid` runs `sleep` (unshare has set up and exec'd). */
const execd = (pid: number) => until(`pid ${pid} runs sleep`, () => (readOr(`/proc/${pid}/comm`)?.trim() === 'sleep' ? true : undefined));
/** The one child of `pid` (unshare --fork). */
const childOf = (pid: number) => until(`pid ${pid} forks`, () => {
  const kids = readOr(`/proc/${pid}/task/${pid}/children`)?.trim();
  return kids ? Number(kids.split(' ')[0]) : undefined;
});

/** Run `jobs` with at most `n` at a time, results in order. */
async function pool<T, R>(jobs: T[], n: number, f: (job: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, async () => {
    while (next < jobs.length) {
      const k = next++;
      out[k] = await f(jobs[k]);
    }
  }));
  return out;
}

t.test('ts-lsns vs util-linux lsns', { skip }, async (t) => {
  const children: ChildProcess[] = [];
  const start = (args: string[]) => {
    const c = spawn('unshare', args, { stdio: 'ignore' });
    children.push(c);
    return c.pid!;
  };
  let inner = 0;
  t.teardown(() => {
    for (const c of children) c.kill('SIGKILL');
    if (inner) try { process.kill(inner, 'SIGKILL'); } catch { /* gone */ }
  });

  const a = start(['--uts', '--ipc', 'sleep', '600']);
  const b = start(['--net', 'sleep', '600']);
  // every kind fresh: the outer unshare (P) shares all but pid and time with the inner sleep (S)
  const p = start(['-r', '--pid', '--fork', '--kill-child', '--mount', '--uts', '--ipc', '--net', '--cgroup', '--time', 'sleep', '600']);
  await Promise.all([execd(a), execd(b)]);
  inner = await childOf(p);
  await execd(inner);
  const s = inner;

  /** Same stdout and status. */
  const check = (t: Test, [want, got]: Run[], name: string) => {
    t.equal(got.stdout, want.stdout, `stdout: ${name}`);
    t.equal(got.status, want.status, `status: ${name}`);
    return { got, want };
  };
  /** Every argument list compared, two pairs of runs at a time (a loaded machine makes them slow), asserted in order. */
  const allSame = async (t: Test, list: string[][]) => {
    const results = await pool(list, 2, both);
    return list.map((args, k) => check(t, results[k], args.join(' ')));
  };

  t.test('namespaces of one process (-p), every output form', async (t) => {
    const list: string[][] = [];
    // S is in eight fresh namespaces, so every row of -p S is ours and stable
    for (const extra of [[], ['-l'], ['-n'], ['-r'], ['-u'], ['-J'], ['-l', '-J'], ['-r', '-n'],
      ['-o', 'NS,TYPE,NPROCS,PID,PPID,USER,UID,COMMAND,PATH,PNS,ONS'], ['-o', '+PPID,PNS,ONS'],
      ['-o', 'ns,type'], ['--output-all'], ['-t', 'net'], ['-t', 'user', '-t', 'pid'], ['-Tprocess', '-J']]) {
      list.push(['-p', String(s), ...extra]);
    }
    // the owner and parent trees also show the host's user namespace (its NPROCS varies)
    for (const tree of ['-T', '-Tparent', '--tree=owner']) {
      list.push(['-p', String(s), tree, '-o', 'NS,TYPE,PID,PPID,USER,PNS,ONS,COMMAND']);
      list.push(['-p', String(s), tree, '-J', '-o', 'NS,TYPE,PID,PNS,ONS']);
    }
    // P shares all but its pid and time namespaces with S
    list.push(['-p', String(p), '-t', 'user', '-t', 'mnt', '-t', 'uts', '-t', 'ipc', '-t', 'cgroup', '-t', 'net']);
    list.push(['-p', String(s), '-J', '--output-all']);
    const { got, want } = (await allSame(t, list)).at(-1)!;
    t.same(JSON.parse(got.stdout), JSON.parse(want.stdout), '-J parses to the same JSON');
    const rows = JSON.parse(got.stdout).namespaces as Record<string, unknown>[];
    t.equal(rows.length, 8, 'eight fresh namespaces');
    t.equal(typeof rows[0].ns, 'number', 'ns is a JSON number');
    t.equal(rows.find((r) => r.type === 'net')?.netnsid, 'unassigned', 'netnsid is a JSON string');
    t.equal(rows.find((r) => r.type === 'uts')?.netnsid, null, 'and null where it does not apply');
  });

  t.test('the processes of one namespace (NSID)', async (t) => {
    const list = [[], ['-l'], ['-J'], ['-r'], ['-o', '+NS,TYPE,PATH']].map((extra) => [String(ino(s, 'user')), ...extra]);
    for (const nsid of [ino(s, 'pid'), ino(a, 'uts'), ino(b, 'net')]) list.push([String(nsid)]);
    await allSame(t, list);
  });

  t.test('a kind over all processes: our rows are the same', async (t) => {
    const mine = new Set([ino(a, 'uts'), ino(a, 'ipc'), ino(b, 'net'), ino(s, 'uts'), ino(s, 'ipc'), ino(s, 'net')]);
    for (const kind of ['uts', 'ipc', 'net']) {
      const keep = (out: string) => out.split('\n').filter((l) => mine.has(Number(l.split(' ')[0]))).join('\n');
      const [want, got] = await both(['-r', '-n', '-t', kind]);
      t.equal(got.status, want.status, `status -t ${kind}`);
      t.ok(keep(want.stdout).length > 0, `lsns shows our ${kind} namespaces`);
      t.equal(keep(got.stdout), keep(want.stdout), `rows of -t ${kind} -r`);
      const json = (out: string) => (JSON.parse(out).namespaces as { ns: number }[]).filter((r) => mine.has(r.ns));
      const [jw, jg] = await both(['-J', '-l', '-t', kind]);
      t.same(json(jg.stdout), json(jw.stdout), `rows of -t ${kind} -J`);
    }
  });

  t.test('character widths: wide, combining and zero-width commands line up as lsns aligns them', async (t) => {
    // each name is a process's argv[0] (exec -a), in a uts namespace of its own so that it is the row's COMMAND
    const names = ['漢字テスト', '😀 emoji 🎉 x', 'ｆｕｌｌ', 'e\u0301 combining', '⚡⛔ ambiguous ±×', '한국어 각 jamo',
      'a\u200bzero-width', '👍🏽 skin'];
    const pids = names.map((name) => start(['--uts', 'bash', '-c', 'exec -a "$0" sleep 600', name]));
    await Promise.all(pids.map(execd));
    const list: string[][] = [];
    for (const pid of pids) {
      list.push(['-p', String(pid), '-t', 'uts', '-o', 'COMMAND,NS,PID']);
      list.push([String(ino(pid, 'uts')), '-o', 'COMMAND,PID,USER']);
    }
    await allSame(t, list);
    // on a terminal, COMMAND is cut to the width left: a wide character never straddles the edge
    const tty = (tool: string, pid: number) => run('script', ['-qc', `stty cols 29; ${tool} -p ${pid} -t uts -o NS,COMMAND,PID`, '/dev/null']);
    for (const pid of pids) {
      const [first, got] = await Promise.all([tty('lsns', pid), tty(bin, pid)]);
      // lsns 2.38 prints nothing when a process elsewhere exits mid-scan (see lsns() above): again
      let want = first;
      for (let i = 0; i < 20 && !want.stdout.includes('COMMAND'); i++, reruns++) want = await tty('lsns', pid);
      t.equal(got.stdout, want.stdout, `truncated on a 29-column terminal: pid ${pid}`);
    }
  });

  t.test('owner and parent trees show the user namespaces no process is in, as lsns does', async (t) => {
    // the outer unshare execs the inner one, which execs sleep: the outer user namespace keeps no process
    const g = start(['-r', 'unshare', '-r', 'sleep', '600']);
    await execd(g);
    const list: string[][] = [];
    for (const tree of ['-Towner', '-Tparent', '--tree=owner']) {
      list.push(['-p', String(g), tree, '-t', 'user', '-o', 'NS,TYPE,PID,USER,UID,PNS,ONS,COMMAND']);
      list.push(['-p', String(g), tree, '-o', 'NS,TYPE,PID,USER,PNS,ONS']);
      list.push(['-p', String(g), tree, '-J', '-o', 'NS,TYPE,PID,UID,PNS,ONS']);
    }
    await allSame(t, list);
    const r = await ours(['-p', String(g), '-Towner', '-t', 'user', '-r', '-n', '-o', 'NS,NPROCS,PID']);
    t.match(r.stdout, / 0 $/m, 'the outer user namespace: no process, no PID');
  });

  t.test('--filter (util-linux master): rows as -t and -p choose them, columns need not be shown', async (t) => {
    // lsns 2.38 has no --filter: the same rows chosen its own way must come out alike
    const pairs: [string[], string[]][] = [
      [['-p', String(s), '-o', 'NS,TYPE,PID', '-Q', 'TYPE == "uts" or TYPE == "ipc"'], ['-p', String(s), '-o', 'NS,TYPE,PID', '-t', 'uts', '-t', 'ipc']],
      [['-p', String(s), '-o', 'NS,TYPE', '--filter', 'TYPE =~ "^(uts|ipc)$"'], ['-p', String(s), '-o', 'NS,TYPE', '-t', 'uts', '-t', 'ipc']],
      [['-p', String(s), '-o', 'NS,TYPE', '--filter=NOT (TYPE != "net")'], ['-p', String(s), '-o', 'NS,TYPE', '-t', 'net']],
      [['-p', String(s), '-o', 'NS,PID', '-Q', `ONS == ${ino(s, 'user')} && PNS == 0`], ['-p', String(s), '-o', 'NS,PID', '-t', 'uts', '-t', 'ipc', '-t', 'net', '-t', 'mnt', '-t', 'cgroup', '-t', 'time']],
      [['-p', String(s), '-J', '-Q', 'NETNSID == "unassigned"'], ['-p', String(s), '-J', '-t', 'net', '-o', 'NS,TYPE,NPROCS,PID,USER,COMMAND']],
      [['-p', String(s), '-Q', ''], ['-p', String(s)]],
    ];
    const results = await pool(pairs, 2, ([mine, theirArgs]) => Promise.all([lsns(theirArgs), ours(mine)]));
    for (const [k, [mine]] of pairs.entries()) check(t, results[k], mine.join(' '));
    // util-linux master's own test: the one process of a namespace found by inode and count
    const r = await ours(['-n', '--raw', '-o', 'PID', '-Q', `NS == ${ino(s, 'pid')} && NPROCS == 1`]);
    t.equal(r.stdout, `${s}\n`, 'NS == inode && NPROCS == 1 gives the pid');
    // the processes of a namespace: the parent left out, its child is a root of the tree
    const tree = await ours([String(ino(s, 'user')), '-Q', `PID == ${s}`, '-o', 'PID,COMMAND']);
    t.equal(tree.stdout, `  PID COMMAND\n${String(s).padStart(5)} sleep 600\n`, 'namespace NSID: the rows the filter keeps');
  });

  t.test('--filter: a bad expression is one line, exit 1, before any scan', async (t) => {
    const bad: [string, string][] = [
      ['NS ==', 'failed to parse "NS ==": syntax error, unexpected end of expression'],
      ['(NS > 1', `failed to parse "(NS > 1": syntax error, unexpected end of expression, expecting ')'`],
      ['NS @ 1', `failed to parse "NS @ 1": unexpected character '@'`],
      ['FOO == 1', 'failed to initialize filter: unknown column: FOO'],
      ['TYPE =~ "a**"', `failed to parse "TYPE =~ "a**"": unsafe regular expression 'a**'`],
      ['NETNSID == 5', "failed to apply filter: NETNSID: 'unassigned' is not an unsigned number"],
    ];
    const results = await pool(bad, 2, ([expr]) => ours(['-t', 'net', '-Q', expr]));
    for (const [k, [expr, message]] of bad.entries()) {
      t.equal(results[k].stderr, `ts-lsns: ${message}\n`, expr);
      t.equal(results[k].status, 1);
      t.equal(results[k].stdout, '');
    }
    const missing = await ours(['-Q']);
    t.equal(missing.status, 1);
    t.match(missing.stderr, /^ts-lsns: option requires an argument -- 'Q'\n/);
  });

  t.test('--persistent: namespaces only a bind mount holds (util-linux master)', async (t) => {
    // all in a private mount namespace of its own: no mount outlives the test, even killed
    const d = mkdtempSync(join(tmpdir(), 'tsns-lsns-'));
    t.teardown(() => rmSync(d, { recursive: true, force: true }));
    const script = `touch ${d}/net ${d}/uts && unshare --net=${d}/net --uts=${d}/uts true || exit 9
for f in net uts; do stat -L -c %i ${d}/$f; done
echo ---; "$@" -P -r -o NS,TYPE,NPROCS,PID,USER,NETNSID,NSFS,PATH,COMMAND
echo ---; "$@" -P -t net -Q 'NSFS =~ "/net$"' -n -r -o NS,NETNSID
echo ---; "$@" -P -p 1; echo rc=$?`;
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', bin]);
    t.equal(r.status, 0);
    const [inos, all, net, excl] = r.stdout.split('---\n');
    const [netIno, utsIno] = inos.trim().split('\n');
    const rows = all.split('\n');
    t.equal(rows[0], 'NS TYPE NPROCS PID USER NETNSID NSFS PATH COMMAND');
    t.ok(rows.includes(`${netIno} net 0  root unassigned ${d}/net  `), 'the net namespace: no process, its mount point');
    t.ok(rows.includes(`${utsIno} uts 0  root  ${d}/uts  `), 'the uts namespace');
    t.equal(net, `${netIno} unassigned\n`, 'with -t and a filter');
    t.equal(excl, 'rc=1\n');
    t.equal(r.stderr, 'ts-lsns: mutually exclusive arguments: --persistent --task\n');
    // what lsns 2.38 lists is unchanged: without -P, no namespace that no process is in
    const plain = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `touch ${d}/n2 && unshare --net=${d}/n2 true && stat -L -c %i ${d}/n2 && "$@" -r -n -o NS -t net`, 'sh', bin]);
    const [held, ...listed] = plain.stdout.trim().split('\n');
    t.notOk(listed.includes(held), 'not listed without -P');
  });

  t.test('listNamespaces({ persistent }) gives the mount point as path', async (t) => {
    const d = mkdtempSync(join(tmpdir(), 'tsns-lsns-'));
    t.teardown(() => rmSync(d, { recursive: true, force: true }));
    const script = `import { listNamespaces } from '${fileURLToPath(new URL('../dist/ns/list.js', import.meta.url))}';
const recs = await listNamespaces({ persistent: true, types: ['uts'], netnsid: true });
console.log(JSON.stringify(recs.filter((r) => r.nprocs === 0)));`;
    const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      `touch ${d}/uts && unshare --uts=${d}/uts true && stat -L -c %i ${d}/uts && "$@"`, 'sh', process.execPath, '--input-type=module', '-e', script]);
    const [held, json] = r.stdout.trim().split('\n');
    t.equal(r.stderr, '');
    t.match(JSON.parse(json ?? '[]'), [{ ns: Number(held), type: 'uts', nprocs: 0, pid: 0, uid: 0, user: 'root', command: '', path: `${d}/uts`, pids: [] }]);
  });

  t.test('errors: same status, one line (plus the --help hint where lsns gives one)', async (t) => {
    const dead = spawnSync('true').pid!;
    const list = [['--bogus'], ['-t', 'foo'], ['-t'], ['-J', '-r'], ['-o', 'FOO'], ['-p', 'abc'],
      ['-p', String(dead)], ['-J', '-p', String(dead)], ['1'], ['-p', '1', '5'], ['--no']];
    const results = await pool(list, 2, both);
    for (const [k, args] of list.entries()) {
      const [want, got] = results[k];
      t.equal(got.status, want.status, `status: ${args.join(' ')}`);
      t.equal(got.stdout, want.stdout, `stdout: ${args.join(' ')}`);
      t.equal(got.stderr.replaceAll('ts-lsns', 'lsns'), want.stderr, `stderr: ${args.join(' ')}`);
      t.ok(got.stderr.split('\n').filter(Boolean).length <= 2, 'at most the message and the hint');
    }
  });

  t.test('listNamespaces() gives what lsns -J gives', async (t) => {
    const recs = await listNamespaces({ pid: s, netnsid: true });
    const lsns = await theirs(['-J', '-l', '-p', String(s), '-o', 'NS,TYPE,NPROCS,PID,PPID,UID,USER,COMMAND,PATH,PNS,ONS,NETNSID']);
    const want = JSON.parse(lsns.stdout).namespaces as Record<string, unknown>[];
    t.equal(recs.length, want.length);
    recs.forEach((r, i) => {
      const w = want[i];
      t.match(r, {
        ns: w.ns, type: w.type === 'mnt' ? 'mount' : w.type, nprocs: w.nprocs, pid: w.pid, ppid: w.ppid,
        uid: w.uid, user: w.user, command: w.command, path: w.path, pns: w.pns, ons: w.ons,
      }, `record ${w.type}`);
      if (r.type === 'net') t.equal(r.netnsid === -1 ? 'unassigned' : String(r.netnsid), w.netnsid);
    });
    t.same(recs.find((r) => r.type === 'pid')?.pids, [s], 'the pid namespace holds only the sleep');
  });

  t.test('--explain shows the readlinks and ioctls', async (t) => {
    const r = await ours(['--explain', '-p', String(s), '-o', 'NS,PNS']);
    t.equal(r.status, 0);
    t.match(r.stderr, new RegExp(`readlink\\("/proc/${s}/ns/net"\\) = "net:\\[${ino(s, 'net')}\\]"`));
    t.match(r.stderr, /ioctl\(\d+, NS_GET_PARENT\) = \d+/);
  });
});
