import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import type { DeliverySink } from '../../platform/db/schema.js';
import { claim, type Claimed as Leased, type Queue, type Outcome as QueueOutcome } from '../../platform/queue/queue.js';
import type { RetryPolicy } from '../../platform/queue/retry.js';
import type { EventRecord } from './message.js';

/** A delivery row taken by this worker, with what it needs to deliver. */
export interface Claimed extends Leased {
  sink: DeliverySink;
  webhook_id: string | null;
  event_id: string;
  event: string;
  created_at: Date;
  /** The event record; null if the event is no longer stored anywhere. */
  record: EventRecord | null;
}

export type Outcome = QueueOutcome<Claimed>;

export interface ClaimLimits {
  /** Lanes taken at once. */
  lanes: number;
  /** Rows per lane, in order. */
  perLane: number;
  /** How long the rows are ours; after that another worker takes them over (this one died). */
  leaseMs: number;
}

/**
 * The deliveries of one sink as a queue in lanes (docs/decisions.md decisions 60 and 61):
 * a lane (sink, webhook, tenant) is delivered in order, several nodes each take other
 * lanes, and rows of an inactive webhook wait (decision 68).
 */
export function deliveryQueue(sink: DeliverySink, limits: ClaimLimits, retry: RetryPolicy): Queue {
  return {
    table: 'event_deliveries',
    done: { status: 'delivered', at: 'delivered_at' },
    leaseMs: limits.leaseMs,
    batch: limits.lanes,
    retry,
    lanes: { perLane: limits.perLane },
    rows: sql`q.sink = ${sink}`,
    ...(sink === 'webhook' && { due: sql`exists (select 1 from webhooks w where w.id = q.webhook_id and w.active)` }),
    answerColumn: 'last_status',
  };
}

/** Takes the due work of a sink's queue, in lane order, each row with its event record (from the outbox, else the audit trail). */
export async function claimDeliveries(ctx: AppContext, queue: Queue): Promise<Claimed[]> {
  const leased = await claim(ctx.db, queue, ctx.clock.now());
  if (leased.length === 0) return [];
  const { rows } = await sql<Omit<Claimed, 'lane' | 'attempts'>>`
    select d.id, d.sink, d.webhook_id, d.event_id, d.event, d.created_at, coalesce(o.payload, to_jsonb(a)) as record
    from event_deliveries d
    left join event_outbox o on o.id = d.event_id
    left join audit_events a on o.id is null and a.id = d.event_id
    where d.id in (${sql.join(leased.map((l) => l.id))})`.execute(ctx.db);
  const details = new Map(rows.map((r) => [r.id, r]));
  return leased.flatMap((l) => {
    const row = details.get(l.id);
    return row ? [{ ...row, ...l, created_at: new Date(row.created_at) }] : [];
  });
}
