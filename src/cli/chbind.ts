// ts-chbind: util-vserver chbind on namespaces — run a program whose only addresses are the given IPv4/IPv6 ones.
import { program, runTool, applyExplain, UsageError, repeatable } from './common.js';
import { runProgram } from './run.js';
import type { NetLease } from '../net/chbind.js';

interface Options {
  explain?: boolean;
  ip?: string[];
  bcast?: string;
  dev?: string;
}

async function main(): Promise<number> {
  const cmd = program('ts-chbind', 'Run a program in its own network namespace whose only addresses are the given IPv4 or IPv6 ones (on a veth pair, routed from here).')
    .usage('--ip <addr>[/<prefix>] [options] [--] <program> [<argument>...]\n       ts-chbind <addr>[/<prefix>] <program> [<argument>...]')
    .argument('[program...]')
    .option('--ip <addr[/prefix]>', 'address of the program (10.0.0.10, 10.0.0.10/24, 10.0.0.10/255.255.255.0, 2001:db8::10 or 2001:db8::10/64); repeatable', repeatable)
    .option('--bcast <addr>', 'broadcast address of the first IPv4 --ip (default: from its prefix)')
    .option('--dev <name>', 'name of the veth end that stays here (default: tsns<pid>)');
  cmd.parse(process.argv.slice(2), { from: 'user' });
  const o = cmd.opts<Options>();
  applyExplain(o);
  const args = [...cmd.args];
  // The short form: without --ip, the first operand is the address.
  const ips = o.ip?.length ? o.ip : args.splice(0, 1);
  if (ips.length === 0) throw new UsageError('no IP address given');

  const { parseChbindSpec, setupChbind } = await import('../net/chbind.js');
  // Checked before anything exists, so a bad address leaves nothing to remove.
  const spec = parseChbindSpec({ ips, bcast: o.bcast, dev: o.dev });
  if (args.length === 0 && !process.env.SHELL) throw new UsageError('no command given and $SHELL is not set');

  let lease: NetLease | undefined;
  return runProgram({
    namespaces: ['net'],
    // If we die without cleaning up, the program dies too: its namespace goes, and the
    // kernel removes the pair with it.
    deathSignal: 'SIGKILL',
    prepare: (pid) => { lease = setupChbind(pid, spec); },
  }, args, { cleanup: () => lease?.cleanup() });
}

void runTool('ts-chbind', main);
