import { assertApiDelegable } from '../../directory/permissions/api-delegation.js';
import { inScope, listedTenant, owningTenant, type Scope, systemTenantId } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { randomToken, seal, unseal } from '../../platform/crypto/secrets.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Api, SigningAlg } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { managementAudience } from '../tokens/access-tokens.js';
import { type ApiPermission, type ApiPermissionInput, assertDistinct, permissionsOfApis, replaceApiPermissions } from './permissions.js';

export const DEFAULT_TOKEN_LIFETIME = 600;

export interface ApiInput {
  /** The audience; fixed at creation. */
  identifier: string;
  name: string;
  permissions?: ApiPermissionInput[];
  token_lifetime?: number;
  signing_alg?: SigningAlg;
  rbac?: boolean;
  permissions_in_token?: boolean;
  /** Whether a user's access token for the API carries `groups` (decision 365); default false. */
  token_groups_claim?: boolean;
  /** System scope only: the owning tenant; absent = the system tenant. */
  tenant?: string;
}

export type ApiPatch = Partial<Omit<ApiInput, 'identifier' | 'tenant'>>;

/** An API with its permissions and, in the one answer that created or replaced it, the HS256 secret. */
export interface ApiDetails {
  api: Api;
  permissions: ApiPermission[];
  /** Shown once: when HS256 was chosen or the secret rotated. */
  signingSecret?: string;
}

const sealContext = (apiId: string) => `gatehouse:api-secret:${apiId}`;
const newSigningSecret = () => randomToken('ghas');

/** The HS256 shared secret of an API (for the token issuer), or undefined for RS256/ES256. */
export function apiSigningSecret(ctx: Pick<AppContext, 'masterKey'>, api: Api): string | undefined {
  return api.signing_secret_sealed === null ? undefined : unseal(ctx.masterKey, api.signing_secret_sealed, sealContext(api.id));
}

