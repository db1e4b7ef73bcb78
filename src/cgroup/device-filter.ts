// The device allow-list of a cgroup2 group: an eBPF program of type CGROUP_DEVICE, which
// the kernel runs on every open and mknod of a device node by a member (cgroup2 has no
// devices files). Built as runc's devicefilter is: one block per rule, first match allows,
// and nothing matched denies.
import { closeSync } from 'node:fs';
import { progAttach, progLoad, BPF_CGROUP_DEVICE, BPF_PROG_TYPE_CGROUP_DEVICE } from '../sys/bpf.js';
import type { DeviceRule } from './devices.js';

// struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACCESS = { m: 1, r: 2, w: 4 } as const;

/** One struct bpf_insn: code, dst and src registers, a 16-bit offset and a 32-bit immediate. */
function insn(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(code, 0);
  b.writeUInt8((src << 4) | dst, 1);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm, 4);
  return b;
}

const loadWord = (dst: number, off: number) => insn(0x61, dst, 1, off, 0); // dst = *(u32 *)(r1 + off)
const andImm = (dst: number, imm: number) => insn(0x57, dst, 0, 0, imm);
const rshImm = (dst: number, imm: number) => insn(0x77, dst, 0, 0, imm);
const movReg = (dst: number, src: number) => insn(0xbf, dst, src, 0, 0);
const movImm = (dst: number, imm: number) => insn(0xb7, dst, 0, 0, imm);
const jneImm = (dst: number, imm: number, off: number) => insn(0x55, dst, 0, off, imm);
const jneReg = (dst: number, src: number, off: number) => insn(0x5d, dst, src, off, 0);
const exit = () => insn(0x95, 0, 0, 0, 0);

/** The program for `rules`: r2 type, r3 access asked, r4 major, r5 minor; r0 = 1 allows. */
export function deviceProgram(rules: readonly DeviceRule[]): Buffer {
  const out: Buffer[] = [loadWord(2, 0), andImm(2, 0xffff), loadWord(3, 0), rshImm(3, 16), loadWord(4, 4), loadWord(5, 8)];
  for (const rule of rules) {
    // Each test jumps past the rest of its block: built backwards, so each knows how far.
    const tail: Buffer[] = [movImm(0, 1), exit()];
    if (rule.minor !== '*') tail.unshift(jneImm(5, rule.minor, tail.length));
    if (rule.major !== '*') tail.unshift(jneImm(4, rule.major, tail.length));
    const access = [...rule.access].reduce((m, c) => m | ACCESS[c as keyof typeof ACCESS], 0);
    if (access !== 7) {
      // What is asked must be within the rule's access: (asked & rule) == asked.
      tail.unshift(jneReg(1, 3, tail.length));
      tail.unshift(movReg(1, 3), andImm(1, access));
    }
    if (rule.type !== 'a') tail.unshift(jneImm(2, rule.type === 'b' ? DEV_BLOCK : DEV_CHAR, tail.length));
    out.push(...tail);
  }
  out.push(movImm(0, 0), exit());
  return Buffer.concat(out);
}

/** Allow members of the cgroup2 group at `dir` only the devices `rules` name. */
export function attachDeviceFilter(dir: string, rules: readonly DeviceRule[]): void {
  const prog = progLoad(BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram(rules));
  try {
    progAttach(dir, prog, BPF_CGROUP_DEVICE);
  } finally {
    // The attachment holds the program: our descriptor is not needed after it.
    closeSync(prog);
  }
}
