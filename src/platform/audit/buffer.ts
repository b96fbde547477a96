import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { type AuditEntry, type AuditSource, auditRows } from './record.js';

/** How long an event may wait for others to share its write, and how many share one. */
const MAX_DELAY_MS = 25;
const MAX_BATCH = 250;

export interface AuditBuffer {
  /** Records an event that is not part of a database change (a token issued): written within 25 ms, batched. */
  add(entry: AuditEntry): void;
  /** Writes what waits; the server calls it before it closes the database. */
  flush(): Promise<void>;
}

/**
 * Token endpoints issue thousands of tokens a second and write nothing else; one
 * multi-row insert for the events of a few milliseconds costs a fraction of one insert
 * each. Ids and times are taken when the event happens, so order and timestamps are
 * exact. What waits is lost only if the process dies within those milliseconds.
 */
export function createAuditBuffer(db: Db, source: AuditSource, log: Logger): AuditBuffer {
  let pending: ReturnType<typeof auditRows>[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return writing;
    const write = db
      .with('audit', (qb) => qb.insertInto('audit_events').values(batch.map((rows) => rows.audit)))
      .insertInto('event_outbox')
      .values(batch.map((rows) => rows.outbox))
      .execute()
      .then(
        () => undefined,
        (error) => log.error({ err: error, events: batch.length }, 'Writing audit events failed'),
      );
    writing = writing.then(() => write);
    return writing;
  }

  return {
    add(entry) {
      pending.push(auditRows(source, entry));
      if (pending.length >= MAX_BATCH) void flush();
      else timer ??= setTimeout(flush, MAX_DELAY_MS);
    },
    flush,
  };
}