export async function listApis(
  ctx: AppContext,
  scope: Scope,
  filter: { tenant?: string | undefined; identifier?: string | undefined },
  page: PageRequest,
): Promise<Page<ApiDetails>> {
  const tenantId = listedTenant(scope, filter.tenant);
  const result = await paginate<Api>(
    page,
    DEFAULT_LIMIT,
    (a) => a.id,
    async (fetch, after) =>
      ctx.db
        .selectFrom('apis')
        .selectAll()
        .$if(tenantId !== undefined, (q) => q.where('tenant_id', '=', tenantId as string))
        .$if(filter.identifier !== undefined, (q) => q.where('identifier', '=', filter.identifier as string))
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
  const permissions = await permissionsOfApis(
    ctx.db,
    result.items.map((a) => a.id),
  );
  return { items: result.items.map((api) => ({ api, permissions: permissions.get(api.id) ?? [] })), next_cursor: result.next_cursor };
}

export async function getApi(ctx: AppContext, scope: Scope, id: string): Promise<ApiDetails> {
  const api = await findApi(ctx.db, scope, id);
  return { api, permissions: (await permissionsOfApis(ctx.db, [id])).get(id) ?? [] };
}

/** The API, if the scope reaches it (another tenant's is 404); `lock` keeps it from changing until the transaction ends. */
export async function findApi(db: Db, scope: Scope, id: string, lock: 'update' | 'share' | 'none' = 'none'): Promise<Api> {
  const api = await db
    .selectFrom('apis')
    .selectAll()
    .where('id', '=', id)
    .$if(lock === 'update', (q) => q.forUpdate())
    .$if(lock === 'share', (q) => q.forKeyShare())
    .executeTakeFirst();
  if (!api || !inScope(scope, api.tenant_id)) throw notFound('API');
  return api;
}

export async function createApi(ctx: AppContext, scope: Scope, actor: Actor, input: ApiInput): Promise<ApiDetails> {
  checkIdentifier(ctx, input.identifier);
  const permissions = input.permissions ?? [];
  assertDistinct(permissions);
  const alg = input.signing_alg ?? 'RS256';
  const id = ctx.ids.next();
  const signingSecret = alg === 'HS256' ? newSigningSecret() : undefined;
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const tenantId = owningTenant(scope, input.tenant) ?? (await systemTenantId(trx));
    const tenant = await trx.selectFrom('tenants').select(['id', 'slug']).where('id', '=', tenantId).executeTakeFirst();
    if (!tenant) throw notFound('Tenant');
    assertNamespace(scope, tenant.slug, input.identifier);
    if (await trx.selectFrom('apis').select('id').where('identifier', '=', input.identifier).executeTakeFirst()) throw identifierTaken();
    const api = await trx
      .insertInto('apis')
      .values({
        id,
        tenant_id: tenantId,
        identifier: input.identifier,
        name: input.name,
        token_lifetime: input.token_lifetime ?? DEFAULT_TOKEN_LIFETIME,
        signing_alg: alg,
        signing_secret_sealed: signingSecret === undefined ? null : seal(ctx.masterKey, signingSecret, sealContext(id)),
        rbac: input.rbac ?? false,
        permissions_in_token: input.permissions_in_token ?? false,
        token_groups_claim: input.token_groups_claim ?? false,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch((error: unknown) => {
        throw isUniqueViolation(error) ? identifierTaken() : error;
      });
    await replaceApiPermissions(trx, id, permissions);
    await recordAudit(trx, ctx, {
      action: 'iam.api.created',
      actor,
      tenantId,
      target: { type: 'api', id },
      details: { identifier: api.identifier, name: api.name, signing_alg: alg, permissions: permissions.map((p) => p.value) },
    });
    const stored = (await permissionsOfApis(trx, [id])).get(id) ?? [];
    return { api, permissions: stored, ...(signingSecret !== undefined && { signingSecret }) };
  });
}

/** `permissions`, when given, replaces the list. Switching to HS256 makes a new secret (shown once); leaving it drops the secret. */
export async function updateApi(ctx: AppContext, scope: Scope, actor: Actor, id: string, patch: ApiPatch): Promise<ApiDetails> {
  if (patch.permissions) assertDistinct(patch.permissions);
  return ctx.db.transaction().execute(async (trx) => {
    const current = await findApi(trx, scope, id, 'update');
    const alg = patch.signing_alg ?? current.signing_alg;
    await assertHoldsWidened(trx, scope, current, patch);
    const signingSecret = alg === 'HS256' && current.signing_alg !== 'HS256' ? newSigningSecret() : undefined;
    const api = await trx
      .updateTable('apis')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.token_lifetime !== undefined && { token_lifetime: patch.token_lifetime }),
        ...(patch.rbac !== undefined && { rbac: patch.rbac }),
        ...(patch.permissions_in_token !== undefined && { permissions_in_token: patch.permissions_in_token }),
        ...(patch.token_groups_claim !== undefined && { token_groups_claim: patch.token_groups_claim }),
        signing_alg: alg,
        ...(alg !== 'HS256' && { signing_secret_sealed: null }),
        ...(signingSecret !== undefined && { signing_secret_sealed: seal(ctx.masterKey, signingSecret, sealContext(id)) }),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const changes = patch.permissions ? await replaceApiPermissions(trx, id, patch.permissions) : undefined;
    await recordAudit(trx, ctx, {
      action: 'iam.api.modified',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'api', id },
      details: {
        fields: Object.keys(patch),
        ...(alg !== current.signing_alg && { signing_alg: alg }),
        ...(changes && { permissions_added: changes.added, permissions_removed: changes.removed }),
      },
    });
    const permissions = (await permissionsOfApis(trx, [id])).get(id) ?? [];
    return { api, permissions, ...(signingSecret !== undefined && { signingSecret }) };
  });
}

/** Deletes the API with its permissions, the grants to it and the role permissions that named it. */
export async function deleteApi(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const api = await findApi(trx, scope, id, 'update');
    await assertHoldsApi(trx, scope, id, await valuesOf(trx, id));
    await trx.deleteFrom('apis').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.api.deleted',
      actor,
      tenantId: api.tenant_id,
      target: { type: 'api', id },
      details: { identifier: api.identifier, name: api.name },
    });
  });
}

