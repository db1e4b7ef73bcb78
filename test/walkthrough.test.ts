// docs/walkthrough.md, run: every command of every block, in order, as root in a scratch
// directory, with its output checked against the doc. The doc's conventions (its
// introduction): `# ` starts a command, a trailing `\` continues it, the lines after it are
// its output (stdout and stderr together), `{N}` is a number, `{*}` any text within a line,
// a line `...` any number of lines; a `<!-- not run in tests: REASON -->` line skips the
// next block.
import t from 'tap';
import { execa } from 'execa';
import { readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { nobodyCannotRunTools, ROOT } from './helpers.js';

interface Step { line: number; command: string; expected: string[] }
interface Block { line: number; skip?: string; steps: Step[] }

const SKIP = /^<!-- not run in tests: (.+) -->$/;

function parse(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let block: Block | undefined;
  let skip: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!block) {
      const marker = SKIP.exec(line.trim());
      if (marker) skip = marker[1];
      else if (line.startsWith('```sh')) { block = { line: i + 1, skip, steps: [] }; skip = undefined; }
      else if (line.trim() !== '') skip = undefined;   // a marker applies only to the block right below it
      continue;
    }
    if (line.startsWith('```')) { blocks.push(block); block = undefined; continue; }
    if (line.startsWith('# ')) {
      let command = line.slice(2);
      while (command.endsWith('\\') && i + 1 < lines.length) command = `${command}\n${lines[++i]}`;
      block.steps.push({ line: i + 1, command, expected: [] });
    } else if (block.steps.length === 0) {
      throw new Error(`docs/walkthrough.md:${i + 1}: output before any command`);
    } else {
      block.steps[block.steps.length - 1].expected.push(line);
    }
  }
  return blocks;
}

/** One expected line as a regex: literal text, {N} a number, {*} any text. */
function lineRegex(expected: string): RegExp {
  const parts = expected.split(/(\{N\}|\{\*\})/).map((p) => p === '{N}' ? '\\d+' : p === '{*}' ? '.*?' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('')}$`);
}

/** Expected lines against actual ones; `...` matches any run of lines (backtracking). */
function matches(expected: string[], actual: string[]): boolean {
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    if (memo.has(key)) return memo.get(key)!;
    let r: boolean;
    if (i === expected.length) r = j === actual.length;
    else if (expected[i] === '...') r = go(i + 1, j) || (j < actual.length && go(i, j + 1));
    else r = j < actual.length && lineRegex(expected[i]).test(actual[j]) && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

// Trailing blanks are not part of what the doc shows (editors strip them), nor are the
// blank lines that end an output.
const normalize = (lines: string[]): string[] => {
  const out = lines.map((l) => l.trimEnd());
  while (out.length && out[out.length - 1] === '') out.pop();
  return out;
};

const DOC = join(ROOT, 'docs/walkthrough.md');
const blocks = parse(readFileSync(DOC, 'utf8'));
const scratch = mkdtempSync('/tmp/tsns-walk-');
const VSERVER = 'tsns-walk';
const env = { ...process.env, PATH: `${ROOT}bin:${process.env.PATH}`, LC_ALL: 'C' };
// tap's process tracking adds its loader to every child's NODE_OPTIONS, even with an env
// given: the shell drops it (and tap's other variables), or a tool's planner run by nobody
// would fail writing tap's records in the checkout, and every tool start would be slower.
const PRELUDE = 'exec 2>&1; unset NODE_OPTIONS ${!TAP@} ${!_TAPJS@}\n';

t.teardown(async () => {
  // What a run that failed half-way may leave: the doc's own steps remove all of it.
  const quiet = { reject: false, env, extendEnv: false } as const;
  await execa(`${ROOT}bin/ts-vserver`, [VSERVER, 'stop'], quiet);
  rmSync(`/etc/tsns/vservers/${VSERVER}.conf`, { force: true });
  rmSync(`/var/lib/tsns/vservers/${VSERVER}`, { recursive: true, force: true });
  for (const f of ['new-ns', 'trace-ns']) await execa('umount', [join(scratch, f)], quiet);
  rmSync(scratch, { recursive: true, force: true });
});

t.test('the doc has blocks to run, and every skipped one says why', async (t) => {
  t.ok(blocks.filter((b) => !b.skip).length > 20, 'blocks to run');
  for (const b of blocks.filter((b) => b.skip)) t.ok(b.skip!.trim().length > 5, `line ${b.line}: a reason`);
});

t.test('every command of docs/walkthrough.md prints what the doc shows', async (t) => {
  // The doc's unprivileged steps run our tools as nobody: a checkout below a closed
  // directory (mktemp -d is 0700) keeps them out, and those steps are skipped, said why.
  const closed = await nobodyCannotRunTools();
  for (const block of blocks) {
    if (block.skip) continue;
    for (const step of block.steps) {
      if (closed && step.command.startsWith('setpriv ')) {
        t.skip(`docs/walkthrough.md:${step.line}: ${closed}`);
        continue;
      }
      // One pipe for stdout and stderr (the prelude's exec), so their order is the order they
      // were written in.
      const r = await execa('bash', ['-c', PRELUDE + step.command], { reject: false, cwd: scratch, env, extendEnv: false, timeout: 60_000, stdin: 'ignore' });
      const actual = normalize(String(r.stdout).split('\n'));
      const expected = normalize(step.expected);
      const where = `docs/walkthrough.md:${step.line}: ${step.command.split('\n')[0]}`;
      t.equal(r.exitCode, 0, `${where}: exit 0`);
      if (!t.ok(matches(expected, actual), where)) t.comment(`expected:\n${expected.join('\n')}\nactual:\n${actual.join('\n')}`);
    }
  }
  t.notOk(existsSync('/sys/fs/cgroup/pids/tsns-walk'), 'no cgroup left');
});
