// IPv4 addresses and prefixes: parsing and checking, no I/O.
import { NetError } from './errors.js';

/** An address with its prefix length, e.g. 10.0.0.10/24. */
export interface Ipv4Cidr {
  address: string;
  prefix: number;
}

/** 32-bit value of a dotted quad, or null when it is not one (no leading zeros: "010" reads as octal elsewhere). */
export function ipv4Value(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    v = v * 256 + Number(p);
  }
  return v;
}

export function ipv4String(v: number): string {
  return [24, 16, 8, 0].map((s) => (v >>> s) & 255).join('.');
}

/** Prefix length of "24" or of a netmask "255.255.255.0" (which must be contiguous). */
function prefixOf(s: string, whole: string): number {
  if (/^\d{1,2}$/.test(s) && Number(s) <= 32) return Number(s);
  const m = ipv4Value(s);
  if (m !== null) {
    const prefix = 32 - Math.log2(((~m) >>> 0) + 1);
    if (Number.isInteger(prefix)) return prefix;
  }
  throw new NetError(`invalid prefix length or netmask '${s}' in '${whole}'`);
}

/**
 * "10.0.0.10", "10.0.0.10/24" or "10.0.0.10/255.255.255.0" (util-vserver's form), with
 * `defaultPrefix` where none is given. Refuses what cannot be a host's own address.
 */
export function parseIpv4Cidr(s: string, defaultPrefix = 32): Ipv4Cidr {
  const text = s.trim();
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v = ipv4Value(addr);
  if (v === null) {
    if (addr.includes(':')) throw new NetError(`IPv6 address '${s}' not supported: give an IPv4 address`);
    throw new NetError(`invalid IP address '${s}'`);
  }
  const prefix = slash < 0 ? defaultPrefix : prefixOf(text.slice(slash + 1), s);
  const first = v >>> 24;
  if (v === 0 || first === 0) throw new NetError(`invalid IP address '${s}': 0.0.0.0/8 is not a host address`);
  if (first === 127) throw new NetError(`invalid IP address '${s}': loopback addresses are already inside`);
  if (first >= 224) throw new NetError(`invalid IP address '${s}': ${first >= 240 ? 'reserved' : 'multicast'} address`);
  if (prefix <= 30) {
    const hostBits = 32 - prefix;
    const host = hostBits === 32 ? v : v % 2 ** hostBits;
    if (host === 0) throw new NetError(`invalid IP address '${s}': that is the network address of /${prefix}`);
    if (host === 2 ** hostBits - 1) throw new NetError(`invalid IP address '${s}': that is the broadcast address of /${prefix}`);
  }
  return { address: addr, prefix };
}

/** A plain address (no prefix), e.g. for --bcast. */
export function parseIpv4(s: string, what = 'IP address'): string {
  const v = ipv4Value(s.trim());
  if (v === null) throw new NetError(`invalid ${what} '${s}'`);
  return s.trim();
}

/** The broadcast address of a subnet. */
export function broadcastOf(c: Ipv4Cidr): string {
  const v = ipv4Value(c.address)!;
  const hostBits = 32 - c.prefix;
  return ipv4String(hostBits === 0 ? v : (v - (v % 2 ** hostBits) + 2 ** hostBits - 1) >>> 0);
}
