import { inScope, listedTenant, owningTenant, type Scope, systemTenantId } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { fingerprint, randomToken } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { InitialAccessToken } from '../../platform/db/schema.js';
import { notFound } from '../../platform/errors.js';

/**
 * RFC 7591 initial access tokens (decision 422): a tenant administrator issues one, and
 * whoever holds it may register applications in that tenant, and in that tenant only,
 * within the limits of the admin API. Only a keyed digest is stored; the token is shown once.
 */

export const initialAccessTokenDigest = (masterKey: Buffer, token: string) => fingerprint(masterKey, 'initial-access-token', token);

export interface InitialAccessTokenInput {
  description?: string;
  /** Seconds until it expires; absent: it does not expire (until revoked). */
  expires_in?: number;
  /** How many applications it may register; absent: no limit. */
  max_registrations?: number;
  /** System scope only: the tenant its applications land in (default: the system tenant). */
  tenant?: string;
}

export async function createInitialAccessToken(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  input: InitialAccessTokenInput,
): Promise<{ record: InitialAccessToken; token: string }> {
  const token = randomToken('ghiat');
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const tenantId = owningTenant(scope, input.tenant) ?? (await systemTenantId(trx));
    if (!(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
    const record = await trx
      .insertInto('initial_access_tokens')
      .values({
        id: ctx.ids.next(),
        tenant_id: tenantId,
        token_digest: initialAccessTokenDigest(ctx.masterKey, token),
        description: input.description ?? '',
        max_registrations: input.max_registrations ?? null,
        expires_at: input.expires_in === undefined ? null : new Date(now.getTime() + input.expires_in * 1000),
        created_by: actor.id,
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.initialAccessToken.created',
      actor,
      tenantId,
      target: { type: 'initial_access_token', id: record.id },
      details: {
        description: record.description,
        max_registrations: record.max_registrations,
        expires_at: record.expires_at?.toISOString() ?? null,
      },
    });
    return { record, token };
  });
}

export async function listInitialAccessTokens(
  ctx: AppContext,
  scope: Scope,
  filter: { tenant?: string | undefined },
  page: PageRequest,
): Promise<Page<InitialAccessToken>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (t) => t.id,
    async (fetch, after) =>
      ctx.db
        .selectFrom('initial_access_tokens')
        .selectAll()
        .$if(tenantId !== undefined, (q) => q.where('tenant_id', '=', tenantId as string))
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
}

/** Revoked at once: it registers nothing more (the applications it registered stay). Another tenant's is 404. */
export async function revokeInitialAccessToken(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const record = await trx.selectFrom('initial_access_tokens').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!record || !inScope(scope, record.tenant_id)) throw notFound('Initial access token');
    if (record.revoked_at) return;
    await trx.updateTable('initial_access_tokens').set({ revoked_at: ctx.clock.now() }).where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.initialAccessToken.revoked',
      actor,
      tenantId: record.tenant_id,
      target: { type: 'initial_access_token', id },
      details: { description: record.description },
    });
  });
}

/**
 * Takes one registration from the token, atomically: of concurrent registrations with a
 * token that has one left, exactly one gets it. Undefined when the token is unknown,
 * revoked, expired or used up, or its tenant suspended (the caller answers `invalid_token`
 * for all of them).
 */
export async function takeRegistration(db: Db, masterKey: Buffer, token: string, now: Date): Promise<InitialAccessToken | undefined> {
  return (
    db
      .updateTable('initial_access_tokens')
      .set((eb) => ({ registrations: eb('registrations', '+', 1) }))
      .where('token_digest', '=', initialAccessTokenDigest(masterKey, token))
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .where((eb) => eb.or([eb('max_registrations', 'is', null), eb('registrations', '<', eb.ref('max_registrations'))]))
      // A suspended tenant registers nothing (its applications do not exist for the engine either).
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('tenants')
            .select('tenants.id')
            .whereRef('tenants.id', '=', 'initial_access_tokens.tenant_id')
            .where('tenants.status', '=', 'active'),
        ),
      )
      .returningAll()
      .executeTakeFirst()
  );
}

/** Gives a registration back when the application could not be made (its metadata was refused). */
export async function returnRegistration(db: Db, id: string): Promise<void> {
  await db
    .updateTable('initial_access_tokens')
    .set((eb) => ({ registrations: eb('registrations', '-', 1) }))
    .where('id', '=', id)
    .execute();
}
