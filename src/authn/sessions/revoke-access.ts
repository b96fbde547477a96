import { sql } from 'kysely';
import { queueBackchannelLogouts } from '../../oauth/backchannel/queue.js';
import type { AuditSource } from '../../platform/audit/record.js';
import type { Db } from '../../platform/db/database.js';

export interface EndedAccess {
  /** Gatehouse sessions revoked. */
  sessions: number;
  /** OAuth grants revoked (each with its codes, access and refresh tokens). */
  grants: number;
  /** Back-channel logout notices queued. */
  notices: number;
}

/**
 * Ends every way a user is signed in, inside the caller's transaction: every Gatehouse
 * session, every OAuth grant (its codes, access tokens and refresh tokens, so a refresh
 * fails and introspection says inactive at once), and the engine's browser sessions; and
 * queues a back-channel logout for each application with a logout URI that held a grant.
 * `keepSessionId` spares the session a user changed their own password with.
 */
export async function endUserAccess(trx: Db, source: AuditSource, userId: string, keepSessionId?: string): Promise<EndedAccess> {
  const now = source.clock.now();
  let revoke = trx.updateTable('sessions').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null);
  if (keepSessionId) revoke = revoke.where('id', '!=', keepSessionId);
  const sessions = await revoke.returning('id').execute();
  // Sign-ins half done (password proved, second factor pending) end too.
  await trx.deleteFrom('mfa_tokens').where('user_id', '=', userId).execute();
  await trx.deleteFrom('mfa_interactions').where('user_id', '=', userId).execute();
  const { grants, notices, engineSessions } = await endOAuthGrants(trx, source, userId);
  if (engineSessions.length > 0) {
    await trx
      .deleteFrom('oidc_models')
      .where('model', '=', 'Session')
      .where(
        'id',
        'in',
        engineSessions.map((s) => s.id),
      )
      .execute();
  }
  return { sessions: sessions.length, grants, notices };
}

/**
 * Revokes a user's OAuth grants (all, or one application's) inside the caller's
 * transaction, queueing a back-channel logout for each application with a logout URI.
 * Returns the engine's browser sessions of the user (endUserAccess ends them too).
 */
export async function endOAuthGrants(trx: Db, source: AuditSource, userId: string, clientId?: string) {
  let query = trx
    .selectFrom('oidc_models')
    .select(['id', sql<string>`payload->>'clientId'`.as('client_id')])
    .where('model', '=', 'Grant')
    .where(sql<string>`payload->>'accountId'`, '=', userId);
  if (clientId !== undefined) query = query.where(sql<string>`payload->>'clientId'`, '=', clientId);
  const grants = await query.execute();
  // The engine's browser sessions of the user name the session id (`sid`) of each grant.
  const engineSessions = await trx
    .selectFrom('oidc_models')
    .select(['id', 'payload'])
    .where('model', '=', 'Session')
    .where(sql<string>`payload->>'accountId'`, '=', userId)
    .execute();
  const sidOfGrant = new Map<string, string>();
  for (const row of engineSessions) {
    const authorizations = (row.payload as { authorizations?: Record<string, { sid?: string; grantId?: string }> }).authorizations ?? {};
    for (const { sid, grantId } of Object.values(authorizations)) if (sid && grantId) sidOfGrant.set(grantId, sid);
  }
  const notices = await queueBackchannelLogouts(
    trx,
    source,
    grants.map((g) => ({ clientId: g.client_id, userId, sid: sidOfGrant.get(g.id) ?? null })),
  );
  await revokeGrants(
    trx,
    grants.map((g) => g.id),
  );
  return { grants: grants.length, notices, engineSessions };
}

/** Revokes grants inside the caller's transaction: every artifact of each, the grant, its organization. */
export async function revokeGrants(trx: Db, grantIds: readonly string[]): Promise<void> {
  if (grantIds.length === 0) return;
  await trx.deleteFrom('oidc_models').where('grant_id', 'in', grantIds).execute();
  await trx.deleteFrom('oidc_models').where('model', '=', 'Grant').where('id', 'in', grantIds).execute();
  await trx.deleteFrom('oauth_grant_organizations').where('grant_id', 'in', grantIds).execute();
}
