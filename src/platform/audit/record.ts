import type { Insertable, Kysely } from 'kysely';
import type { AuditEventsTable, Database, EventOutboxTable } from '../db/schema.js';
import type { Clock, IdGenerator } from '../ids.js';
import type { AuditAction } from './catalog.js';

/** Who did it: a user, a client, the system itself, or nobody known (failed sign-in). */
export interface Actor {
  type: 'user' | 'client' | 'system' | 'anonymous';
  id: string | null;
  ip: string | null;
  userAgent: string | null;
}

/**
 * The user behind an actor, for the rules that weigh the caller's own memberships (decision
 * 180): none for a machine application (decision 400), which administers only the tenant of
 * its scope.
 */
export const actingUserId = (actor: Actor): string | null => (actor.type === 'user' ? actor.id : null);

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null, ip: null, userAgent: null };

export interface AuditEntry {
  action: AuditAction;
  actor: Actor;
  tenantId?: string | null;
  target?: { type: string; id: string };
  outcome?: 'success' | 'failure';
  /** Never a secret: ids, field names, reasons. */
  details?: Record<string, unknown>;
}

/**
 * The audit row and its outbox twin (same id, same record) for one event. Most callers
 * use `recordAudit`; a hot path may put both rows into a statement of its own.
 */
/** Where an event's id and time come from (the app context, or a part of it). */
export interface AuditSource {
  ids: IdGenerator;
  clock: Clock;
}

export function auditRows(source: AuditSource, entry: AuditEntry) {
  const at = source.clock.now();
  const record = {
    id: source.ids.next(),
    created_at: at,
    tenant_id: entry.tenantId ?? null,
    action: entry.action,
    outcome: entry.outcome ?? 'success',
    actor_type: entry.actor.type,
    actor_id: entry.actor.id,
    target_type: entry.target?.type ?? null,
    target_id: entry.target?.id ?? null,
    ip: entry.actor.ip,
    user_agent: entry.actor.userAgent,
    details: entry.details ?? {},
  } as const;
  const audit: Insertable<AuditEventsTable> = { ...record, details: JSON.stringify(record.details) };
  const outbox: Insertable<EventOutboxTable> = {
    id: record.id,
    event: record.action,
    payload: JSON.stringify(record),
    created_at: at,
  };
  return { audit, outbox };
}

/**
 * Records an audit event and its outbox row in one statement. Call it with the
 * transaction that makes the change, so the record exists exactly when the change does.
 */
export async function recordAudit(db: Kysely<Database>, source: AuditSource, entry: AuditEntry): Promise<void> {
  const { audit, outbox } = auditRows(source, entry);
  await db
    .with('audit', (qb) => qb.insertInto('audit_events').values(audit))
    .insertInto('event_outbox')
    .values(outbox)
    .execute();
}
