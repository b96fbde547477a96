import { sql } from 'kysely';
import { type Grants, tokenPermissions } from '../../directory/permissions/effective.js';
import type { Db } from '../../platform/db/database.js';
import type { MfaPolicy, User } from '../../platform/db/schema.js';

/**
 * What a token request reads of one token family in one round trip (decision 318). The
 * engine looks up a refresh token (or a code), then its grant, then its user, then the MFA
 * facts that decide whether the token may still be used: four lookups in a row, each one a
 * round trip. The first lookup reads them all in one statement, and the rest of the same
 * request is answered from what it read (the same moment, one snapshot: as fresh as four
 * reads, never a cache across requests; docs/architecture.md#the-oauth-engine).
 */
export interface FamilyRow {
  /** The token's own row. */
  id: string;
  payload: Record<string, unknown>;
  consumed_at: Date | null;
  expires_at: Date | null;
  /** Its grant's row, when there is one. */
  grant: { payload: Record<string, unknown>; expires_at: Date | null } | null;
  /** Its user, if active (null: no active user of that id). */
  user: User | null;
  /** The MFA facts of its client and user (src/authn/mfa/policy.ts applicableMfaOf). */
  mfa: MfaFacts;
}

export interface MfaFacts {
  application: { tenantId: string; mfaPolicy: MfaPolicy | null } | null;
  /** The stored policies of the tenants involved: the user's home tenant (or the system tenant), the application's, the grant's organization. */
  tenantPolicies: Record<string, unknown>[];
  /** The types of the user's confirmed factors. */
  factorTypes: string[];
}

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** The token row of `model` with id `rowId` (as stored), its grant, its active user and the MFA facts, in one statement. */
export async function findFamily(db: Db, model: string, rowId: string): Promise<FamilyRow | undefined> {
  const { rows } = await sql<Record<string, unknown>>`
    select t.id as "fam_id", t.payload as "fam_payload", t.consumed_at as "fam_consumed_at", t.expires_at as "fam_expires_at",
      g.payload as "fam_grant_payload", g.expires_at as "fam_grant_expires_at", g.id is not null as "fam_grant_found",
      a.tenant_id as "fam_app_tenant_id", a.mfa_policy as "fam_app_mfa_policy", a.id is not null as "fam_app_found",
      (select coalesce(json_agg(tn.policies), '[]') from tenants tn
        where tn.id in (u.home_tenant_id, a.tenant_id, go.tenant_id) or (u.id is not null and u.home_tenant_id is null and tn.is_system)
      ) as "fam_tenant_policies",
      (select coalesce(json_agg(distinct f.type), '[]') from mfa_factors f where f.user_id = u.id and f.confirmed) as "fam_factor_types",
      u.*
    from oidc_models t
    left join oidc_models g on g.model = 'Grant' and g.id = t.grant_id
    left join users u on u.id = (case when t.payload->>'accountId' ~ ${UUID} then (t.payload->>'accountId')::uuid end)
      and u.status = 'active'
    left join applications a on a.client_id = t.payload->>'clientId'
    left join oauth_grant_organizations go on go.grant_id = t.grant_id
    where t.model = ${model} and t.id = ${rowId}`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  const user: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) if (!column.startsWith('fam_')) user[column] = value;
  return {
    id: row.fam_id as string,
    payload: row.fam_payload as Record<string, unknown>,
    consumed_at: row.fam_consumed_at as Date | null,
    expires_at: row.fam_expires_at as Date | null,
    grant: row.fam_grant_found
      ? { payload: row.fam_grant_payload as Record<string, unknown>, expires_at: row.fam_grant_expires_at as Date | null }
      : null,
    user: user.id ? (user as unknown as User) : null,
    mfa: {
      application: row.fam_app_found
        ? { tenantId: row.fam_app_tenant_id as string, mfaPolicy: row.fam_app_mfa_policy as MfaPolicy | null }
        : null,
      tenantPolicies: row.fam_tenant_policies as Record<string, unknown>[],
      factorTypes: row.fam_factor_types as string[],
    },
  };
}

/** What one request has read of a token family, for the engine's later lookups in the same request. */
export interface Prefetched {
  grantId: string | undefined;
  grant: FamilyRow['grant'];
  accountId: string | undefined;
  clientId: string | undefined;
  user: User | null;
  mfa: MfaFacts;
}

/** Keyed by the engine's request context: gone with the request. */
const byRequest = new WeakMap<object, Prefetched>();

export function remember(request: object | undefined, family: FamilyRow): void {
  if (!request) return;
  byRequest.set(request, {
    grantId: typeof family.payload.grantId === 'string' ? family.payload.grantId : undefined,
    grant: family.grant,
    accountId: typeof family.payload.accountId === 'string' ? family.payload.accountId : undefined,
    clientId: typeof family.payload.clientId === 'string' ? family.payload.clientId : undefined,
    user: family.user,
    mfa: family.mfa,
  });
}

/** The grant of this id, if this request has read it already (null: read, and there is none). */
export function prefetchedGrant(request: object | undefined, grantId: string): FamilyRow['grant'] | undefined {
  const read = request && byRequest.get(request);
  return read && read.grantId === grantId ? read.grant : undefined;
}

/** The active user of this id, if this request has read it already (null: read, and none is active). */
export function prefetchedUser(request: object | undefined, userId: string): User | null | undefined {
  const read = request && byRequest.get(request);
  return read && read.accountId === userId ? read.user : undefined;
}

/** The MFA facts of this user, client and grant, if this request has read them already. */
export function prefetchedMfa(
  request: object | undefined,
  source: { accountId?: string; clientId?: string; grantId?: string | undefined },
): MfaFacts | undefined {
  const read = request && byRequest.get(request);
  if (!read || read.accountId !== source.accountId || read.clientId !== source.clientId || read.grantId !== source.grantId)
    return undefined;
  return read.mfa;
}

/** Drops what a request read (after it changed the family: a revocation). */
export function forget(request: object | undefined): void {
  if (request) byRequest.delete(request);
}

const permissionsByRequest = new WeakMap<object, Map<string, Promise<{ grants: Grants | undefined; api: string[] }>>>();

/**
 * A user's effective permissions in a tenant and for an API, read once per token request
 * in one round trip (the scope check of resources.ts and the claims of claims.ts both need
 * them, decision 319) and never kept beyond it.
 */
export function permissionsOf(
  db: Db,
  request: object,
  userId: string,
  tenantId: string,
  apiId: string | undefined,
): Promise<{ grants: Grants | undefined; api: string[] }> {
  const key = `${userId}\0${tenantId}\0${apiId ?? ''}`;
  const memo = permissionsByRequest.get(request) ?? new Map();
  permissionsByRequest.set(request, memo);
  const read = memo.get(key) ?? tokenPermissions(db, userId, tenantId, apiId);
  memo.set(key, read);
  return read;
}

/**
 * A refresh token's consumption, held until the same request stores its successor, so that
 * one statement does both (decision 320): consuming the old token and saving the new one
 * were two commits in a row. The adapter holds it (`holdConsume`) and takes it when it stores
 * the successor (`takeConsume`); whatever is still held when the request ends is consumed
 * then (provider.ts), so a token is never left unconsumed.
 */
const heldConsumes = new WeakMap<object, string>();

export function holdConsume(request: object, rowId: string): void {
  heldConsumes.set(request, rowId);
}

export function takeConsume(request: object | undefined): string | undefined {
  if (!request) return undefined;
  const rowId = heldConsumes.get(request);
  heldConsumes.delete(request);
  return rowId;
}
