// --explain tells the truth: every call it claims (ts-unshare, ts-nsenter) is one strace
// sees the kernel answer, with the same arguments and result, in the same order.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, run } from './helpers.js';

const strace = ['/usr/bin/strace', '/bin/strace'].find((p) => {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
});

interface Claim { label: string; call: string; name: string; result: string | undefined }

/** The calls --explain printed: "[label] name(args) = result", results absent on execve. */
function claims(stderr: string): Claim[] {
  const out: Claim[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^\[(stage|child|parent|planner)\] ((\w+)\(.*\))(?: = (.*?))?(?:   # .*)?$/.exec(line);
    if (m) out.push({ label: m[1], call: m[2], name: m[3], result: m[4] });
  }
  return out;
}

/**
 * strace's lines as "name(args)" and result, in the order the calls began (a call another
 * process interrupted is split in two lines: it keeps its first line's place), execve's
 * envp pointer dropped.
 */
function traced(file: string): { call: string; result: string }[] {
  const pending = new Map<string, { at: number; head: string }>();
  const out: { call: string; result: string }[] = [];
  const add = (text: string, at = out.length) => {
    const done = /^(\w+\(.*\)) += (.*?)(?: <.*>)?$/.exec(text);
    if (done) out[at] = { call: done[1].replace(/, 0x[0-9a-f]+ \/\*/, ', /*'), result: done[2] };
  };
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\d+) +(.*)$/.exec(raw);
    if (!m) continue;
    const [, pid, text] = m;
    const unfinished = /^(.*) <unfinished \.\.\.>$/.exec(text);
    if (unfinished) {
      pending.set(pid, { at: out.length, head: unfinished[1] });
      out.push({ call: '', result: '' });
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(text);
    const begun = resumed ? pending.get(pid) : undefined;
    if (begun) add(begun.head + resumed![1], begun.at);
    else add(text);
  }
  return out;
}

async function compare(t: Tap.Test, tool: string, args: string[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-strace-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'log');
  const ours = claims((await run(`${ROOT}bin/${tool}`, ['--explain', ...args])).stderr);
  t.ok(ours.length >= 3, `${tool} ${args.join(' ')}: --explain claims calls`);
  const names = [...new Set(ours.map((c) => c.name))].join(',');
  const r = await run(strace!, ['-f', '-qq', '-s', '4096', '-e', `trace=${names}`, '-o', log, `${ROOT}bin/${tool}`, '--explain', ...args]);
  t.equal(r.exitCode, 0, 'runs under strace');
  const seen = traced(log);
  // In order: each claim is found after the previous one of the same process label.
  const cursor = new Map<string, number>();
  for (const c of claims(r.stderr)) {
    const from = cursor.get(c.label) ?? 0;
    // A child reports clone's 0; strace sees the parent's return, the child's pid.
    const at = seen.findIndex((s, k) => k >= from && s.call === c.call && (c.result === undefined || c.name === 'clone' || s.result === c.result));
    t.ok(at >= 0, `[${c.label}] ${c.call}${c.result !== undefined ? ` = ${c.result}` : ''}: strace saw it`);
    if (at >= 0) cursor.set(c.label, at + 1);
  }
}

t.test('ts-unshare and ts-nsenter: every call --explain shows is one strace sees', { skip: strace ? false : 'strace is not installed' }, async (t) => {
  await compare(t, 'ts-unshare', ['--mount', '--uts', '--pid', '--fork', '--mount-proc', 'hostname']);
  await compare(t, 'ts-unshare', ['-r', '--uts', 'hostname', 'box']);
  await compare(t, 'ts-unshare', ['--mount', '--root=/', '--wd=/tmp', 'true']);
  // A target in namespaces of its own, ended when the test is.
  const target = spawn(`${ROOT}bin/ts-unshare`, ['--uts', '--net', '--mount', 'sleep', '60'], { stdio: 'ignore' });
  t.teardown(() => target.kill('SIGKILL'));
  const cmdline = () => readFileSync(`/proc/${target.pid}/cmdline`, 'utf8');
  for (let i = 0; i < 600 && !cmdline().startsWith('sleep'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(cmdline().startsWith('sleep'), 'the target runs');
  await compare(t, 'ts-nsenter', ['-t', String(target.pid), '-u', '-n', '-m', 'hostname']);
  await compare(t, 'ts-nsenter', ['-t', String(target.pid), '--all', '--wd=/', 'true']);
});
