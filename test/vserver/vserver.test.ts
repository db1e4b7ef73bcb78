// ts-vserver on the real kernel: build, two vservers at once, enter/exec/ps/kill/stop,
// config errors with FILE:LINE, failed starts, and nothing left behind.
import t from 'tap';
import { scratch } from './fixture.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const { base, conf, run, rootBase, tag, vserver, config } = scratch('tsns-vs-test-', 't');

function leftovers(name: string): string[] {
  const out: string[] = [];
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(run)) out.push(`mounts under ${run}`);
  if (existsSync(join(run, 'vserver', name))) out.push(`state dir of ${name}`);
  for (const h of readdirSync('/sys/fs/cgroup')) {
    if (existsSync(`/sys/fs/cgroup/${h}/tsns-vs-${name}`)) out.push(`cgroup ${h}/tsns-vs-${name}`);
  }
  return out;
}

const A = `${tag}a`, B = `${tag}b`;
const shared = join(rootBase, A);

t.test('build --busybox makes a root filesystem', async (t) => {
  config(A, `# vserver A\nS_HOSTNAME=vs-alpha\nPIDS=64\nMEMORY="128M"\nS_NICE=5\nULIMIT='-n 512'\n`);
  config(B, `S_HOSTNAME=vs-beta\nROOTDIR=${shared}\nS_FLAGS="fakeinit"\n`);
  const r = await vserver([A, 'build', '--busybox']);
  t.equal(r.exitCode, 0, r.stderr);
  // What it is doing goes to stderr, ending with what was built where.
  t.match(r.stderr, new RegExp(`^ts-vserver: ${A}: copying .*, linking its \\d+ applets$`, 'm'));
  t.match(r.stderr, new RegExp(`^ts-vserver: ${A}: built a busybox root in ${shared}$`, 'm'));
  for (const f of ['bin/busybox', 'bin/sh', 'bin/ps', 'etc/passwd', 'etc/group', 'dev/null']) t.ok(existsSync(join(shared, f)), f);
  const again = await vserver([A, 'build', '--busybox']);
  t.equal(again.exitCode, 1);
  t.match(again.stderr, /not empty/);
});

t.test('two vservers at once: own processes and hostname; enter, exec, ps, kill, stop', async (t) => {
  t.teardown(async () => {
    await vserver([A, 'stop']);
    await vserver([B, 'stop']);
  });
  const sa = await vserver([A, 'start']);
  t.equal(sa.exitCode, 0, sa.stderr);
  const sb = await vserver([B, 'start', '--', '/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 2 & wait $!; done']);
  t.equal(sb.exitCode, 0, sb.stderr);
  const st = await vserver([A, 'status']);
  t.match(st.stdout, /is running/);

  const ha = await vserver([A, 'exec', 'hostname']);
  const hb = await vserver([B, 'exec', 'hostname']);
  t.equal(ha.stdout, 'vs-alpha', ha.stderr);
  t.equal(hb.stdout, 'vs-beta', hb.stderr);
  const pa = await vserver([A, 'exec', 'ps', '-o', 'pid,args']);
  const pb = await vserver([B, 'exec', 'ps', '-o', 'pid,args']);
  t.match(pa.stdout, /^\s*1 \/bin\/sh -c trap/m);
  t.match(pa.stdout, /sleep 1/);
  t.notMatch(pa.stdout, /sleep 2/, 'A does not see B');
  t.match(pb.stdout, /sleep 2/);
  t.notMatch(pb.stdout, /sleep 1/, 'B does not see A');
  // ULIMIT is applied by the init's shell, so it holds for the init and its descendants.
  const lim = await vserver([A, 'exec', 'sh', '-c', 'grep "Max open files" /proc/1/limits; cut -d" " -f19 /proc/1/stat']);
  t.match(lim.stdout, /^Max open files\s+512\s+512/, 'ULIMIT applied');
  t.match(lim.stdout, /\n5$/, 'S_NICE applied');

  const en = await vserver([A, 'enter'], { input: 'echo in-$(hostname)\nexit 0\n' });
  t.equal(en.exitCode, 0, en.stderr);
  t.match(en.stdout, /in-vs-alpha/);

  const sleeper = vserver([A, 'exec', 'sleep', '100']);
  let ps = '';
  for (let i = 0; i < 150 && !/sleep 100/.test(ps); i++) ps = (await vserver(['ps', A])).stdout;
  const line = ps.split('\n').find((l) => /sleep 100/.test(l))!;
  t.ok(line, ps);
  const [inside, host] = line.trim().split(/\s+/).map(Number);
  t.ok(inside < 100 && host !== inside, `pid inside (${inside}) differs from host pid (${host})`);
  const k = await vserver(['kill', A, String(inside), 'KILL']);
  t.equal(k.exitCode, 0, k.stderr);
  const ended = await sleeper;
  t.equal(ended.signal, 'SIGKILL');

  const l = await vserver(['list']);
  t.match(l.stdout, new RegExp(`^${A}\\s+running`, 'm'));
  t.match(l.stdout, new RegExp(`^${B}\\s+running`, 'm'));

  t.equal((await vserver([A, 'stop'])).exitCode, 0);
  t.equal((await vserver([B, 'stop'])).exitCode, 0);
  t.same(leftovers(A), []);
  t.same(leftovers(B), []);
  const gone = await vserver([A, 'status']);
  t.equal(gone.exitCode, 3);
  const again = await vserver([A, 'stop']);
  t.equal(again.exitCode, 1);
  t.match(again.stderr, /is not running/);
});

