// The network library: spec checking and the ip(8) plan in-process; setupChbind for real
// inside a network namespace the test makes first (never the machine's own).
import t from 'tap';
import { HOST_PEER, HOST_PEER6, NetError, chbindCommands, defaultDevName, parseChbindSpec, removeVeth, setupChbind } from '../../src/net/chbind.js';
import { broadcastOf, parseCidr, parseIpv4Address } from '../../src/net/address.js';
import { ROOT, run } from '../helpers.js';

t.test('parseChbindSpec: normal form', async (t) => {
  t.same(parseChbindSpec({ ips: ['10.0.0.10'] }), { ips: ['10.0.0.10/32'] });
  t.same(parseChbindSpec({ ips: ['10.0.0.10/24', ' 192.168.1.7/255.255.0.0 '], bcast: '10.0.0.255', dev: 'vs1' }),
    { ips: ['10.0.0.10/24', '192.168.1.7/16'], bcast: '10.0.0.255', dev: 'vs1' });
  t.same(parseChbindSpec({ ips: ['10.0.0.1/31', '10.0.0.2/32', '10.0.0.9/0'] }).ips, ['10.0.0.1/31', '10.0.0.2/32', '10.0.0.9/0']);
  t.same(parseChbindSpec({ ips: ['2001:DB8:0:0::10', 'fd00::1/64', '2001:db8::1:0/127', '10.0.0.10'], bcast: '10.0.0.10' }),
    { ips: ['2001:db8::10/128', 'fd00::1/64', '2001:db8::1:0/127', '10.0.0.10/32'], bcast: '10.0.0.10' }, 'IPv6 compressed, /128 by default');
});

t.test('parseChbindSpec: refusals name the bad value', async (t) => {
  const bad: [Parameters<typeof parseChbindSpec>[0], string][] = [
    [{ ips: [] }, 'no IP address given'],
    [{ ips: ['10.0.0.300'] }, "invalid IP address '10.0.0.300'"],
    [{ ips: ['10.0.0'] }, "invalid IP address '10.0.0'"],
    [{ ips: ['10.0.0.010'] }, "invalid IP address '10.0.0.010'"],
    [{ ips: ['10.0.0.10/33'] }, "invalid prefix length or netmask '33' in '10.0.0.10/33'"],
    [{ ips: ['10.0.0.10/255.0.255.0'] }, "invalid prefix length or netmask '255.0.255.0' in '10.0.0.10/255.0.255.0'"],
    [{ ips: ['10.1'] }, "invalid IP address '10.1'"],
    [{ ips: ['0x0a.0.0.1'] }, "invalid IP address '0x0a.0.0.1'"],
    [{ ips: ['2001:db8::g'] }, "invalid IP address '2001:db8::g'"],
    [{ ips: ['2001:db8:::1'] }, "invalid IP address '2001:db8:::1'"],
    [{ ips: ['fd00::1%eth0'] }, "invalid IP address 'fd00::1%eth0'"],
    [{ ips: ['2001:db8::10/129'] }, "invalid prefix length '129' in '2001:db8::10/129'"],
    [{ ips: ['2001:db8::10/ffff::'] }, "invalid prefix length 'ffff::' in '2001:db8::10/ffff::'"],
    [{ ips: ['::'] }, "invalid IP address '::': :: is not a host address"],
    [{ ips: ['::1'] }, "invalid IP address '::1': loopback addresses are already inside"],
    [{ ips: ['ff02::1'] }, "invalid IP address 'ff02::1': multicast address"],
    [{ ips: ['fe80::1'] }, "invalid IP address 'fe80::1': link-local address: give a global or unique local (fd00::/8) one"],
    [{ ips: ['::ffff:10.0.0.1'] }, "invalid IP address '::ffff:10.0.0.1': IPv4-mapped address: give the IPv4 address itself"],
    [{ ips: ['2001:db8::/64'] }, "invalid IP address '2001:db8::/64': that is the subnet-router anycast address of /64"],
    [{ ips: ['2001:db8::10', '2001:db8:0::10/64'] }, "IP address '2001:db8::10' given twice"],
    [{ ips: ['2001:db8::10'], bcast: '10.0.0.255' }, "broadcast address '10.0.0.255' given, but no IPv4 address"],
    [{ ips: ['10.0.0.10'], bcast: 'fd00::ff' }, "invalid broadcast address 'fd00::ff': give an IPv4 address"],
    [{ ips: ['0.0.0.0'] }, "invalid IP address '0.0.0.0': 0.0.0.0/8 is not a host address"],
    [{ ips: ['127.0.0.2'] }, "invalid IP address '127.0.0.2': loopback addresses are already inside"],
    [{ ips: ['224.0.0.1'] }, "invalid IP address '224.0.0.1': multicast address"],
    [{ ips: ['255.255.255.255'] }, "invalid IP address '255.255.255.255': reserved address"],
    [{ ips: ['10.0.0.0/24'] }, "invalid IP address '10.0.0.0/24': that is the network address of /24"],
    [{ ips: ['10.0.0.255/24'] }, "invalid IP address '10.0.0.255/24': that is the broadcast address of /24"],
    [{ ips: [HOST_PEER] }, `invalid IP address '${HOST_PEER}': ${HOST_PEER} is the caller side's own address`],
    [{ ips: ['10.0.0.10', '10.0.0.10/24'] }, "IP address '10.0.0.10' given twice"],
    [{ ips: ['10.0.0.10'], bcast: '10.0.0' }, "invalid broadcast address '10.0.0'"],
    [{ ips: ['10.0.0.10'], dev: 'sixteen-chars-xx' }, "invalid device name 'sixteen-chars-xx': 1 to 15 characters"],
    [{ ips: ['10.0.0.10'], dev: 'a/b' }, "invalid device name 'a/b': no '/', ':' or white space"],
  ];
  for (const [input, message] of bad) t.throws(() => parseChbindSpec(input), { name: 'NetError', message }, message);
  t.ok(new NetError('x') instanceof Error);
});

