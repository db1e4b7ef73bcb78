// Bad paths given to ts-vserver (issue 10): one line naming what is wrong, a non-zero
// exit, no stack trace and no hang (Node's recursive mkdir loops forever under /proc).
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsns-vs-bad-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const conf = join(dir, 'conf');
mkdirSync(conf);
symlinkSync('/proc', join(dir, 'proc-link'));
const env = { TSNS_VSERVER_CONFDIR: conf, TSNS_VSERVER_ROOT: join(dir, 'root'), TSNS_RUN_DIR: join(dir, 'run') };

/** `ts-vserver NAME build --busybox` with a config and environment; ends within 60 s or fails. */
async function build(t: Tap.Test, name: string, config: string | undefined, more: Record<string, string>, expected: RegExp) {
  if (config !== undefined) writeFileSync(join(conf, `${name}.conf`), config);
  const r = await tool('ts-vserver', [name, 'build', '--busybox'], { env: { ...env, ...more }, timeout: 60_000 });
  t.not(r.signal, 'SIGTERM', 'ends by itself (no hang)');
  t.equal(r.exitCode, 1, 'exit 1');
  t.match(r.stderr, expected);
  t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

t.test('ROOTDIR under /proc or /sys: refused, no hang', async (t) => {
  await build(t, 'inproc', 'ROOTDIR=/proc/x\n', {}, /^ts-vserver: .*inproc\.conf:1: ROOTDIR: \/proc\/x is under \/proc/);
  await build(t, 'insys', 'ROOTDIR=/sys/x\n', {}, /ROOTDIR: \/sys\/x is under \/sys/);
  await build(t, 'vialink', `ROOTDIR=${dir}/proc-link/x\n`, {}, /ROOTDIR: .*proc-link\/x is under \/proc/);
});

t.test('ROOTDIR that is a file: one line', async (t) => {
  await build(t, 'file', 'ROOTDIR=/etc/passwd\n', {}, /^ts-vserver: .*file\.conf:1: ROOTDIR: \/etc\/passwd is not a directory$/m);
});

t.test('TSNS_VSERVER_CONFDIR under /proc, or below a file: one line, no hang', async (t) => {
  await build(t, 'c1', undefined, { TSNS_VSERVER_CONFDIR: '/proc/x' }, /^ts-vserver: TSNS_VSERVER_CONFDIR: \/proc\/x is under \/proc/);
  await build(t, 'c2', undefined, { TSNS_VSERVER_CONFDIR: '/etc/passwd/x' }, /^ts-vserver: TSNS_VSERVER_CONFDIR: \/etc\/passwd is not a directory$/m);
});

t.test('TSNS_VSERVER_ROOT through a symlink into /proc: one line, no hang', async (t) => {
  await build(t, 'r1', '', { TSNS_VSERVER_ROOT: join(dir, 'proc-link', 'y') }, /^ts-vserver: TSNS_VSERVER_ROOT: .* is under \/proc/);
});
