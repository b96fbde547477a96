import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

/**
 * The engine's stored grants and browser sessions (its `oidc_models` table), as the rest of
 * Gatehouse ends them: only src/oauth/engine/ knows that table (docs/architecture.md#the-oauth-engine).
 */

/** A user's OAuth grant, with the session id (`sid`) the engine's browser session gave it, if any. */
export interface UserGrant {
  id: string;
  clientId: string;
  sid: string | null;
}

/** A user's OAuth grants (all, or one application's). */
export async function grantsOfUser(db: Db, userId: string, clientId?: string): Promise<UserGrant[]> {
  let query = db
    .selectFrom('oidc_models')
    .select(['id', sql<string>`payload->>'clientId'`.as('client_id')])
    .where('model', '=', 'Grant')
    .where(sql<string>`payload->>'accountId'`, '=', userId);
  if (clientId !== undefined) query = query.where(sql<string>`payload->>'clientId'`, '=', clientId);
  const grants = await query.execute();
  // The engine's browser sessions of the user name the session id (`sid`) of each grant.
  const engineSessions = await db
    .selectFrom('oidc_models')
    .select('payload')
    .where('model', '=', 'Session')
    .where(sql<string>`payload->>'accountId'`, '=', userId)
    .execute();
  const sidOfGrant = new Map<string, string>();
  for (const row of engineSessions) {
    const authorizations = (row.payload as { authorizations?: Record<string, { sid?: string; grantId?: string }> }).authorizations ?? {};
    for (const { sid, grantId } of Object.values(authorizations)) if (sid && grantId) sidOfGrant.set(grantId, sid);
  }
  return grants.map((g) => ({ id: g.id, clientId: g.client_id, sid: sidOfGrant.get(g.id) ?? null }));
}

/** Revokes grants inside the caller's transaction: every artifact of each, the grant, its organization. */
export async function revokeGrants(trx: Db, grantIds: readonly string[]): Promise<void> {
  if (grantIds.length === 0) return;
  await trx.deleteFrom('oidc_models').where('grant_id', 'in', grantIds).execute();
  await trx.deleteFrom('oidc_models').where('model', '=', 'Grant').where('id', 'in', grantIds).execute();
  await trx.deleteFrom('oauth_grant_organizations').where('grant_id', 'in', grantIds).execute();
}

/** Ends the engine's browser sessions of a user inside the caller's transaction. */
export async function endEngineSessions(trx: Db, userId: string): Promise<void> {
  await trx.deleteFrom('oidc_models').where('model', '=', 'Session').where(sql<string>`payload->>'accountId'`, '=', userId).execute();
}

/**
 * Revokes every grant of an application inside the caller's transaction, and the opaque
 * client-credentials tokens the engine stored (JWTs for an API are not stored: they expire
 * within their lifetime; rotating the secret stops new ones). Returns how many grants.
 */
export async function revokeApplicationGrants(trx: Db, clientId: string): Promise<number> {
  const grants = await trx
    .selectFrom('oidc_models')
    .select('id')
    .where('model', '=', 'Grant')
    .where(sql<string>`payload->>'clientId'`, '=', clientId)
    .execute();
  await revokeGrants(
    trx,
    grants.map((g) => g.id),
  );
  await trx
    .deleteFrom('oidc_models')
    .where('model', '=', 'ClientCredentials')
    .where(sql<string>`payload->>'clientId'`, '=', clientId)
    .execute();
  return grants.length;
}
