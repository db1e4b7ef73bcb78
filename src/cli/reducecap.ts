// ts-reducecap: util-vserver reducecap on the tsns spawn API — run a program with fewer capabilities.
import { readFileSync } from 'node:fs';
import { program, runTool, applyExplain, UsageError, repeatable } from './common.js';
import { runProgram } from './run.js';

interface Options {
  explain?: boolean;
  secure?: boolean;
  cap?: string[];
  keep?: string[];
  show?: boolean;
  /** commander reads --no-new-privs as the negation of a --new-privs: false when given. */
  newPrivs?: boolean;
}

/** The five sets of this process with `drop` taken out of each, one line per set. */
async function showSets(drop: readonly number[], noNewPrivs: boolean): Promise<string> {
  const { processCaps, capsOfMask, maskOfCaps } = await import('../sys/caps.js');
  const sets = processCaps();
  const keep = ~maskOfCaps(drop);
  const line = (label: string, mask: bigint) => `${label.padEnd(13)}${capsOfMask(mask & keep).join(',') || '[none]'}\n`;
  const nnp = noNewPrivs || /^NoNewPrivs:\s*1$/m.test(readFileSync('/proc/self/status', 'utf8'));
  return line('Bounding:', sets.bounding) + line('Effective:', sets.effective) + line('Permitted:', sets.permitted)
    + line('Inheritable:', sets.inheritable) + line('Ambient:', sets.ambient) + `${'NoNewPrivs:'.padEnd(13)}${nnp ? 1 : 0}\n`;
}

async function main(): Promise<number> {
  const cmd = program('ts-reducecap', 'Run a program with capabilities removed from all its sets (bounding set included).')
    .usage('[options] [--] [<program> [<argument>...]]')
    .argument('[program...]')
    .option('--secure', 'drop the capabilities of util-vserver\'s secure context (see docs/ts-reducecap.md)')
    .option('--cap <name>', 'drop this capability (CAP_SYS_ADMIN, sys_admin, 21 or ALL); repeatable', repeatable)
    .option('--keep <name>', 'never drop this capability, even with --secure; repeatable', repeatable)
    .option('--show', 'print the capability sets the program starts with (without a program: and exit)')
    .option('--no-new-privs', 'set no_new_privs: exec never grants privileges again (setuid, file caps)');
  cmd.parse(process.argv.slice(2), { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);
  const noNewPrivs = o.newPrivs === false;

  const { resolveCapDrop } = await import('../sandbox/caps.js');
  const dropCaps = resolveCapDrop({ secure: o.secure, cap: o.cap, keep: o.keep });
  if (o.show) {
    process.stdout.write(await showSets(dropCaps, noNewPrivs));
    if (cmd.args.length === 0) return 0;
  }
  if (cmd.args.length === 0 && !process.env.SHELL) throw new UsageError('no command given and $SHELL is not set');

  return runProgram({ dropCaps, noNewPrivs }, cmd.args);
}

void runTool('ts-reducecap', main);
