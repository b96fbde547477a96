import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../db/database.js';
import { nextAttemptAt, type RetryPolicy } from './retry.js';

/**
 * The one claim-with-lease-and-retry queue (docs/decisions.md decision 231) behind outgoing
 * email, back-channel logout notices and event deliveries. A queue is a table whose rows
 * have `id`, `status` (pending → done | failed), `attempts`, `next_attempt_at` (when the
 * next try is due), `locked_until` (the lease), `last_error` and the time the row was done.
 *
 * - A claim leases due rows (FOR UPDATE SKIP LOCKED, then `locked_until`), so two nodes
 *   never hold one row at once and a dead node's lease runs out: at least once. A short
 *   lease renewed while the work runs (./lease.ts) lets another node take over a dead
 *   node's rows within seconds.
 * - The claim counts the attempt, so a try that never reported back (the node died) counts
 *   towards `maxAttempts` too; a row handed back untried (`released`) gets it back.
 * - A failure is tried again after the policy's backoff (./retry.ts), or the row is `failed`
 *   once the policy gives up (a dead letter, kept for operators and redelivery).
 * - With `lanes`, the rows of one lane (column `lane`, order `seq`) are delivered in order:
 *   only a lane's first pending row (its head) can be due, and claiming a due head takes
 *   its lane: the head and up to `perLane` rows after it, leased together.
 */
export interface Queue {
  table: 'emails' | 'backchannel_logouts' | 'event_deliveries';
  /** The status and the time column of a row that is done. */
  done: { status: 'sent'; at: 'sent_at' } | { status: 'delivered'; at: 'delivered_at' };
  /** How long claimed rows are this node's; after that another node takes them over. */
  leaseMs: number;
  /** Rows claimed at once; with lanes, lanes claimed at once. */
  batch: number;
  retry: RetryPolicy;
  /** Ordered lanes (the table has `lane` and `seq`), with the rows taken per lane. */
  lanes?: { perLane: number };
  /** Which rows of the table are this queue's (the table is aliased `q`). */
  rows?: RawBuilder<unknown>;
  /** A further condition for a row (with lanes: a head) to be due (the table is aliased `q`). */
  due?: RawBuilder<unknown>;
  /** The column that keeps the receiver's answer (an HTTP status), if the table has one. */
  answerColumn?: 'last_status';
}

/** A row leased by this node. */
export interface Claimed {
  id: string;
  /** Its lane; without lanes every row is a lane of its own (its id). */
  lane: string;
  /** Attempts including this one. */
  attempts: number;
  /** The lease as the claim wrote it: renewing (./lease.ts) matches it, so a lease another node took over is not ours to renew. */
  lockedUntil: Date;
}

export type Outcome<Row extends Claimed = Claimed> =
  | { row: Row; result: 'done'; answer?: number }
  /** `final`: no retry can succeed (what it was to deliver is gone), so it is `failed` at once. */
  | { row: Row; result: 'failed'; error: string; answer?: number; final?: boolean }
  /** Not attempted (an earlier row of its lane failed, or time ran out): back as it was. */
  | { row: Row; result: 'released' };

/** The message of a failure, as `last_error` keeps it. */
export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 500);

/** Leases the rows that are due (oldest first; with lanes, lane heads in order and their lanes), counting this attempt. */
export async function claim(db: Db, queue: Queue, now: Date): Promise<Claimed[]> {
  const table = sql.table(queue.table);
  const mine = queue.rows ?? sql`true`;
  const due = sql`q.status = 'pending' and q.next_attempt_at <= ${now}
    and (q.locked_until is null or q.locked_until <= ${now}) and ${queue.due ?? sql`true`}`;
  const lease = sql`locked_until = ${new Date(now.getTime() + queue.leaseMs)}, attempts = attempts + 1`;
  if (!queue.lanes) {
    const { rows } = await sql<Claimed>`
      update ${table} set ${lease}
      where id in (select q.id from ${table} q where ${mine} and ${due}
                   order by q.next_attempt_at limit ${queue.batch} for update skip locked)
      returning id, id::text as lane, attempts, locked_until as "lockedUntil"`.execute(db);
    return rows;
  }
  const perLane = queue.lanes.perLane;
  return db.transaction().execute(async (trx) => {
    const heads = await sql<{ lane: string }>`
      with heads as (
        select distinct on (q.lane) q.id from ${table} q
        where ${mine} and q.status = 'pending'
        order by q.lane, q.seq
      )
      select q.lane from ${table} q join heads h on h.id = q.id
      where ${due}
      order by q.seq
      limit ${queue.batch}
      for update of q skip locked`.execute(trx);
    if (heads.rows.length === 0) return [];
    const { rows } = await sql<Claimed>`
      with leased as (
        update ${table} set ${lease}
        where id in (
          select x.id from (
            select q.id, row_number() over (partition by q.lane order by q.seq) as n from ${table} q
            where ${mine} and q.status = 'pending' and q.lane in (${sql.join(heads.rows.map((h) => h.lane))})
          ) x
          where x.n <= ${perLane})
        returning id, lane, attempts, seq, locked_until
      )
      select id, lane, attempts, locked_until as "lockedUntil" from leased order by seq`.execute(trx);
    return rows;
  });
}

/** Records what became of claimed rows: done, failed (tried again by the policy, or given up), or released. */
export async function settle(db: Db, queue: Queue, now: Date, outcomes: readonly Outcome[]): Promise<void> {
  const table = sql.table(queue.table);
  const answer = (value: number | undefined) => (queue.answerColumn ? sql`, ${sql.ref(queue.answerColumn)} = ${value ?? null}` : sql``);
  const done = new Map<number | undefined, string[]>();
  const released: string[] = [];
  await db.transaction().execute(async (trx) => {
    for (const outcome of outcomes) {
      if (outcome.result === 'done') done.set(outcome.answer, [...(done.get(outcome.answer) ?? []), outcome.row.id]);
      else if (outcome.result === 'released') released.push(outcome.row.id);
      else {
        const next = outcome.final ? undefined : nextAttemptAt(queue.retry, outcome.row.attempts, now);
        await sql`
          update ${table}
          set status = ${next ? 'pending' : 'failed'}, next_attempt_at = ${next ?? now}, locked_until = null,
              last_error = ${outcome.error.slice(0, 500)} ${answer(outcome.answer)}
          where id = ${outcome.row.id}`.execute(trx);
      }
    }
    for (const [status, ids] of done) {
      await sql`
        update ${table}
        set status = ${queue.done.status}, ${sql.ref(queue.done.at)} = ${now}, locked_until = null, last_error = null ${answer(status)}
        where id in (${sql.join(ids)})`.execute(trx);
    }
    if (released.length > 0) {
      await sql`update ${table} set locked_until = null, attempts = attempts - 1 where id in (${sql.join(released)})`.execute(trx);
    }
  });
}
