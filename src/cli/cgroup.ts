// ts-cgroup: create, limit, run in, inspect and remove cgroups, on the src/cgroup library.
// Each subcommand maps its options to one library call and an exit status.
import { rmSync } from 'node:fs';
import type { Command } from 'commander';
import { applyExplain, EXPLAIN_HELP, program, runTool, UsageError, repeatable } from './common.js';
import {
  controllersByVersion, createCgroup, currentLayout, formatSize, hierarchyFor, listCgroups, openCgroup, parseLimits,
  GROUP_CONTROLLERS, type Cgroup, type CgroupStats, type Limits, type ParsedLimits,
} from '../cgroup/index.js';

interface LimitOptions {
  memory?: string;
  memorySwap?: string;
  pids?: string;
  cpu?: string;
  cpuWeight?: string;
  io?: string[];
}

interface CommonOptions extends LimitOptions {
  explain?: boolean;
  json?: boolean;
  name?: string;
  keep?: boolean;
  force?: boolean;
}

function withLimitOptions(cmd: Command): Command {
  return cmd
    .option('-m, --memory <size>', 'memory limit, e.g. 64M, 1.5G or max')
    .option('--memory-swap <size>', 'swap allowed on top of --memory, e.g. 0 or 128M')
    .option('-p, --pids <n>', 'most processes and threads at once, or max')
    .option('-c, --cpu <cores>', 'CPU time in cores, e.g. 0.5 (or 50%), or max')
    .option('-w, --cpu-weight <w>', 'relative CPU share, 1..10000 (default 100)')
    .option('--io <limit>', "per-device I/O limit, e.g. '/dev/vda wbps=1M riops=100' (repeatable)", repeatable);
}

/** The limits asked on the command line, validated before anything is created. */
function limitsOf(o: LimitOptions): ParsedLimits {
  const limits: Limits = { memory: o.memory, memorySwap: o.memorySwap, pids: o.pids, cpu: o.cpu, cpuWeight: o.cpuWeight, io: o.io };
  return parseLimits(limits);
}

/** One operand, the group's name. */
function nameOf(args: string[], sub: string): string {
  if (args.length === 0) throw new UsageError(`${sub}: no group name specified`);
  if (args.length > 1) throw new UsageError(`${sub}: unexpected argument '${args[1]}'`);
  return args[0];
}

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : text + '\n');
}

/** Seconds from microseconds, "1.234s". */
function seconds(usec: number | undefined): string {
  return usec === undefined ? '-' : `${(usec / 1e6).toFixed(usec < 1e7 ? 3 : 1)}s`;
}

function cores(v: number | 'max' | undefined): string {
  return v === undefined ? '-' : v === 'max' ? 'max' : String(Number(v.toFixed(3)));
}

/** Columns padded to their widest cell; text columns left-aligned, the rest right-aligned. */
function table(rows: string[][], leftColumns = 1): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n');
}

// ---- subcommands -------------------------------------------------------------------------

function info(o: CommonOptions): number {
  const layout = currentLayout();
  const rows = [['VERSION', 'CONTROLLERS', 'MOUNT', 'CALLER']];
  if (layout.unified) rows.push(['v2', layout.unified.controllers.join(',') || '-', layout.unified.mount, layout.unified.self]);
  for (const h of layout.v1) rows.push(['v1', h.controllers.join(','), h.mount, h.self]);
  const where = (c: string) => {
    const h = hierarchyFor(layout, c);
    return h ? `v${h.version}` : 'missing';
  };
  const limits = Object.fromEntries(GROUP_CONTROLLERS.map((c) => [c, where(c)]));
  const core = layout.unified ? 'cgroup2 core files (cgroup.freeze, cgroup.kill, cgroup.events)' : hierarchyFor(layout, 'freezer') ? 'v1 freezer, signals' : 'signals only (no freezer)';
  if (o.json) {
    print(JSON.stringify({ ...layout, controllers: controllersByVersion(layout), limits }, null, 2));
    return 0;
  }
  const desc = { v2: 'pure cgroup2', hybrid: 'hybrid (cgroup v1 controllers plus cgroup2)', v1: 'cgroup v1 only' }[layout.kind];
  print(`layout: ${desc}\n`);
  print(table(rows, 4));
  print(`\nlimits: ${GROUP_CONTROLLERS.map((c) => `${c} ${limits[c]}`).join(', ')}`);
  print(`freeze/kill/events: ${core}`);
  return 0;
}

