// ts-cgroup end to end, with real enforcement on this machine: pids, memory (OOM), cpu,
// freeze/thaw/kill, errors (one line, non-zero exit, nothing left behind), --explain.
import t from 'tap';
import { AS_NOBODY, explainedWrites, nobodyCannotRunTools } from '../helpers.js';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createCgroup, detectLayout, openCgroup } from '../../src/cgroup/index.js';
import { cleanUp, skipReason, sleep, startChild, uniqueName } from './fixtures/helpers.js';

const bin = fileURLToPath(new URL('../../bin/ts-cgroup', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../../dist/bin/cgroup.cjs', import.meta.url)));
const skip = skipReason() ?? (built ? undefined : 'dist/ is not built (run npx tsc -p . first)');
const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find(existsSync);

// The tool runs without tap's loader and coverage (about 1 s per start): tap re-adds its
// NODE_OPTIONS to every child's environment, so env(1) takes it out just before node.
const plain = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];
const tool = (args: string[], timeout = 20_000) => execa('env', [...plain, bin, ...args], { reject: false, timeout });
/** Not a single directory of the group is left. */
const gone = (name: string) => !existsSync(`${detectLayout().unified?.base ?? '/nonexistent'}/${name}`) && (() => {
  try {
    openCgroup(name);
    return false;
  } catch {
    return true;
  }
})();

t.test('info shows the layout and where the caller sits', { skip }, async (t) => {
  const r = await tool(['info']);
  t.equal(r.exitCode, 0);
  t.match(r.stdout, new RegExp(`^layout: ${detectLayout().kind === 'hybrid' ? 'hybrid' : ''}`));
  t.match(r.stdout, /VERSION\s+CONTROLLERS\s+MOUNT\s+CALLER/);
  const j = JSON.parse((await tool(['info', '--json'])).stdout);
  t.equal(j.kind, detectLayout().kind);
});

t.test('run --pids 16: a fork loop cannot exceed 16 tasks', { skip: skip ?? (python ? undefined : 'no python3') }, async (t) => {
  const name = uniqueName('pids');
  cleanUp(t, name);
  // Tries 40 forks; the children outlive the loop however slowly it runs (none exits to
  // make room for another), and the run kills them once the program has printed.
  const script = `
import os, time
ok = 0
for i in range(40):
    try:
        if os.fork() == 0:
            time.sleep(60); os._exit(0)
        ok += 1
    except OSError:
        pass
print(ok)`;
  const r = await tool(['run', '--name', name, '--pids', '16', '--', python!, '-c', script]);
  t.equal(r.exitCode, 0, r.stderr);
  const forks = Number(r.stdout.trim());
  t.ok(forks <= 15 && forks >= 10, `forks that succeeded: ${forks} (16 tasks with the parent)`);
  t.ok(gone(name), 'group removed afterwards, leftover children killed');
});

t.test('run --memory 32M: OOM-killed, said clearly, and stats agree', { skip: skip ?? (python ? undefined : 'no python3') }, async (t) => {
  const name = uniqueName('oom');
  cleanUp(t, name);
  const r = await tool(['run', '--name', name, '--keep', '--memory', '32M', '--', python!, '-c', 'b = bytearray(256 << 20); print(len(b))']);
  t.equal(r.signal, 'SIGKILL', 'ends like the command did');
  t.match(r.stderr, /^ts-cgroup: .*python3 was killed: out of memory \(limit 32M\)\n?$/);
  t.equal(r.stdout, '');
  const s = JSON.parse((await tool(['stats', name, '--json'])).stdout);
  t.ok(s.oomKills >= 1, `stats --json oomKills ${s.oomKills}`);
  t.equal(s.memoryMax, 32 * 2 ** 20);
  const human = await tool(['stats', name]);
  t.match(human.stdout, /oom\.kills\s+[1-9]/);
  t.match(human.stdout, /memory\.max\s+32M/);
  const ev = await tool(['events', name]);
  t.match(ev.stdout, /populated 0\nfrozen 0\noom \d+\noom_kill [1-9]/);
  t.equal((await tool(['rm', name])).exitCode, 0);
  t.ok(gone(name));
});

t.test('run --cpu 0.2: a busy loop gets about a fifth of a core', { skip: skip ?? (python ? undefined : 'no python3') }, async (t) => {
  const script = 'import time, os\nt = time.time()\nwhile time.time() - t < 2: pass\nc = os.times()\nprint(c.user + c.system)';
  const r = await tool(['run', '--cpu', '0.2', '--', python!, '-c', script]);
  t.equal(r.exitCode, 0, r.stderr);
  const share = Number(r.stdout) / 2;
  // The limit is the upper bound; how much below it the loop gets is the machine's load.
  t.ok(share < 0.4 && share > 0, `cpu share ${share.toFixed(3)} of a core`);
});

t.test('freeze, thaw, kill, rm on a group made by create', { skip }, async (t) => {
  const name = uniqueName('fz');
  cleanUp(t, name);
  t.equal((await tool(['create', name, '--pids', '8'])).exitCode, 0);
  const g = openCgroup(name);
  t.equal(g.stats().pidsMax, 8);
  const child = startChild(t, 'i=0; while [ $i -lt 200000000 ]; do i=$((i+1)); done', 120);
  g.join(child.pid!);
  t.equal((await tool(['freeze', name])).exitCode, 0);
  t.match((await tool(['events', name, '--json'])).stdout, /"frozen": true/);
  const at = g.stats().cpuUsageUsec!;
  await sleep(200);
  t.ok(g.stats().cpuUsageUsec! - at < 5000, 'no progress while frozen');
  t.equal((await tool(['thaw', name])).exitCode, 0);
  // Progress takes CPU time the machine may give late: polled, bounded at 30 s.
  for (let k = 0; k < 300 && g.stats().cpuUsageUsec! - at <= 20000; k++) await sleep(100);
  t.ok(g.stats().cpuUsageUsec! - at > 20000, 'progress after thaw');
  t.equal((await tool(['procs', name])).stdout.trim(), String(child.pid));
  t.match((await tool(['ls'])).stdout, new RegExp(`^${name}\\s+1\\s`, 'm'), 'ls shows it with one process');
  const busy = await tool(['set', name, '--pids', '4', '--cpu', '0.5']);
  t.equal(busy.exitCode, 0);
  t.equal(g.stats().cpuMax, 0.5);
  t.equal((await tool(['kill', name])).exitCode, 0);
  t.same(g.procs(), [], 'kill empties the group');
  t.equal((await tool(['rm', name])).exitCode, 0);
  t.ok(gone(name));
});

t.test('exec runs a command in an existing group', { skip }, async (t) => {
  const name = uniqueName('exec');
  cleanUp(t, name);
  createCgroup(name);
  const r = await tool(['exec', name, '--', 'sh', '-c', 'cat /proc/self/cgroup; exit 3']);
  t.equal(r.exitCode, 3, 'exit status of the command');
  t.match(r.stdout, new RegExp(`^0::.*/${name}$`, 'm'));
  t.match(r.stdout, new RegExp(`:pids:.*/${name}$`, 'm'));
});

t.test('with ts-unshare: a limited, isolated shell; --cgroup shows 0::/', { skip: skip ?? (existsSync(fileURLToPath(new URL('../../dist/bin/unshare.cjs', import.meta.url))) ? undefined : 'ts-unshare not built') }, async (t) => {
  const unshare = fileURLToPath(new URL('../../bin/ts-unshare', import.meta.url));
  const r = await tool(['run', '--pids', '16', '--', 'env', ...plain, unshare, '--cgroup', '--pid', '--fork', '--mount-proc', 'sh', '-c', 'cat /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null; echo pid=$$']);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^0::\/$/m, 'cgroup namespace rooted at the group');
  t.notMatch(r.stdout, /ts-cgroup-/, 'no group path shows inside');
  t.match(r.stdout, /pid=1$/m);
});

