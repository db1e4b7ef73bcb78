// spawn()'s fields behind the tools' new options (owner, mountBinfmt, binfmtRegister, a
// socket's or a parent's namespace to join, keepCaps in a joined user namespace): bad
// values throw at once, naming the field and the value; good ones do what they say.
import t from 'tap';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type Spawned, type SpawnSpec } from '../src/spawn/index.js';
import { pipeText } from './helpers.js';

const bad = (spec: Record<string, unknown>): SpawnSpec => spec as SpawnSpec;

function thrown(spec: SpawnSpec): unknown {
  try {
    spawn(spec, ['true']);
  } catch (err) {
    return err;
  }
  return undefined;
}

async function output(s: Spawned): Promise<string> {
  const [out] = await Promise.all([pipeText(s.stdout!), s.exited]);
  return out;
}

t.test('bad values: a TypeError or RangeError naming the field and the value', async (t) => {
  const cases: [SpawnSpec, typeof TypeError | typeof RangeError, string][] = [
    [bad({ namespaces: ['user'], owner: 5 }), TypeError, 'Expected the `owner` option to be an object { uid, gid }, got `5`'],
    [bad({ namespaces: ['user'], owner: { uid: -1, gid: 0 } }), RangeError, 'Expected the `owner.uid` option to be an integer in 0..4294967294, got `-1`'],
    [bad({ namespaces: ['user'], owner: { uid: 0, gid: 2 ** 32 - 1 } }), RangeError, 'Expected the `owner.gid` option to be an integer in 0..4294967294, got `4294967295`'],
    [{ owner: { uid: 1, gid: 1 } }, TypeError, "Expected the `owner` option to be used with a new user namespace (`namespaces` with 'user'), got `{ uid: 1, gid: 1 }`"],
    [{ namespaces: ['user', 'pid'], owner: { uid: 1, gid: 1 } }, TypeError, 'Expected the `pidInit` option to be false with `owner` and a new pid namespace, got `undefined`'],
    [{ namespaces: ['user'], owner: { uid: 1, gid: 1 }, uidMap: 'root' }, TypeError, "Expected the `uidMap` option to be an array of ranges with `owner` (the child may no longer write a single id), got `'root'`"],
    [{ namespaces: ['mount'], mountBinfmt: true }, TypeError, "Expected the `mountBinfmt` option to be used with a new user namespace (`namespaces` with 'user'), got `true`"],
    [bad({ namespaces: ['user'], mountBinfmt: 1 }), TypeError, 'Expected the `mountBinfmt` option to be a boolean or a path (a string without null bytes), got `1`'],
    [{ namespaces: ['user'], binfmtRegister: ':a:E::x::/bin/sh:' }, TypeError, "Expected the `binfmtRegister` option to be used with `mountBinfmt`, got `':a:E::x::/bin/sh:'`"],
    [{ namespaces: ['user'], mountBinfmt: true, binfmtRegister: ':a\0' }, TypeError, "Expected the `binfmtRegister` option to be a string without null bytes, got `':a\\x00'`"],
    [bad({ join: [{ kind: 'uts', socket: { pid: 1, fd: 3 } }] }), TypeError, "Expected the `join[0].kind` option to be 'net' with `socket`, got `'uts'`"],
    [bad({ join: [{ kind: 'net', socket: { pid: 0, fd: 3 } }] }), RangeError, 'Expected the `join[0].socket.pid` option to be an integer in 1..2147483647, got `0`'],
    [bad({ join: [{ kind: 'net', socket: { pid: 1, fd: -1 } }] }), RangeError, 'Expected the `join[0].socket.fd` option to be an integer in 0..2147483647, got `-1`'],
    [bad({ join: [{ kind: 'net', socket: 'x' }] }), TypeError, "Expected the `join[0].socket` option to be an object { pid, fd }, got `'x'`"],
    [bad({ join: [{ kind: 'net', path: '/proc/1/ns/net', parent: true }] }), TypeError, "Expected the `join[0].kind` option to be 'user' with `parent`, got `'net'`"],
    [bad({ join: [{ kind: 'user', path: '/proc/1/ns/user', parent: 'yes' }] }), TypeError, "Expected the `join[0].parent` option to be a boolean, got `'yes'`"],
    [{ join: Array(17).fill({ kind: 'net', socket: { pid: 1, fd: 3 } }) }, RangeError, 'Expected the `join` option to be an array of { kind, path } or { kind: \'net\', socket } with at most 16 entries, got 17 entries'],
    [{ namespaces: ['pid'], join: [{ kind: 'net', socket: { pid: 1, fd: 3 } }] }, TypeError, "Expected the `join` option to be without a new pid namespace when a target has `socket`, got `'pid'`"],
  ];
  for (const [spec, type, message] of cases) {
    const err = thrown(spec);
    t.type(err, type, message);
    t.equal((err as Error)?.message, message);
  }
});

