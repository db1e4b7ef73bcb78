// ts-chbind. Everything here runs inside a network namespace the test makes first
// (unshare --net): the "caller side" of the veth pair lives there, never in the machine's
// own namespace, and every packet goes to an address that exists only there.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, run } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsns-chbind-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// One small node program for both sides: `inside [OTHER OWN ANY]` tries to bind another
// address and its own (10.0.0.11, 10.0.0.10 by default), then serves one connection on
// ANY:8080 (0.0.0.0; 60 s at most); `serve HOST` only serves; `client ADDR` connects to
// port 8080 there, 600 tries 50 ms apart at most (the server side may take seconds to be
// set up on a loaded machine), and prints the answer.
const NETPROG = join(dir, 'net.cjs');
writeFileSync(NETPROG, `const net = require('node:net');
const [mode, addr, own, any] = process.argv.slice(2);
const bind = (host) => new Promise((ok) => { const s = net.createServer();
  s.on('error', (e) => ok(e.code)).listen(0, host, () => s.close(() => ok('bound'))); });
const serve = (host) => {
  setTimeout(() => process.exit(2), 60000).unref();
  const s = net.createServer((c) => { c.end('hello ' + c.remoteAddress + '\\n'); s.close(); }).listen(8080, host);
};
if (mode === 'inside') (async () => {
  for (const a of [addr ?? '10.0.0.11', own ?? '10.0.0.10']) console.log('bind ' + a + ': ' + await bind(a));
  serve(any ?? '0.0.0.0');
})();
else if (mode === 'serve') serve(addr);
else (function attempt(n) {
  const c = net.connect(8080, addr);
  c.setEncoding('utf8');
  c.on('data', (d) => process.stdout.write(d));
  c.on('error', () => n > 0 ? setTimeout(() => attempt(n - 1), 50) : (console.log('unreachable'), process.exit(1)));
})(600);
`);

const ENV = { ...process.env, NODE: process.execPath, CHBIND: `${ROOT}bin/ts-chbind`, NETPROG, D: dir } as Record<string, string>;

/** Run a shell script in a fresh network namespace (lo up); `$CHBIND` is ts-chbind. */
function inTestNetns(script: string, timeout = 90_000) {
  return run('unshare', ['--net', 'sh', '-c', `ip link set lo up\n${script}`], { env: ENV, timeout });
}

// What the test namespace holds once ts-chbind is gone: nothing but lo.
// The program replaces ts-chbind (exec in place): when it ends, its namespace goes and
// the kernel removes the veth pair, asynchronously; so wait for that (30 s at most).
const LEFTOVERS = 'i=0; while [ -n "$(ip -o link show type veth)" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo "--- after"; ip -o link show type veth; ip -4 -o addr show scope global; ip -4 -o addr show scope link; ip route; ip -6 -o addr show scope link; ip -6 route | grep -v "^::1 dev lo "';
const after = (stdout: string) => (stdout.includes('--- after') ? stdout.slice(stdout.indexOf('--- after') + '--- after'.length).trim() : 'the script did not run to its end');

t.test('inside: only lo and the given address', async (t) => {
  const r = await inTestNetns(`$CHBIND --ip 10.0.0.10/24 -- sh -c 'ip -o addr; echo ---; ip -o link; echo ---; ip route'\necho rc=$?\n${LEFTOVERS}`);
  t.equal(r.stderr, '', 'nothing on stderr');
  const [addrs, links, routes] = r.stdout.split('---').map((s) => s.trim().split('\n'));
  t.same(addrs.map((l) => l.split(/\s+/).slice(1, 4).join(' ')), ['lo inet 127.0.0.1/8', 'lo inet6 ::1/128', 'eth0 inet 10.0.0.10/24']);
  t.match(addrs[2], /brd 10\.0\.0\.255/);
  t.same(links.map((l) => l.split(':')[1].trim().replace(/@.*/, '')), ['lo', 'eth0']);
  t.match(routes.join('\n'), /^default via 169\.254\.0\.1 dev eth0 onlink/m);
  t.match(r.stdout, /rc=0/, 'exit status 0');
  t.equal(after(r.stdout), '', 'nothing left in the caller\'s namespace');
});

