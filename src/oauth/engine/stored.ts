import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import { storedId } from './adapter.js';

/**
 * What the rest of Gatehouse reads of the engine's stored models (its `oidc_models` table):
 * only src/oauth/engine/ knows that table and the shape of its payloads
 * (docs/architecture.md#the-oauth-engine).
 */

/** A user's live grant, as the account area lists it. */
export interface StoredGrant {
  clientId: string;
  /** When it was granted. */
  grantedAt: Date;
  /** The OpenID scope granted (openid, email, profile, offline_access…). */
  openidScope: string;
  /** The API scopes granted, by API identifier (audience). */
  resources: Record<string, string>;
}

interface GrantPayload {
  clientId?: string;
  iat?: number;
  openid?: { scope?: string };
  resources?: Record<string, string>;
}

/** A user's grants that have not expired (at most 1000). */
export async function liveGrantsOfUser(db: Db, userId: string, now: Date): Promise<StoredGrant[]> {
  const rows = await db
    .selectFrom('oidc_models')
    .select('payload')
    .where('model', '=', 'Grant')
    .where(sql<string>`payload->>'accountId'`, '=', userId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .limit(1000)
    .execute();
  return rows.flatMap(({ payload }) => {
    const grant = payload as GrantPayload;
    if (!grant.clientId) return [];
    return [
      {
        clientId: grant.clientId,
        grantedAt: new Date((grant.iat ?? 0) * 1000),
        openidScope: grant.openid?.scope ?? '',
        resources: grant.resources ?? {},
      },
    ];
  });
}

/** The tenant of the application an authorization request (interaction uid) belongs to. */
export async function interactionTenantId(db: Db, uid: string): Promise<string | null> {
  const row = await db
    .selectFrom('oidc_models as m')
    .innerJoin('applications as a', (join) => join.on(sql`a.client_id`, '=', sql`m.payload->'params'->>'client_id'`))
    .select('a.tenant_id')
    .where('m.model', '=', 'Interaction')
    .where('m.id', '=', storedId('Interaction', uid))
    .executeTakeFirst();
  return row?.tenant_id ?? null;
}
