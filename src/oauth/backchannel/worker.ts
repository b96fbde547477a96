import type { AppContext } from '../../platform/context.js';
import { applicationDestinations } from '../../platform/http/destinations.js';
import { createOutboundClient } from '../../platform/http/outbound.js';
import { claimDue, type SendQueue, settle, startPoller } from '../../platform/queue/send-queue.js';
import { logoutToken } from './logout-token.js';

/** Retries from 5 s, doubling, to at most 30 minutes: about a day (12 attempts), then the notice is failed. */
const QUEUE: SendQueue = {
  table: 'backchannel_logouts',
  leaseMs: 60_000,
  batch: 20,
  retry: { baseMs: 5_000, capMs: 30 * 60_000, maxAttempts: 12 },
};
const TIMEOUT_MS = 5_000;

/**
 * Sends the logout tokens that are due (OIDC Back-Channel Logout 1.0 §2.5; the queue's
 * claim and retries: src/db/send-queue.ts), signs each token when it is sent, POSTs it
 * form-encoded, and counts 200 and 204 as delivered; anything else is retried with a
 * growing delay. Redirects are not followed; in production only public addresses are
 * called, checked at connect time (the webhooks' outbound client). Returns how many were
 * delivered.
 */
export async function deliverBackchannelLogouts(ctx: AppContext): Promise<number> {
  const claimed = await claimDue(ctx, QUEUE);
  if (claimed.length === 0) return 0;
  const notices = await ctx.db
    .selectFrom('backchannel_logouts as b')
    .innerJoin('applications as a', 'a.id', 'b.application_id')
    .select(['b.id', 'b.user_id', 'b.sid', 'a.client_id', 'a.backchannel_logout_uri'])
    .where(
      'b.id',
      'in',
      claimed.map((c) => c.id),
    )
    .execute();
  const byId = new Map(notices.map((notice) => [notice.id, notice]));
  // In production only public addresses (and configured exceptions), checked at connect time.
  const client = createOutboundClient(applicationDestinations(ctx.config), TIMEOUT_MS);
  let sent = 0;
  for (const claim of claimed) {
    const notice = byId.get(claim.id);
    try {
      if (!notice?.backchannel_logout_uri) throw new Error('The application no longer has a back-channel logout URI');
      const token = await logoutToken(ctx, { clientId: notice.client_id, userId: notice.user_id, sid: notice.sid });
      const answer = await client.post(
        notice.backchannel_logout_uri,
        { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Gatehouse-Backchannel-Logout/1' },
        new URLSearchParams({ logout_token: token }).toString(),
      );
      if (!answer.ok) throw new Error(`The application's logout URI failed: ${answer.error}`);
      await settle(ctx, QUEUE, claim);
      sent++;
    } catch (error) {
      await settle(ctx, QUEUE, claim, error);
      ctx.log.warn(
        { notice_id: claim.id, client_id: notice?.client_id, attempts: claim.attempts, err: (error as Error).message },
        'Back-channel logout not delivered; will retry',
      );
    }
  }
  client.close();
  return sent;
}

/** Polls for due notices every `intervalMs` on this node; `stop` waits for a pass in progress. */
export function startBackchannelWorker(ctx: AppContext, intervalMs = 1_000): { stop(): Promise<void> } {
  return startPoller(ctx, 'Back-channel logout', () => deliverBackchannelLogouts(ctx), intervalMs);
}
