import { sql } from 'kysely';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import Provider, { errors } from 'oidc-provider';
import { fingerprint, seal, sha256, unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import type { OidcModelsTable } from '../../platform/db/schema.js';
import type { Lookups } from './lookups.js';
import { findFamily, forget, holdConsume, prefetchedGrant, remember, takeConsume } from './prefetch.js';

type OidcModelRow = Omit<OidcModelsTable, 'consumed_at' | 'payload'> & { payload: string };

/** How long a claimed proof or assertion id is held until the engine's save sets its own expiry. */
const REPLAY_HOLD_MS = 10 * 60_000;

/** Models whose ids are looked up by their grant, so one call revokes a whole token family. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * Models whose lookup is followed, in the same request, by their grant's, their user's and
 * the MFA facts': one statement reads them all (prefetch.ts, decision 318).
 */
const FAMILY_HEADS = new Set(['RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest']);

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
export function pgAdapter(
  db: Db,
  lookups: Lookups,
  now: () => Date,
  masterKey: Buffer,
  /** The engine request being served (what prefetch.ts keys by); a test passes its own. */
  currentRequest: () => object | undefined = () => Provider.ctx,
) {
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
      const consumed = this.model === 'RefreshToken' ? takeConsume(currentRequest()) : undefined;
      if (consumed) return this.rotate(consumed, row);
      await db
        .insertInto('oidc_models')
        .values(row)
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet({ ...row, consumed_at: null }))
        .execute();
    }

    /**
     * A rotation in one statement (decision 320): the old refresh token is consumed and its
     * successor stored only if it was not consumed before. Of two requests racing with the
     * same token, exactly one stores a successor; the other revokes the family, as consume does.
     */
    private async rotate(consumedRowId: string, row: OidcModelRow): Promise<void> {
      const { rows } = await sql<{ id: string }>`
        with consumed as (
          update oidc_models set consumed_at = ${now()}
          where model = ${this.model} and id = ${consumedRowId} and consumed_at is null
          returning grant_id)
        insert into oidc_models (model, id, payload, grant_id, user_code, uid, expires_at)
        select ${row.model}, ${row.id}, ${row.payload}::jsonb, ${row.grant_id}::text, ${row.user_code}::text, ${row.uid}::text,
          ${row.expires_at}::timestamptz
        from consumed
        on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id,
          user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = null
        returning id`.execute(db);
      if (rows.length === 0) await refuseReuse(db, this.model, consumedRowId, currentRequest());
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return lookups.client(id);
      if (this.model === 'ReplayDetection') return this.claimOnce(id);
      if (FAMILY_HEADS.has(this.model)) return this.findFamily(id);
      const read = this.model === 'Grant' ? prefetchedGrant(currentRequest(), id) : undefined;
      const payload =
        read !== undefined
          ? read
            ? this.opened(id, { consumed_at: null, ...read })
            : undefined
          : await this.findBy('id', storedId(this.model, id));
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
     * Marks a one-time artifact used (consumeNow). A refresh token the engine rotates is
     * consumed by the statement that stores its successor (rotate), with the same guarantee.
     */
    async consume(id: string): Promise<void> {
      const rowId = storedId(this.model, id);
      // A rotation consumes and stores its successor in one statement (upsert, rotate).
      const request = currentRequest();
      if (this.model === 'RefreshToken' && request) return holdConsume(request, rowId);
      await consumeNow(db, now(), this.model, rowId, request);
    }

    async destroy(id: string): Promise<void> {
      await db.deleteFrom('oidc_models').where('model', '=', this.model).where('id', '=', storedId(this.model, id)).execute();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      forget(currentRequest());
      await revokeGrant(db, grantId);
    }

    /**
     * The engine asks whether a DPoP proof's or a client assertion's `jti` was seen (find),
     * then remembers it (upsert): two requests racing with one proof, on one node or two,
     * would both find nothing. So the find itself claims the id in one statement (decision
     * 416): exactly one request inserts it (or takes over an expired row) and is told it is
     * new; every other is told it was seen. The engine's save then sets the real expiry.
     */
    private async claimOnce(id: string): Promise<AdapterPayload | undefined> {
      const at = now();
      const claimed = await db
        .insertInto('oidc_models')
        .values({
          model: this.model,
          id: storedId(this.model, id),
          payload: JSON.stringify({}),
          grant_id: null,
          user_code: null,
          uid: null,
          expires_at: new Date(at.getTime() + REPLAY_HOLD_MS),
        })
        .onConflict((oc) =>
          oc
            .columns(['model', 'id'])
            .doUpdateSet({ expires_at: new Date(at.getTime() + REPLAY_HOLD_MS), consumed_at: null })
            .where('oidc_models.expires_at', '<=', at),
        )
        .returning('id')
        .executeTakeFirst();
      return claimed ? undefined : ({ jti: id } as AdapterPayload);
    }

    /** A token with its grant, its user and the MFA facts, remembered for the rest of this request (prefetch.ts). */
    private async findFamily(id: string): Promise<AdapterPayload | undefined> {
      const family = await findFamily(db, this.model, storedId(this.model, id));
      if (!family) return undefined;
      remember(currentRequest(), family);
      const payload = this.opened(family.id, family);
      return payload && { ...payload, jti: id };
    }

    private async findBy(column: 'id' | 'user_code' | 'uid', value: string): Promise<AdapterPayload | undefined> {
      const row = await db
        .selectFrom('oidc_models')
        .select(['id', 'payload', 'consumed_at', 'expires_at'])
        .where('model', '=', this.model)
        .where(column, '=', value)
        .executeTakeFirst();
      return row && this.opened(row.id, row);
    }

    /** A row's payload as the engine stored it, unless it has expired. */
    private opened(
      rowId: string,
      row: { payload: unknown; consumed_at: Date | null; expires_at: Date | null },
    ): AdapterPayload | undefined {
      if (row.expires_at && row.expires_at <= now()) return undefined;
      const payload = reopen(this.model, rowId, row.payload as Record<string, unknown>);
      return { ...payload, ...(row.consumed_at && { consumed: Math.floor(row.consumed_at.getTime() / 1000) }) };
    }
  };
}

