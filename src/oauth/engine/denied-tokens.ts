import type { Db } from '../../platform/db/database.js';

/**
 * The deny list of revoked JWT access tokens (decision 391). A JWT is not stored, so
 * `POST /oauth/revoke` of one keeps its `jti` until the moment the token would have
 * expired; introspection (and through it the SDK's online check) answers `active: false`
 * for a listed `jti`. Read straight from the database on every check, never cached: a
 * revocation holds on every node from its commit.
 */
export async function denyAccessToken(db: Db, token: { jti: string; clientId: string; expiresAt: Date }): Promise<void> {
  await db
    .insertInto('revoked_access_tokens')
    .values({ jti: token.jti, client_id: token.clientId, expires_at: token.expiresAt })
    .onConflict((oc) => oc.column('jti').doNothing())
    .execute();
}

export async function isAccessTokenDenied(db: Db, jti: string): Promise<boolean> {
  const row = await db.selectFrom('revoked_access_tokens').select('jti').where('jti', '=', jti).executeTakeFirst();
  return row !== undefined;
}

/** The sweep: a listed token past its expiry is refused by its `exp` anyway. */
export async function pruneDeniedTokens(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('revoked_access_tokens').where('expires_at', '<', now).execute();
}
