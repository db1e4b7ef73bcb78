// spawn()'s arguments are checked before anything runs: a bad field throws at once, a
// TypeError or RangeError naming the field and the value, instead of doing something else.
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from '../src/spawn/index.js';
import { capLastCap } from '../src/sys/caps.js';
import { MNT_DETACH, umount2 } from '../src/sys/mount.js';
import type { Spawned, SpawnSpec } from '../src/spawn/index.js';

// Specs a TypeScript caller could not write, as a JavaScript caller or a config file can.
const bad = (spec: Record<string, unknown>): SpawnSpec => spec as SpawnSpec;

function output(s: Spawned): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.stdout!.on('data', (d) => (out += d)).on('end', () => resolve(out));
  });
}

type Expected = { type: typeof TypeError | typeof RangeError; code: string; message: string | RegExp };

function rejects(t: Tap.Test, spec: SpawnSpec, argv: readonly string[], want: Expected, what: string): void {
  let thrown: unknown;
  try {
    spawn(spec, argv);
  } catch (err) {
    thrown = err;
  }
  t.type(thrown, want.type, `${what}: ${want.type.name}`);
  t.match(thrown, { code: want.code }, `${what}: ${want.code}`);
  if (typeof want.message === 'string') t.equal((thrown as Error)?.message, want.message, `${what}: message`);
  else t.match((thrown as Error)?.message, want.message, `${what}: message`);
}

const range = (message: string | RegExp): Expected => ({ type: RangeError, code: 'ERR_OUT_OF_RANGE', message });
const type = (message: string | RegExp): Expected => ({ type: TypeError, code: 'ERR_INVALID_ARG_TYPE', message });
const value = (message: string | RegExp): Expected => ({ type: TypeError, code: 'ERR_INVALID_ARG_VALUE', message });

t.test('unknown namespace kinds are refused, not ignored', async (t) => {
  rejects(t, bad({ namespaces: ['network'] }), ['true'], value(
    "Expected the `namespaces[0]` option to be one of 'user', 'cgroup', 'ipc', 'uts', 'net', 'pid', 'mount', 'time', got `'network'`"), 'namespaces');
  rejects(t, bad({ namespaces: ['uts', 'mnt'] }), ['true'], value(/`namespaces\[1\]`.*got `'mnt'`$/), 'namespaces[1]');
  rejects(t, bad({ namespaces: 'net' }), ['true'], type(/`namespaces` option to be an array.*got `'net'`$/), 'namespaces as a string');
  rejects(t, bad({ join: [{ kind: 'network', path: '/proc/self/ns/net' }] }), ['true'], value(/`join\[0\]\.kind`.*got `'network'`$/), 'join kind');
  rejects(t, bad({ join: [{ kind: 'net' }] }), ['true'], type(/`join\[0\]\.path`.*got `undefined`$/), 'join path missing');
  rejects(t, bad({ persist: { network: '/tmp/x' } }), ['true'], value(/`persist` option to be an object whose keys are namespace kinds.*got `'network'`$/), 'persist key');
  rejects(t, bad({ persist: { uts: 5 } }), ['true'], type(/`persist\.uts`.*got `5`$/), 'persist value');
  rejects(t, bad({ argv0: 5 }), ['true'], type(/`argv0` option to be a string.*got `5`$/), 'argv0 not a string');
});

t.test('ids outside 0..4294967294 are refused: none of them may run the program as root', async (t) => {
  for (const uid of [-1, 2 ** 32, 4294967295, 1.5, NaN, Infinity]) {
    rejects(t, { uid }, ['true'], range(`Expected the \`uid\` option to be an integer in 0..4294967294, got \`${uid}\``), `uid ${uid}`);
  }
  rejects(t, bad({ uid: '1000' }), ['true'], type("Expected the `uid` option to be an integer in 0..4294967294, got `'1000'`"), 'uid as a string');
  rejects(t, bad({ gid: 1n }), ['true'], type(/`gid` option.*got `1n`$/), 'gid as a bigint');
  rejects(t, { gid: -1 }, ['true'], range(/`gid`.*got `-1`$/), 'gid');
  rejects(t, { groups: [0, 4294967295] }, ['true'], range(/`groups\[1\]`.*got `4294967295`$/), 'groups entry');
  rejects(t, { groups: new Array(65537).fill(1) }, ['true'], range(/`groups` option to be an array of group ids with at most 65536 entries, got 65537 entries$/), 'NGROUPS_MAX');
  rejects(t, { uidMap: -1 }, ['true'], range(/`uidMap`.*got `-1`$/), 'single-id map');
  rejects(t, bad({ gidMap: 'roots' }), ['true'], value("Expected the `gidMap` option to be one of 'root', 'current', got `'roots'`"), 'map keyword');
});

