// Bad input to ts-cgroup (issue 10): one line naming what is wrong, a non-zero exit, no
// stack trace, no hang, and no group left behind, even when --explain's reader goes away.
import t from 'tap';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openCgroup } from '../../src/cgroup/index.js';
import { cleanUp, skipReason, uniqueName } from './fixtures/helpers.js';

const bin = fileURLToPath(new URL('../../bin/ts-cgroup', import.meta.url));
const skip = skipReason() ?? (existsSync(fileURLToPath(new URL('../../dist/bin/cgroup.cjs', import.meta.url))) ? undefined : 'dist/ is not built');
const plain = ['-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];
const tool = (args: string[]) => execa('env', [...plain, bin, ...args], { reject: false, timeout: 60_000 });
const gone = (name: string) => {
  try {
    return !openCgroup(name).exists();
  } catch {
    return true;
  }
};

function oneLine(t: Tap.Test, r: { exitCode?: number; stderr: string }, re: RegExp): void {
  t.equal(r.exitCode, 1, 'exit 1');
  t.match(r.stderr, re);
  t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

t.test('run --memory 0 and 1: said, before anything is made', { skip }, async (t) => {
  for (const m of ['0', '1', '4096']) {
    const name = uniqueName('mem');
    cleanUp(t, name);
    const r = await tool(['run', '--name', name, '--memory', m, '--', 'true']);
    oneLine(t, r, new RegExp(`^ts-cgroup: invalid memory limit '${m}': at least 1M`));
    t.ok(gone(name), `--memory ${m}: nothing left`);
  }
  const name = uniqueName('mem');
  cleanUp(t, name);
  t.equal((await tool(['run', '--name', name, '--memory', '1M', '--', 'true'])).exitCode, 0, '1M is enough to run');
});

t.test('names of control files are refused', { skip }, async (t) => {
  for (const name of ['tasks', 'cgroup.procs', 'memory.limit_in_bytes', 'pids.max', 'notify_on_release', 'release_agent', 'a/cpu.weight']) {
    const r = await tool(['create', name]);
    oneLine(t, r, new RegExp(`^ts-cgroup: invalid group name '${name.replace('.', '\\.')}': .* cgroup control file`));
  }
  const name = uniqueName('x.y');
  cleanUp(t, name);
  t.equal((await tool(['create', name])).exitCode, 0, 'a dot elsewhere is fine');
});

t.test('run --explain with its reader gone: the group is removed all the same', { skip }, async (t) => {
  for (let i = 0; i < 3; i++) {
    const name = uniqueName('epipe');
    cleanUp(t, name);
    // The reader leaves at the first mkdir: later lines meet a closed pipe.
    const r = await execa('sh', ['-c', `env ${plain.join(' ')} ${bin} run --explain --name ${name} --pids 8 -- sleep 0.2 2>&1 | sed -n '/^mkdir/q'`], { reject: false, timeout: 60_000 });
    t.not(r.signal, 'SIGTERM', 'no hang');
    let left = true;
    for (let k = 0; k < 600 && left; k++, await new Promise((res) => setTimeout(res, 50))) left = !gone(name);
    t.notOk(left, `run ${i}: no group left`);
  }
});