t.test('errors: one line, non-zero exit, nothing left behind', { skip }, async (t) => {
  const name = uniqueName('err');
  cleanUp(t, name);
  const oneLine = (s: string, re: RegExp) => {
    t.match(s, re);
    t.equal(s.trimEnd().split('\n').filter((l) => !l.startsWith('Try ')).length, 1, 'one line');
    t.notMatch(s, /\n\s+at /, 'no stack trace');
  };
  let r = await tool(['run', '--name', name, '--memory', '64Q', '--', 'true']);
  t.equal(r.exitCode, 1);
  oneLine(r.stderr, /^ts-cgroup: invalid memory limit '64Q'/);
  r = await tool(['run', '--name', name, '--cpu', 'lots', '--', 'true']);
  oneLine(r.stderr, /^ts-cgroup: invalid cpu limit 'lots'/);
  t.ok(gone(name), 'bad input: nothing created');

  r = await tool(['stats', `${name}-absent`]);
  t.equal(r.exitCode, 1);
  oneLine(r.stderr, /^ts-cgroup: no such group: 'tsns-test-.*-absent'/);

  r = await tool(['run', '--name', name, '--', '/nonexistent/prog']);
  t.equal(r.exitCode, 127, 'exec failure: 127 as util-linux');
  oneLine(r.stderr, /^ts-cgroup: failed to execute \/nonexistent\/prog/);
  t.ok(gone(name), 'exec failure: group removed');

  // A group that exists only in the cgroup2 hierarchy has no memory controller here.
  const unified = detectLayout().unified;
  if (unified && !unified.controllers.includes('memory')) {
    const only = uniqueName('v2only');
    cleanUp(t, only);
    createCgroup(only, { layout: detectLayout({ cgroup: `0::${unified.self}\n`, mounts: `cgroup2 ${unified.mount} cgroup2 rw 0 0\n` }) });
    r = await tool(['set', only, '--memory', '32M']);
    t.equal(r.exitCode, 1);
    oneLine(r.stderr, /^ts-cgroup: the memory limit needs the memory controller, but group '.*' was made without it/);
  }

  const nobodyCannot = await nobodyCannotRunTools();
  if (nobodyCannot) {
    t.skip(`not root: ${nobodyCannot}`);
  } else {
    r = await execa('env', [...plain, 'setpriv', ...AS_NOBODY, bin, 'run', '--name', name, '--pids', '4', '--', 'true'], { reject: false, timeout: 20_000 });
    t.equal(r.exitCode, 1, 'not root');
    oneLine(r.stderr, /^ts-cgroup: mkdir .*: Permission denied \(creating cgroups needs root/);
    t.ok(gone(name), 'not root: nothing left behind');
  }

  r = await tool(['set', name]);
  t.equal(r.exitCode, 1);
  r = await tool(['frobnicate']);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /^ts-cgroup: unknown command 'frobnicate'/);
});

