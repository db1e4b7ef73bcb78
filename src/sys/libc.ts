// The one place libc is loaded (lazily: koffi costs start-up time) and every binding is checked.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Koffi from 'koffi';
import { explain, explainPlumbing } from './explain.js';
import { SysError } from './errors.js';

let koffiModule: typeof Koffi | undefined;
type Func = ReturnType<Koffi.LibraryHandle['func']>;
let libcLib: Koffi.LibraryHandle | undefined;
const declared = new Map<string, Func>();

/**
 * koffi's API. Its native part ships as a per-platform package with the same API; loading
 * that directly skips koffi's JavaScript loader, which costs as much again (about 6 ms of a
 * tool's start-up). Where npm did not hoist it next to koffi, koffi itself finds it.
 */
export function koffi(): typeof Koffi {
  koffiModule ??= createRequire(import.meta.url)(koffiPath()) as typeof Koffi;
  return koffiModule;
}

/** Where koffi() loads koffi from: for a worker thread that needs it too (readiness.ts). */
export function koffiPath(): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(`@koromix/koffi-${process.platform}-${process.arch}`);
  } catch {
    return require.resolve('koffi');
  }
}

/** A libc function from its C prototype, declared once. */
export function fn(prototype: string): Func {
  let f = declared.get(prototype);
  if (!f) {
    libcLib ??= koffi().load('libc.so.6');
    f = libcLib.func(prototype);
    declared.set(prototype, f);
  }
  return f;
}

let errnoTexts: string[] | undefined;

/**
 * strerror(3) text for an errno: from the table `make -C native` took from this libc
 * (native/errtext.c), as loading libc through koffi costs a tool about 5 ms, paid even for
 * an error that is caught and dropped; from libc itself for a number beyond it.
 */
export function strerror(errno: number): string {
  errnoTexts ??= readErrnoTexts();
  return errnoTexts[errno] ?? (fn('const char *strerror(int errnum)')(errno) as string);
}

function readErrnoTexts(): string[] {
  try {
    return readFileSync(fileURLToPath(new URL('../../native/build/strerror.txt', import.meta.url)), 'utf8').split('\n').slice(0, -1);
  } catch {
    return [];
  }
}

/**
 * Make a call whose failure is the value -1 with errno set. Reports it to --explain,
 * throws SysError on failure, returns the result otherwise. `args` is the strace-style
 * rendering of the arguments.
 */
export function check(name: string, args: string, call: () => number | bigint, kind: 'call' | 'plumbing' = 'call'): number {
  // Plumbing (pipes, reads, waits, readiness) shows only with --explain=all.
  const say = kind === 'plumbing' ? explainPlumbing : explain;
  const r = Number(call());
  if (r === -1) {
    const errno = koffi().errno();
    const err = new SysError(name, args, errno);
    say(`${name}(${args}) = -1 ${err.code} (${err.reason})`);
    throw err;
  }
  say(`${name}(${args}) = ${r}`);
  return r;
}

/** The generic syscall(2) entry, for calls glibc does not wrap (pivot_root, pidfd_open). */
export function rawSyscall(): Func {
  return fn('long syscall(long number, ...)');
}

/** Syscall numbers for calls without a glibc wrapper, per architecture (asm/unistd.h). */
export const SYS = {
  x64: { pivot_root: 155, pidfd_open: 434, bpf: 321 },
  arm64: { pivot_root: 41, pidfd_open: 434, bpf: 280 },
}[process.arch as 'x64' | 'arm64'] ?? { pivot_root: 155, pidfd_open: 434, bpf: 321 };
