import type { AppContext } from '../../platform/context.js';
import { systemPolicies } from './guard.js';

/**
 * The sweep's share of brute-force protection (decision 215), run with the engine's
 * periodic sweep on every node: counters and blocks that have expired, and unblock links
 * that were used or have expired, are deleted, so an attacker's fresh logins and addresses
 * do not pile up for ever. What still counts is kept: a running lockout or block, and a
 * hard lock (until a reset or an administrator ends it). A counter lives the pair-block
 * length (30 days by default) after its last failure, as Redis expires its keys.
 */
export async function pruneProtection(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  const { lockout } = await systemPolicies(ctx);
  const counters = await ctx.protection.store.prune(
    { retentionSeconds: lockout.pair_block_days * 86_400, ipWindowSeconds: lockout.ip_window_seconds },
    now,
  );
  const links = await ctx.db
    .deleteFrom('unblock_tokens')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('used_at', 'is not', null)]))
    .executeTakeFirst();
  return counters + Number(links.numDeletedRows);
}