t.test('id map ranges: ids in range, count at least 1, no range past the last id', async (t) => {
  const r = (inside: number, outside: number, count: number) => ({ uidMap: [{ inside, outside, count }] });
  rejects(t, r(-1, 0, 1), ['true'], range(/`uidMap\[0\]\.inside`.*got `-1`$/), 'inside');
  rejects(t, r(0, 2 ** 32, 1), ['true'], range(/`uidMap\[0\]\.outside`.*got `4294967296`$/), 'outside');
  rejects(t, r(0, 0, 0), ['true'], range(/`uidMap\[0\]\.count` option to be an integer in 1\.\.4294967295, got `0`$/), 'count 0');
  rejects(t, r(0, 0, 2 ** 32), ['true'], range(/`uidMap\[0\]\.count`.*got `4294967296`$/), 'count 2**32');
  rejects(t, r(1, 0, 4294967295), ['true'], range(/`uidMap\[0\]` option .*inside \+ count <= 4294967295.*\(inside \+ count = 4294967296\)$/), 'inside + count');
  rejects(t, r(0, 100000, 4294967295), ['true'], range(/`uidMap\[0\]` option .*outside \+ count <= 4294967295.*\(outside \+ count = 4295067295\)$/), 'outside + count');
  rejects(t, { gidMap: [{ inside: 0, outside: 0, count: 1 }, { inside: 1, outside: 1, count: 1.5 }] }, ['true'], range(/`gidMap\[1\]\.count`/), 'second line');
  rejects(t, { gidMap: [] }, ['true'], range(/`gidMap`.*with at least 1 entry, got 0 entries$/), 'no lines');
  rejects(t, bad({ gidMap: [{ inside: 0, outside: 0 }] }), ['true'], type(/`gidMap\[0\]\.count`.*got `undefined`$/), 'count missing');
  rejects(t, bad({ uidMap: [null] }), ['true'], type(/`uidMap\[0\]`.*got `null`$/), 'line not an object');
});

t.test('stdio values', async (t) => {
  rejects(t, bad({ stdio: 'null' }), ['true'], value(/`stdio` option to be 'inherit', 'pipe', 'ignore' or a file descriptor.*got `'null'`$/), 'unknown word');
  rejects(t, bad({ stdio: ['ignore', 'pipe', 'overlapped'] }), ['true'], value(/`stdio\[2\]`.*got `'overlapped'`$/), 'array entry');
  rejects(t, bad({ stdio: ['ignore', -1] }), ['true'], range(/`stdio\[1\]`.*got `-1`$/), 'negative fd');
  rejects(t, bad({ stdio: ['ignore', 1.5] }), ['true'], range(/`stdio\[1\]`.*got `1\.5`$/), 'fractional fd');
  rejects(t, bad({ stdio: [null, 'pipe'] }), ['true'], value(/`stdio\[0\]`.*got `null`$/), 'null entry');
  // eslint-disable-next-line no-sparse-arrays
  rejects(t, bad({ stdio: ['ignore', , 'pipe'] }), ['true'], value(/`stdio\[1\]`.*got `undefined`$/), 'a hole');
  rejects(t, bad({ stdio: new Array(1025).fill('inherit') }), ['true'], range(/`stdio`.*at most 1024 entries, got 1025 entries$/), 'too many');
  rejects(t, bad({ stdio: 1n }), ['true'], value(/`stdio`.*got `1n`$/), 'bigint');
});

