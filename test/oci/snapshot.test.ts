// ts-oci's planner starts from a V8 start-up snapshot (scripts/bundle.mjs), which the stage
// takes only where its stamp names the node binary about to run (native/tool.c). What the
// snapshot froze must not leak into a run: the stage's variables, the arguments.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../helpers.js';
import { create, makeBundle, oci, withoutTap } from './helpers.js';

const STAMP = `${ROOT}dist/bin/oci.blob.stamp`;

/** `ts-oci args` under strace: its output, and the planner's node arguments. */
function traced(args: string[], env: Record<string, string> = {}): { stdout: string; status: number | null; planner: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-snap-'));
  try {
    const log = join(dir, 'log');
    // This node first on PATH (under tap another may come first, whose stamp differs), and
    // tap's NODE_OPTIONS out (its process-info adds them to every child's environment).
    const vars = Object.entries({ PATH: `${dirname(process.execPath)}:${process.env.PATH}`, ...env }).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync('env', ['-u', 'NODE_OPTIONS', ...vars, 'strace', '-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-e', 'signal=none', '-o', log, `${ROOT}bin/ts-oci`, ...args], { encoding: 'utf8', env: withoutTap() });
    // Every try of the PATH search has the same arguments (and a line may be cut by another process's).
    const planner = readFileSync(log, 'utf8').split('\n').find((l) => l.includes('execve(') && l.includes('dist/bin/oci.cjs')) ?? '';
    return { stdout: r.stdout, status: r.status, planner };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('the planner starts from the snapshot where the stamp names this node, and from its bundle otherwise, with the same result', { skip: !existsSync(STAMP) && 'no snapshot was built here' }, async (t) => {
  const snap = traced(['features']);
  t.equal(snap.status, 0);
  t.match(snap.planner, /"--snapshot-blob", "[^"]*dist\/bin\/oci\.blob", "[^"]*dist\/bin\/oci\.cjs", "features"/, 'node got the blob');
  // Another node binary (here a script that runs node): its stamp differs, so no blob.
  const dir = t.testdir({});
  const other = join(dir, 'node');
  writeFileSync(other, '#!/bin/sh\nexec node "$@"\n');
  chmodSync(other, 0o755);
  const plain = traced(['features'], { TSNS_NODE: other });
  t.equal(plain.status, 0);
  t.notMatch(plain.planner, /snapshot-blob/, 'no blob for another node');
  t.equal(snap.stdout, plain.stdout, 'the same features either way');
  // A V8 flag in NODE_OPTIONS would make node refuse the snapshot: the bundle then.
  const flagged = traced(['features'], { NODE_OPTIONS: '--max-old-space-size=512' });
  t.equal(flagged.status, 0, 'NODE_OPTIONS with a V8 flag: it runs');
  t.notMatch(flagged.planner, /snapshot-blob/, 'from the bundle');
  t.equal(flagged.stdout, snap.stdout);
});

t.test('what the snapshot saw at build time does not reach a container: the stage\'s variables are taken at each run', async (t) => {
  const b = await makeBundle(t, (c) => { c.process.args = ['sh', '-c', 'env | grep ^TSNS_ ; echo done']; });
  t.equal(create(b, 'env').exitCode, 0);
  t.equal(oci(b, ['start', 'env']).exitCode, 0);
  for (let k = 0; k < 3000 && !readFileSync(b.out, 'utf8').includes('done'); k++) await new Promise((r) => setTimeout(r, 10));
  t.equal(readFileSync(b.out, 'utf8'), 'done\n', 'no TSNS_ variable in the container');
  t.equal(oci(b, ['delete', '--force', 'env']).exitCode, 0);
  // Two runs with other arguments: nothing of one is kept for the next.
  t.match(oci(b, ['state', 'nosuch1']).stderr, /nosuch1/);
  t.match(oci(b, ['state', 'nosuch2']).stderr, /nosuch2/);
});
