// ts-reducecap: what is dropped (resolveCapDrop), and that the kernel then refuses for real.
import t from 'tap';
import { CAP_NAMES, capLastCap, parseCap } from '../src/sys/caps.js';
import { SECURE_DROP, resolveCapDrop } from '../src/sandbox/caps.js';
import { run, tool } from './helpers.js';

const bit = (mask: bigint, cap: number) => (mask >> BigInt(cap)) & 1n;
/** CapBnd, CapEff, CapPrm, CapInh, CapAmb of a /proc/PID/status text. */
function sets(status: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const m of status.matchAll(/^Cap(\w+):\s*([0-9a-f]+)$/gm)) out[m[1]] = BigInt('0x' + m[2]);
  return out;
}
const SYS_ADMIN = parseCap('SYS_ADMIN'), NET_ADMIN = parseCap('NET_ADMIN'), CHOWN = parseCap('CHOWN');

t.test('resolveCapDrop', async (t) => {
  t.same(resolveCapDrop({ cap: ['sys_admin', 'CAP_NET_RAW', '0'] }), [0, 13, 21]);
  t.same(resolveCapDrop({ secure: true }), [...SECURE_DROP].sort((a, b) => a - b));
  t.notOk(resolveCapDrop({ secure: true, keep: ['NET_ADMIN'] }).includes(NET_ADMIN), '--keep wins over --secure');
  t.notOk(resolveCapDrop({ cap: ['net_admin'], keep: ['CAP_NET_ADMIN'] }).includes(NET_ADMIN), '--keep wins over --cap');
  t.equal(resolveCapDrop({ cap: ['ALL'] }).length, capLastCap() + 1);
  t.same(resolveCapDrop({ cap: ['all'], keep: ['all'] }), []);
  t.throws(() => resolveCapDrop({ cap: ['bogus'] }), { name: 'TypeError', message: 'unknown capability: bogus' });
  // The documented list, name by name (docs/ts-reducecap.md).
  t.same(SECURE_DROP.map((c) => CAP_NAMES[c]), [
    'CAP_LINUX_IMMUTABLE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
    'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
    'CAP_SYS_TIME', 'CAP_MKNOD', 'CAP_SYS_BOOT', 'CAP_SYSLOG', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
    'CAP_MAC_ADMIN', 'CAP_MAC_OVERRIDE', 'CAP_AUDIT_CONTROL', 'CAP_DAC_READ_SEARCH', 'CAP_SYS_PTRACE',
  ]);
});

t.test('--cap: gone from the bounding, effective and permitted sets; the rest stays', async (t) => {
  const r = await tool('ts-reducecap', ['--cap', 'SYS_ADMIN', '--', 'cat', '/proc/self/status']);
  t.equal(r.exitCode, 0);
  const s = sets(r.stdout);
  for (const set of ['Bnd', 'Eff', 'Prm', 'Inh', 'Amb']) t.equal(bit(s[set], SYS_ADMIN), 0n, `Cap${set} lacks CAP_SYS_ADMIN`);
  for (const set of ['Bnd', 'Eff', 'Prm']) t.equal(bit(s[set], CHOWN), 1n, `Cap${set} keeps CAP_CHOWN`);
  t.match(r.stdout, /^NoNewPrivs:\s*0$/m);
});

t.test('--secure drops the documented list; --keep keeps one; --no-new-privs', async (t) => {
  const r = await tool('ts-reducecap', ['--secure', '--keep', 'net_admin', '--no-new-privs', 'cat', '/proc/self/status']);
  t.equal(r.exitCode, 0);
  const s = sets(r.stdout);
  for (const cap of SECURE_DROP.filter((c) => c !== NET_ADMIN)) {
    for (const set of ['Bnd', 'Eff', 'Prm']) if (bit(s[set], cap)) t.fail(`Cap${set} still has ${CAP_NAMES[cap]}`);
  }
  t.equal(bit(s.Bnd, NET_ADMIN) & bit(s.Eff, NET_ADMIN), 1n, 'CAP_NET_ADMIN kept');
  t.match(r.stdout, /^NoNewPrivs:\s*1$/m);
});

t.test('what needs a dropped capability fails for real', async (t) => {
  // Control runs first: the same commands succeed with all capabilities.
  const uts = ['unshare', '--uts', 'hostname', 'tsns-reducecap'];
  t.equal((await run(uts[0], uts.slice(1))).exitCode, 0, 'control: unshare --uts hostname');
  const noAdmin = await tool('ts-reducecap', ['--cap', 'SYS_ADMIN', '--', ...uts]);
  t.not(noAdmin.exitCode, 0, 'without CAP_SYS_ADMIN');
  t.match(noAdmin.stderr, /Operation not permitted/);
  // A new network namespace: the link exists only there.
  const net = ['unshare', '-n', 'ip', 'link', 'add', 'name', 'v0', 'type', 'veth', 'peer', 'name', 'v1'];
  t.equal((await run(net[0], net.slice(1))).exitCode, 0, 'control: ip link add in a new netns');
  const noNet = await tool('ts-reducecap', ['--cap', 'NET_ADMIN', '--', ...net]);
  t.not(noNet.exitCode, 0, 'without CAP_NET_ADMIN');
  t.match(noNet.stderr, /Operation not permitted/);
});

t.test('--show prints the sets by name', async (t) => {
  const r = await tool('ts-reducecap', ['--cap', 'SYS_ADMIN', '--show']);
  t.equal(r.exitCode, 0, 'without a program: print and exit');
  t.same(r.stdout.split('\n').map((l) => l.split(/\s+/)[0]), ['Bounding:', 'Effective:', 'Permitted:', 'Inheritable:', 'Ambient:', 'NoNewPrivs:']);
  t.match(r.stdout, /^Bounding:\s+CAP_CHOWN,/m);
  t.notMatch(r.stdout, /CAP_SYS_ADMIN/);
  t.match(r.stdout, /^Ambient:\s+\[none\]$/m);
});

t.test('errors and exit statuses', async (t) => {
  const bad = await tool('ts-reducecap', ['--cap', 'bogus', 'true']);
  t.same([bad.exitCode, bad.stderr], [1, 'ts-reducecap: unknown capability: bogus']);
  const status = await tool('ts-reducecap', ['--cap', 'chown', 'sh', '-c', 'exit 3']);
  t.equal(status.exitCode, 3, "the program's status");
  const missing = await tool('ts-reducecap', ['--cap', 'chown', '/nonexistent/program']);
  t.same([missing.exitCode, missing.stderr], [127, 'ts-reducecap: failed to execute /nonexistent/program: No such file or directory']);
});
