import { isIP } from 'node:net';

/**
 * An IPv6 address in its one written form (RFC 5952, as the URL serializer writes it: lower
 * case, zeros compressed, no dotted tail); undefined when it is not one (e.g. with a zone index).
 */
export function canonicalIPv6(address: string): string | undefined {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address, in either spelling
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1` → `127.0.0.1`); any other text as given. A dual-stack
 * socket reports IPv4 clients this way, so every rule about addresses judges them unmapped.
 */
export function unmapped(address: string): string {
  if (isIP(address) !== 6) return address;
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonicalIPv6(address) ?? '');
  if (!mapped) return address;
  const high = Number.parseInt(mapped[1] as string, 16);
  const low = Number.parseInt(mapped[2] as string, 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
