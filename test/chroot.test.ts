// ts-chroot against coreutils chroot on a busybox root.
import t from 'tap';
import { differential, run, tool } from './helpers.js';
import { buildBusyboxRoot } from './rootfs.js';

const same = (t: Tap.Test, args: string[], why: string) => differential(t, 'ts-chroot', 'chroot', args, why);

t.test('runs a command in the new root', async (t) => {
  const root = buildBusyboxRoot(t);
  const r = await same(t, [root, '/bin/sh', '-c', 'pwd; ls /'], 'ls');
  t.match(r.stdout, /^\/\n/);
  await same(t, ['--userspec=nobody:nogroup', root, 'id'], 'userspec by name');
  await same(t, ['--userspec=65534:65534', '--groups=0,65534', root, 'id'], 'userspec and groups');
  await same(t, ['--skip-chdir', '/', 'pwd'], 'skip-chdir');
});

t.test('errors and exit statuses', async (t) => {
  const root = buildBusyboxRoot(t);
  for (const args of [['/nonexistent', 'true'], [root, 'nosuch'], [root, '/etc/passwd'], ['--skip-chdir', root, 'true'], []]) {
    const ours = await tool('ts-chroot', args);
    const theirs = await run('chroot', args);
    t.equal(ours.exitCode, theirs.exitCode, `${args.join(' ')}: exit status`);
    t.match(ours.stderr, /^ts-chroot: /);
    t.notMatch(ours.stderr, /\n\s+at /);
  }
});
