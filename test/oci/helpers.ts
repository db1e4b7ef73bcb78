// ts-oci tests' bundles and runs: a busybox bundle made with `ts-oci spec`, and a create
// whose output goes to a file (the detached container keeps what it was given open).
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBusyboxRoot } from '../rootfs.js';
import { ROOT, tool, type Run } from '../helpers.js';
import { defaultCgroupName } from '../../src/oci/state.js';

// The tool as engines run it: without tap's NODE_OPTIONS (test/oci/bin/ts-oci says why).
export const OCI = `${ROOT}test/oci/bin/ts-oci`;

export interface Bundle { dir: string; root: string; out: string }

/** A bundle whose config.json is `ts-oci spec`'s with `edit` applied, and a state root; removed at teardown. */
export async function makeBundle(t: Tap.Test, edit: (c: any) => void = () => {}): Promise<Bundle> {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-oci-'));
  const root = join(dir, 'state');
  t.teardown(() => {
    for (const id of existsSync(root) ? readdirSync(root) : []) spawnSync(OCI, ['--root', root, 'delete', '--force', id]);
    rmSync(dir, { recursive: true, force: true });
  });
  const rootfs = buildBusyboxRoot(t);
  const r = await tool('ts-oci', ['spec', '--bundle', dir]);
  if (r.exitCode !== 0) throw new Error(`ts-oci spec: ${r.stderr}`);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  config.root.path = rootfs;
  config.process.terminal = false;
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return { dir, root, out: join(dir, 'out') };
}

/** ts-oci with --root; a create's stdout and stderr go to b.out (the container keeps them). */
export function oci(b: Bundle, args: string[]): Run {
  const fd = openSync(b.out, 'a');
  try {
    const r = spawnSync(OCI, ['--root', b.root, ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000, env: withoutTap() });
    if (args[0] === 'create' || (args[0] === 'run' && args.includes('--detach'))) {
      // Not through pipes: the container inherits create's stdio.
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.status ?? undefined, signal: r.signal ?? undefined };
  } finally {
    closeSync(fd);
  }
}

/** create, with the container's stdio on b.out. */
export function create(b: Bundle, id: string, extra: string[] = []): Run {
  const fd = openSync(b.out, 'a');
  try {
    const r = spawnSync(OCI, ['--root', b.root, 'create', '--bundle', b.dir, ...extra, id], { stdio: ['ignore', fd, fd], timeout: 60_000, env: withoutTap() });
    return { stdout: '', stderr: readFileSync(b.out, 'utf8'), exitCode: r.status ?? undefined, signal: r.signal ?? undefined };
  } finally {
    closeSync(fd);
  }
}

/** The environment without tap's loaders and process records (a planner must not load them). */
export function withoutTap(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)));
}

/** Every directory of the default group of container `id` of bundle `b`'s root, in any hierarchy (memory's where this process sits there). */
export function cgroupDirsOf(b: Bundle, id: string): string[] {
  const name = defaultCgroupName(b.root, id);
  const memory = readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:memory:(.*)$/m)?.[1] ?? '/';
  return [...readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}/${name}`), `/sys/fs/cgroup/memory${memory}/${name}`].filter((d) => existsSync(d));
}

export function stateOf(b: Bundle, id: string): { status: string; pid: number } {
  return JSON.parse(oci(b, ['state', id]).stdout);
}