t.test('NUL bytes are refused as child_process refuses them', async (t) => {
  const nul = (field: string) => value(new RegExp(`^Expected the \`${field.replace(/[[\].]/g, '\\$&')}\` (option|argument) to be .*without null bytes.*, got \`'[^']*\\\\x00[^']*'\``));
  rejects(t, {}, ['echo', 'a\0b'], nul('argv[1]'), 'argv');
  rejects(t, { env: { A: 'x\0y' } }, ['true'], nul('env.A'), 'env value');
  rejects(t, { root: '/tmp\0' }, ['true'], nul('root'), 'root');
  rejects(t, { cwd: '/\0tmp' }, ['true'], nul('cwd'), 'cwd');
  rejects(t, { argv0: 'a\0b' }, ['true'], nul('argv0'), 'argv0');
  rejects(t, { namespaces: ['uts'], hostname: 'a\0b' }, ['true'], nul('hostname'), 'hostname');
  rejects(t, { namespaces: ['uts'], domainname: 'a\0b' }, ['true'], nul('domainname'), 'domainname');
  rejects(t, { namespaces: ['mount'], mountProc: '/proc\0x' }, ['true'], nul('mountProc'), 'mountProc');
  rejects(t, { join: [{ kind: 'uts', path: '/proc/self/ns/uts\0' }] }, ['true'], nul('join[0].path'), 'join path');
  rejects(t, { namespaces: ['uts'], persist: { uts: '/tmp/a\0b' } }, ['true'], nul('persist.uts'), 'persist path');
  rejects(t, { cgroups: ['/sys/fs/cgroup\0'] }, ['true'], nul('cgroups[0]'), 'cgroups');
  rejects(t, { env: { 'A\0B': 'x' } }, ['true'], value(/`env` option to be an object whose keys .*got `'A\\x00B'`$/), 'env key with NUL');
  rejects(t, { env: { 'A=B': 'x' } }, ['true'], value(/`env` option to be an object whose keys are non-empty and contain no '='.*got `'A=B'`$/), 'env key with =');
  rejects(t, { env: { '': 'x' } }, ['true'], value(/`env` option.*got `''`$/), 'empty env key');
  rejects(t, bad({ env: { PORT: 8080 } }), ['true'], type(/`env\.PORT`.*got `8080`$/), 'env value not a string');
  rejects(t, bad({}), ['echo', 5 as unknown as string], type(/`argv\[1\]` argument to be a string.*got `5`$/), 'argv entry not a string');
  rejects(t, {}, 'ls' as unknown as string[], type(/`argv` argument to be an array.*got `'ls'`$/), 'argv not an array');
  rejects(t, null as unknown as SpawnSpec, ['true'], type(/`spec` argument to be a SpawnSpec object, got `null`$/), 'spec null');
});

t.test('other fields', async (t) => {
  for (const field of ['pidInit', 'forkAfterJoin', 'keepCaps', 'noNewPrivs', 'setsid']) {
    rejects(t, bad({ [field]: 'yes' }), ['true'], type(`Expected the \`${field}\` option to be a boolean, got \`'yes'\``), field);
  }
  rejects(t, { namespaces: ['uts'], hostname: 'h'.repeat(65) }, ['true'], range(/`hostname` option to be a string of at most 64 bytes, got `'h+'` \(65 bytes\)$/), 'hostname length');
  rejects(t, { namespaces: ['uts'], hostname: 'é'.repeat(33) }, ['true'], range(/\(66 bytes\)$/), 'hostname length in bytes');
  rejects(t, { namespaces: ['uts'], domainname: 'd'.repeat(65) }, ['true'], range(/`domainname`.*65 bytes/), 'domainname length');
  rejects(t, { namespaces: ['time'], timeOffsets: { monotonic: 1.5 } }, ['true'], range(/`timeOffsets\.monotonic`.*got `1\.5`$/), 'monotonic');
  rejects(t, bad({ namespaces: ['time'], timeOffsets: { boottime: '10' } }), ['true'], type(/`timeOffsets\.boottime`.*got `'10'`$/), 'boottime');
  rejects(t, bad({ timeOffsets: 10 }), ['true'], type(/`timeOffsets`.*got `10`$/), 'timeOffsets');
  rejects(t, bad({ deathSignal: 'SIGFOO' }), ['true'], value(/`deathSignal` option to be a signal name.*got `'SIGFOO'`$/), 'signal name');
  rejects(t, { deathSignal: 0 }, ['true'], range(/`deathSignal`.*got `0`$/), 'signal 0');
  rejects(t, { deathSignal: 65 }, ['true'], range(/`deathSignal`.*got `65`$/), 'signal 65');
  const last = capLastCap();
  rejects(t, { dropCaps: [0, last + 1] }, ['true'], range(`Expected the \`dropCaps[1]\` option to be an integer in 0..${last}, got \`${last + 1}\``), 'capability past cap_last_cap');
  rejects(t, { dropCaps: [-1] }, ['true'], range(/`dropCaps\[0\]`.*got `-1`$/), 'negative capability');
  rejects(t, bad({ propagation: 'rprivate' }), ['true'], value("Expected the `propagation` option to be one of 'private', 'slave', 'shared', 'unchanged', got `'rprivate'`"), 'propagation');
  rejects(t, bad({ setgroups: 'yes' }), ['true'], value("Expected the `setgroups` option to be one of 'allow', 'deny', got `'yes'`"), 'setgroups');
  rejects(t, bad({ prepare: 'ip link add' }), ['true'], type("Expected the `prepare` option to be a function, got `'ip link add'`"), 'prepare');
  rejects(t, bad({ mountProc: 1 }), ['true'], type(/`mountProc` option to be a boolean or a path.*got `1`$/), 'mountProc');
  rejects(t, bad({ cgroups: '/sys/fs/cgroup/x' }), ['true'], type(/`cgroups` option to be an array.*got/), 'cgroups');
});