t.test('short form, several --ip, --bcast and --dev', async (t) => {
  // The program waits (30 s at most) until the caller side has been looked at.
  const r = await inTestNetns(`$CHBIND 10.0.0.20 ip -4 -o addr show dev eth0
$CHBIND --ip 10.0.0.10/24 --ip 10.0.1.10/255.255.255.0 --bcast 10.0.0.127 --dev vs-test -- sh -c 'ip -4 -o addr show dev eth0; touch $D/ready; i=0; while [ ! -e $D/done ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done' &
i=0; while [ ! -e $D/ready ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
ip -o link show type veth | cut -d: -f2; ip route; touch $D/done; wait $!
${LEFTOVERS}`);
  t.equal(r.stderr, '');
  t.match(r.stdout, /inet 10\.0\.0\.20\/32 /, 'short form; /32 by default');
  t.match(r.stdout, /inet 10\.0\.0\.10\/24 brd 10\.0\.0\.127 /);
  t.match(r.stdout, /inet 10\.0\.1\.10\/24 brd 10\.0\.1\.255 /);
  t.match(r.stdout, /^ vs-test@/m, 'the caller side has the given name');
  t.match(r.stdout, /^10\.0\.0\.10 dev vs-test scope link src 169\.254\.0\.1/m);
  t.match(r.stdout, /^10\.0\.1\.10 dev vs-test scope link src 169\.254\.0\.1/m);
  t.equal(after(r.stdout), '');
});

t.test('a server on 0.0.0.0 inside is reachable at its IP; other addresses cannot be bound', async (t) => {
  const r = await inTestNetns(`$CHBIND --ip 10.0.0.10/24 -- $NODE $NETPROG inside &
$NODE $NETPROG client 10.0.0.10
wait $!; echo server=$?
${LEFTOVERS}`);
  t.equal(r.stderr, '');
  t.match(r.stdout, /^bind 10\.0\.0\.11: EADDRNOTAVAIL$/m, 'another address cannot be bound');
  t.match(r.stdout, /^bind 10\.0\.0\.10: bound$/m);
  t.match(r.stdout, /^hello 169\.254\.0\.1$/m, 'reached from the caller side, from its address');
  t.match(r.stdout, /^server=0$/m);
  t.equal(after(r.stdout), '');
});

t.test('IPv6: bound at once (nodad), reached at its address; another cannot be bound', async (t) => {
  // The server binds its address as soon as it runs: a tentative address (DAD) would give EADDRNOTAVAIL.
  const r = await inTestNetns(`$CHBIND --ip 2001:db8::10/64 -- $NODE $NETPROG inside 2001:db8::11 2001:db8::10 :: &
$NODE $NETPROG client 2001:db8::10
wait $!; echo server=$?
${LEFTOVERS}`);
  t.equal(r.stderr, '');
  t.match(r.stdout, /^bind 2001:db8::11: EADDRNOTAVAIL$/m, 'another address cannot be bound');
  t.match(r.stdout, /^bind 2001:db8::10: bound$/m, 'its own is bound at once');
  t.match(r.stdout, /^hello fe80::1%eth0$/m, "reached from the caller side, from its link-local address (on the pair's link)");
  t.match(r.stdout, /^server=0$/m);
  t.equal(after(r.stdout), '');
});

t.test('IPv4 and IPv6 together: the program connects out over IPv6 from its address', async (t) => {
  // The test namespace gets a global IPv6 address of its own (on its lo), with a server there.
  const r = await inTestNetns(`ip addr add 2001:db8:ff::1/128 dev lo
$NODE $NETPROG serve 2001:db8:ff::1 & server=$!
$CHBIND --ip 10.0.0.10/24 --ip fd00:0:0:1:0:0:0:10/64 --ip 2001:db8::10 -- sh -c 'ip -o addr show dev eth0 | cut -d" " -f7 | tr "\n" " "; echo; $NODE $NETPROG client 2001:db8:ff::1'
echo rc=$?; wait $server; echo server=$?
ip addr del 2001:db8:ff::1/128 dev lo
${LEFTOVERS}`);
  t.equal(r.stderr, '');
  const addrs = r.stdout.split('\n')[0].trim().split(' ').sort();
  t.same(addrs, ['10.0.0.10/24', '2001:db8::10/128', 'fd00:0:0:1::10/64'], 'both families on eth0, IPv6 in normal form, no link-local');
  t.match(r.stdout, /^hello (2001:db8::10|fd00:0:0:1::10)$/m, 'the server outside sees one of the program\'s addresses');
  t.match(r.stdout, /^rc=0\nserver=0$/m);
  t.equal(after(r.stdout), '');
});

t.test('bad input: one line, exit 1, nothing made', async (t) => {
  // The wording of each refusal is tested on the library (test/net/); here, the tool's shape.
  const cases: [string, string][] = [
    ['--ip 10.0.0.300', "invalid IP address '10.0.0.300'"],
    ['nonsense', "invalid IP address 'nonsense'"],
    ['--ip fe80::10', "invalid IP address 'fe80::10': link-local address: give a global or unique local (fd00::/8) one"],
    ['--ip 2001:db8::10/129', "invalid prefix length '129' in '2001:db8::10/129'"],
    ['--ip 2001:db8::10 --bcast 10.0.0.255', "broadcast address '10.0.0.255' given, but no IPv4 address"],
  ];
  const r = await inTestNetns(`${cases.map(([args]) => `$CHBIND ${args} -- true 2>&1; echo rc=$?`).join('\n')}
$CHBIND 2>&1; echo rc=$?
${LEFTOVERS}`);
  const expected = cases.map(([, m]) => `ts-chbind: ${m}\nrc=1`).join('\n')
    + "\nts-chbind: no IP address given\nTry 'ts-chbind --help' for more information.\nrc=1";
  t.equal(r.stdout.slice(0, r.stdout.indexOf('--- after')).trim(), expected);
  t.equal(after(r.stdout), '');
});

