import type { AppContext } from '../../platform/context.js';
import type { Claimed, Outcome } from '../events/claim.js';
import { webhookBody } from '../events/message.js';
import type { WebhookClient } from './send.js';
import { webhookSecret } from './webhooks.js';

const PARALLEL_LANES = 8;

/**
 * Delivers claimed webhook rows: lanes side by side, each lane's rows one after another
 * in order, stopping at the lane's first failure (the rows after it wait). Rows not
 * reached within `budgetMs` go back to the queue untouched (their lease is renewed meanwhile).
 */
export async function deliverWebhooks(ctx: AppContext, client: WebhookClient, rows: Claimed[], budgetMs: number): Promise<Outcome[]> {
  const ids = [...new Set(rows.map((r) => r.webhook_id as string))];
  const hooks = await ctx.db.selectFrom('webhooks').select(['id', 'url', 'secret_sealed']).where('id', 'in', ids).execute();
  const byId = new Map(hooks.map((h) => [h.id, { url: h.url, secret: webhookSecret(ctx, h) }]));
  const lanes = new Map<string, Claimed[]>();
  for (const row of rows) lanes.set(row.lane, [...(lanes.get(row.lane) ?? []), row]);
  const deadline = performance.now() + budgetMs;
  const outcomes: Outcome[] = [];

  async function deliverLane(lane: Claimed[]) {
    let stopped = false;
    for (const row of lane) {
      if (stopped || performance.now() > deadline) {
        outcomes.push({ row, result: 'released' });
        continue;
      }
      const hook = byId.get(row.webhook_id as string);
      if (!hook || !row.record) {
        outcomes.push({ row, result: 'failed', final: true, error: hook ? 'the event is no longer stored' : 'the webhook was deleted' });
        continue;
      }
      const result = await client.send({
        url: hook.url,
        secret: hook.secret,
        body: webhookBody(row.record),
        event: row.event,
        eventId: row.event_id,
        deliveryId: row.id,
        timestamp: Math.floor(ctx.clock.now().getTime() / 1000),
      });
      if (result.ok) {
        outcomes.push({ row, result: 'done', answer: result.status });
      } else {
        outcomes.push({ row, result: 'failed', error: result.error, ...(result.status !== undefined && { answer: result.status }) });
        stopped = true;
      }
    }
  }

  const queue = [...lanes.values()];
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL_LANES, queue.length) }, async () => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) await deliverLane(lane);
    }),
  );
  return outcomes;
}