/** A new HS256 shared secret; tokens signed with the old one stop verifying. */
export async function rotateApiSecret(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<ApiDetails> {
  return ctx.db.transaction().execute(async (trx) => {
    const current = await findApi(trx, scope, id, 'update');
    if (current.signing_alg !== 'HS256')
      throw new AppError('not_hs256', `This API signs with ${current.signing_alg}; it has no shared secret`);
    await assertHoldsApi(trx, scope, id, await valuesOf(trx, id));
    const signingSecret = newSigningSecret();
    const api = await trx
      .updateTable('apis')
      .set({ signing_secret_sealed: seal(ctx.masterKey, signingSecret, sealContext(id)), updated_at: ctx.clock.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.api.modified',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'api', id },
      details: { fields: ['signing_secret'], signing_secret_rotated: true },
    });
    const permissions = (await permissionsOfApis(trx, [id])).get(id) ?? [];
    return { api, permissions, signingSecret };
  });
}

/**
 * Whoever signs an API's tokens, or decides which scopes they carry, wields every
 * permission of that API (decision 194): so deleting it, rotating (and so seeing) its HS256
 * secret, changing its signing algorithm and turning RBAC off need them all, as
 * `assertApiDelegable` counts holding (`tenant.all` holds its tenant's APIs). A narrower
 * PATCH needs the values it removes (which takes them from every role that carried them) and
 * those it adds to an API without RBAC (which every token may then carry).
 */
async function assertHoldsApi(db: Db, scope: Scope, apiId: string, values: readonly string[]): Promise<void> {
  await assertApiDelegable(
    db,
    scope,
    [...new Set(values)].map((value) => ({ api_id: apiId, value })),
  );
}

const valuesOf = async (db: Db, apiId: string) => ((await permissionsOfApis(db, [apiId])).get(apiId) ?? []).map((p) => p.value);

/** What of a PATCH widens what the API's tokens carry, or who can sign them, checked as `assertHoldsApi` (decision 194). */
async function assertHoldsWidened(db: Db, scope: Scope, current: Api, patch: ApiPatch): Promise<void> {
  const rbac = patch.rbac ?? current.rbac;
  const everything = (patch.signing_alg !== undefined && patch.signing_alg !== current.signing_alg) || (current.rbac && !rbac);
  if (!everything && !patch.permissions) return;
  const before = await valuesOf(db, current.id);
  const after = new Set(patch.permissions?.map((p) => p.value) ?? before);
  const removed = before.filter((v) => !after.has(v));
  const added = rbac ? [] : [...after].filter((v) => !before.includes(v));
  await assertHoldsApi(db, scope, current.id, everything ? [...before, ...added] : [...removed, ...added]);
}

const URI = /^[a-z][a-z0-9+.-]*:[^\s#]+$/i;

/**
 * An identifier is an absolute URI without a fragment (RFC 8707 resource indicators),
 * e.g. `https://api.example.com` or `urn:example:invoices`, and never Gatehouse's own
 * audience, the issuer: a token for another API must not open the admin API.
 */
function checkIdentifier(ctx: AppContext, identifier: string) {
  let url: URL | undefined;
  try {
    url = new URL(identifier);
  } catch {
    url = undefined;
  }
  if (!URI.test(identifier) || !url || ((url.protocol === 'https:' || url.protocol === 'http:') && !url.hostname)) {
    throw new AppError('invalid_identifier', 'The identifier must be an absolute URI without a fragment, e.g. https://api.example.com', {
      field: 'identifier',
    });
  }
  const bare = (href: string) => href.replace(/\/+$/, '');
  const own = [ctx.config.issuer, managementAudience(ctx)].map((href) => bare(new URL(href).href));
  if (identifier === ctx.config.issuer || own.includes(bare(url.href))) {
    throw new AppError('reserved_identifier', 'The issuer (and {issuer}/api/v2/) is the audience of Gatehouse’s own API', {
      field: 'identifier',
    });
  }
}

/** The identifiers of one tenant: `urn:gatehouse:<tenant slug>:…` (decision 197). */
export const identifierNamespace = (slug: string) => `urn:gatehouse:${slug}:`;

/**
 * API identifiers are unique in the whole deployment, and every API's tokens are signed
 * with the same keys, so an identifier must never be another tenant's to take (decision
 * 197): a tenant administrator chooses identifiers only under the own tenant's namespace,
 * and `urn:gatehouse:<slug>:` names that tenant's APIs alone, whoever creates them. Any
 * other identifier (an https URL of one's own) is a system administrator's to give.
 */
function assertNamespace(scope: Scope, slug: string, identifier: string) {
  const namespace = identifierNamespace(slug);
  const inOwn = identifier.startsWith(namespace) && identifier.length > namespace.length;
  if (inOwn || (scope.kind === 'system' && !/^urn:gatehouse:/i.test(identifier))) return;
  throw new AppError(
    'identifier_outside_namespace',
    scope.kind === 'system'
      ? `urn:gatehouse: identifiers name the APIs of the tenant of that slug; for this tenant use ${namespace}<name>`
      : `A tenant administrator names APIs ${namespace}<name>; other identifiers are given by a system administrator`,
    { field: 'identifier', namespace },
  );
}

const identifierTaken = () => new AppError('identifier_taken', 'An API with this identifier exists');
