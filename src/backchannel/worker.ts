import type { AppContext } from '../context.js';
import { ANY_DESTINATION, destinationPolicy } from '../webhooks/destinations.js';
import { createOutboundClient } from '../webhooks/send.js';
import { logoutToken } from './logout-token.js';

const BATCH = 20;
/** A claimed notice is this node's for this long; a dead node's claim runs out. */
const LEASE_MS = 60_000;
const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 30 * 60_000;
/** Over about a day with the back-off above, then the notice is marked failed. */
const MAX_ATTEMPTS = 12;
const TIMEOUT_MS = 5_000;

/**
 * Sends the logout tokens that are due (OIDC Back-Channel Logout 1.0 §2.5): claims a batch
 * (a lease, so two nodes never send one notice at once), signs each token when it is sent,
 * POSTs it form-encoded, and counts 200 and 204 as delivered; anything else is retried
 * with a growing delay. Redirects are not followed; in production only public addresses
 * are called, checked at connect time (the webhooks' outbound client). Returns how many
 * were delivered.
 */
export async function deliverBackchannelLogouts(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  const claimed = await ctx.db
    .updateTable('backchannel_logouts as b')
    .from('applications as a')
    .set((eb) => ({ next_attempt_at: new Date(now.getTime() + LEASE_MS), attempts: eb('b.attempts', '+', 1) }))
    .whereRef('a.id', '=', 'b.application_id')
    .where('b.id', 'in', (eb) =>
      eb
        .selectFrom('backchannel_logouts')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(BATCH)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['b.id', 'b.user_id', 'b.sid', 'b.attempts', 'a.client_id', 'a.backchannel_logout_uri'])
    .execute();
  let sent = 0;
  if (claimed.length === 0) return sent;
  // In production only public addresses (and configured exceptions), checked at connect time.
  const client = createOutboundClient(
    ctx.config.production ? destinationPolicy(ctx.config.webhookAllowedNetworks) : ANY_DESTINATION,
    TIMEOUT_MS,
  );
  for (const notice of claimed) {
    try {
      if (!notice.backchannel_logout_uri) throw new Error('The application no longer has a back-channel logout URI');
      const token = await logoutToken(ctx, { clientId: notice.client_id, userId: notice.user_id, sid: notice.sid });
      const answer = await client.post(
        notice.backchannel_logout_uri,
        { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Gatehouse-Backchannel-Logout/1' },
        new URLSearchParams({ logout_token: token }).toString(),
      );
      if (!answer.ok) throw new Error(`The application's logout URI failed: ${answer.error}`);
      await ctx.db
        .updateTable('backchannel_logouts')
        .set({ status: 'sent', sent_at: ctx.clock.now(), last_error: null })
        .where('id', '=', notice.id)
        .execute();
      sent++;
    } catch (error) {
      const retryIn = Math.min(FIRST_RETRY_MS * 2 ** (notice.attempts - 1), MAX_RETRY_MS);
      const failed = notice.attempts >= MAX_ATTEMPTS;
      await ctx.db
        .updateTable('backchannel_logouts')
        .set({
          status: failed ? 'failed' : 'pending',
          next_attempt_at: new Date(ctx.clock.now().getTime() + retryIn),
          last_error: String((error as Error).message).slice(0, 500),
        })
        .where('id', '=', notice.id)
        .execute();
      ctx.log.warn(
        { notice_id: notice.id, client_id: notice.client_id, attempts: notice.attempts, err: (error as Error).message },
        'Back-channel logout not delivered; will retry',
      );
    }
  }
  client.close();
  return sent;
}

/** Polls for due notices every `intervalMs` on this node; `stop` waits for a pass in progress. */
export function startBackchannelWorker(ctx: AppContext, intervalMs = 1_000): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const pass = () => {
    if (stopped) return;
    running = running
      .then(() => deliverBackchannelLogouts(ctx))
      .catch((error: Error) => ctx.log.error({ err: error }, 'Back-channel logout pass failed'));
  };
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
