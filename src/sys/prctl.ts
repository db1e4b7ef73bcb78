// prctl(2): the options the sandbox uses.
import { check, fn } from './libc.js';
import { capName } from './caps.js';

/** linux/prctl.h */
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_KEEPCAPS = 8;
export const PR_SET_NAME = 15;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_IS_SET = 1;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_LOWER = 3;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

const AMBIENT_OPS: Record<number, string> = {
  [PR_CAP_AMBIENT_IS_SET]: 'PR_CAP_AMBIENT_IS_SET',
  [PR_CAP_AMBIENT_RAISE]: 'PR_CAP_AMBIENT_RAISE',
  [PR_CAP_AMBIENT_LOWER]: 'PR_CAP_AMBIENT_LOWER',
  [PR_CAP_AMBIENT_CLEAR_ALL]: 'PR_CAP_AMBIENT_CLEAR_ALL',
};

/** The strace-style rendering of a prctl call's arguments, shared with the native plan. */
export function prctlArgs(option: number, arg2 = 0, arg3 = 0): string {
  switch (option) {
    case PR_SET_PDEATHSIG: return `PR_SET_PDEATHSIG, ${arg2}`;
    case PR_SET_KEEPCAPS: return `PR_SET_KEEPCAPS, ${arg2}`;
    case PR_CAPBSET_READ: return `PR_CAPBSET_READ, ${capName(arg2)}`;
    case PR_CAPBSET_DROP: return `PR_CAPBSET_DROP, ${capName(arg2)}`;
    case PR_SET_NO_NEW_PRIVS: return `PR_SET_NO_NEW_PRIVS, ${arg2}, 0, 0, 0`;
    case PR_GET_NO_NEW_PRIVS: return 'PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0';
    case PR_CAP_AMBIENT:
      return `PR_CAP_AMBIENT, ${AMBIENT_OPS[arg2] ?? arg2}, ${arg2 === PR_CAP_AMBIENT_CLEAR_ALL ? 0 : capName(arg3)}, 0, 0`;
    default: return `${option}, ${arg2}, ${arg3}, 0, 0`;
  }
}

export function prctl(option: number, arg2 = 0, arg3 = 0): number {
  return check('prctl', prctlArgs(option, arg2, arg3), () =>
    fn('int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)')(option, arg2, arg3, 0, 0));
}

export function setNoNewPrivs(): void {
  prctl(PR_SET_NO_NEW_PRIVS, 1);
}

export function getNoNewPrivs(): boolean {
  return prctl(PR_GET_NO_NEW_PRIVS) === 1;
}

export function capbsetRead(cap: number): boolean {
  return prctl(PR_CAPBSET_READ, cap) === 1;
}

/** Drop from the bounding set of the calling thread (other Node threads keep theirs). */
export function capbsetDrop(cap: number): void {
  prctl(PR_CAPBSET_DROP, cap);
}

export function setPdeathsig(signal: number): void {
  prctl(PR_SET_PDEATHSIG, signal);
}

export function ambientRaise(cap: number): void {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap);
}

export function ambientClearAll(): void {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
}
