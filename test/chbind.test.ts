// ts-chbind. Everything here runs inside a network namespace the test makes first
// (unshare --net): the "caller side" of the veth pair lives there, never in the machine's
// own namespace, and every packet goes to an address that exists only there.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, run } from './helpers.js';

const CHBIND = `${ROOT}bin/ts-chbind.js`;
const ENV = { ...process.env, NODE: process.execPath, CHBIND } as Record<string, string>;

/** Run a shell script in a fresh network namespace (lo up); `$NODE $CHBIND` is ts-chbind. */
function inTestNetns(script: string, timeout = 20_000) {
  return run('unshare', ['--net', 'sh', '-c', `ip link set lo up\n${script}`], { env: ENV, timeout });
}

// What the test namespace holds after ts-chbind is gone: nothing but lo.
const LEFTOVERS = 'echo "--- after"; ip -o link show type veth; ip -4 -o addr show scope global; ip -4 -o addr show scope link; ip route';
const after = (stdout: string) => stdout.slice(stdout.indexOf('--- after') + '--- after'.length).trim();

// A server bound to 0.0.0.0 that answers one connection with the peer's address, and a
// client that tries a bounded number of times (50 x at most 1 s).
const SERVER = `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 8080)); s.listen(1); s.settimeout(10)
c, a = s.accept(); c.sendall(('hello ' + a[0] + '\\n').encode()); c.close()`;
const CLIENT = `import socket, sys, time
for i in range(50):
    try:
        c = socket.create_connection((sys.argv[1], 8080), timeout=1)
        print(c.recv(100).decode().strip()); sys.exit(0)
    except OSError:
        time.sleep(0.05)
print('unreachable'); sys.exit(1)`;
const BIND = `import socket, sys
s = socket.socket()
try:
    s.bind((sys.argv[1], 0)); print('bound')
except OSError as e:
    import errno; print(errno.errorcode[e.errno])`;

t.test('inside: only lo and the given address', async (t) => {
  const r = await inTestNetns(`$NODE $CHBIND --ip 10.0.0.10/24 -- sh -c 'ip -o addr; echo ---; ip -o link; echo ---; ip route'\necho rc=$?\n${LEFTOVERS}`);
  t.equal(r.stderr, '');
  const [addrs, links, routes] = r.stdout.split('---').map((s) => s.trim().split('\n'));
  t.same(addrs.map((l) => l.split(/\s+/).slice(1, 4).join(' ')), ['lo inet 127.0.0.1/8', 'lo inet6 ::1/128', 'eth0 inet 10.0.0.10/24']);
  t.match(addrs[2], /brd 10\.0\.0\.255/);
  t.same(links.map((l) => l.split(':')[1].trim().replace(/@.*/, '')), ['lo', 'eth0']);
  t.match(routes.join('\n'), /^default via 169\.254\.0\.1 dev eth0 onlink/m);
  t.match(r.stdout, /rc=0/);
  t.equal(after(r.stdout), '', 'nothing left in the caller\'s namespace');
});

t.test('short form, several --ip, --bcast and --dev', async (t) => {
  const short = await inTestNetns(`$NODE $CHBIND 10.0.0.20 ip -4 -o addr show dev eth0`);
  t.match(short.stdout, /inet 10\.0\.0\.20\/32 /);
  t.equal(short.exitCode, 0);
  const many = await inTestNetns(`$NODE $CHBIND --ip 10.0.0.10/24 --ip 10.0.1.10/255.255.255.0 --bcast 10.0.0.127 --dev vs-test -- sh -c 'ip -4 -o addr show dev eth0; cat /proc/net/dev' &
sleep 0.3; ip -o link show type veth | cut -d: -f2; ip route | grep vs-test; wait $!
${LEFTOVERS}`);
  t.match(many.stdout, /inet 10\.0\.0\.10\/24 brd 10\.0\.0\.127 /);
  t.match(many.stdout, /inet 10\.0\.1\.10\/24 brd 10\.0\.1\.255 /);
  t.match(many.stdout, /^ vs-test@/m, 'the caller side has the given name');
  t.match(many.stdout, /^10\.0\.0\.10 dev vs-test scope link src 169\.254\.0\.1/m);
  t.match(many.stdout, /^10\.0\.1\.10 dev vs-test scope link src 169\.254\.0\.1/m);
  t.equal(after(many.stdout), '');
});

