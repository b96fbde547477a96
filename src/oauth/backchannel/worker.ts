import type { AppContext } from '../../platform/context.js';
import { applicationDestinations } from '../../platform/http/destinations.js';
import { createOutboundClient } from '../../platform/http/outbound.js';
import { claim, errorText, type Queue, settle } from '../../platform/queue/queue.js';
import { createWorker, type Worker } from '../../platform/queue/worker.js';
import { logoutToken } from './logout-token.js';

/** Retries from 5 s, doubling, to at most 30 minutes: about a day (12 attempts), then the notice is failed. */
const QUEUE: Queue = {
  table: 'backchannel_logouts',
  done: { status: 'sent', at: 'sent_at' },
  leaseMs: 60_000,
  batch: 20,
  retry: { baseMs: 5_000, capMs: 30 * 60_000, maxAttempts: 12 },
};
const TIMEOUT_MS = 5_000;

/**
 * Sends the logout tokens that are due (OIDC Back-Channel Logout 1.0 §2.5; the queue's
 * claim and retries: src/platform/queue/queue.ts), signs each token when it is sent, POSTs it
 * form-encoded, and counts 200 and 204 as delivered; anything else is retried with a
 * growing delay. Redirects are not followed; in production only public addresses are
 * called, checked at connect time (the webhooks' outbound client). Returns how many were
 * delivered.
 */
export async function deliverBackchannelLogouts(ctx: AppContext): Promise<number> {
  const claimed = await claim(ctx.db, QUEUE, ctx.clock.now());
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
  for (const row of claimed) {
    const notice = byId.get(row.id);
    try {
      if (!notice?.backchannel_logout_uri) throw new Error('The application no longer has a back-channel logout URI');
      const token = await logoutToken(ctx, { clientId: notice.client_id, userId: notice.user_id, sid: notice.sid });
      const answer = await client.post(
        notice.backchannel_logout_uri,
        { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Gatehouse-Backchannel-Logout/1' },
        new URLSearchParams({ logout_token: token }).toString(),
      );
      if (!answer.ok) throw new Error(`The application's logout URI failed: ${answer.error}`);
      await settle(ctx.db, QUEUE, ctx.clock.now(), [{ row, result: 'done' }]);
      sent++;
    } catch (error) {
      await settle(ctx.db, QUEUE, ctx.clock.now(), [{ row, result: 'failed', error: errorText(error) }]);
      ctx.log.warn(
        { notice_id: row.id, client_id: notice?.client_id, attempts: row.attempts, err: errorText(error) },
        'Back-channel logout not delivered; will retry',
      );
    }
  }
  client.close();
  return sent;
}

/** Sends due notices in the background on this node, one pass, then a pause of `intervalMs`; `stop` waits for a pass in progress. */
export function startBackchannelWorker(ctx: AppContext, intervalMs = 1_000): Worker<number> {
  const worker = createWorker(ctx.log, 'Back-channel logout', () => deliverBackchannelLogouts(ctx), {
    idleMs: intervalMs,
  });
  worker.start(intervalMs);
  return worker;
}
