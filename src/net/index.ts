// The network library: veth pairs and addresses for a program's own network namespace.
export { NetError } from './errors.js';
export { setupChbind, removeVeth, parseChbindSpec, chbindCommands, defaultDevName, HOST_PEER, HOST_PEER6, GUEST_DEV, type ChbindSpec, type NetLease } from './chbind.js';
export { parseCidr, parseIpv4Address, broadcastOf, cidrString, type Cidr } from './address.js';
