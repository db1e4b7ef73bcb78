// ts-nsenter against util-linux nsenter, on a process the test puts in fresh namespaces.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';

import { differential, run, tool } from './helpers.js';

/** A process in new uts/ipc/net/pid/mount namespaces, and its pid (the init inside). */
async function target(t: Tap.Test): Promise<number> {
  const child: ChildProcess = spawn('unshare', ['--uts', '--ipc', '--net', '--pid', '--fork', '--mount-proc', 'sh', '-c', 'hostname tsns-target; exec sleep 60'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  for (let i = 0; i < 1000; i++) {
    const kid = (await run('pgrep', ['-P', String(child.pid)])).stdout.split('\n')[0];
    if (kid && (await run('cat', [`/proc/${kid}/cmdline`])).stdout.startsWith('sleep')) return Number(kid);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('target did not start');
}

const same = (t: Tap.Test, args: string[], why: string) => differential(t, 'ts-nsenter', 'nsenter', args, why);

t.test('enter all namespaces of a process', async (t) => {
  const pid = await target(t);
  const r = await same(t, ['-t', String(pid), '-a', 'hostname'], 'hostname');
  t.equal(r.stdout, 'tsns-target');
  for (const ns of ['uts', 'ipc', 'net', 'mnt', 'pid']) {
    const link = (await run('readlink', [`/proc/${pid}/ns/${ns}`])).stdout;
    const inside = await tool('ts-nsenter', ['-t', String(pid), '-a', 'readlink', `/proc/self/ns/${ns}`]);
    t.equal(inside.stdout, link, `${ns} entered`);
  }
});

t.test('pid namespace: ps shows the target\'s processes', async (t) => {
  const pid = await target(t);
  const r = await same(t, ['-t', String(pid), '-p', '-m', 'ps', '-e', '-o', 'comm='], 'ps');
  t.match(r.stdout, /sleep/);
  t.notMatch(r.stdout, /node/);
});

t.test('single namespaces, -F, -w', async (t) => {
  const pid = await target(t);
  await same(t, ['-t', String(pid), '-u', 'hostname'], '-u');
  await same(t, ['-t', String(pid), '-n', 'ip', '-o', 'link'], '-n');
  await same(t, ['-t', String(pid), '-p', '-F', 'sh', '-c', 'echo $$ > /dev/null; echo ok'], '-F');
  await same(t, ['-t', String(pid), '-m', '-w', 'pwd'], '-w');
  await same(t, ['-t', String(pid), '-u', '-S', '65534', '-G', '65534', 'id'], '-S/-G');
  await same(t, ['-t', String(pid), '-m', '-r', 'ls', '/'], '-r');
});

t.test('errors: dead pid, missing target, bad file', async (t) => {
  const cases: [string[], RegExp][] = [
    [['-t', '999999', '-a', 'true'], /^ts-nsenter: stat of \/proc\/999999\/ns\/user failed: No such file or directory$/],
    [['-t', '999999', '-u', 'true'], /^ts-nsenter: cannot open \/proc\/999999\/ns\/uts: No such file or directory$/],
    [['-u', 'true'], /^ts-nsenter: neither filename nor target pid supplied for ns\/uts$/],
    [['--uts=/nonexistent', 'true'], /^ts-nsenter: cannot open \/nonexistent: No such file or directory$/],
    [['--bogus'], /^ts-nsenter: unrecognized option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const ours = await tool('ts-nsenter', args);
    const theirs = await run('nsenter', args);
    t.match(ours.stderr, message, args.join(' '));
    t.equal(ours.exitCode, theirs.exitCode, `${args.join(' ')}: exit status`);
  }
});
