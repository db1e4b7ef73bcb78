// ts-nsenter against util-linux nsenter 2.38: user namespaces that deny setgroups, the
// working directory after -m/-r, -W/--wdns and -Z (see parity-helpers.ts).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AS_NOBODY, nobodyCannotRunTools, ROOT, run } from './helpers.js';
import { same, sleeper, nsTarget } from './parity-helpers.js';

t.test('nsenter -U and -a into a user namespace that denies setgroups', async (t) => {
  const pid = String(await sleeper(t, ['unshare', '-r']));
  t.equal(readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim(), 'deny');
  await same(t, 'nsenter', ['-t', pid, '-U', 'id']);
  await same(t, 'nsenter', ['-t', pid, '-a', 'id']);
  await same(t, 'nsenter', ['-t', pid, '-U', '-S', '0', '-G', '0', 'id']);
  await same(t, 'nsenter', ['-t', pid, '-U', '--preserve-credentials', 'id']);
  // util-linux drops the caller's supplementary groups before entering; the stage cannot,
  // so we refuse rather than keep them.
  const r = await run('setpriv', ['--groups=5,6', `${ROOT}bin/ts-nsenter`, '-t', pid, '-U', 'id']);
  t.match(r.stderr, /^ts-nsenter: setgroups failed: Operation not permitted \(.*supplementary groups 5,6 would stay/);
  t.equal(r.exitCode, 1);
});

t.test('nsenter -U into its own `unshare -r` namespace, unprivileged', { skip: await nobodyCannotRunTools() }, async (t) => {
  const pid = String(await sleeper(t, ['setpriv', ...AS_NOBODY, 'unshare', '-r']));
  const r = await run('setpriv', [...AS_NOBODY, `${ROOT}bin/ts-nsenter`, '-t', pid, '-U', 'id', '-u']);
  // util-linux 2.38 fails here ("setgroups failed"): it has no groups to drop, yet counts
  // two failed setgroups(2). We go in.
  t.equal(r.stdout, '0');
  t.equal(r.exitCode, 0);
  t.notMatch(r.stderr, /^ts-nsenter:/m);
});

t.test('nsenter -r: after joining a mount namespace the directory is its root', async (t) => {
  const pid = String(await nsTarget(t));
  const r = await same(t, 'nsenter', ['-t', pid, '-m', '-r', 'pwd']);
  t.equal(r.stdout, '/');
  await same(t, 'nsenter', ['-t', pid, '-a', '-r', 'pwd']);
  const kept = await same(t, 'nsenter', ['-t', pid, '-u', '-r', 'pwd'], '-r without -m keeps the directory');
  t.equal(kept.stdout, ROOT.replace(/\/$/, ''));
  await same(t, 'nsenter', ['-t', pid, '-m', 'pwd']);
});

t.test('nsenter -W/--wdns: a directory as seen in the namespace; -Z without SELinux', async (t) => {
  // Inside the target's mount namespace only: a tmpfs with a directory and an absolute
  // symbolic link to it, which must resolve in the namespace's root, not the caller's.
  const dir = mkdtempSync(join(tmpdir(), 'tsns-wdns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pid = String(await sleeper(t, ['unshare', '--mount', '--uts', '--propagation', 'private', 'sh', '-c',
    `mount -t tmpfs tsns-wdns ${dir} && mkdir ${dir}/inner && ln -s ${dir}/inner ${dir}/link && exec "$@"`, 'sh']));
  for (const args of [['-m', '-W', `${dir}/link`], ['-m', `-W${dir}/inner`], ['-m', `--wdns=${dir}/link/../inner`], ['-m', '-W', '/etc'],
    ['-m', '-r', '-W', `${dir}/link`], ['-u', '-W', 'test'], ['-m', '-W', 'test'], ['-m', '-W', '/tsns-no-such-dir'],
    ['-W', '/etc/passwd'], ['-m', '-W', '/etc', '-w'], ['-m', '-w', '-W', '/etc'], ['-m', `-W=${dir}`], ['-u', '-W', ''],
    ['-m', '--root=/etc/passwd'], ['-u', '--wd=/etc/passwd']]) {
    await same(t, 'nsenter', ['-t', pid, ...args, 'pwd']);
  }
  await same(t, 'nsenter', ['-t', pid, '-m', '--wdns', '/etc', 'pwd'], '--wdns takes its value only after "="');
  await same(t, 'nsenter', ['-t', pid, '-m', '-W']);
  await same(t, 'nsenter', ['-t', pid, '-u', '-Z', 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '-u', '--follow-context', '-Zw', 'pwd']);
  await same(t, 'nsenter', ['-Z', 'pwd']);
});
