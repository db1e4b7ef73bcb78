// bpf(2), for the one program tsns loads: a cgroup2 device filter (BPF_PROG_TYPE_CGROUP_DEVICE).
import { openSync, closeSync, constants } from 'node:fs';
import { check, fn, koffi, SYS } from './libc.js';
import { cstr } from './format.js';

const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
/** Other programs (systemd's, a parent's) stay attached beside ours: all must allow. */
const BPF_F_ALLOW_MULTI = 2;

let declared = false;

/** The leading fields of union bpf_attr each command reads (the kernel zero-fills the rest), as koffi types. */
function declareAttrs(): void {
  if (declared) return;
  koffi().struct('tsns_bpf_prog_load', {
    prog_type: 'uint32', insn_cnt: 'uint32', insns: 'void *', license: 'const char *',
    log_level: 'uint32', log_size: 'uint32', log_buf: 'void *',
  });
  koffi().struct('tsns_bpf_prog_attach', { target_fd: 'uint32', attach_bpf_fd: 'uint32', attach_type: 'uint32', attach_flags: 'uint32' });
  declared = true;
}

/**
 * Load a program of `progType` from its instructions (8 bytes each); its fd. A program the
 * verifier refuses is loaded again with its log on, for the error to say why.
 */
export function progLoad(progType: number, insns: Buffer): number {
  declareAttrs();
  const sys = fn('long syscall(long number, int cmd, tsns_bpf_prog_load *attr, unsigned int size)');
  const load = (log: Buffer | null) => sys(SYS.bpf, BPF_PROG_LOAD, {
    prog_type: progType, insn_cnt: insns.length / 8, insns, license: 'GPL',
    log_level: log ? 1 : 0, log_size: log?.length ?? 0, log_buf: log,
  }, 48);
  const args = `BPF_PROG_LOAD, {prog_type=${progType}, insn_cnt=${insns.length / 8}, license="GPL"}, 48`;
  try {
    return check('bpf', args, () => load(null));
  } catch (err) {
    const log = Buffer.alloc(1 << 20);
    load(log);
    const text = log.toString('utf8', 0, Math.max(0, log.indexOf(0))).trim();
    if (text) (err as Error).message += `: ${text.split('\n').slice(-2).join(' ')}`;
    throw err;
  }
}

/** Attach program `prog` to the cgroup2 directory `dir` (it stays attached while the group lives). */
export function progAttach(dir: string, prog: number, attachType: number): void {
  declareAttrs();
  const target = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const sys = fn('long syscall(long number, int cmd, tsns_bpf_prog_attach *attr, unsigned int size)');
    const attr = { target_fd: target, attach_bpf_fd: prog, attach_type: attachType, attach_flags: BPF_F_ALLOW_MULTI };
    check('bpf', `BPF_PROG_ATTACH, {target_fd=${cstr(dir)}, attach_bpf_fd=${prog}, attach_type=${attachType}, attach_flags=BPF_F_ALLOW_MULTI}, 16`, () => sys(SYS.bpf, BPF_PROG_ATTACH, attr, 16));
  } finally {
    closeSync(target);
  }
}
