import type { AppContext } from '../context.js';
import { nextAttemptAt, type RetryPolicy } from '../db/retry.js';

/**
 * A table of things to send, each on its own (outgoing email, back-channel logout
 * notices): rows with `status` pending → sent | failed, `attempts`, `next_attempt_at`,
 * `last_error` and `sent_at`. A pass claims the due rows with a lease (so two nodes never
 * send one row at once, and a dead node's claim runs out), sends each outside any
 * transaction, and records the outcome: sent, or retried later by the policy, or failed.
 * (Event deliveries are ordered per lane and have their own claim: src/events/lanes.ts.)
 */
export interface SendQueue {
  table: 'emails' | 'backchannel_logouts';
  /** How long a claimed row is this node's. */
  leaseMs: number;
  /** Rows claimed per pass. */
  batch: number;
  retry: RetryPolicy;
}

export interface ClaimedRow {
  id: string;
  /** Attempts including this one. */
  attempts: number;
}

/** Claims the due rows (oldest first), counting this attempt. */
export async function claimDue(ctx: AppContext, queue: SendQueue): Promise<ClaimedRow[]> {
  const now = ctx.clock.now();
  // The two tables share these columns; Kysely is told one name to type them.
  const table = queue.table as 'emails';
  return ctx.db
    .updateTable(table)
    .set((eb) => ({ next_attempt_at: new Date(now.getTime() + queue.leaseMs), attempts: eb('attempts', '+', 1) }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom(table)
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(queue.batch)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['id', 'attempts'])
    .execute();
}

/** Records a claimed row's outcome: sent, or (with the error) the next attempt or the end of its retries. */
export async function settle(ctx: AppContext, queue: SendQueue, row: ClaimedRow, error?: unknown): Promise<void> {
  const now = ctx.clock.now();
  const table = queue.table as 'emails';
  if (error === undefined) {
    await ctx.db.updateTable(table).set({ status: 'sent', sent_at: now, last_error: null }).where('id', '=', row.id).execute();
    return;
  }
  const next = nextAttemptAt(queue.retry, row.attempts, now);
  await ctx.db
    .updateTable(table)
    .set({
      status: next ? 'pending' : 'failed',
      next_attempt_at: next ?? now,
      last_error: String((error as Error)?.message ?? error).slice(0, 500),
    })
    .where('id', '=', row.id)
    .execute();
}

/** Runs `pass` every `intervalMs` on this node, one at a time; `stop` waits for a pass in progress. */
export function startPoller(
  ctx: AppContext,
  name: string,
  pass: () => Promise<unknown>,
  intervalMs: number,
  onStop?: () => void,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(pass).catch((error: Error) => ctx.log.error({ err: error }, `${name} pass failed`));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      onStop?.();
    },
  };
}