t.test('failures after the pair exists remove it', async (t) => {
  const r = await inTestNetns(`
# The route to the address cannot be added: the pair is made, then removed again.
ip route add 10.0.0.10/32 dev lo
$CHBIND 10.0.0.10 true 2>&1; echo rc=$?
ip route del 10.0.0.10/32 dev lo
# A name that is taken: nothing is made, and the owner of the name keeps it.
$CHBIND --dev lo 10.0.0.10 true 2>&1; echo rc=$?; ip -o link show lo | cut -d: -f2
# exec fails after the network was set up.
$CHBIND 10.0.0.10 /nonexistent/program 2>&1; echo rc=$?
${LEFTOVERS}`);
  const lines = r.stdout.split('\n');
  t.match(lines[0], /^ts-chbind: ip route add 10\.0\.0\.10\/32 dev tsns\d+ src 169\.254\.0\.1: RTNETLINK answers: File exists$/);
  t.equal(lines[1], 'rc=1');
  t.match(lines[2], /^ts-chbind: ip link add name lo type veth peer name eth0 netns \d+: RTNETLINK answers: File exists$/);
  t.same(lines.slice(3, 5), ['rc=1', ' lo']);
  t.same(lines.slice(5, 7), ['ts-chbind: failed to execute /nonexistent/program: No such file or directory', 'rc=127']);
  t.equal(after(r.stdout), '');
});

for (const [signal, status] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  t.test(`${signal} to ts-chbind: the program gets it, everything is removed`, async (t) => {
    const pidFile = join(dir, `pid-${signal}`);
    // The program runs in ts-chbind's own process; the file appears only once the network is set up.
    const running = inTestNetns(`$CHBIND 10.0.0.10 sh -c 'echo $$ > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; exec sleep 20'; echo rc=$?\n${LEFTOVERS}`);
    const deadline = Date.now() + 30_000;
    while (!existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.ok(existsSync(pidFile), 'the program started');
    process.kill(Number(readFileSync(pidFile, 'utf8')), signal);
    const r = await running;
    t.match(r.stdout, new RegExp(`^rc=${status}$`, 'm'), 'ts-chbind ended by the same signal');
    t.equal(after(r.stdout), '');
  });
}

t.test('SIGKILL to ts-chbind: the program dies with it and the kernel removes the pair', async (t) => {
  // ts-chbind is the program (exec in place): SIGKILL ends it, its namespace goes, and
  // the veth pair with it (asynchronously: polled, 30 s at most).
  const r = await inTestNetns(`$CHBIND 10.0.0.10 sh -c 'touch $D/killed-ready; exec sleep 20' & pid=$!
i=0; while [ ! -e $D/killed-ready ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
ip -o link show type veth | wc -l
kill -KILL $pid; wait $pid; echo rc=$?
i=0; while [ -n "$(ip -o link show type veth)" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
${LEFTOVERS}`);
  t.match(r.stdout, /^1\nrc=137\n/);
  t.equal(after(r.stdout), '');
});

t.test('SIGKILL during set-up, at spread-out moments: no veth, address or process is left', async (t) => {
  // The stage, or the planner (node) while it wires the pair: whichever dies, the pair's
  // inside end is in the stage's namespace, which goes with it, and the kernel removes both.
  const rounds = Array.from({ length: 10 }, (_, i) => i);
  // The planner's command line, as a pattern the script's own text (this shell's command
  // line, which pgrep -f sees too) does not match: else the shell found and killed itself.
  const r = await inTestNetns(`P='dist/bin/chbind[.]cjs 10[.]0[.]0[.]10'\n` + rounds.map((i) => `$CHBIND 10.0.0.10 sleep 30 & pid=$!
sleep 0.0${i * 2}
${i % 2 ? 'kill -KILL $(pgrep -f "$P") 2>/dev/null' : ''}
kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
i=0; while pgrep -f "$P" >/dev/null && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`).join('\n') + `\n${LEFTOVERS}`, 150_000);
  t.equal(after(r.stdout), '', 'nothing left in the caller\'s namespace');
  t.equal((await run('pgrep', ['-f', 'dist/bin/chbind.cjs 10.0.0.10'])).stdout, '', 'no planner left');
});
