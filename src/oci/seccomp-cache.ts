// Compiled seccomp filters, kept by the hash of the spec they were compiled from. Engines
// hand every container the same profile (Podman's default has some 300 calls), and
// compiling it with libseccomp (koffi, then a rule per call) is a good part of a create.
// Kept in RUN/oci-seccomp (root's, 0700), outside any --root: it is no container's state.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Step } from '../native/plan.js';
import { runDir } from '../vserver/paths.js';

type SeccompStep = Extract<Step, { op: 'seccomp' }>;
const dir = () => join(runDir(), 'oci-seccomp');
/**
 * Filters kept at most: each profile, and each rebuild (the key names the compiler), adds
 * one, and /run is not a tmpfs everywhere. Past it the oldest go: a profile still in use
 * is compiled once more.
 */
export const KEPT_FILTERS = 64;

/** The key: the spec, the architecture, and the compiler (this module's file, by its change time: a rebuild starts afresh). */
export function filterKey(spec: unknown): string {
  let compiler = '';
  try {
    const st = statSync(fileURLToPath(import.meta.url));
    compiler = `${st.size}:${st.mtimeMs}`;
  } catch { /* no file to tell: the spec and arch alone */ }
  return createHash('sha256').update(JSON.stringify(spec)).update(`\0${process.arch}\0${compiler}`).digest('hex');
}

/** The step compiled before for `key`, if any (a file that does not read back is none). */
export function cachedFilter(key: string): SeccompStep | undefined {
  try {
    const { flags, filter } = JSON.parse(readFileSync(join(dir(), key), 'utf8')) as { flags: number; filter: string };
    const bytes = Buffer.from(filter, 'base64');
    return Number.isInteger(flags) && bytes.length > 0 && bytes.length % 8 === 0 ? { op: 'seccomp', flags, filter: bytes } : undefined;
  } catch {
    return undefined;
  }
}

/** Keep `step` for `key`; a failure to keep it only costs the next create the compile. */
export function keepFilter(key: string, step: SeccompStep): void {
  try {
    mkdirSync(dir(), { recursive: true, mode: 0o700 });
    const file = join(dir(), key);
    writeFileSync(`${file}.${process.pid}`, JSON.stringify({ flags: step.flags, filter: step.filter.toString('base64') }), { mode: 0o600 });
    renameSync(`${file}.${process.pid}`, file);
  } catch {
    return; // read-only /run, or another create wrote it
  }
  evictOldest();
}

function evictOldest(): void {
  const kept: { path: string; mtime: number }[] = [];
  for (const name of readdirSync(dir())) {
    const path = join(dir(), name);
    try {
      kept.push({ path, mtime: statSync(path).mtimeMs });
    } catch { /* removed meanwhile */ }
  }
  kept.sort((a, b) => a.mtime - b.mtime);
  for (const { path } of kept.slice(0, Math.max(0, kept.length - KEPT_FILTERS))) {
    try {
      unlinkSync(path);
    } catch { /* another create removed it */ }
  }
}
