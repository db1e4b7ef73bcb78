// Shared by the tests: run a command and capture everything, never throwing.
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `done` until it holds (true) or `ms` have passed (false): no timing is asserted. */
export async function waitFor(done: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

export interface Run { stdout: string; stderr: string; exitCode: number | undefined; signal?: string }

export async function run(file: string, args: string[], options: { input?: string; env?: Record<string, string>; timeout?: number } = {}): Promise<Run> {
  // Without tap's NODE_OPTIONS: its coverage loaders would add about a second to every tool start.
  const { NODE_OPTIONS: _, ...env } = { ...process.env, ...options.env };
  const r = await execa(file, args, { reject: false, timeout: options.timeout ?? 30_000, input: options.input, env, extendEnv: false, cwd: ROOT });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode, signal: r.signal };
}

/** Run one of our tools (bin/ts-NAME, built by npm install) as a user would. */
export function tool(name: string, args: string[], options?: Parameters<typeof run>[2]): Promise<Run> {
  return run(`${ROOT}bin/${name}`, args, options);
}

/** Run our tool and the reference tool with the same arguments; assert the same stdout and exit status. */
export async function differential(t: Tap.Test, ours: string, theirs: string, args: string[], why: string): Promise<Run> {
  const a = await tool(ours, args);
  const b = await run(theirs, args);
  t.equal(a.stdout, b.stdout, `${why}: stdout`);
  t.equal(a.exitCode, b.exitCode, `${why}: exit status`);
  return a;
}

export const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Why an unprivileged user cannot run our tools from this checkout (a parent directory is closed), if so. */
export async function nobodyCannotRunTools(): Promise<string | undefined> {
  const r = await run('setpriv', [...AS_NOBODY, 'test', '-x', `${ROOT}native/build/tsns-stage`, '-a', '-r', `${ROOT}dist/bin/unshare.cjs`]);
  return r.exitCode === 0 ? undefined : `user nobody cannot read ${ROOT} (a parent directory is not world-readable)`;
}

/** Everything a pipe gives until its end (which may come after the writer's exit is reaped). */
export function pipeText(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let all = '';
    stream.on('data', (d) => (all += d)).on('end', () => resolve(all));
  });
}

/** The writes --explain lines show (openat then write on its descriptor), as "NAME VALUE" with the file's base name. */
export function explainedWrites(lines: readonly string[]): string[] {
  const files = new Map<string, string>();
  const out: string[] = [];
  for (const l of lines.map((x) => x.replace(/^\[\w+\] /, ''))) {
    const open = /^openat\(AT_FDCWD, ("(?:[^"\\]|\\.)*"), O_WRONLY[^)]*\) = (\d+)/.exec(l);
    if (open) files.set(open[2], JSON.parse(open[1]) as string);
    const write = /^write\((\d+), ("(?:[^"\\]|\\.)*"), \d+\) = \d+/.exec(l);
    if (write && files.has(write[1])) out.push(`${files.get(write[1])!.replace(/^.*\//, '')} ${write[2]}`);
  }
  return out;
}

/** What a stream gives until `needle` has come (or all it gives, if it ends without it). */
export function until(stream: NodeJS.ReadableStream, needle: string): Promise<string> {
  return new Promise((resolve) => {
    let all = '';
    const done = () => { stream.off('data', more); resolve(all); };
    const more = (d: Buffer) => { all += d; if (all.includes(needle)) done(); };
    stream.on('data', more).once('end', done);
  });
}

/** Processes (not zombies) whose environment holds `entry`, a NAME=value a test gave them. */
function marked(entry: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(entry);
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

/**
 * Run one of our tools with --explain among `args`, SIGKILL it once it has printed `after`
 * lines (or ended), and give the pids of what it started that still run: its planner and
 * its program carry a marker in their environment. Polled a bounded number of times (30 s
 * at the least), as a killed tree takes a moment to go, more on a loaded machine.
 */
export async function leftAfterKill(name: string, args: string[], after: number): Promise<number[]> {
  const entry = `TSNS_FAULT_MARK=${process.pid}-${name}-${after}`;
  const child = spawn(`${ROOT}bin/${name}`, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', [entry.split('=')[0]]: entry.split('=')[1] } });
  let lines = 0;
  await new Promise<void>((resolve) => {
    child.stderr!.on('data', (d: Buffer) => {
      lines += String(d).split('\n').length - 1;
      if (lines >= after) resolve();
    }).once('end', resolve);
  });
  child.kill('SIGKILL');
  let left = marked(entry);
  for (let i = 0; i < 1200 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 25));
    left = marked(entry);
  }
  child.stderr!.destroy();
  return left;
}
