import type { Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { DeliveryStatus, EventDelivery } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { getWebhook, lockWebhook } from './webhooks.js';

/** A webhook's deliveries, newest first, optionally of one status. */
export async function listDeliveries(
  ctx: AppContext,
  scope: Scope,
  webhookId: string,
  filter: { status?: DeliveryStatus | undefined },
  page: PageRequest,
): Promise<Page<EventDelivery>> {
  await getWebhook(ctx, scope, webhookId);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (d) => d.id,
    async (fetch, before) =>
      ctx.db
        .selectFrom('event_deliveries')
        .selectAll()
        .where('webhook_id', '=', webhookId)
        .$if(filter.status !== undefined, (q) => q.where('status', '=', filter.status as DeliveryStatus))
        .$if(before !== undefined, (q) => q.where('id', '<', before as string))
        .orderBy('id', 'desc')
        .limit(fetch)
        .execute(),
  );
}

/**
 * Delivers the event of a finished delivery (delivered or failed) again, as a new delivery
 * at the end of its lane; the original stays as it was. A pending one is already on its way.
 */
export async function redeliver(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  webhookId: string,
  deliveryId: string,
): Promise<EventDelivery> {
  return ctx.db.transaction().execute(async (trx) => {
    const webhook = await lockWebhook(trx, scope, webhookId);
    const original = await trx
      .selectFrom('event_deliveries')
      .selectAll()
      .where('id', '=', deliveryId)
      .where('webhook_id', '=', webhookId)
      .executeTakeFirst();
    if (!original) throw notFound('Delivery');
    if (original.status === 'pending') {
      throw new AppError('delivery_pending', 'This delivery is still pending; it is retried on its own', {
        next_attempt_at: original.next_attempt_at.toISOString(),
      });
    }
    const now = ctx.clock.now();
    const copy = await trx
      .insertInto('event_deliveries')
      .values({
        id: ctx.ids.next(),
        sink: 'webhook',
        webhook_id: webhookId,
        lane: original.lane,
        event_id: original.event_id,
        event: original.event,
        tenant_id: original.tenant_id,
        next_attempt_at: now,
        redelivery_of: original.id,
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.webhook.redelivered',
      actor,
      tenantId: webhook.tenant_id,
      target: { type: 'webhook', id: webhookId },
      details: { delivery: copy.id, redelivery_of: original.id, event: original.event, event_id: original.event_id },
    });
    return copy;
  });
}
