import type { AppContext } from '../../platform/context.js';
import type { Tenant } from '../../platform/db/schema.js';
import { listOrganizations, type Organization } from '../tokens/organizations.js';

/** The organization (tenant) chosen for one authorization, Auth0's `organization`. */
export async function grantOrganization(ctx: AppContext, grantId: string | undefined): Promise<Tenant | undefined> {
  if (!grantId) return undefined;
  return ctx.db
    .selectFrom('oauth_grant_organizations as g')
    .innerJoin('tenants as t', 't.id', 'g.tenant_id')
    .selectAll('t')
    .where('g.grant_id', '=', grantId)
    .executeTakeFirst();
}

export async function setGrantOrganization(ctx: AppContext, grantId: string, tenantId: string, expiresAt: Date): Promise<void> {
  await ctx.db
    .insertInto('oauth_grant_organizations')
    .values({ grant_id: grantId, tenant_id: tenantId, expires_at: expiresAt })
    .onConflict((oc) => oc.column('grant_id').doUpdateSet({ tenant_id: tenantId, expires_at: expiresAt }))
    .execute();
}

/**
 * The organizations an application may act in for a user (the tenant boundary,
 * docs/security.md#v4-access-control): an application of the system tenant (a platform application, made by a system
 * administrator) any active organization the user is a member of; any other application
 * only its own tenant, and only for its members.
 */
export async function organizationsFor(
  ctx: AppContext,
  userId: string,
  client: { tenantId: string; isPlatform: boolean },
): Promise<Organization[]> {
  const organizations = await listOrganizations(ctx, userId);
  return client.isPlatform ? organizations : organizations.filter((o) => o.id === client.tenantId);
}
