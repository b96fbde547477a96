import { isIPv6 } from 'node:net';
import { canonicalIPv6, unmapped } from '../../platform/ip.js';

/**
 * The key every brute-force counter, pair block and address throttle counts a client
 * under (decision 214): an IPv4 address as it is; an IPv4-mapped IPv6 address (a dual-stack
 * socket's `::ffff:198.51.100.7`) as that IPv4 address; any other IPv6 address as its /64,
 * `2001:db8:1:2::/64`. One subscriber (one home network, one host) gets a whole /64, so
 * counting addresses one by one would give an attacker 2^64 fresh starts.
 */
export function clientKey(ip: string): string;
export function clientKey(ip: string | null): string | null;
export function clientKey(ip: string | null): string | null {
  if (ip === null) return null;
  // A zone (fe80::1%eth0) names the interface, not the client.
  const address = unmapped(ip.split('%')[0] as string);
  const canonical = isIPv6(address) ? canonicalIPv6(address) : undefined;
  if (canonical === undefined) return address;
  const [head = '', tail] = canonical.split('::');
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...first, ...Array<string>(8 - first.length - last.length).fill('0'), ...last];
  return `${canonicalIPv6([...groups.slice(0, 4), '0', '0', '0', '0'].join(':'))}/64`;
}
