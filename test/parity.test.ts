// Parity of ts-unshare, ts-nsenter and ts-chroot with util-linux 2.38 and coreutils in option
// parsing: values of options, abbreviations, -V/--version, empty values. Each case runs both
// tools and compares stdout, exit status and stderr (see parity-helpers.ts).
import t from 'tap';
import { run, tool } from './helpers.js';
import { VERSION, same, nsTarget } from './parity-helpers.js';

t.test('values of options that take one are skipped, not read as options (getopt)', async (t) => {
  await same(t, 'unshare', ['--propagation', 'private', '--mount-proc=/proc', '-f', '-p', 'readlink', '/proc/self']);
  await same(t, 'unshare', ['-fpS', '0', '--mount-proc', 'id', '-u']);
  await same(t, 'unshare', ['-R', '/', '-w', '/tmp', '--mount-proc=/proc', '-fp', 'pwd']);
  const pid = String(await nsTarget(t));
  await same(t, 'nsenter', ['-t', pid, `--uts=/proc/${pid}/ns/uts`, 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '-m', `--root=/proc/${pid}/root`, 'ls', '/']);
  await same(t, 'nsenter', ['-S', '0', '-t', pid, '-u', 'id']);
  await same(t, 'nsenter', ['-Ft', pid, '-u', 'hostname']);
  await same(t, 'nsenter', [`-t${pid}`, '-u', 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '-uZ', 'true'], 'a clustered optional value');
  await same(t, 'nsenter', ['-t', pid, `-u=/proc/${pid}/ns/uts`, 'true'], 'no "=" is taken off');
  // getopt's words for a missing value or a value where none is taken
  await same(t, 'unshare', ['--propagation']);
  await same(t, 'unshare', ['-S']);
  await same(t, 'unshare', ['--fork=yes', 'true']);
  await same(t, 'nsenter', ['-t']);
});

t.test('long options may be abbreviated, as getopt_long allows', async (t) => {
  await same(t, 'unshare', ['--prop', 'private', '--mount-p=/proc', '-fp', 'readlink', '/proc/self']);
  await same(t, 'unshare', ['--map-r', 'id']);
  await same(t, 'unshare', ['--map-u=0', 'id'], 'an ambiguous prefix');
  await same(t, 'unshare', ['-r', 'ls', '--m', '/dev/null'], 'not past the program');
  const pid = String(await nsTarget(t));
  await same(t, 'nsenter', ['--ta', pid, '--ut', 'hostname']);
  await same(t, 'nsenter', ['-t', pid, '--w=/', 'true'], 'an ambiguous prefix');
  await same(t, 'chroot', ['--user=nobody', '/', 'id']);
  await same(t, 'chroot', ['--sk', '/', 'pwd']);
});

t.test('-V and --version', async (t) => {
  for (const name of ['unshare', 'nsenter']) {
    for (const flag of ['-V', '--version']) {
      const r = await tool(`ts-${name}`, [flag]);
      t.equal(r.stdout, `ts-${name} from tsns ${VERSION}`, `${name} ${flag}`);
      t.equal(r.exitCode, 0);
      const theirs = await run(name, [flag]);
      t.match(theirs.stdout, new RegExp(`^${name} from util-linux \\d`), 'the same shape as util-linux');
    }
  }
  t.equal((await tool('ts-unshare', ['-r', '-V'])).stdout, `ts-unshare from tsns ${VERSION}`, 'after other options');
  for (const name of ['lsns', 'cgroup', 'vserver']) t.equal((await tool(`ts-${name}`, ['-V'])).stdout, `ts-${name} from tsns ${VERSION}`, `ts-${name} -V`);
  // coreutils' chroot has --version only; its first line is "chroot (GNU coreutils) 9.1"
  const r = await tool('ts-chroot', ['--version']);
  t.equal(r.stdout, `ts-chroot (tsns) ${VERSION}`);
  t.equal(r.exitCode, 0);
  await same(t, 'chroot', ['-V']);
  await same(t, 'chroot', ['-h'], 'coreutils has --help only');
});

t.test('empty values: one line and util-linux\'s status, no stack trace', async (t) => {
  for (const args of [['--mount-proc=', 'true'], ['--map-users=', 'true'], ['--map-groups=', 'true'], ['--map-user=', 'true'],
    ['--monotonic=', 'true'], ['--boottime=', 'true'], ['--kill-child=', 'true'], ['--setgroups=', 'true'], ['-w', '', 'true']]) {
    await same(t, 'unshare', args);
  }
  for (const kind of ['user', 'uts', 'mount']) {
    const [r, theirs] = await Promise.all([tool('ts-unshare', [`--${kind}=`, 'true']), run('unshare', [`--${kind}=`, 'true'])]);
    // util-linux names its own pid in the source; the rest is the same
    t.equal(r.stderr.replace(/\/proc\/\S+\/ns/, '/proc/PID/ns'), theirs.stderr.replace('unshare', 'ts-unshare').replace(/\/proc\/\d+\/ns/, '/proc/PID/ns'), `--${kind}=`);
    t.equal(r.exitCode, theirs.exitCode);
  }
  const pid = String(await nsTarget(t));
  for (const args of [['--user=', 'true'], ['-t', pid, '--user=', 'true'], ['-t', pid, '--uts=', 'true'], ['-t', pid, '--root=', 'true'],
    ['-t', pid, '--wd=', 'true'], ['-t', pid, '-w=', 'true'], ['-t', pid, '--wdns=', 'true'], ['-t', '', 'true'], ['-t', pid, '-S', '', 'true']]) {
    await same(t, 'nsenter', args);
  }
  await same(t, 'chroot', ['', 'true']);
});
