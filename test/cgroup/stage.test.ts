// ts-cgroup run as the stage: what stays while the program runs is the small C parent,
// signals sent to it reach the program, and a parent killed leaves a group the next run removes.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openCgroup } from '../../src/cgroup/index.js';
import { cleanUp, skipReason, sleep, uniqueName } from './fixtures/helpers.js';

const bin = fileURLToPath(new URL('../../bin/ts-cgroup', import.meta.url));
const skip = skipReason() ?? (existsSync(fileURLToPath(new URL('../../dist/bin/cgroup.cjs', import.meta.url))) ? undefined : 'dist/ is not built');
const plain = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];
const tool = (args: string[]) => execa('env', [...plain, bin, ...args], { reject: false, timeout: 20_000 });

const exists = (name: string) => {
  try {
    return openCgroup(name).exists();
  } catch {
    return false;
  }
};

/** Wait until `probe` holds, for up to `ms` (a loaded machine may take seconds to start the tool). */
async function until(probe: () => boolean, ms = 30_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (probe()) return true;
  return probe();
}

/** The process in the group running `sleep`, once it has exec'd. */
async function sleeper(name: string): Promise<number | undefined> {
  let pid: number | undefined;
  await until(() => {
    pid = exists(name) ? openCgroup(name).procs().find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep') : undefined;
    return pid !== undefined;
  });
  return pid;
}

t.test('the parent that stays is small, and SIGTERM to it reaches the program', { skip, timeout: 60_000 }, async (t) => {
  const name = uniqueName('stage');
  cleanUp(t, name);
  const child = execa('env', [...plain, bin, 'run', '--name', name, '--', 'sleep', '30'], { reject: false, timeout: 40_000 });
  const program = await sleeper(name);
  t.ok(program, 'the program runs in the group');
  const parent = child.pid!; // env execs the shim, which execs the stage: one pid throughout
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${parent}/status`, 'utf8'))?.[1]);
  t.ok(rss > 0 && rss < 8 * 1024, `RSS of the parent: ${rss} kB`);
  t.notMatch(readFileSync(`/proc/${parent}/cmdline`, 'utf8'), /node/, 'no Node process waits');
  process.kill(parent, 'SIGTERM');
  const r = await child;
  t.equal(r.signal, 'SIGTERM', 'the tool ends as the program did: by SIGTERM');
  t.notOk(existsSync(`/proc/${program}`), 'the program got it');
  t.ok(await until(() => !exists(name)), 'the group is removed');
});

t.test('kill -9 of the parent: the program dies with it, the next run removes the group', { skip, timeout: 60_000 }, async (t) => {
  const name = uniqueName('killed');
  cleanUp(t, name);
  const child = execa('env', [...plain, bin, 'run', '--name', name, '--', 'sleep', '30'], { reject: false, timeout: 40_000 });
  const program = await sleeper(name);
  t.ok(program, 'the program runs in the group');
  process.kill(child.pid!, 'SIGKILL');
  await child;
  t.ok(await until(() => !existsSync(`/proc/${program}`)), 'the program is killed with its parent');
  // The group stays until a run removes it: this one's next, or one of another test file
  // running at the same time (ts-cgroup and ts-sandbox runs share the records), which may come first.
  const stayed = exists(name);
  const next = await tool(['run', '--', 'true']);
  t.equal(next.exitCode, 0, next.stderr);
  t.notOk(exists(name), stayed ? 'the next run removed it' : 'another run removed it first');
});

t.test('a group still busy at the end keeps its record, and the next run removes both', { skip, timeout: 60_000 }, async (t) => {
  const name = uniqueName('busy');
  cleanUp(t, name);
  // A child group made inside keeps the run's group from going (EBUSY past the stage's
  // 2 s of retries), as a process the kill could not reach would.
  const r = await tool(['run', '--name', name, '--pids', '8', '--', 'sh', '-c',
    `for d in /sys/fs/cgroup/*/${name} /sys/fs/cgroup/${name}; do [ -d "$d" ] && mkdir "$d/held"; done; true`]);
  t.equal(r.exitCode, 0, r.stderr);
  const records = () => readdirSync('/run/tsns/cgroup').filter((f) => {
    try {
      return (JSON.parse(readFileSync(`/run/tsns/cgroup/${f}`, 'utf8')) as { name?: string }).name === name;
    } catch {
      return false;
    }
  });
  t.ok(exists(name), 'the group could not go');
  t.equal(records().length, 1, 'its record stays, naming it');
  // What kept it busy goes (the sweep removes no child group it did not make); then the next run removes both.
  for (const dir of openCgroup(name).dirs) rmdirSync(`${dir}/held`);
  await tool(['run', '--pids', '4', '--', 'true']);
  t.ok(await until(() => !exists(name)), 'the next run removed the group');
  t.same(records(), [], 'and the record');
});
