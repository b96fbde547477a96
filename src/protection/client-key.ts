import { isIPv4, isIPv6 } from 'node:net';

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
  const address = ip.split('%')[0] as string; // a zone (fe80::1%eth0) names the interface, not the client
  if (isIPv4(address) || !isIPv6(address)) return address;
  const groups = hextets(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  const network = [...groups.slice(0, 4), 0, 0, 0, 0].map((group) => group.toString(16)).join(':');
  // The URL parser writes an IPv6 address in its canonical (RFC 5952) form.
  return `${new URL(`http://[${network}]/`).hostname.slice(1, -1)}/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function hextets(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((piece) => {
          if (!piece.includes('.')) return [Number.parseInt(piece, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  const first = parse(head);
  const last = tail === undefined ? [] : parse(tail);
  return [...first, ...Array<number>(8 - first.length - last.length).fill(0), ...last];
}