t.test('addresses: prefixes and broadcasts', async (t) => {
  t.same(parseCidr('10.1.2.3/255.255.255.128'), { address: '10.1.2.3', prefix: 25, family: 4 });
  t.same(parseCidr('10.1.2.3', 24), { address: '10.1.2.3', prefix: 24, family: 4 }, 'a default prefix for IPv4');
  t.same(parseCidr(' 2001:0db8:0000:0000:0000:0000:0000:0010/64 '), { address: '2001:db8::10', prefix: 64, family: 6 });
  t.same(parseCidr('2001:db8::10', 24), { address: '2001:db8::10', prefix: 128, family: 6 }, 'IPv6 without a prefix: /128');
  t.equal(parseIpv4Address(' 10.0.0.255 '), '10.0.0.255');
  t.equal(broadcastOf({ address: '10.1.2.3', prefix: 25, family: 4 }), '10.1.2.127');
  t.equal(broadcastOf({ address: '10.1.2.3', prefix: 8, family: 4 }), '10.255.255.255');
  t.equal(broadcastOf({ address: '10.1.2.3', prefix: 0, family: 4 }), '255.255.255.255');
  t.equal(defaultDevName(4194304), 'tsns4194304');
});

t.test('the ip(8) plan', async (t) => {
  const plan = chbindCommands({ ips: ['10.0.0.10/24', '10.0.5.1/32'], bcast: '10.0.0.127' }, 'tsns42');
  t.same(plan.host, [
    `addr add ${HOST_PEER}/32 scope link dev tsns42`,
    'link set tsns42 up',
    `route add 10.0.0.10/32 dev tsns42 src ${HOST_PEER}`,
    `route add 10.0.5.1/32 dev tsns42 src ${HOST_PEER}`,
  ]);
  t.same(plan.inside, [
    'link set lo up',
    'link set eth0 addrgenmode none',
    'addr add 10.0.0.10/24 broadcast 10.0.0.127 dev eth0',
    'addr add 10.0.5.1/32 dev eth0',
    'link set eth0 up',
    `route add default via ${HOST_PEER} dev eth0 onlink`,
  ]);
  t.notOk(chbindCommands({ ips: ['10.0.0.10/32'] }, 'x', false).inside.some((c) => c.includes('addrgenmode')), 'no IPv6: no addrgenmode');
});

