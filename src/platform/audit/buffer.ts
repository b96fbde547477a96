import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { serviceUnavailable } from '../errors.js';
import { type AuditEntry, type AuditSource, auditRows } from './record.js';

/** How many events share one write at most (one multi-row statement). */
const MAX_BATCH = 500;

export interface AuditBuffer {
  /**
   * Records an event that is not part of a database change (a token issued). The promise
   * settles when the event is written: the answer that reports the event waits for it
   * (decision 310), and a failed write rejects it with `service_unavailable`.
   */
  add(entry: AuditEntry): Promise<void>;
  /** Settles when every event added so far has been written (or its write has failed). */
  flush(): Promise<void>;
}

interface Waiting {
  rows: ReturnType<typeof auditRows>;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Group commit for token events (decision 310). Token endpoints issue thousands of tokens
 * a second and write nothing else; the answer must not leave before its event is durable.
 * An event is written at once when no write is in flight; events that arrive meanwhile
 * share the next write, one multi-row insert. So a lone request waits about one insert,
 * and under load the batches grow with the insert's latency instead of the requests
 * queueing behind one insert each. Ids and times are taken when the event happens, so
 * order and timestamps are exact. A failed write is never dropped in silence: every
 * request waiting on it fails (503), so no token it reports is handed out.
 */
export function createAuditBuffer(db: Db, source: AuditSource, log: Logger): AuditBuffer {
  let queue: Waiting[] = [];
  let inFlight: Promise<void> | undefined;

  async function writeAll(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        await db
          .with('audit', (qb) => qb.insertInto('audit_events').values(batch.map((w) => w.rows.audit)))
          .insertInto('event_outbox')
          .values(batch.map((w) => w.rows.outbox))
          .execute();
        for (const waiting of batch) waiting.resolve();
      } catch (error) {
        log.error({ err: error, events: batch.length }, 'Writing audit events failed; their requests fail');
        const refusal = serviceUnavailable('The audit trail');
        for (const waiting of batch) waiting.reject(refusal);
      }
    }
  }

  function start(): void {
    if (inFlight) return;
    inFlight = writeAll().finally(() => {
      inFlight = undefined;
    });
  }

  return {
    add(entry) {
      const rows = auditRows(source, entry);
      const written = new Promise<void>((resolve, reject) => queue.push({ rows, resolve, reject }));
      start();
      return written;
    },
    async flush() {
      while (inFlight) await inFlight;
    },
  };
}