/**
 * Marks a one-time artifact used. Atomic: of two requests racing with the same
 * authorization code or refresh token, exactly one wins; the loser's grant (the whole
 * token family) is revoked, as if it had presented an already used token.
 */
async function consumeNow(db: Db, at: Date, model: string, rowId: string, request: object | undefined): Promise<void> {
  const consumed = await db
    .updateTable('oidc_models')
    .set({ consumed_at: at })
    .where('model', '=', model)
    .where('id', '=', rowId)
    .where('consumed_at', 'is', null)
    .returning('grant_id')
    .executeTakeFirst();
  if (!consumed) await refuseReuse(db, model, rowId, request);
}

/** A one-time artifact presented again: its grant (the whole token family) is revoked. */
async function refuseReuse(db: Db, model: string, rowId: string, request: object | undefined): Promise<never> {
  const row = await db.selectFrom('oidc_models').select('grant_id').where('model', '=', model).where('id', '=', rowId).executeTakeFirst();
  if (row?.grant_id) await revokeGrant(db, row.grant_id);
  forget(request);
  throw new errors.InvalidGrant(`${model} was already used`);
}

/**
 * Consumes the refresh token a request held back (prefetch.ts holdConsume) and did not
 * consume with its successor: the engine's request ends (provider.ts), and a token it
 * consumed is consumed, whatever happened after.
 */
export async function consumeHeld(db: Db, at: Date, request: object): Promise<void> {
  const rowId = takeConsume(request);
  if (rowId) await consumeNow(db, at, 'RefreshToken', rowId, request);
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
