import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { unmapped } from '../ip.js';

/**
 * Where webhooks may not go unless configured (GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS): this
 * host, the local and private networks, CGNAT, multicast, reserved and unspecified
 * addresses, and the IPv6 ranges that carry an IPv4 address inside (decision 205).
 * IPv4-mapped addresses (::ffff:0:0/96) are not listed: they are judged by their IPv4
 * part (`judged`), as listing the range would refuse every IPv4 address (a BlockList
 * compares IPv4 addresses with IPv6 ranges in their mapped form).
 */
const INTERNAL: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], // "this network", unspecified
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'], // CGNAT
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], // link-local (cloud metadata)
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'], // unspecified
  ['::1', 128, 'ipv6'],
  ['::', 96, 'ipv6'], // IPv4-compatible (deprecated)
  ['::ffff:0:0:0', 96, 'ipv6'], // IPv4-translated (SIIT, reaches the IPv4 address inside)
  ['100::', 64, 'ipv6'], // discard-only
  ['2001::', 32, 'ipv6'], // Teredo (reaches the IPv4 address inside)
  ['64:ff9b::', 96, 'ipv6'], // NAT64 (reaches IPv4 addresses, private ones too)
  ['64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
  ['2002::', 16, 'ipv6'], // 6to4 (reaches the IPv4 address in bits 16-47, private ones too)
  ['fc00::', 7, 'ipv6'], // unique-local
  ['fe80::', 10, 'ipv6'], // link-local
  ['fec0::', 10, 'ipv6'], // site-local (deprecated)
  ['ff00::', 8, 'ipv6'], // multicast
];

const internal = new BlockList();
for (const [address, prefix, type] of INTERNAL) internal.addSubnet(address, prefix, type);

/** Any address: for outbound calls outside production (applications on localhost). */
export const ANY_DESTINATION: DestinationPolicy = { allows: () => true, open: true };

export interface DestinationPolicy {
  /** True when the address may be connected to. */
  allows(address: string): boolean;
  /** Allows every address without looking (no name is resolved to check a URL on save). */
  open?: true;
}

/**
 * Where Gatehouse calls the URLs of an application's settings (its back-channel logout URI,
 * and whatever the OAuth engine fetches): in production, where webhooks may go; outside
 * production anywhere, since an application in development runs on localhost (decision 124).
 */
export function applicationDestinations(config: Pick<Config, 'production' | 'webhookAllowedNetworks'>): DestinationPolicy {
  return config.production ? destinationPolicy(config.webhookAllowedNetworks) : ANY_DESTINATION;
}

/** An address as it is judged: an IPv4-mapped IPv6 address (::ffff:7f00:1) as its IPv4 address (127.0.0.1). */
function judged(given: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const address = unmapped(given);
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** The policy for the configured exceptions (CIDRs such as 127.0.0.1/32). */
export function destinationPolicy(allowedNetworks: readonly string[]): DestinationPolicy {
  const allowed = new BlockList();
  for (const cidr of allowedNetworks) {
    const [address = '', prefix] = cidr.split('/');
    allowed.addSubnet(address, Number(prefix), isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
  return {
    allows(given) {
      const { address, type } = judged(given);
      return allowed.check(address, type) || !internal.check(address, type);
    },
  };
}

/** The URL's host without IPv6 brackets; an IP literal as the URL parser normalized it. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** Every address a name resolves to (an IP literal is its own). */
export async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  const records = await lookup(host, { all: true, verbatim: true });
  return records.map((r) => r.address);
}

/**
 * Why a URL Gatehouse will call may not be stored: its host does not resolve, or resolves
 * to an address the policy refuses (every address counts; each is checked again when
 * connecting). Undefined when it may.
 */
export async function destinationProblem(policy: DestinationPolicy, url: URL): Promise<'unresolvable' | 'not_allowed' | undefined> {
  if (policy.open) return undefined;
  let addresses: string[];
  try {
    addresses = await resolveHost(hostOf(url));
  } catch {
    return 'unresolvable';
  }
  return addresses.length === 0 || addresses.some((a) => !policy.allows(a)) ? 'not_allowed' : undefined;
}

/**
 * A webhook URL as it may be stored: absolute http(s), no credentials or fragment, and a
 * host whose every address the policy allows (checked again at each delivery).
 */
export async function checkWebhookUrl(policy: DestinationPolicy, value: string): Promise<string> {
  const invalid = (reason: string, message: string) => new AppError('invalid_webhook_url', message, { reason });
  if (!URL.canParse(value)) throw invalid('malformed', 'The webhook URL is not an absolute URL');
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('scheme', 'The webhook URL must be http or https');
  if (url.username || url.password) throw invalid('credentials', 'The webhook URL must not carry a user name or password');
  if (url.hash) throw invalid('fragment', 'The webhook URL must not have a fragment');
  const host = hostOf(url);
  if (!host) throw invalid('malformed', 'The webhook URL has no host');
  const problem = await destinationProblem(policy, url);
  if (problem === 'unresolvable') throw invalid('unresolvable', `The host ${host} does not resolve`);
  if (problem) {
    throw new AppError(
      'webhook_destination_not_allowed',
      'The webhook URL leads to a loopback, private, link-local or otherwise internal address',
      { host },
    );
  }
  return url.toString();
}
