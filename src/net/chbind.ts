// chbind on stock kernels: a program gets its own network namespace whose only
// non-loopback addresses are the given ones (IPv4 and IPv6), on one end of a veth pair
// whose other end stays in the caller's namespace with a route to each address.
import { existsSync, readlinkSync } from 'node:fs';
import { broadcastOf, cidrString, parseCidr, parseIpv4Address, type Cidr } from './address.js';
import { NetError } from './errors.js';
import { ipBatch } from './iproute.js';

export { NetError } from './errors.js';

export interface ChbindSpec {
  /** '10.0.0.10' (a /32), '10.0.0.10/24' (or util-vserver's '10.0.0.10/255.255.255.0'), '2001:db8::10' (a /128) or '2001:db8::10/64'. */
  ips: string[];
  /** Broadcast address of the first IPv4 address; default: computed from its prefix. */
  bcast?: string;
  /** Name of the caller-side veth; default 'tsns<pid>'. */
  dev?: string;
}

/** What setupChbind made; cleanup() removes it (and may be called more than once). */
export interface NetLease {
  hostDev: string;
  cleanup(): void;
}

/**
 * The caller-side end's address, the default gateway inside. Link-local, so it never
 * collides with the addresses handed out, and the same on every pair: each pair is its
 * own link, and the /32 routes point each context's address at its own veth.
 */
export const HOST_PEER = '169.254.0.1';
/** The same for IPv6: a link-local address, on every pair, never one handed out (those are refused). */
export const HOST_PEER6 = 'fe80::1';
/** The name of the end inside; the namespace is fresh, so no name there can clash. */
export const GUEST_DEV = 'eth0';

const IFNAMSIZ = 16;

function checkDevName(name: string): string {
  if (name.length === 0 || name.length >= IFNAMSIZ) throw new NetError(`invalid device name '${name}': 1 to ${IFNAMSIZ - 1} characters`);
  if (name === '.' || name === '..' || /[\s/:]/.test(name)) throw new NetError(`invalid device name '${name}': no '/', ':' or white space`);
  return name;
}

/**
 * Check a spec and put it in normal form: each IP as "address/prefix" (IPv6 compressed).
 * Throws a NetError naming the bad value.
 */
export function parseChbindSpec(input: { ips: readonly string[]; bcast?: string; dev?: string }): ChbindSpec {
  if (input.ips.length === 0) throw new NetError('no IP address given');
  const cidrs: Cidr[] = [];
  for (const s of input.ips) {
    const c = parseCidr(s);
    if (c.address === HOST_PEER) throw new NetError(`invalid IP address '${s}': ${HOST_PEER} is the caller side's own address`);
    if (cidrs.some((i) => i.address === c.address)) throw new NetError(`IP address '${c.address}' given twice`);
    cidrs.push(c);
  }
  const spec: ChbindSpec = { ips: cidrs.map(cidrString) };
  if (input.bcast !== undefined) {
    spec.bcast = parseIpv4Address(input.bcast, 'broadcast address');
    if (!cidrs.some((c) => c.family === 4)) throw new NetError(`broadcast address '${input.bcast}' given, but no IPv4 address`);
  }
  if (input.dev !== undefined) spec.dev = checkDevName(input.dev);
  return spec;
}

/** The default caller-side name: 'tsns' and the pid fit IFNAMSIZ (pid_max is at most 2^22). */
export function defaultDevName(pid: number): string {
  return `tsns${pid}`.slice(0, IFNAMSIZ - 1);
}

/**
 * The ip(8) commands, as data: caller side after the pair exists, then inside. `ipv6`
 * says whether the kernel has IPv6 (an IPv6 address without it is refused). Each family
 * gets its gateway and routes only when one of its addresses is given.
 */
