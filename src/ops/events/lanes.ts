import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import { nextAttemptAt, type RetryPolicy } from '../../platform/db/retry.js';
import type { DeliverySink } from '../../platform/db/schema.js';
import type { EventRecord } from './message.js';

/** A delivery row taken by this worker, with what it needs to deliver. */
export interface Claimed {
  id: string;
  lane: string;
  sink: DeliverySink;
  webhook_id: string | null;
  event_id: string;
  event: string;
  attempts: number;
  created_at: Date;
  /** The event record; null if the event is no longer stored anywhere. */
  record: EventRecord | null;
}

export interface ClaimLimits {
  /** Lanes taken at once. */
  lanes: number;
  /** Rows per lane, in order. */
  perLane: number;
  /** How long the rows are ours; after that another worker takes them over (this one died). */
  leaseMs: number;
}

/**
 * Takes due work of one sink. A lane (sink, webhook, tenant) is delivered in order, so
 * only a lane's first pending row (its head) can be due; a head that is due, not leased
 * and not locked by another worker (FOR UPDATE SKIP LOCKED) gives this worker its lane:
 * the head and the rows after it, leased together. Several nodes each take other lanes.
 * Webhook rows of inactive webhooks wait.
 */
export async function claim(ctx: AppContext, sink: DeliverySink, limits: ClaimLimits): Promise<Claimed[]> {
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const activeOnly = sink === 'webhook' ? sql`and exists (select 1 from webhooks w where w.id = d.webhook_id and w.active)` : sql``;
    const heads = await sql<{ id: string; lane: string; seq: string }>`
      with heads as (
        select distinct on (lane) id from event_deliveries
        where sink = ${sink} and status = 'pending'
        order by lane, seq
      )
      select d.id, d.lane, d.seq from event_deliveries d join heads h on h.id = d.id
      where d.status = 'pending' and d.next_attempt_at <= ${now}
        and (d.locked_until is null or d.locked_until <= ${now}) ${activeOnly}
      order by d.seq
      limit ${limits.lanes}
      for update of d skip locked`.execute(trx);
    if (heads.rows.length === 0) return [];
    const lanes = heads.rows.map((h) => h.lane);
    const rows = await sql<Omit<Claimed, 'record'> & { record: EventRecord | null }>`
      select x.id, x.lane, x.sink, x.webhook_id, x.event_id, x.event, x.attempts, x.created_at,
             coalesce(o.payload, to_jsonb(a)) as record
      from (
        select d.*, row_number() over (partition by d.lane order by d.seq) as n
        from event_deliveries d
        where d.sink = ${sink} and d.status = 'pending' and d.lane in (${sql.join(lanes)})
      ) x
      left join event_outbox o on o.id = x.event_id
      left join audit_events a on o.id is null and a.id = x.event_id
      where x.n <= ${limits.perLane}
      order by x.seq`.execute(trx);
    const ids = rows.rows.map((r) => r.id);
    await trx
      .updateTable('event_deliveries')
      .set({ locked_until: new Date(now.getTime() + limits.leaseMs) })
      .where('id', 'in', ids)
      .execute();
    return rows.rows.map((r) => ({ ...r, created_at: new Date(r.created_at) }));
  });
}

export type Outcome =
  | { row: Claimed; result: 'delivered'; status?: number }
  /** `final`: no retry can succeed (the event is gone), so it is `failed` at once. */
  | { row: Claimed; result: 'failed'; status?: number; error: string; final?: boolean }
  /** Not attempted (an earlier row of its lane failed): back to the queue as it was. */
  | { row: Claimed; result: 'released' };

/** Records what happened to claimed rows: delivered, failed (next attempt by the policy, or given up), released. */
export async function finish(ctx: AppContext, policy: RetryPolicy, outcomes: readonly Outcome[]): Promise<void> {
  const now = ctx.clock.now();
  const delivered = new Map<number | null, string[]>();
  const released: string[] = [];
  await ctx.db.transaction().execute(async (trx) => {
    for (const outcome of outcomes) {
      if (outcome.result === 'delivered') {
        const key = outcome.status ?? null;
        delivered.set(key, [...(delivered.get(key) ?? []), outcome.row.id]);
      } else if (outcome.result === 'released') {
        released.push(outcome.row.id);
      } else {
        const attempts = outcome.row.attempts + 1;
        const next = outcome.final ? undefined : nextAttemptAt(policy, attempts, now);
        await trx
          .updateTable('event_deliveries')
          .set({
            attempts,
            status: next ? 'pending' : 'failed',
            next_attempt_at: next ?? now,
            locked_until: null,
            last_status: outcome.status ?? null,
            last_error: outcome.error.slice(0, 500),
          })
          .where('id', '=', outcome.row.id)
          .execute();
      }
    }
    for (const [status, ids] of delivered) {
      await trx
        .updateTable('event_deliveries')
        .set((eb) => ({
          status: 'delivered',
          attempts: eb('attempts', '+', 1),
          delivered_at: now,
          locked_until: null,
          last_status: status,
          last_error: null,
        }))
        .where('id', 'in', ids)
        .execute();
    }
    if (released.length > 0) {
      await trx.updateTable('event_deliveries').set({ locked_until: null }).where('id', 'in', released).execute();
    }
  });
}
