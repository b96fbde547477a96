import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Db } from '../db/database.js';
import type { Lookups } from './lookups.js';

/** Models whose ids are looked up by their grant, so one call revokes a whole token family. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * oidc-provider's storage (DESIGN §2: every piece of shared state lives in PostgreSQL).
 * One table holds every model; `Client` is read from our applications instead.
 */
export function pgAdapter(db: Db, lookups: Lookups, now: () => Date) {
  return class PgAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const row = {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grant_id: GRANTABLE.has(this.model) ? (payload.grantId ?? null) : null,
        user_code: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expires_at: expiresIn ? new Date(now().getTime() + expiresIn * 1000) : null,
      };
      await db
        .insertInto('oidc_models')
        .values(row)
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet({ ...row, consumed_at: null }))
        .execute();
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return lookups.client(id);
      return this.findBy('id', id);
    }

    findByUserCode(userCode: string) {
      return this.findBy('user_code', userCode);
    }

    findByUid(uid: string) {
      return this.findBy('uid', uid);
    }

    /**
     * Marks a one-time artifact used. Atomic: of two requests racing with the same
     * authorization code or refresh token, exactly one wins; the loser's grant (the whole
     * token family) is revoked, as if it had presented an already used token.
     */
    async consume(id: string): Promise<void> {
      const consumed = await db
        .updateTable('oidc_models')
        .set({ consumed_at: now() })
        .where('model', '=', this.model)
        .where('id', '=', id)
        .where('consumed_at', 'is', null)
        .returning('grant_id')
        .executeTakeFirst();
      if (consumed) return;
      const row = await db
        .selectFrom('oidc_models')
        .select('grant_id')
        .where('model', '=', this.model)
        .where('id', '=', id)
        .executeTakeFirst();
      if (row?.grant_id) await revokeGrant(db, row.grant_id);
      throw new errors.InvalidGrant(`${this.model} was already used`);
    }

    async destroy(id: string): Promise<void> {
      await db.deleteFrom('oidc_models').where('model', '=', this.model).where('id', '=', id).execute();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await revokeGrant(db, grantId);
    }

    private async findBy(column: 'id' | 'user_code' | 'uid', value: string): Promise<AdapterPayload | undefined> {
      const row = await db
        .selectFrom('oidc_models')
        .select(['payload', 'consumed_at', 'expires_at'])
        .where('model', '=', this.model)
        .where(column, '=', value)
        .executeTakeFirst();
      if (!row || (row.expires_at && row.expires_at <= now())) return undefined;
      return { ...(row.payload as AdapterPayload), ...(row.consumed_at && { consumed: Math.floor(row.consumed_at.getTime() / 1000) }) };
    }
  };
}

/** Revokes every artifact of one grant: codes, access and refresh tokens, and the grant. */
export async function revokeGrant(db: Db, grantId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('oidc_models').where('grant_id', '=', grantId).execute();
    await trx.deleteFrom('oidc_models').where('model', '=', 'Grant').where('id', '=', grantId).execute();
    await trx.deleteFrom('oauth_grant_organizations').where('grant_id', '=', grantId).execute();
  });
}

/**
 * Whether an OAuth grant still lives, and is the grant of this user with this client (a
 * token signed elsewhere cannot borrow another's grant, decision 200): revoking it (logout,
 * refresh-token reuse, an incident) ends its tokens' access to our API and introspection.
 */
export async function isGrantLive(db: Db, grantId: string, now: Date, holder: { accountId: string; clientId: string }): Promise<boolean> {
  const row = await db
    .selectFrom('oidc_models')
    .select(['expires_at', 'payload'])
    .where('model', '=', 'Grant')
    .where('id', '=', grantId)
    .executeTakeFirst();
  if (!row || (row.expires_at !== null && row.expires_at <= now)) return false;
  const grant = row.payload as { accountId?: unknown; clientId?: unknown };
  return grant.accountId === holder.accountId && grant.clientId === holder.clientId;
}

/** Deletes expired artifacts; run now and then by the provider's owner. */
export async function pruneExpired(db: Db, now: Date): Promise<void> {
  await db.deleteFrom('oidc_models').where('expires_at', '<', now).execute();
  await db.deleteFrom('oauth_grant_organizations').where('expires_at', '<', now).execute();
}