t.test('--explain prints every file written and read', { skip }, async (t) => {
  const name = uniqueName('explain');
  cleanUp(t, name);
  const r = await tool(['run', '--explain', '--name', name, '--pids', '4', '--memory', '64M', '--', 'true']);
  t.equal(r.exitCode, 0, 'exit 0');
  const lines = r.stderr.split('\n');
  t.match(r.stderr, new RegExp(`^\\[planner\\] mkdir\\("\\S+/${name}", 0777\\) = 0$`, 'm'), 'the planner makes the groups');
  const writes = explainedWrites(lines);
  t.ok(writes.includes('pids.max "4"'), 'pids.max written');
  t.ok(writes.includes('memory.max "67108864"') || writes.includes('memory.limit_in_bytes "67108864"'), 'the memory limit written');
  t.match(r.stderr, /^\[child\] write\(\d+, "0", 1\) = 1$/m, 'the child moves itself into the group');
  t.match(r.stderr, /^\[child\] execve\("\/usr\/bin\/true", \["true"\], \/\* \d+ vars \*\/\)$/m, 'the program\'s execve');
  t.match(r.stderr, new RegExp(`^\\[parent\\] rmdir\\("\\S+/${name}"\\) = 0$`, 'm'), 'removed by the stage\'s parent');
  t.notMatch(r.stderr, /O_RDONLY/, 'reads are plumbing: not shown without --explain=all');
  createCgroup(name);
  const st = await tool(['--explain=all', 'stats', name]);
  t.match(st.stderr, new RegExp(`^\\[planner\\] openat\\(AT_FDCWD, "\\S+/${name}/pids\\.max", O_RDONLY\\|O_CLOEXEC\\) = \\d+$`, 'm'), 'also before the subcommand; reads with =all');
  t.match(st.stderr, /^\[planner\] openat\(AT_FDCWD, "\/proc\/self\/cgroup", O_RDONLY\|O_CLOEXEC\) = \d+$/m, 'layout detection too');
  const why = await tool(['run', '--explain=why', '--name', name + 'w', '--pids', '4', '--', 'true']);
  cleanUp(t, name + 'w');
  t.match(why.stderr, /pids\.max", O_WRONLY\|O_TRUNC\|O_CLOEXEC\) = \d+\n\[planner\] write\(\d+, "4", 1\) = 1   # the group's "pids\.max" limit$/m, '--explain=why gives the reason');
  const bad = await tool(['--explain=how', 'stats', name]);
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /^ts-cgroup: invalid argument 'how' for --explain/);
});