t.test('start --all-onboot starts the vservers marked ONBOOT=yes and no others', async (t) => {
  const on = `${tag}on`, off = `${tag}off`;
  config(on, `S_HOSTNAME=vs-on\nROOTDIR=${shared}\nONBOOT=yes\n`);
  config(off, `S_HOSTNAME=vs-off\nROOTDIR=${shared}\nONBOOT=no\n`);
  t.teardown(async () => {
    await vserver([on, 'stop']);
    await vserver([off, 'stop']);
  });
  const r = await vserver(['start', '--all-onboot']);
  t.equal(r.exitCode, 0, r.stderr);
  t.equal((await vserver([on, 'status'])).exitCode, 0, 'ONBOOT=yes is running');
  t.equal((await vserver([off, 'status'])).exitCode, 3, 'ONBOOT=no is not');
  t.equal((await vserver([on, 'exec', 'hostname'])).stdout, 'vs-on');
  t.equal((await vserver([on, 'stop'])).exitCode, 0);
  t.same(leftovers(on), [], 'nothing left behind');
});

t.test('config errors name FILE:LINE', async (t) => {
  const cases: [string, RegExp][] = [
    ['S_HOSTNAME=x\n\nFOO=1\n', /:3: unknown key 'FOO'/],
    ['S_NICE=99\n', /:1: S_NICE: expected a number from -20 to 19, got '99'/],
    ['IPROOT="10.0.0.300"\n', /:1: IPROOT: invalid IP address/],
    ['IPROOT="10.0.0.10 fe80::1"\n', /:1: IPROOT: invalid IP address 'fe80::1': link-local address/],
    ['# c\nS_FLAGS="lock bogus"\n', /:2: S_FLAGS: unknown flag 'bogus'/],
    ['MEMORY=lots\n', /:1: MEMORY: invalid memory limit/],
    ['S_CAPS=CAP_NOPE\n', /:1: S_CAPS: unknown capability/],
    ['S_HOSTNAME="unterminated\n', /:1: unterminated double quote/],
    ['ROOTDIR=$HOME/x\n', /:1: expansions/],
  ];
  const { parseConfig } = await import('../../dist/vserver/config.js');
  for (const [text, re] of cases) await t.rejects(parseConfig(text, '/x/v.conf', 'v'), { name: 'ConfigError', message: new RegExp(`^/x/v\\.conf${re.source}`) }, text);
  // IPv6 in IPROOT: IPROOTMASK (an IPv4 netmask) applies to the IPv4 addresses only
  const v6 = await parseConfig('IPROOT="10.0.0.10 2001:db8::10 fd00::1/64"\nIPROOTMASK=255.255.255.0\n', '/x/v.conf', 'v');
  t.same(v6.ips, ['10.0.0.10/24', '2001:db8::10/128', 'fd00::1/64']);
  // And through the tool: one line, exit 1, nothing made.
  const n = `${tag}bad`;
  config(n, cases[0][0]);
  const r = await vserver([n, 'start']);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, new RegExp(`^ts-vserver: ${join(conf, n)}\\.conf:3: unknown key 'FOO'`));
  t.same(leftovers(n), []);
});

t.test('a failed start leaves nothing behind', async (t) => {
  const C = `${tag}c`;
  config(C, `ROOTDIR=${shared}\n`);
  const r = await vserver([C, 'start', '--', '/no/such/init']);
  t.equal(r.exitCode, 127, r.stderr);
  t.match(r.stderr, /failed to execute \/no\/such\/init/);
  t.same(leftovers(C), []);
  const d = await vserver([C, 'start', '--', '/bin/sh', '-c', 'exit 4']);
  t.equal(d.exitCode, 1);
  t.match(d.stderr, /init ended at once \(exit status 4\)/);
  t.same(leftovers(C), []);
  const D = `${tag}d`;
  config(D, `ROOTDIR=${join(base, 'nowhere')}\n`);
  const m = await vserver([D, 'start']);
  t.match(m.stderr, /no root filesystem/);
  t.same(leftovers(D), []);
});