t.test('the ip(8) plan with IPv6: nodad addresses, fe80::1 as the gateway, IPv4 parts only with IPv4', async (t) => {
  const plan = chbindCommands({ ips: ['2001:db8::10/64', 'fd00::7/128'] }, 'tsns42');
  t.same(plan.host, [
    'link set tsns42 addrgenmode none',
    `addr add ${HOST_PEER6}/64 dev tsns42 nodad`,
    'link set tsns42 up',
    'route add 2001:db8::10/128 dev tsns42',
    'route add fd00::7/128 dev tsns42',
  ]);
  t.same(plan.inside, [
    'link set lo up',
    'link set eth0 addrgenmode none',
    'addr add 2001:db8::10/64 dev eth0 nodad',
    'addr add fd00::7/128 dev eth0 nodad',
    'link set eth0 up',
    `route add ::/0 via ${HOST_PEER6} dev eth0`,
  ]);
  const mixed = chbindCommands({ ips: ['2001:db8::10/64', '10.0.0.10/24'], bcast: '10.0.0.127' }, 'tsns42');
  t.ok(mixed.inside.includes('addr add 10.0.0.10/24 broadcast 10.0.0.127 dev eth0'), '--bcast goes to the first IPv4 address');
  t.ok(mixed.inside.includes(`route add default via ${HOST_PEER} dev eth0 onlink`));
  t.throws(() => chbindCommands({ ips: ['2001:db8::10/128'] }, 'x', false),
    { name: 'NetError', message: "invalid IP address '2001:db8::10/128': this kernel has no IPv6 (no /proc/sys/net/ipv6)" });
});

t.test('setupChbind refuses a process in the caller\'s own network namespace', async (t) => {
  // Nothing is run: the check comes before the first ip command.
  t.throws(() => setupChbind(process.pid, { ips: ['10.0.0.10'] }), { name: 'NetError', message: /shares the caller's network namespace/ });
  t.throws(() => removeVeth('a/b'), { name: 'NetError', message: /invalid device name/ }, 'removeVeth checks the name first');
});

t.test('setupChbind with spawn(), in a test network namespace', async (t) => {
  // A separate node (the library built into dist/) whose whole life is inside unshare --net.
  const script = `
import { spawn } from '${ROOT}dist/spawn/index.js';
import { setupChbind, removeVeth } from '${ROOT}dist/net/chbind.js';
import { execFileSync } from 'node:child_process';
const sh = (c) => execFileSync('sh', ['-c', c], { encoding: 'utf8' }).trim();
let lease;
const child = spawn({ namespaces: ['net'], stdio: ['ignore', 'pipe', 'inherit'], prepare: (pid) => { lease = setupChbind(pid, { ips: ['10.9.0.2/30'] }); } },
  ['sh', '-c', 'ip -4 -o addr show dev eth0 | cut -d" " -f7']);
let out = ''; child.stdout.on('data', (d) => out += d);
// The pipe may still hold output when the child is reaped: wait for both.
await Promise.all([child.exited, new Promise((ok) => child.stdout.on('end', ok))]);
console.log('inside: ' + out.trim());
console.log('dev: ' + lease.hostDev + ' ' + sh('ip -o link show type veth | wc -l'));
lease.cleanup(); lease.cleanup();
removeVeth(lease.hostDev); // already gone: not an error
console.log('after: ' + sh('ip -o link show type veth | wc -l'));
// A step failing after the pair exists (its route is taken) removes the pair; spawn throws.
execFileSync('ip', ['link', 'set', 'lo', 'up']);
execFileSync('ip', ['route', 'add', '10.9.0.3/32', 'dev', 'lo']);
try {
  spawn({ namespaces: ['net'], prepare: (pid) => setupChbind(pid, { ips: ['10.9.0.3'], dev: 'tsns-x' }) }, ['true']);
  console.log('no error');
} catch (e) { console.log('error: ' + e.name + ': ' + e.message); }
console.log('end: ' + sh('ip -o link show type veth | wc -l'));
`;
  const r = await run('unshare', ['--net', process.execPath, '--input-type=module', '-e', script]);
  t.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  t.equal(lines[0], 'inside: 10.9.0.2/30');
  t.match(lines[1], /^dev: tsns\d+ [01]$/, 'the caller side is named after the pid');
  t.equal(lines[2], 'after: 0', 'cleanup removes the pair (and may be called twice)');
  t.equal(lines[3], `error: NetError: ip route add 10.9.0.3/32 dev tsns-x src ${HOST_PEER}: RTNETLINK answers: File exists`);
  t.equal(lines[4], 'end: 0', 'nothing left after a failed setup');
});
