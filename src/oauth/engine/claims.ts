import { errors } from 'oidc-provider';
import type { Grants } from '../../directory/permissions/effective.js';
import type { AppContext } from '../../platform/context.js';
import { apiAudience, MACHINE_GTY } from '../tokens/access-tokens.js';
import type { OidcContext } from './lookups.js';
import { permissionsOf } from './prefetch.js';

/**
 * A token for Gatehouse's own admin API carries what the OIH flow's tokens carry: the
 * tenant it acts in (the one chosen, or the application's) and the system permissions
 * there, which the API computes afresh on every call anyway.
 */
async function gatehouseApiClaims(
  ctx: AppContext,
  tenantId: string,
  organization: { id: string; name: string } | undefined,
  grants: Grants | undefined,
  grantId: string | undefined,
): Promise<ExtraClaims> {
  if (!grants || !grantId) return {};
  const tenant =
    organization ?? (await ctx.db.selectFrom('tenants').select(['id', 'name']).where('id', '=', tenantId).executeTakeFirstOrThrow());
  return { org_id: tenant.id, org_name: tenant.name, roles: grants.roles, permissions: grants.permissions, gid: grantId };
}

/**
 * A machine application's own token for the admin API (decision 400): it acts in its own
 * tenant; the admin API reads its grant afresh on every call.
 */
async function machineApiClaims(ctx: AppContext, facts: TokenFacts): Promise<ExtraClaims> {
  const tenant = await ctx.db.selectFrom('tenants').select(['id', 'name']).where('id', '=', facts.clientTenantId).executeTakeFirstOrThrow();
  return { org_id: tenant.id, org_name: tenant.name, gty: MACHINE_GTY };
}

/** What the engine tells us about a token it is about to issue. */
export interface TokenFacts {
  /** The request the token is issued in (what per-request reads are keyed by). */
  request: object;
  kind: 'user' | 'client';
  accountId?: string;
  clientId: string;
  /** The owning tenant of the client. */
  clientTenantId: string;
  grantId?: string;
  audience?: string;
}

export interface ExtraClaims {
  org_id?: string;
  org_name?: string;
  roles?: string[];
  permissions?: string[];
  /** The user's group names in the token's tenant, for an API that asks for them (decision 365). */
  groups?: string[];
  /** The grant a user's token lives and dies with. */
  gid?: string;
  /** A machine application's admin token (decision 400). */
  gty?: string;
}

/**
 * Gatehouse's claims in access tokens (docs/api.md#access-token-claims). A user's token carries the chosen
 * organization (`org_id`, `org_name`) and the roles held there; for an API with RBAC and
 * "permissions in token", the user's permissions for that API in that organization, or,
 * when none was chosen, in the application's own tenant. A machine token carries the
 * permissions its application was granted for the API.
 */
export async function extraClaims(ctx: OidcContext, facts: TokenFacts): Promise<ExtraClaims> {
  const api = facts.audience ? await ctx.lookups.api(facts.audience) : undefined;
  if (facts.kind === 'client') {
    if (facts.audience === apiAudience(ctx)) return machineApiClaims(ctx, facts);
    if (!api?.permissionsInToken) return {};
    return { permissions: (await ctx.lookups.clientGrant(facts.clientId, api.id)) ?? [] };
  }
  const userId = facts.accountId as string;
  const organization = await ctx.lookups.grantOrganization(facts.grantId);
  // The tenant boundary (docs/security.md#v4-access-control): a tenant's application acts only in its own tenant,
  // for its members; a platform application (of the system tenant) serves every user, and
  // in an organization only its members. A suspended organization, or one the user left,
  // issues nothing more.
  const platform = await ctx.lookups.isPlatform(facts.clientTenantId);
  const tenantId = organization?.id ?? facts.clientTenantId;
  if (tenantId !== facts.clientTenantId && !platform) throw new errors.InvalidGrant('this application may not act in that organization');
  if (organization && organization.status !== 'active') throw new errors.InvalidGrant('the organization is suspended');
  const held = await permissionsOf(ctx.db, facts.request, userId, tenantId, api?.id);
  const grants = held.grants;
  if (!grants && (organization || !platform)) throw new errors.InvalidGrant('the user is not a member of the organization');
  if (facts.audience === apiAudience(ctx)) return gatehouseApiClaims(ctx, tenantId, organization, grants, facts.grantId);
  return {
    // The grant the token lives and dies with: introspection and the admin API check it.
    ...(facts.grantId && { gid: facts.grantId }),
    ...(organization && { org_id: organization.id, org_name: organization.name }),
    roles: grants?.roles ?? [],
    ...(api?.rbac && api.permissionsInToken && { permissions: held.api }),
    ...(api?.groupsInToken && { groups: grants?.groups ?? [] }),
  };
}
