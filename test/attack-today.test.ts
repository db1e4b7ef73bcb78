// Attacks on what landed on 2026-12-07: bwrap's init, the new unshare/nsenter options, the
// Sandbox library's Landlock/seccomp/readiness, and --explain. Each test is a way in that
// must stay shut.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from './helpers.js';

/** A scratch directory, removed after the test. */
function scratch(t: Tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-attack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** ts-sandbox binding a directory named `name` (made in a scratch directory) at /mnt, with `explain`. */
async function bindNamed(t: Tap.Test, name: string, explain: string): Promise<{ dir: string; stderr: string }> {
  const dir = scratch(t);
  mkdirSync(join(dir, name));
  const r = await tool('ts-sandbox', [explain, '--ro-bind', '/', '/', '--bind', join(dir, name), '/mnt', 'true']);
  t.equal(r.exitCode, 0, 'the sandbox runs');
  return { dir, stderr: r.stderr };
}

/** Lines of --explain output that are not an explain line: a label first, no control bytes. */
function forged(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && (!/^\[(stage|child|parent|planner|init|exec)\] /.test(l) || /[\x00-\x1f\x7f-\x9f]/.test(l)));
}

t.test('--explain=why: a path the user names cannot forge a line or reach the terminal raw', async (t) => {
  const r = await bindNamed(t, 'a\n[stage] mount("x", "y") = 0\x1b]0;owned\x07', '--explain=why');
  t.same(forged(r.stderr), [], 'every line is a labelled call, with no raw control byte');
});

t.test('--explain: DEL, C1 controls (8-bit CSI) and bidi overrides in a path are escaped', async (t) => {
  const r = await bindNamed(t, 'b\u009b2J\x7f\u202egnp.exe\u2028x', '--explain');
  t.same(forged(r.stderr), [], 'no raw control byte');
  t.notMatch(r.stderr, /[\u202a-\u202e\u2066-\u2069\u2028\u2029]/, 'no raw bidi override or line separator');
  t.match(r.stderr, '"/oldroot' + r.dir + '/b\\u009b2J\\u007f\\u202egnp.exe\\u2028x"', 'each is a \\u escape (JSON.parse reads it back)');
});

t.test('--lock-file on a FIFO neither blocks the init nor leaves the sandbox waiting for a writer', async (t) => {
  const dir = scratch(t);
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  // A bounded run: open(2) of a FIFO for reading waits for a writer, and pid 1 of the
  // sandbox ignores the SIGTERM a timeout would send, so only SIGKILL ends it.
  const r = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--unshare-pid', '--lock-file', join(dir, 'fifo'), 'echo', 'ran'], { timeout: 60_000 });
  t.equal(r.stdout, 'ran', 'the program ran');
  t.equal(r.exitCode, 0, 'and the sandbox ended as it did');
});

t.test('nsenter -e --explain=all: the target\'s environment values are not shown', async (t) => {
  const secret = `hunter2-${process.pid}`;
  const target = spawn('sleep', ['60'], { stdio: 'ignore', env: { PATH: process.env.PATH, TSNS_SECRET: secret } });
  t.teardown(() => target.kill('SIGKILL'));
  const r = await tool('ts-nsenter', ['--explain=all', '-t', String(target.pid), '-e', '-u', 'sh', '-c', 'echo $TSNS_SECRET']);
  t.equal(r.stdout, secret, 'the program has the environment');
  t.notOk(r.stderr.includes(secret), 'the trace does not');
  t.match(r.stderr, new RegExp(`^\\[planner\\] read\\(\\d+, /\\* \\d+ vars \\*/, \\d+\\) = \\d+$`, 'm'), 'it counts them, as the execve line does');
});

t.test('an error naming a path the user chose sends no escape sequence to the terminal', async (t) => {
  const evil = '/nonexistent\x1b]0;owned\x07\x1b[2J\r\u009b2J\u202e';
  const r = await tool('ts-sandbox', ['--ro-bind', '/', '/', '--lock-file', evil, 'true']);
  t.equal(r.exitCode, 1, 'refused');
  t.equal(r.stderr.split('\n').length, 1, 'in one line');
  t.notMatch(r.stderr, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'no raw control character');
  t.match(r.stderr, 'nonexistent\\u001b]0;owned\\u0007\\u001b[2J\\u000d\\u009b2J\\u202e', 'each one escaped');
});