t.test('landlock: the rights as integers, the paths strings', async (t) => {
  const ok = { handled: 8191, fileAccess: 7, rules: [{ path: '/usr', access: 13 }] };
  rejects(t, bad({ landlock: 'ro' }), ['true'], type(/`landlock` option to be an object \{ handled, fileAccess, rules \}, got `'ro'`$/), 'not an object');
  rejects(t, bad({ landlock: { ...ok, handled: 0 } }), ['true'], range(/`landlock\.handled`.*got `0`$/), 'no right handled');
  rejects(t, bad({ landlock: { ...ok, rules: [{ path: 5, access: 13 }] } }), ['true'], type(/`landlock\.rules\[0\]\.path`.*got `5`$/), 'a path that is no string');
  rejects(t, bad({ landlock: { ...ok, rules: [{ path: '/usr', access: -1 }] } }), ['true'], range(/`landlock\.rules\[0\]\.access`.*got `-1`$/), 'a negative right');
});

t.test('pivotRoot and protectProc: what each needs of the other fields', async (t) => {
  for (const field of ['pivotRoot', 'protectProc']) {
    rejects(t, bad({ [field]: 1 }), ['true'], type(`Expected the \`${field}\` option to be a boolean, got \`1\``), field);
  }
  rejects(t, { namespaces: ['mount'], pivotRoot: true }, ['true'], value('Expected the `pivotRoot` option to be used with `root`, got `true`'), 'pivotRoot without root');
  rejects(t, { root: '/tmp', pivotRoot: true }, ['true'], value(/`pivotRoot` option to be used with a new mount namespace/), 'pivotRoot without a mount namespace');
  rejects(t, { namespaces: ['mount'], root: '/tmp', pivotRoot: true, join: [{ kind: 'uts', path: '/proc/1/ns/uts' }] }, ['true'], value(/`pivotRoot` option to be used without `join`/), 'pivotRoot with join');
  rejects(t, { namespaces: ['mount'], root: '/tmp', pivotRoot: true, propagation: 'shared' }, ['true'], value("Expected the `propagation` option to be 'private' or 'slave' with `pivotRoot`, got `'shared'`"), 'shared propagation');
  rejects(t, { namespaces: ['mount'], protectProc: true }, ['true'], value('Expected the `protectProc` option to be used with `mountProc`, got `true`'), 'protectProc without mountProc');
  rejects(t, { namespaces: ['mount', 'pid'], mountProc: true, root: '/tmp', protectProc: true }, ['true'], value(/`protectProc` option to be used with `pivotRoot` when `root` is given/), 'protectProc in a chroot');
});

t.test('the caller\'s spec is not changed, and is checked before anything is made', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-validate-'));
  const file = join(dir, 'uts');
  t.teardown(() => {
    // Only an unchecked spawn would have mounted anything here.
    try { umount2(file, MNT_DETACH); } catch { /* not mounted, as it should be */ }
    rmSync(dir, { recursive: true, force: true });
  });
  const spec = Object.freeze({
    namespaces: Object.freeze(['uts', 'network']),
    persist: Object.freeze({ uts: file }),
    stdio: Object.freeze(['ignore', 'pipe', 'inherit']),
    env: Object.freeze({ A: 'b' }),
  }) as unknown as SpawnSpec;
  const before = JSON.stringify(spec);
  const fds = readdirSync('/proc/self/fd').length;
  t.type(t.throws(() => spawn(spec, ['true'])), TypeError);
  t.equal(JSON.stringify(spec), before);
  t.equal(existsSync(file), false, 'no persist file was made');
  t.equal(readdirSync('/proc/self/fd').length, fds, 'no pipe was opened');
});

t.test('valid specs at the edges still run', async (t) => {
  const s = spawn({
    namespaces: ['user', 'uts'],
    uidMap: [{ inside: 0, outside: 0, count: 4294967295 }],
    gidMap: [{ inside: 0, outside: 0, count: 4294967295 }],
    hostname: 'h'.repeat(64),
    uid: 65534,
    gid: 65534,
    groups: [],
    deathSignal: 'term',
    env: { PATH: process.env.PATH, UNSET: undefined },
    stdio: ['ignore', 'pipe', 'inherit'],
    dropCaps: [capLastCap()],
  }, ['sh', '-c', 'echo $(hostname | wc -c) $(id -u) $(id -g) ${UNSET-unset}']);
  t.equal(await output(s), '65 65534 65534 unset\n');
  t.same(await s.exited, { code: 0, signal: null });
  const one = spawn({ stdio: 'ignore', deathSignal: 9 }, ['true']);
  t.same(await one.exited, { code: 0, signal: null });
  const fd = spawn({ stdio: ['ignore', 'pipe', 1] }, ['true']);
  t.same(await fd.exited, { code: 0, signal: null });
});
