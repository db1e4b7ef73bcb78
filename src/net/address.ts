// IPv4 and IPv6 addresses with prefixes, as a host's own addresses: parsed by ipaddr.js,
// then checked for what cannot be handed to a program. No I/O.
import ipaddr from 'ipaddr.js';
import { NetError } from './errors.js';

/** An address in normal form (IPv6 compressed as RFC 5952 writes it) with its prefix length. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/**
 * A plain address: IPv4 only as four decimal parts without leading zeros ("010" reads as
 * octal elsewhere, "10.1" as 10.0.0.1), IPv6 without a zone ("%eth0": a host's own
 * address belongs to no one link). Null when it is neither.
 */
function parseIp(s: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (s.includes(':') && !s.includes('%') && ipaddr.IPv6.isValid(s)) return ipaddr.IPv6.parse(s);
  return null;
}

/** Prefix length of "24" (0-32 or 0-128) or, for IPv4, of a netmask "255.255.255.0" (which must be contiguous). */
function prefixOf(s: string, family: 4 | 6, whole: string): number {
  const max = family === 4 ? 32 : 128;
  if (/^\d{1,3}$/.test(s) && Number(s) <= max) return Number(s);
  if (family === 4 && ipaddr.IPv4.isValidFourPartDecimal(s)) {
    const prefix = ipaddr.IPv4.parse(s).prefixLengthFromSubnetMask();
    if (prefix !== null) return prefix;
  }
  throw new NetError(`invalid prefix length${family === 4 ? ' or netmask' : ''} '${s}' in '${whole}'`);
}

/** What makes an IPv4 address no host's own; null if it may be one. */
function ipv4Refusal(ip: ipaddr.IPv4, prefix: number): string | null {
  const range = ip.range();
  if (range === 'unspecified') return '0.0.0.0/8 is not a host address';
  if (range === 'loopback') return 'loopback addresses are already inside';
  if (range === 'multicast') return 'multicast address';
  if (ip.octets[0] >= 240) return 'reserved address';
  if (prefix <= 30) {
    const cidr = `${ip}/${prefix}`;
    if (ipaddr.IPv4.networkAddressFromCIDR(cidr).toString() === ip.toString()) return `that is the network address of /${prefix}`;
    if (ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString() === ip.toString()) return `that is the broadcast address of /${prefix}`;
  }
  return null;
}

/** What makes an IPv6 address no host's own; null if it may be one. */
function ipv6Refusal(ip: ipaddr.IPv6, prefix: number): string | null {
  switch (ip.range()) {
    case 'unspecified': return ':: is not a host address';
    case 'loopback': return 'loopback addresses are already inside';
    case 'multicast': return 'multicast address';
    // fe80::/10 is made per link by the kernel; the program's addresses are routed ones
    case 'linkLocal': return 'link-local address: give a global or unique local (fd00::/8) one';
    case 'ipv4Mapped': return 'IPv4-mapped address: give the IPv4 address itself';
    default: break;
  }
  // below /127 (RFC 6164's point-to-point links), the address with no host bits is the subnet's routers' anycast
  if (prefix < 127 && ipaddr.IPv6.networkAddressFromCIDR(`${ip.toString()}/${prefix}`).toString() === ip.toString()) {
    return `that is the subnet-router anycast address of /${prefix}`;
  }
  return null;
}

/**
 * "10.0.0.10", "10.0.0.10/24", "10.0.0.10/255.255.255.0" (util-vserver's form),
 * "2001:db8::10" or "2001:db8::10/64", with /32 or /128 where no prefix is given (or
 * `defaultPrefix`, for IPv4). Refuses what cannot be a host's own address.
 */
export function parseCidr(s: string, defaultPrefix = 32): Cidr {
  const text = s.trim();
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addr);
  if (!ip) throw new NetError(`invalid IP address '${s}'`);
  const family = ip.kind() === 'ipv4' ? 4 : 6;
  const prefix = slash >= 0 ? prefixOf(text.slice(slash + 1), family, s) : family === 4 ? defaultPrefix : 128;
  const why = ip.kind() === 'ipv4' ? ipv4Refusal(ip as ipaddr.IPv4, prefix) : ipv6Refusal(ip as ipaddr.IPv6, prefix);
  if (why) throw new NetError(`invalid IP address '${s}': ${why}`);
  return { address: ip.toString(), prefix, family };
}

/** A plain IPv4 address (no prefix), e.g. for --bcast. */
export function parseIpv4Address(s: string, what = 'IP address'): string {
  const ip = parseIp(s.trim());
  if (!ip || ip.kind() !== 'ipv4') throw new NetError(`invalid ${what} '${s}'${ip ? ': give an IPv4 address' : ''}`);
  return ip.toString();
}

/** The broadcast address of an IPv4 subnet. */
export function broadcastOf(c: Cidr): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(`${c.address}/${c.prefix}`).toString();
}

/** "address/prefix", the form ip(8) takes. */
export const cidrString = (c: Cidr): string => `${c.address}/${c.prefix}`;
