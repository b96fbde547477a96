import { BlockList, isIP } from 'node:net';
import { type Policies, parseNetwork } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import { unmapped } from '../../platform/ip.js';
import { clientKey } from '../protection/client-key.js';
import { systemPolicies } from '../protection/guard.js';
import { countOf, hit } from './counters.js';

/**
 * The `on_risk` signals (decision 372), read afresh on every guarded request:
 * - `listed`: the client's address is in the tenant's `risky_networks` (a known bad list);
 * - `failures`: the brute-force counters hold `risk_failures` failed attempts from the
 *   client's key (the address, IPv6 by /64) in the deployment's window, across every account;
 * - `signup_burst`: `risk_signups` sign-ups came from the client's network (/24, IPv6 /48)
 *   into this tenant in the window.
 */
export type RiskReason = 'listed' | 'failures' | 'signup_burst';

const lists = new WeakMap<string[], BlockList>();

function listed(networks: string[], ip: string): boolean {
  if (networks.length === 0) return false;
  let list = lists.get(networks);
  if (!list) {
    list = new BlockList();
    for (const network of networks) {
      const parsed = parseNetwork(network);
      if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    lists.set(networks, list);
  }
  const address = unmapped(ip);
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

const isLoopback = (ip: string) => {
  const address = unmapped(ip.split('%')[0] as string);
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
};

/** The network a burst of sign-ups is counted under: an IPv4 /24, an IPv6 /48. */
export function networkOf(ip: string): string {
  const address = unmapped(ip.split('%')[0] as string);
  if (isIP(address) === 4) return `${address.split('.').slice(0, 3).join('.')}.0/24`;
  const key = clientKey(address); // the /64, canonical
  const groups = key.replace(/\/64$/, '').split(':');
  return `${groups.slice(0, 3).join(':')}::/48`;
}

const signupKey = (tenantId: string, ip: string) => `signup:${tenantId}:${networkOf(ip)}`;

/**
 * The signal that holds for this client now, if any. The address signals (failures, burst)
 * skip the deployment's trusted networks (`lockout.trusted_networks`, exempt from the
 * address throttle too) and loopback: a loopback client is this host itself, or a proxy
 * on it whose clients all look alike (GATEHOUSE_TRUST_PROXY unset), and one client's
 * failures must not send every other one through a challenge (decision 377). The list
 * applies to every address.
 */
export async function riskOf(
  ctx: AppContext,
  bot: Policies['bot_defence'],
  input: { tenantId: string; action: string; ip: string | null },
): Promise<RiskReason | undefined> {
  const { ip } = input;
  if (ip === null) return undefined;
  if (listed(bot.risky_networks, ip)) return 'listed';
  const { lockout } = await systemPolicies(ctx);
  if (isLoopback(ip) || listed(lockout.trusted_networks, ip)) return undefined;
  const failures = await ctx.protection.store.addressFailures(clientKey(ip), lockout.ip_window_seconds, ctx.clock.now());
  if (failures >= bot.risk_failures) return 'failures';
  if (input.action === 'signup') {
    const signups = await countOf(ctx.db, signupKey(input.tenantId, ip), ctx.clock.now());
    if (signups >= bot.risk_signups) return 'signup_burst';
  }
  return undefined;
}

/** Counts one sign-up from the client's network into the tenant (the burst signal). */
export async function countSignup(ctx: AppContext, bot: Policies['bot_defence'], tenantId: string, ip: string | null): Promise<void> {
  if (ip === null || isLoopback(ip)) return;
  await hit(ctx.db, signupKey(tenantId, ip), bot.risk_signup_window_seconds, 2_147_483_647, ctx.clock.now());
}