export function chbindCommands(spec: ChbindSpec, hostDev: string, ipv6 = true): { host: string[]; inside: string[] } {
  const cidrs = spec.ips.map((s) => parseCidr(s));
  const v4 = cidrs.filter((c) => c.family === 4);
  const v6 = cidrs.filter((c) => c.family === 6);
  if (v6.length && !ipv6) throw new NetError(`invalid IP address '${cidrString(v6[0])}': this kernel has no IPv6 (no /proc/sys/net/ipv6)`);
  const firstV4 = v4[0];
  return {
    host: [
      ...(v4.length ? [`addr add ${HOST_PEER}/32 scope link dev ${hostDev}`] : []),
      // The caller side's only IPv6 address is fe80::1, usable at once (nodad): the gateway inside.
      ...(v6.length ? [`link set ${hostDev} addrgenmode none`, `addr add ${HOST_PEER6}/64 dev ${hostDev} nodad`] : []),
      `link set ${hostDev} up`,
      // Only the address itself: several contexts may share a subnet, each with its own veth.
      ...v4.map((c) => `route add ${c.address}/32 dev ${hostDev} src ${HOST_PEER}`),
      ...v6.map((c) => `route add ${c.address}/128 dev ${hostDev}`),
    ],
    inside: [
      'link set lo up',
      // No IPv6 link-local address: the context's only addresses are lo's and the given ones.
      ...(ipv6 ? [`link set ${GUEST_DEV} addrgenmode none`] : []),
      ...v4.map((c) => {
        const brd = c === firstV4 && spec.bcast ? spec.bcast : c.prefix <= 30 ? broadcastOf(c) : undefined;
        return `addr add ${cidrString(c)}${brd ? ` broadcast ${brd}` : ''} dev ${GUEST_DEV}`;
      }),
      // nodad: a new IPv6 address is tentative (bind() fails with EADDRNOTAVAIL) until
      // duplicate address detection ends, a second or two; nothing else is on this link.
      ...v6.map((c) => `addr add ${cidrString(c)} dev ${GUEST_DEV} nodad`),
      `link set ${GUEST_DEV} up`,
      // onlink: the gateway is in none of the context's subnets, but is right across the pair.
      ...(v4.length ? [`route add default via ${HOST_PEER} dev ${GUEST_DEV} onlink`] : []),
      // "::/0", not "default": ip would read the gateway as an IPv4 one
      ...(v6.length ? [`route add ::/0 via ${HOST_PEER6} dev ${GUEST_DEV}`] : []),
    ],
  };
}

function netnsOf(pid: number | 'self'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch (err) {
    throw new NetError(`cannot read the network namespace of process ${pid}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
  }
}

/**
 * Delete a caller-side veth end (and so the pair, its addresses and routes), e.g. from
 * another process than the one that made it (ts-vserver stop). A missing device is not an
 * error: when the namespace inside dies, the kernel removes the pair itself.
 */
export function removeVeth(hostDev: string): void {
  try {
    ipBatch('here', [`link del dev ${checkDevName(hostDev)}`]);
  } catch (err) {
    if (err instanceof NetError && /Cannot find device|does not exist/.test(err.detail ?? '')) return;
    throw err;
  }
}

/**
 * Give process `pid` (which must have a network namespace of its own) the addresses of
 * `spec` on a veth pair. Synchronous, for spawn()'s prepare hook. On failure everything
 * made so far is removed before the NetError is thrown.
 */
export function setupChbind(pid: number, spec: ChbindSpec): NetLease {
  const s = parseChbindSpec(spec);
  // Moving a veth end "into" our own namespace would configure the caller's network instead.
  if (netnsOf(pid) === netnsOf('self')) throw new NetError(`process ${pid} shares the caller's network namespace: give it a new one (namespaces: ['net'])`);
  const hostDev = s.dev ?? defaultDevName(pid);
  // Created with the inside end already in place, so no name is ever taken in the caller's namespace but ours.
  ipBatch('here', [`link add name ${hostDev} type veth peer name ${GUEST_DEV} netns ${pid}`]);
  let removed = false;
  const lease: NetLease = {
    hostDev,
    cleanup() {
      if (removed) return;
      removed = true;
      removeVeth(hostDev);
    },
  };
  try {
    const commands = chbindCommands(s, hostDev, existsSync('/proc/sys/net/ipv6'));
    ipBatch('here', commands.host);
    ipBatch({ pid }, commands.inside);
  } catch (err) {
    try { lease.cleanup(); } catch { /* the first failure is the one to report */ }
    throw err;
  }
  return lease;
}
