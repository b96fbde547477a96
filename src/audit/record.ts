import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { IdGenerator } from '../ids.js';
import type { AuditAction } from './catalog.js';

/** Who did it: a user, a client, the system itself, or nobody known (failed sign-in). */
export interface Actor {
  type: 'user' | 'client' | 'system' | 'anonymous';
  id: string | null;
  ip: string | null;
  userAgent: string | null;
}

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
 * Records an audit event and its outbox row. Call it with the transaction that makes
 * the change, so the record exists exactly when the change does.
 */
export async function recordAudit(db: Kysely<Database>, ids: IdGenerator, entry: AuditEntry): Promise<void> {
  const id = ids.next();
  const row = {
    id,
    tenant_id: entry.tenantId ?? null,
    action: entry.action,
    outcome: entry.outcome ?? 'success',
    actor_type: entry.actor.type,
    actor_id: entry.actor.id,
    target_type: entry.target?.type ?? null,
    target_id: entry.target?.id ?? null,
    ip: entry.actor.ip,
    user_agent: entry.actor.userAgent,
    details: JSON.stringify(entry.details ?? {}),
  };
  const inserted = await db.insertInto('audit_events').values(row).returning('created_at').executeTakeFirstOrThrow();
  const payload = { ...row, details: entry.details ?? {}, created_at: inserted.created_at };
  await db.insertInto('event_outbox').values({ id, event: entry.action, payload: JSON.stringify(payload) }).execute();
}