function create(args: string[], o: CommonOptions): number {
  const name = nameOf(args, 'create');
  const limits = limitsOf(o);
  const group = createCgroup(name);
  try {
    group.limit(limits);
  } catch (err) {
    void group.remove({ timeout: 0 }).catch(() => {});
    throw err;
  }
  return 0;
}

function set(args: string[], o: CommonOptions): number {
  const name = nameOf(args, 'set');
  const limits = limitsOf(o);
  if (Object.keys(limits).length === 0) throw new UsageError('set: no limit given (--memory, --memory-swap, --pids, --cpu, --cpu-weight, --io)');
  openCgroup(name).limit(limits);
  return 0;
}

function formatStats(s: CgroupStats): string {
  const rows = [
    ['memory.current', formatSize(s.memoryCurrent)],
    ['memory.peak', formatSize(s.memoryPeak)],
    ['memory.max', formatSize(s.memoryMax)],
    ['pids.current', s.pidsCurrent === undefined ? '-' : String(s.pidsCurrent)],
    ['pids.max', s.pidsMax === undefined ? '-' : String(s.pidsMax)],
    ['cpu.usage', seconds(s.cpuUsageUsec)],
    ['cpu.max', cores(s.cpuMax)],
    ['oom.kills', s.oomKills === undefined ? '-' : String(s.oomKills)],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

function ls(o: CommonOptions): number {
  const groups = listCgroups();
  if (o.json) {
    print(JSON.stringify(groups.map((g) => ({ name: g.name, dirs: g.dirs, procs: g.procs().length, ...g.stats() })), null, 2));
    return 0;
  }
  const rows = [['NAME', 'PROCS', 'MEMORY', 'MEM.MAX', 'PIDS', 'PIDS.MAX', 'CPU', 'CPU.MAX']];
  for (const g of groups) {
    const s = g.stats();
    const parts = g.name.split('/');
    rows.push([
      '  '.repeat(parts.length - 1) + parts[parts.length - 1],
      String(g.procs().length),
      formatSize(s.memoryCurrent),
      formatSize(s.memoryMax),
      s.pidsCurrent === undefined ? '-' : String(s.pidsCurrent),
      s.pidsMax === undefined ? '-' : String(s.pidsMax),
      seconds(s.cpuUsageUsec),
      cores(s.cpuMax),
    ]);
  }
  print(table(rows));
  return 0;
}

async function run(args: string[], o: CommonOptions): Promise<number> {
  if (args.length === 0) throw new UsageError('run: no command specified');
  const limits = limitsOf(o);
  const { reapRuns, recordRun, runInGroup } = await import('./cgroup-run.js');
  const { stagePid } = await import('./stage.js');
  await reapRuns();
  // Named after the stage, the process that waits for the program (or is it).
  const name = o.name ?? `ts-cgroup-${stagePid() ?? process.pid}`;
  const record = o.keep ? undefined : recordRun(name);
  let group: Cgroup | undefined;
  try {
    group = createCgroup(name);
    group.limit(limits);
  } catch (err) {
    await group?.remove({ timeout: 0 }).catch(() => {});
    if (record) rmSync(record, { force: true });
    throw err;
  }
  return runInGroup(group, args, { oomBefore: 0, remove: o.keep ? undefined : { record } });
}

async function exec(args: string[]): Promise<number> {
  if (args.length === 0) throw new UsageError('exec: no group name specified');
  if (args.length === 1 || (args.length === 2 && args[1] === '--')) throw new UsageError('exec: no command specified');
  const [name, ...rest] = args;
  const argv = rest[0] === '--' ? rest.slice(1) : rest;
  const group = openCgroup(name);
  const { runInGroup } = await import('./cgroup-run.js');
  return runInGroup(group, argv, { oomBefore: group.events().oomKill });
}

function eventsOf(args: string[], o: CommonOptions): number {
  const ev = openCgroup(nameOf(args, 'events')).events();
  print(o.json ? JSON.stringify(ev, null, 2) : `populated ${+ev.populated}\nfrozen ${+ev.frozen}\noom ${ev.oom}\noom_kill ${ev.oomKill}`);
  return 0;
}

async function main(): Promise<number> {
  let result: number | Promise<number> = 0;
  const cmd = program('ts-cgroup', 'Create, limit and run programs in cgroups (cgroup v2, with v1 on hybrid hosts).')
    .usage('[--explain] <command> [options] [NAME] [-- command...]')
    .enablePositionalOptions();

  // Each subcommand takes --explain too, so it may come before or after the subcommand's name.
  const sub = (name: string, operands: string, description: string, action: (args: string[], o: CommonOptions) => number | Promise<number>) =>
    cmd
      .command(`${name}${operands ? ' ' + operands : ''}`)
      .description(description)
      .option('--explain', EXPLAIN_HELP)
      .allowExcessArguments(true)
      .action((...params: unknown[]) => {
        const c = params[params.length - 1] as Command;
        const o = c.opts<CommonOptions>();
        applyExplain({ ...cmd.opts(), ...o });
        result = action(c.args, o);
      });

  sub('info', '', 'show the layout, the controllers of each version and where you sit', (_, o) => info(o)).option('--json', 'machine-readable output');
  sub('ls', '', 'list the groups below yours, with current usage', (_, o) => ls(o)).option('--json', 'machine-readable output');
  withLimitOptions(sub('create', '<name>', 'make a group (below yours) with the given limits', create));
  withLimitOptions(sub('set', '<name>', 'change the limits of a group', set));
  withLimitOptions(sub('run', '<command...>', 'run a command in a new group with the given limits; remove the group afterwards', run))
    .option('-n, --name <name>', 'name of the new group (default ts-cgroup-PID)')
    .option('--keep', 'keep the group after the command ends')
    .passThroughOptions();
  sub('exec', '<name> <command...>', 'run a command in an existing group', (a) => exec(a)).passThroughOptions();
  sub('freeze', '<name>', 'stop every process of a group', async (a) => (await openCgroup(nameOf(a, 'freeze')).freeze(), 0));
  sub('thaw', '<name>', 'resume a frozen group', async (a) => (await openCgroup(nameOf(a, 'thaw')).thaw(), 0));
  sub('kill', '<name>', 'SIGKILL every process of a group and wait until it is empty', async (a) => (await openCgroup(nameOf(a, 'kill')).kill(), 0));
  sub('procs', '<name>', 'list the processes of a group', (a) => (print(openCgroup(nameOf(a, 'procs')).procs().join('\n')), 0));
  sub('stats', '<name>', 'show usage: memory current/peak, pids, cpu time, OOM kills', (a, o) => {
    const s = openCgroup(nameOf(a, 'stats')).stats();
    print(o.json ? JSON.stringify(s, null, 2) : formatStats(s));
    return 0;
  }).option('--json', 'machine-readable output');
  sub('events', '<name>', 'show populated, frozen and OOM counts', eventsOf).option('--json', 'machine-readable output');
  sub('rm', '<name>', 'remove a group (waits up to 2 s for it to empty)', async (a, o) => {
    const group = openCgroup(nameOf(a, 'rm'));
    if (o.force) await group.kill();
    await group.remove({ timeout: 2000 });
    return 0;
  }).option('-f, --force', 'kill its processes first');

  await cmd.parseAsync(process.argv.slice(2), { from: 'user' });
  return result;
}

void runTool('ts-cgroup', main);
