// Ids and id ranges in ts-unshare, ts-nsenter and ts-chroot against util-linux and coreutils,
// and ts-chroot's messages and statuses (see parity-helpers.ts).
import t from 'tap';
import { tmpdir } from 'node:os';
import { same, ours, nsTarget } from './parity-helpers.js';
import { buildBusyboxRoot } from './rootfs.js';

t.test('ts-chroot: coreutils\' messages and statuses', async (t) => {
  for (const args of [['--bogus'], ['-x', '/'], ['--userspec'], ['--skip-chdir=x', '/'], ['--skip-chdir', tmpdir(), 'true'], ['--skip-chdir', '/.', 'pwd'],
    ['/', 'tsns-no-such-command'], ['/', '/etc/passwd'], ['/nonexistent', 'true'], ["/tmp/tsns-it's", 'true']]) {
    await same(t, 'chroot', args);
  }
  const root = buildBusyboxRoot(t);
  for (const args of [['--userspec=nobody.nogroup', root, 'id'], ['--userspec=65534', root, 'id'], ['--userspec=12345', root, 'id'],
    ['--userspec=nosuch', root, 'id'], ['--userspec=0:nosuch', root, 'id'], ['--groups=nosuch1,nosuch2', root, 'id'], ['--groups=,', root, 'id'],
    ['--groups=+0,nogroup', root, 'id'], ['--userspec=+65534:+65534', root, 'id'], ['--userspec=nobody:', root, 'id']]) {
    await same(t, 'chroot', args);
  }
});

t.test('id ranges the kernel would refuse: one line, no stack trace', async (t) => {
  await same(t, 'unshare', ['--map-users=0,4294967295,1', 'true']);
  await same(t, 'unshare', ['--map-users=4294967295,0,1', 'true']);
  await same(t, 'unshare', ['--map-users=1,,3', 'true']);
  await same(t, 'unshare', ['--map-users=1,2,3,4', 'true']);
  // util-linux leaves these to newuidmap, which refuses them in its own words
  await ours(t, 'unshare', ['--map-users=0,0,0', 'true'], /^ts-unshare: invalid mapping '0,0,0': no ids$/);
  await ours(t, 'unshare', ['--map-users=0,4294967294,2', 'true'], /^ts-unshare: invalid mapping '0,4294967294,2': the range passes the last id/);
  await ours(t, 'unshare', ['--map-groups=4294967294,0,2', 'true'], /^ts-unshare: invalid mapping '4294967294,0,2'/);
});

t.test('ids that are no ids: (uid_t)-1 and numbers past 32 bits', async (t) => {
  for (const args of [['-S', '4294967295', 'id'], ['-G', '4294967295', 'id'], ['-S', '-1', 'id'], ['-S', '18446744073709551615', 'id'],
    ['-S', '18446744073709551616', 'id'], ['-S', '4294967295', '-G', '4294967295', 'id'], ['-S', '+5', 'id', '-u'], ['-S', ' 5', 'id', '-u'],
    ['-S', '5x', 'id'], ['-S', '4294967294', 'id', '-u']]) {
    await same(t, 'unshare', args);
  }
  // util-linux truncates to 32 bits and runs these as root (uid 0)
  await ours(t, 'unshare', ['-S', '4294967296', 'id'], /^ts-unshare: setuid failed: Invalid argument$/);
  await ours(t, 'unshare', ['-G', '4294967296', 'id'], /^ts-unshare: setgid failed: Invalid argument$/);
  await ours(t, 'unshare', ['--map-user=4294967296', 'id'], /^ts-unshare: failed to parse uid: '4294967296': Numerical result out of range$/);
  await ours(t, 'unshare', ['--map-users=0,4294967296,1', 'id'], /^ts-unshare: could not parse ID: '4294967296': Numerical result out of range$/);
  // util-linux takes (uid_t)-1 for "no --map-user" and runs the program unmapped
  await ours(t, 'unshare', ['--map-user=4294967295', 'id'], /^ts-unshare: failed to parse uid: '4294967295': Numerical result out of range$/);
  await ours(t, 'unshare', ['--map-group=-1', 'id'], /^ts-unshare: failed to parse gid: '-1': Numerical result out of range$/);

  const pid = String(await nsTarget(t));
  for (const args of [['-S', '4294967295'], ['-G', '4294967295'], ['-S', '-1'], ['-S', '4294967294', '-G', '4294967294']]) {
    await same(t, 'nsenter', ['-t', pid, '-u', ...args, 'id']);
  }
  await ours(t, 'nsenter', ['-t', pid, '-u', '-S', '4294967296', 'id'], /^ts-nsenter: setuid failed: Invalid argument$/);

  for (const spec of ['4294967295:4294967295', '4294967295', '0:4294967295', '4294967296', '0:4294967296', '-1', '0:-1']) {
    await same(t, 'chroot', [`--userspec=${spec}`, '/', 'id']);
  }
  for (const groups of ['4294967295', '0,4294967295', '4294967296']) await same(t, 'chroot', [`--groups=${groups}`, '/', 'id']);
});
