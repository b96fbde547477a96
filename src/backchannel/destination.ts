import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { plainAddress } from '../ip-blocks/ip-blocks.js';

/** Addresses that are not on the public internet (RFC 6890 special-use): loopback, private, link-local, documentation, multicast. */
const SPECIAL_USE = new BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  SPECIAL_USE.addSubnet(address, prefix, 'ipv4');
}
for (const [address, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  SPECIAL_USE.addSubnet(address, prefix, 'ipv6');
}

export const isSpecialUse = (ip: string): boolean => {
  const address = plainAddress(ip);
  const version = isIP(address);
  return version === 0 || SPECIAL_USE.check(address, version === 4 ? 'ipv4' : 'ipv6');
};

/**
 * In production, a logout token goes only to a public address: a tenant administrator
 * sets the URI, and must not make Gatehouse POST into its own network (SSRF). Every address
 * the name resolves to is checked. (A name that changes its answer between this check and
 * the connection is not caught; the delivery worker of h/delivery should take this over.)
 */
export async function assertPublicDestination(uri: string): Promise<void> {
  const { hostname } = new URL(uri);
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  const refused = addresses.find(isSpecialUse);
  if (refused !== undefined || addresses.length === 0) {
    throw new Error(`${hostname} resolves to ${refused ?? 'nothing'}, not a public address`);
  }
}