t.test('owner: the ids change before the namespace is made; the parent writes the map', async (t) => {
  const s = spawn({ namespaces: ['user', 'mount'], owner: { uid: 65534, gid: 65534 }, uidMap: [{ inside: 0, outside: 0, count: 1 }], stdio: ['ignore', 'pipe', 'inherit'] },
    ['sh', '-c', 'cat /proc/self/uid_map; grep -E "^(Uid|Gid|Groups):" /proc/self/status']);
  const out = await output(s);
  t.match(out, /^\s+0\s+0\s+1\n/);
  // 65534 outside is not mapped inside: it shows as the overflow id
  t.match(out, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
  t.match(out, /^Groups:\s*$/m, 'supplementary groups cleared');
});

t.test('mountBinfmt and binfmtRegister: an instance of the child\'s user namespace', async (t) => {
  const s = spawn({ namespaces: ['user', 'pid'], uidMap: 'root', gidMap: 'root', mountProc: true, mountBinfmt: true, binfmtRegister: ':tsnsl:E::tsnsl::/bin/sh:', stdio: ['ignore', 'pipe', 'pipe'] },
    ['cat', '/proc/sys/fs/binfmt_misc/tsnsl']);
  const [out, err] = await Promise.all([pipeText(s.stdout!), pipeText(s.stderr!), s.exited]);
  // On Linux < 6.7 the mount is refused: say so rather than pass silently.
  if (/binfmt_misc/.test(err) && /EPERM|not permitted/i.test(err)) return t.skip('binfmt_misc cannot be mounted in a user namespace here');
  t.match(out, /^enabled\ninterpreter \/bin\/sh\n/);
});

t.test('join: a socket\'s network namespace and a user namespace\'s parent', async (t) => {
  // A socket of our own (a listening Unix socket, bound to a file: no network involved)
  // names our network namespace (ts-nsenter's test takes one from a foreign namespace).
  const dir = mkdtempSync(join(tmpdir(), 'tsns-sock-'));
  const server = createServer().listen(join(dir, 's'));
  t.teardown(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  await once(server, 'listening');
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  const s = spawn({ join: [{ kind: 'net', socket: { pid: process.pid, fd } }], stdio: ['ignore', 'pipe', 'inherit'] }, ['readlink', '/proc/self/ns/net']);
  t.equal((await output(s)).trim(), readlinkSync('/proc/self/ns/net'));
  // The parent of a child's user namespace is ours: entering ours again is refused (EINVAL).
  const inner = spawn({ namespaces: ['user'], uidMap: 'root', gidMap: 'root', stdio: ['pipe', 'pipe', 'inherit'] }, ['cat']);
  t.teardown(() => inner.kill('SIGKILL'));
  let err: unknown;
  try {
    spawn({ join: [{ kind: 'user', path: `/proc/${inner.pid}/ns/user`, parent: true }] }, ['true']);
  } catch (e) {
    err = e;
  }
  t.match(err, { code: 'EINVAL' }, 'setns into the user namespace we are in');
  inner.stdin!.end();
  await inner.exited;
});
