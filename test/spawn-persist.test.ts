// Persisted namespaces (spawn's `persist`): kept on success, and taken back, bind mount and
// any file spawn made, when the spawn fails at any point after they were made.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from '../src/spawn/index.js';
import { StepError } from '../src/native/stage.js';
import { MNT_DETACH, umount2 } from '../src/sys/mount.js';
import type { SpawnSpec } from '../src/spawn/index.js';

/** Mount points of this process's mount namespace (the fifth field of mountinfo, unescaped). */
function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

const isMounted = (path: string) => mountPoints().includes(path);

/** A fresh directory for this test, removed (with anything still mounted in it) at its end. */
function scratch(t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-persist-'));
  t.teardown(() => {
    for (const p of mountPoints().filter((m) => m.startsWith(dir + '/')).reverse()) {
      try { umount2(p, MNT_DETACH); } catch { /* gone already */ }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

t.test('a failed chroot after the sync step leaves no bind mount and no file', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'uts');
  const err = t.throws(() => spawn({ namespaces: ['uts'], persist: { uts: file }, root: '/nonexistent' }, ['true']));
  t.type(err, StepError);
  t.match(err, { step: { op: 'chroot' }, code: 'ENOENT' });
  t.notOk(isMounted(file), 'no bind mount on the file');
  t.notOk(existsSync(file), 'the file spawn made is gone');
});

t.test('a missing program: the mount goes, a file the caller made stays', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'uts');
  writeFileSync(file, '');
  const err = t.throws(() => spawn({ namespaces: ['uts'], persist: { uts: file } }, ['/nonexistent/program']));
  t.match(err, { step: { op: 'exec' }, code: 'ENOENT' });
  t.notOk(isMounted(file), 'no bind mount on the file');
  t.ok(existsSync(file) && statSync(file).isFile(), 'the caller\'s file is still there');
});

t.test('several namespaces, and a prepare hook that throws', async (t) => {
  const dir = scratch(t);
  const persist = { uts: join(dir, 'uts'), ipc: join(dir, 'ipc'), net: join(dir, 'net') };
  let sawMounts = false;
  t.throws(() => spawn({
    namespaces: ['uts', 'ipc', 'net'],
    persist,
    prepare: () => {
      sawMounts = Object.values(persist).every(isMounted);
      throw new Error('no veth for you');
    },
  }, ['true']), /no veth for you/);
  t.ok(sawMounts, 'the namespaces were persisted before prepare ran');
  for (const [kind, file] of Object.entries(persist)) {
    t.notOk(isMounted(file), `${kind}: no bind mount`);
    t.notOk(existsSync(file), `${kind}: no file`);
  }
});

t.test('a spawn that succeeds keeps its namespaces; a later failing spawn with the same spec leaves them alone', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'uts');
  const spec: SpawnSpec = { namespaces: ['uts'], hostname: 'kept', persist: { uts: file } };
  const ok = spawn(spec, ['true']);
  // At once, in the same tick: the failure comes before this spawn's own sync step.
  t.type(t.throws(() => spawn({ ...spec, cgroups: ['/nonexistent-cgroup'] }, ['true'])), StepError);
  t.same(await ok.exited, { code: 0, signal: null });
  t.ok(isMounted(file), 'the first spawn\'s namespace is still persisted');
  // And a failure after the sync step takes back only its own mount, stacked on the first.
  t.type(t.throws(() => spawn({ ...spec, root: '/nonexistent' }, ['true'])), StepError);
  t.equal(mountPoints().filter((m) => m === file).length, 1, 'exactly the first mount is left');
  const reader = spawn({ join: [{ kind: 'uts', path: file }], stdio: ['ignore', 'pipe', 'inherit'] }, ['hostname']);
  let out = '';
  for await (const chunk of reader.stdout!) out += chunk;
  t.equal(out, 'kept\n', 'and it is the namespace the first spawn made');
  await reader.exited;
});

t.test('persisting onto a file in a missing directory fails and leaves nothing', async (t) => {
  const dir = scratch(t);
  const good = join(dir, 'ipc');
  const missing = join(dir, 'no-such-dir', 'uts');
  t.throws(() => spawn({ namespaces: ['ipc', 'uts'], persist: { ipc: good, uts: missing } }, ['true']));
  t.notOk(isMounted(good), 'the first mount is taken back');
  t.notOk(existsSync(good), 'and its file');
  t.notOk(existsSync(join(dir, 'no-such-dir')));
});
