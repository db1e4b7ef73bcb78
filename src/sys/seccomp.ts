// libseccomp (the system's libseccomp.so.2) through koffi: a filter is built and exported
// as BPF here, in the parent; the stage only installs the instructions (plan op seccomp),
// so no library is loaded and nothing is allocated between clone and exec.
import { closeSync, fstatSync, readSync } from 'node:fs';
import type * as Koffi from 'koffi';
import { fn, koffi, strerror } from './libc.js';

/** Actions (seccomp.h): the filter's return values. */
export const SCMP_ACT = {
  killProcess: 0x80000000,
  killThread: 0x00000000,
  trap: 0x00030000,
  errno: (errno: number) => 0x00050000 | (errno & 0xffff),
  trace: (msg: number) => 0x7ff00000 | (msg & 0xffff),
  log: 0x7ffc0000,
  allow: 0x7fff0000,
} as const;

/** enum scmp_compare, by OCI's names without the SCMP_CMP_ prefix. */
export const SCMP_CMP = { NE: 1, LT: 2, LE: 3, EQ: 4, GE: 5, GT: 6, MASKED_EQ: 7 } as const;

/** One argument condition; for MASKED_EQ `a` is the mask and `b` the value (arg & a) == b. */
export interface ArgCmp {
  index: number;
  op: keyof typeof SCMP_CMP;
  a: bigint;
  b: bigint;
}

/** What seccomp_syscall_resolve_name returns for a name it does not know. */
const NR_SCMP_ERROR = -1;

/** A libseccomp call that failed: its name and the (negative errno) it returned. */
export class SeccompError extends Error {
  constructor(call: string, rc: number) {
    super(`${call}: ${strerror(-rc)}`);
    this.name = 'SeccompError';
  }
}

let lib: { [name: string]: ReturnType<Koffi.LibraryHandle['func']> } | undefined;

function seccomp() {
  if (lib) return lib;
  const k = koffi();
  const so = k.load('libseccomp.so.2');
  k.struct('scmp_arg_cmp', { arg: 'uint32_t', op: 'int', datum_a: 'uint64_t', datum_b: 'uint64_t' });
  lib = {
    init: so.func('void *seccomp_init(uint32_t def_action)'),
    release: so.func('void seccomp_release(void *ctx)'),
    archAdd: so.func('int seccomp_arch_add(void *ctx, uint32_t arch_token)'),
    archNative: so.func('uint32_t seccomp_arch_native()'),
    archResolve: so.func('uint32_t seccomp_arch_resolve_name(const char *name)'),
    resolve: so.func('int seccomp_syscall_resolve_name(const char *name)'),
    ruleAdd: so.func('int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, scmp_arg_cmp *args)'),
    exportBpf: so.func('int seccomp_export_bpf(void *ctx, int fd)'),
  };
  return lib;
}

function ok(call: string, rc: number): void {
  if (rc < 0) throw new SeccompError(call, rc);
}

/** The syscall number of `name` on this architecture (negative: a pseudo-number libseccomp maps per architecture), or undefined when libseccomp knows no such call. */
export function syscallNumber(name: string): number | undefined {
  const nr = seccomp().resolve(name) as number;
  return nr === NR_SCMP_ERROR ? undefined : nr;
}

/** An architecture token from libseccomp's name ("x86_64", "x86", "aarch64"), or undefined. */
export function archToken(name: string): number | undefined {
  const token = seccomp().archResolve(name) as number;
  return token === 0 ? undefined : token;
}

/** A filter being built: rules, then `export()` to BPF; always `release()` it. */
export class SeccompFilter {
  private ctx: unknown;

  constructor(defaultAction: number) {
    this.ctx = seccomp().init(defaultAction >>> 0);
    if (!this.ctx) throw new Error('seccomp_init: cannot make a filter (bad default action?)');
  }

  /** Also match calls of this architecture (the native one is always there). */
  addArch(token: number): void {
    if (token === (seccomp().archNative() as number)) return;
    ok('seccomp_arch_add', seccomp().archAdd(this.ctx, token) as number);
  }

  /** `action` for syscall `nr` when every condition holds. */
  addRule(action: number, nr: number, args: readonly ArgCmp[] = []): void {
    const conds = args.map((c) => ({ arg: c.index, op: SCMP_CMP[c.op], datum_a: c.a, datum_b: c.b }));
    ok('seccomp_rule_add', seccomp().ruleAdd(this.ctx, action >>> 0, nr, conds.length, conds.length ? conds : null) as number);
  }

  /** The filter as BPF: struct sock_filter instructions, 8 bytes each. */
  export(): Buffer {
    // A memfd, not a pipe: export writes everything before we read, and a filter of up to
    // 4096 instructions (32 KiB) would fill a pipe whose reader is this same thread.
    const fd = fn('int memfd_create(const char *name, unsigned int flags)')('tsns-seccomp', 1 /* MFD_CLOEXEC */) as number;
    if (fd < 0) throw new Error(`memfd_create: ${strerror(koffi().errno())}`);
    try {
      ok('seccomp_export_bpf', seccomp().exportBpf(this.ctx, fd) as number);
      const bpf = Buffer.alloc(fstatSync(fd).size);
      for (let at = 0; at < bpf.length;) at += readSync(fd, bpf, at, bpf.length - at, at);
      return bpf;
    } finally {
      closeSync(fd);
    }
  }

  release(): void {
    if (this.ctx) seccomp().release(this.ctx);
    this.ctx = undefined;
  }
}
