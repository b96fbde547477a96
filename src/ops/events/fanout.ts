import { type Insertable, sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import type { EventDeliveriesTable } from '../../platform/db/schema.js';
import { matchesEvent } from '../webhooks/filters.js';

const BATCH = 1000;
const INSERT_CHUNK = 2000;

/** Events of one tenant to one sink are delivered in order: the lane is the unit of order. */
export const laneOf = (sink: string, tenantId: string | null) => `${sink}/${tenantId ?? '-'}`;

/**
 * Turns new outbox rows into delivery rows: one for RabbitMQ (when configured) and one per
 * active webhook that wants the event (a tenant's webhook only its own tenant's events; a
 * system-wide webhook every event). One node at a time fans out (an advisory lock held
 * for the transaction), so delivery rows are numbered in the order events are taken
 * from the outbox; the outbox rows are locked with SKIP LOCKED and marked published in
 * the same transaction. Returns how many events it took.
 */
export async function fanOut(ctx: AppContext, sinks: { amqp: boolean }): Promise<number> {
  return ctx.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(hashtext('gatehouse:event-fanout')) as locked`.execute(
      trx,
    );
    if (!rows[0]?.locked) return 0;
    const events = await trx
      .selectFrom('event_outbox')
      .select(['id', 'event', 'payload', 'created_at'])
      .where('published_at', 'is', null)
      .orderBy('id')
      .limit(BATCH)
      .forUpdate()
      .skipLocked()
      .execute();
    if (events.length === 0) return 0;
    const webhooks = await trx
      .selectFrom('webhooks')
      .select(['id', 'tenant_id', 'events', 'created_at'])
      .where('active', '=', true)
      .execute();
    const now = ctx.clock.now();
    const deliveries: Insertable<EventDeliveriesTable>[] = [];
    for (const event of events) {
      const tenantId = ((event.payload as { tenant_id?: string | null }).tenant_id ?? null) as string | null;
      const common = { event_id: event.id, event: event.event, tenant_id: tenantId, next_attempt_at: now, created_at: now };
      if (sinks.amqp) deliveries.push({ ...common, id: ctx.ids.next(), sink: 'amqp', webhook_id: null, lane: laneOf('amqp', tenantId) });
      for (const webhook of webhooks) {
        if (webhook.tenant_id !== null && webhook.tenant_id !== tenantId) continue;
        if (event.created_at < webhook.created_at || !matchesEvent(webhook.events, event.event)) continue;
        deliveries.push({ ...common, id: ctx.ids.next(), sink: 'webhook', webhook_id: webhook.id, lane: laneOf(webhook.id, tenantId) });
      }
    }
    for (let i = 0; i < deliveries.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('event_deliveries')
        .values(deliveries.slice(i, i + INSERT_CHUNK))
        .execute();
    }
    await trx
      .updateTable('event_outbox')
      .set({ published_at: now })
      .where(
        'id',
        'in',
        events.map((e) => e.id),
      )
      .execute();
    return events.length;
  });
}

/**
 * Removes what is done and older than the retention: finished delivery rows, and outbox
 * rows whose every delivery is finished (the audit trail keeps the events themselves).
 */
export async function prune(ctx: AppContext, retentionMs: number): Promise<void> {
  const before = new Date(ctx.clock.now().getTime() - retentionMs);
  await ctx.db.deleteFrom('event_deliveries').where('status', '<>', 'pending').where('created_at', '<', before).execute();
  await ctx.db
    .deleteFrom('event_outbox')
    .where('published_at', 'is not', null)
    .where('created_at', '<', before)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('event_deliveries as d')
            .select('d.id')
            .whereRef('d.event_id', '=', 'event_outbox.id')
            .where('d.status', '=', 'pending'),
        ),
      ),
    )
    .execute();
}
