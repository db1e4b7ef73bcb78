// The network library: veth pairs and addresses for a program's own network namespace.
export { NetError } from './errors.js';
export { setupChbind, removeVeth, parseChbindSpec, chbindCommands, defaultDevName, HOST_PEER, GUEST_DEV, type ChbindSpec, type NetLease } from './chbind.js';
export { parseIpv4Cidr, parseIpv4, broadcastOf, type Ipv4Cidr } from './ipv4.js';
