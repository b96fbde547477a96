import { sql } from 'kysely';
import type { AuditSource } from '../../platform/audit/record.js';
import type { Db } from '../../platform/db/database.js';

export interface LoggedOutGrant {
  clientId: string;
  userId: string;
  sid: string | null;
}

/**
 * Queues a logout token for each application (with a back-channel logout URI) whose grant
 * of a user has ended. Call it in the transaction that ends the sessions: the notice exists
 * exactly when the revocation does, and the worker (./worker.ts) sends it with retries.
 * Returns how many were queued.
 */
export async function queueBackchannelLogouts(trx: Db, source: AuditSource, ended: readonly LoggedOutGrant[]): Promise<number> {
  if (ended.length === 0) return 0;
  const apps = await trx
    .selectFrom('applications')
    .select(['id', 'client_id'])
    .where(
      'client_id',
      'in',
      ended.map((e) => e.clientId),
    )
    .where('backchannel_logout_uri', 'is not', null)
    .execute();
  const byClient = new Map(apps.map((a) => [a.client_id, a.id]));
  const now = source.clock.now();
  // One notice per application, user and session: two grants of one session are one logout.
  const seen = new Set<string>();
  const rows = [];
  for (const e of ended) {
    const applicationId = byClient.get(e.clientId);
    const key = `${e.clientId}\0${e.userId}\0${e.sid ?? ''}`;
    if (!applicationId || seen.has(key)) continue;
    seen.add(key);
    rows.push({
      id: source.ids.next(),
      application_id: applicationId,
      user_id: e.userId,
      sid: e.sid,
      status: 'pending' as const,
      next_attempt_at: now,
    });
  }
  if (rows.length > 0) await trx.insertInto('backchannel_logouts').values(rows).execute();
  return rows.length;
}

/** Notices still to send (for operations and tests). */
export async function pendingBackchannelLogouts(db: Db): Promise<number> {
  const row = await db
    .selectFrom('backchannel_logouts')
    .select(sql<string>`count(*)`.as('n'))
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
