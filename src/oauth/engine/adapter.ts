import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { fingerprint, seal, sha256, unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import type { Lookups } from './lookups.js';

/** Models whose ids are looked up by their grant, so one call revokes a whole token family. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * Models whose id is not a secret: a grant's id names the token family (in each token's
 * row, in the engine's session, in `oauth_grant_organizations`) and no request presents
 * one, so it stays as it is, for the queries that revoke a family (decision 202).
 */
const PLAIN_IDS = new Set(['Grant']);

/** Payload fields that hold a credential: the id itself, a user code, a device code, an interaction's resume URL (it holds its id). */
const SECRET_FIELDS = ['jti', 'userCode', 'deviceCode', 'parJti', 'returnTo'] as const;
/** Where the sealed credentials of a row travel inside its payload. */
const SEALED = 'gatehouse_sealed';

/**
 * What the id column holds for an id of the engine: its SHA-256 (base64url), so that a
 * database reader (a leaked backup, a read replica) holds no refresh token, code, access
 * token, device code or cookie value that works (decision 202). Migration 0020 wrote the
 * same digest in SQL for the rows it found.
 */
export function storedId(model: string, id: string): string {
  return PLAIN_IDS.has(model) ? id : sha256(id).toString('base64url');
}

/**
 * oidc-provider's storage (docs/architecture.md#nodes-and-caches: shared state lives in PostgreSQL).
 * One table holds every model; `Client` is read from our applications instead. Ids are
 * stored as digests (`storedId`), a user code as a keyed digest (it is short), and the
 * credentials the payload carries are sealed under the master key, bound to their row: the
 * engine gets back exactly what it stored, a database reader nothing usable (decision 203).
 */
export function pgAdapter(db: Db, lookups: Lookups, now: () => Date, masterKey: Buffer) {
  const userCodeDigest = (userCode: string) => fingerprint(masterKey, 'oidc-user-code', userCode);

  /** The payload as stored: the credentials sealed together, bound to the row. */
  function close(model: string, rowId: string, payload: AdapterPayload): AdapterPayload {
    const open: Record<string, unknown> = { ...payload };
    const secret: Record<string, unknown> = {};
    for (const field of SECRET_FIELDS) {
      if (open[field] !== undefined) secret[field] = open[field];
      delete open[field];
    }
    // An interaction names the engine's session by its cookie value.
    const session = open.session as Record<string, unknown> | undefined;
    if (session?.cookie !== undefined) {
      secret.sessionCookie = session.cookie;
      const { cookie: _cookie, ...rest } = session;
      open.session = rest;
    }
    if (Object.keys(secret).length > 0) open[SEALED] = seal(masterKey, JSON.stringify(secret), `oidc_models\0${model}\0${rowId}`);
    return open as AdapterPayload;
  }

  /** The payload as the engine stored it. */
  function reopen(model: string, rowId: string, stored: Record<string, unknown>): AdapterPayload {
    const { [SEALED]: sealed, ...payload } = stored;
    if (typeof sealed !== 'string') return payload as AdapterPayload;
    const { sessionCookie, ...secret } = JSON.parse(unseal(masterKey, sealed, `oidc_models\0${model}\0${rowId}`)) as Record<
      string,
      unknown
    >;
    if (sessionCookie !== undefined) payload.session = { ...(payload.session as object), cookie: sessionCookie };
    return { ...payload, ...secret } as AdapterPayload;
  }

  return class PgAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const rowId = storedId(this.model, id);
      const row = {
        model: this.model,
        id: rowId,
        payload: JSON.stringify(close(this.model, rowId, payload)),
        grant_id: GRANTABLE.has(this.model) ? (payload.grantId ?? null) : null,
        user_code: payload.userCode ? userCodeDigest(payload.userCode) : null,
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
      const payload = await this.findBy('id', storedId(this.model, id));
      // Rows migrated from plaintext ids (0020) carry no sealed `jti`: it is the id asked for.
      return payload && { ...payload, jti: id };
    }

    findByUserCode(userCode: string) {
      return this.findBy('user_code', userCodeDigest(userCode));
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
      const rowId = storedId(this.model, id);
      const consumed = await db
        .updateTable('oidc_models')
        .set({ consumed_at: now() })
        .where('model', '=', this.model)
        .where('id', '=', rowId)
        .where('consumed_at', 'is', null)
        .returning('grant_id')
        .executeTakeFirst();
      if (consumed) return;
      const row = await db
        .selectFrom('oidc_models')
        .select('grant_id')
        .where('model', '=', this.model)
        .where('id', '=', rowId)
        .executeTakeFirst();
      if (row?.grant_id) await revokeGrant(db, row.grant_id);
      throw new errors.InvalidGrant(`${this.model} was already used`);
    }

    async destroy(id: string): Promise<void> {
      await db.deleteFrom('oidc_models').where('model', '=', this.model).where('id', '=', storedId(this.model, id)).execute();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await revokeGrant(db, grantId);
    }

    private async findBy(column: 'id' | 'user_code' | 'uid', value: string): Promise<AdapterPayload | undefined> {
      const row = await db
        .selectFrom('oidc_models')
        .select(['id', 'payload', 'consumed_at', 'expires_at'])
        .where('model', '=', this.model)
        .where(column, '=', value)
        .executeTakeFirst();
      if (!row || (row.expires_at && row.expires_at <= now())) return undefined;
      const payload = reopen(this.model, row.id, row.payload as Record<string, unknown>);
      return { ...payload, ...(row.consumed_at && { consumed: Math.floor(row.consumed_at.getTime() / 1000) }) };
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
