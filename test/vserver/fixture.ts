// The scratch tree every vserver test runs in: its own config, run and root directories
// (the tools find them through the environment), stopped and removed at the end.
import t from 'tap';
import { execa, type ResultPromise } from 'execa';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../bin/', import.meta.url).pathname;

type Tool = ResultPromise<{ reject: false; timeout: number }>;

export interface Scratch {
  base: string;
  conf: string;
  run: string;
  rootBase: string;
  env: Record<string, string>;
  /** A prefix unique to this test process, for names. */
  tag: string;
  /** Run bin/NAME in the scratch environment (without tap's NODE_OPTIONS, which doubles start-up). */
  tool: (name: string, args: string[], opts?: Record<string, unknown>) => Tool;
  vserver: (args: string[], opts?: Record<string, unknown>) => Tool;
  /** Write NAME.conf; the vserver is stopped at the end. Returns its default root. */
  config: (name: string, text: string) => string;
}

export function scratch(prefix: string, letter: string, options: { worldReadable?: boolean; atEnd?: (s: Scratch) => Promise<unknown> } = {}): Scratch {
  const base = mkdtempSync(join(tmpdir(), prefix));
  // A program run as nobody inside must be able to reach the root.
  if (options.worldReadable) chmodSync(base, 0o755);
  const conf = join(base, 'conf');
  const run = join(base, 'run');
  const rootBase = join(base, 'root');
  mkdirSync(conf);
  const env = { TSNS_VSERVER_CONFDIR: conf, TSNS_VSERVER_ROOT: rootBase, TSNS_RUN_DIR: run };
  const names: string[] = [];
  const tool = (name: string, args: string[], opts: Record<string, unknown> = {}): Tool =>
    execa('env', ['-u', 'NODE_OPTIONS', `${BIN}${name}`, ...args], { env, reject: false, timeout: 60_000, ...opts } as never) as Tool;
  const vserver = (args: string[], opts: Record<string, unknown> = {}) => tool('ts-vserver', args, opts);
  const s: Scratch = {
    base, conf, run, rootBase, env, tag: `${letter}${process.pid}`, tool, vserver,
    config(name, text) {
      writeFileSync(join(conf, `${name}.conf`), text);
      names.push(name);
      return join(rootBase, name);
    },
  };
  t.teardown(async () => {
    for (const n of names) await vserver([n, 'stop']);
    await options.atEnd?.(s);
    rmSync(base, { recursive: true, force: true });
  });
  return s;
}
