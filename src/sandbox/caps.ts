// Which capabilities a reduced context loses: util-vserver's secure list, --cap and --keep.
import { CAP_NAMES, capLastCap, parseCap, type CapName } from '../sys/caps.js';

const cap = (name: CapName) => CAP_NAMES.indexOf(name);

/**
 * util-vserver's "secure" drop list (vc_get_insecurebcaps() in lib/, used by
 * chcontext --secure and vserver start), then the capabilities Linux added later that
 * carry the same powers, so that --secure still means what it meant.
 */
export const SECURE_DROP: number[] = [
  // util-vserver, in its order. (It also dropped CAP_QUOTACTL, a capability of the
  // vserver kernel only; quotactl(2) on stock kernels needs CAP_SYS_ADMIN, dropped here.)
  cap('CAP_LINUX_IMMUTABLE'), cap('CAP_NET_BROADCAST'), cap('CAP_NET_ADMIN'), cap('CAP_NET_RAW'),
  cap('CAP_IPC_LOCK'), cap('CAP_IPC_OWNER'), cap('CAP_SYS_MODULE'), cap('CAP_SYS_RAWIO'),
  cap('CAP_SYS_PACCT'), cap('CAP_SYS_ADMIN'), cap('CAP_SYS_NICE'), cap('CAP_SYS_RESOURCE'),
  cap('CAP_SYS_TIME'), cap('CAP_MKNOD'),
  // util-vserver dropped CAP_SYS_BOOT where no vshelper handled reboot; here nothing does.
  cap('CAP_SYS_BOOT'),
  // Split out of CAP_SYS_ADMIN since (2.6.37, 5.8, 5.8, 5.9).
  cap('CAP_SYSLOG'), cap('CAP_PERFMON'), cap('CAP_BPF'), cap('CAP_CHECKPOINT_RESTORE'),
  // Kernel-wide policy that did not exist then: LSM and audit configuration.
  cap('CAP_MAC_ADMIN'), cap('CAP_MAC_OVERRIDE'), cap('CAP_AUDIT_CONTROL'),
  // open_by_handle_at(2) (2.6.39) opens any file of a filesystem by its handle, outside
  // any root: the "shocker" escape. runc drops it by default; root keeps reading its own
  // files through CAP_DAC_OVERRIDE.
  cap('CAP_DAC_READ_SEARCH'),
  // With it, root inside may ptrace and read through /proc (mem, environ, fd/) even a
  // process that is not dumpable: a joiner (ts-vserver exec/enter, ts-chcontext --ctx)
  // is in the context's pid namespace between its fork and its exec, still holding every
  // capability and the admin's environment. runc does not grant it either; tracing a
  // process of one's own credentials needs no capability.
  cap('CAP_SYS_PTRACE'),
];

export interface CapDropOptions {
  /** Start from SECURE_DROP. */
  secure?: boolean;
  /** More to drop: names as parseCap takes them ("SYS_ADMIN", "cap_net_raw", "21"), or "ALL". */
  cap?: readonly string[];
  /** Never dropped, whatever the two above say (util-vserver's S_CAPS / chcontext --cap NAME). */
  keep?: readonly string[];
}

/**
 * The capability numbers to drop, sorted, limited to those this kernel knows. Unknown
 * names throw a TypeError naming them (from parseCap).
 */
export function resolveCapDrop(o: CapDropOptions): number[] {
  const last = capLastCap();
  const all = () => Array.from({ length: last + 1 }, (_, i) => i);
  const drop = new Set<number>(o.secure ? SECURE_DROP : []);
  for (const name of o.cap ?? []) {
    if (name.trim().toUpperCase() === 'ALL') all().forEach((c) => drop.add(c));
    else drop.add(parseCap(name));
  }
  for (const name of o.keep ?? []) {
    if (name.trim().toUpperCase() === 'ALL') drop.clear();
    else drop.delete(parseCap(name));
  }
  return [...drop].filter((c) => c <= last).sort((a, b) => a - b);
}
