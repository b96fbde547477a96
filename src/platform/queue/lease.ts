import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { Clock } from '../ids.js';
import type { Claimed, Queue } from './queue.js';

/** How many renewals fit in one lease: a renewal late by two thirds of the lease still keeps it. */
const RENEWALS_PER_LEASE = 3;

export interface Heartbeat {
  /** Stops renewing (after the renewal in flight). The rows keep the lease last written until settled. */
  stop(): Promise<void>;
}

/**
 * Keeps claimed rows leased while this node works on them (decision 311): every third of
 * the lease, their `locked_until` moves to a full lease from now. So a queue's lease can
 * be a few seconds long, and a node that dies (its renewals stop with it) hands its rows
 * to another node within one lease, however long its work would have taken. Only rows
 * still holding the lease this node wrote are renewed: once another node took them over
 * (the lease had run out), they are that node's.
 */
export function keepLeased(db: Db, queue: Queue, clock: Clock, rows: readonly Claimed[], log: Logger): Heartbeat {
  if (rows.length === 0) return { stop: async () => undefined };
  const table = sql.table(queue.table);
  const mine = queue.rows ?? sql`true`;
  // One claim writes one lease on all its rows; with lanes, a lane's rows are found by its index.
  let held = rows[0]!.lockedUntil;
  const which = queue.lanes
    ? sql`q.lane in (${sql.join([...new Set(rows.map((r) => r.lane))])})`
    : sql`q.id in (${sql.join(rows.map((r) => r.id))})`;
  let renewing: Promise<void> = Promise.resolve();

  async function renew(): Promise<void> {
    const until = new Date(clock.now().getTime() + queue.leaseMs);
    try {
      await sql`update ${table} q set locked_until = ${until}
        where ${mine} and ${which} and q.status = 'pending' and q.locked_until = ${held}`.execute(db);
      held = until;
    } catch (error) {
      log.warn({ err: error, queue: queue.table }, 'Renewing a queue lease failed; another node may take the rows over');
    }
  }

  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, queue.leaseMs / RENEWALS_PER_LEASE);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await renewing;
    },
  };
}
