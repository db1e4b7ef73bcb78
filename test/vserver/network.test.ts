// ts-vserver with IPROOT: two vservers, each with its own address, started from a network
// namespace this test creates (nothing touches the machine's own network namespace).
import t from 'tap';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../bin/ts-vserver', import.meta.url).pathname;
const base = mkdtempSync(join(tmpdir(), 'tsns-vs-net-'));
const conf = join(base, 'conf');
mkdirSync(conf);
const env = { TSNS_VSERVER_CONFDIR: conf, TSNS_VSERVER_ROOT: join(base, 'root'), TSNS_RUN_DIR: join(base, 'run') };
const netns = `tsns-test-${process.pid}`;
const inNetns = (args: string[]) => execa('nsenter', [`--net=/run/netns/${netns}`, ...args], { env, reject: false, timeout: 30_000 });
const vserver = (args: string[]) => inNetns(['env', '-u', 'NODE_OPTIONS', BIN, ...args]);
const C = `n${process.pid}c`, D = `n${process.pid}d`;

t.before(async () => {
  await execa('ip', ['netns', 'add', netns]);
  await inNetns(['ip', 'link', 'set', 'lo', 'up']);
});
t.teardown(async () => {
  for (const n of [C, D]) await vserver([n, 'stop']);
  await execa('ip', ['netns', 'del', netns], { reject: false });
  rmSync(base, { recursive: true, force: true });
});

t.test('two vservers, each with only its own IP, reachable from the caller side', async (t) => {
  writeFileSync(join(conf, `${C}.conf`), 'S_HOSTNAME=vs-c\nIPROOT=10.0.0.21/24\n');
  writeFileSync(join(conf, `${D}.conf`), 'S_HOSTNAME=vs-d\nIPROOT=10.0.0.22\nIPROOTMASK=255.255.255.0\n');
  for (const n of [C, D]) {
    const b = await vserver([n, 'build', '--busybox']);
    t.equal(b.exitCode, 0, b.stderr);
    const s = await vserver([n, 'start']);
    t.equal(s.exitCode, 0, s.stderr);
  }
  const addrs = async (n: string) =>
    (await vserver([n, 'exec', 'ip', '-o', '-4', 'addr'])).stdout.split('\n').map((l) => l.split(/\s+/)[3]).join(' ');
  t.equal(await addrs(C), '127.0.0.1/8 10.0.0.21/24', 'C sees lo and its own IP');
  t.equal(await addrs(D), '127.0.0.1/8 10.0.0.22/24', 'D sees lo and its own IP');
  for (const ip of ['10.0.0.21', '10.0.0.22']) {
    const p = await inNetns(['busybox', 'ping', '-c', '1', '-W', '2', ip]);
    t.equal(p.exitCode, 0, `${ip} answers from the caller side`);
  }
  const list = await vserver(['list']);
  t.match(list.stdout, /10\.0\.0\.21/);
  t.match(list.stdout, /10\.0\.0\.22/);
  for (const n of [C, D]) t.equal((await vserver([n, 'stop'])).exitCode, 0);
  const veths = await inNetns(['ip', '-o', 'link', 'show', 'type', 'veth']);
  t.equal(veths.stdout, '', 'stop removed both veth pairs');
});