t.test('a server on 0.0.0.0 inside is reachable at its IP; other addresses cannot be bound', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-chbind-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const py = (name: string, text: string) => { const p = join(dir, name); require_write(p, text); return p; };
  const server = py('server.py', SERVER), client = py('client.py', CLIENT), bind = py('bind.py', BIND);
  const r = await inTestNetns(`$NODE $CHBIND --ip 10.0.0.10/24 -- python3 ${server} &
python3 ${client} 10.0.0.10
wait $!; echo server=$?
$NODE $CHBIND --ip 10.0.0.10/24 -- sh -c 'python3 ${bind} 10.0.0.11; python3 ${bind} 10.0.0.10; python3 ${bind} 0.0.0.0'
${LEFTOVERS}`);
  t.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  t.equal(lines[0], 'hello 169.254.0.1', 'reached from the caller side, from its address');
  t.equal(lines[1], 'server=0');
  t.same(lines.slice(2, 5), ['EADDRNOTAVAIL', 'bound', 'bound'], 'another IP: EADDRNOTAVAIL; its own and 0.0.0.0: bound');
  t.equal(after(r.stdout), '');
});

t.test('bad input: one line, exit 1, no veth', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--ip', '10.0.0.300'], /^ts-chbind: invalid IP address '10\.0\.0\.300'\n$/],
    [['--ip', '10.0.0.10/33'], /^ts-chbind: invalid prefix length or netmask '33' in '10\.0\.0\.10\/33'\n$/],
    [['--ip', 'fd00::1'], /^ts-chbind: IPv6 address 'fd00::1' not supported: give an IPv4 address\n$/],
    [['--ip', '10.0.0.10', '--bcast', 'x'], /^ts-chbind: invalid broadcast address 'x'\n$/],
    [['--ip', '10.0.0.10', '--dev', 'a-name-far-too-long'], /^ts-chbind: invalid device name 'a-name-far-too-long': 1 to 15 characters\n$/],
    [['nonsense'], /^ts-chbind: invalid IP address 'nonsense'\n$/],
  ];
  for (const [args, message] of cases) {
    const r = await inTestNetns(`$NODE $CHBIND ${args.map((a) => `'${a}'`).join(' ')} -- true; echo rc=$?\n${LEFTOVERS}`);
    t.match(r.stderr, message, args.join(' '));
    t.match(r.stdout, /^rc=1$/m);
    t.equal(after(r.stdout), '', `${args.join(' ')}: nothing made`);
  }
  const none = await inTestNetns('$NODE $CHBIND; echo rc=$?');
  t.match(none.stderr, /^ts-chbind: no IP address given\nTry 'ts-chbind --help' for more information\.\n$/);
});

t.test('failures after the pair exists remove it', async (t) => {
  // The route to the address cannot be added: the pair is made, then removed again.
  const route = await inTestNetns(`ip route add 10.0.0.10/32 dev lo
$NODE $CHBIND 10.0.0.10 true; echo rc=$?
ip route del 10.0.0.10/32 dev lo
${LEFTOVERS}`);
  t.match(route.stderr, /^ts-chbind: ip route add 10\.0\.0\.10\/32 dev tsns\d+ src 169\.254\.0\.1: RTNETLINK answers: File exists\n$/);
  t.match(route.stdout, /^rc=1$/m);
  t.equal(after(route.stdout), '');
  // A name that is taken: nothing is made, and the owner of the name keeps it.
  const taken = await inTestNetns(`$NODE $CHBIND --dev lo 10.0.0.10 true; echo rc=$?; ip -o link show lo | cut -d: -f2\n${LEFTOVERS}`);
  t.match(taken.stderr, /^ts-chbind: ip link add name lo type veth peer name eth0 netns \d+: RTNETLINK answers: File exists\n$/);
  t.match(taken.stdout, /^rc=1\n lo\n/);
  t.equal(after(taken.stdout), '');
  // exec fails after the network was set up.
  const exec = await inTestNetns(`$NODE $CHBIND 10.0.0.10 /nonexistent/program; echo rc=$?\n${LEFTOVERS}`);
  t.match(exec.stderr, /^ts-chbind: failed to execute \/nonexistent\/program: No such file or directory\n$/);
  t.match(exec.stdout, /^rc=127$/m);
  t.equal(after(exec.stdout), '');
});

for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  t.test(`${signal} to ts-chbind: the program gets it, everything is removed`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsns-chbind-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'pid');
    // $PPID of the program is ts-chbind; the file appears only once the network is set up.
    const running = inTestNetns(`$NODE $CHBIND 10.0.0.10 sh -c 'ip -o link show type veth; echo $PPID > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; exec sleep 20'; echo rc=$?\n${LEFTOVERS}`);
    const deadline = Date.now() + 10_000;
    while (!existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.ok(existsSync(pidFile), 'the program started');
    process.kill(Number(readFileSync(pidFile, 'utf8')), signal);
    const r = await running;
    t.match(r.stdout, new RegExp(`^rc=${status}$`, 'm'), 'ts-chbind ended by the same signal');
    t.equal(after(r.stdout), '');
  });
}

import { writeFileSync as require_write } from 'node:fs';
