import { isRestricted } from '../../directory/permissions/catalog.js';
import {
  explainPermissions,
  type MemberGrants,
  type PermissionSource,
  roleNames,
  tenantsGrants,
} from '../../directory/permissions/effective.js';
import type { AppContext } from '../../platform/context.js';
import type { Tenant, UserStatus } from '../../platform/db/schema.js';
import { confirmedFactors } from './mfa.js';

/** The risk flags of the access review (issue 6, part 5). */
export type MemberFlag = 'admin_without_mfa' | 'inactive' | 'direct_grants' | 'restricted_permissions' | 'invitation_pending';

export interface ReviewedMember {
  user_id: string;
  email: string;
  name: string | null;
  status: UserStatus;
  home_tenant: boolean;
  /** The roles held, directly or through a group, each once. */
  roles: string[];
  /** The tenant's groups the member belongs to (decision 364). */
  groups: string[];
  permissions: PermissionSource[];
  administrator: boolean;
  mfa: { enrolled: boolean; factors: string[] };
  last_login_at: Date | null;
  created_at: Date;
  flags: MemberFlag[];
}

export interface ReviewedApplication {
  application_id: string;
  client_id: string;
  name: string;
  grants: { api_id: string; api_identifier: string; permissions: string[] }[];
}

export interface TenantReview {
  tenant: Pick<Tenant, 'id' | 'slug' | 'name' | 'status'>;
  members: ReviewedMember[];
  machine_applications: ReviewedApplication[];
  summary: Record<MemberFlag | 'members' | 'administrators' | 'machine_applications', number>;
}

export interface ReviewOptions {
  /** Members who have not signed in for longer than this are flagged `inactive`. */
  inactiveDays: number;
}

const ADMIN_ROLES = new Set(['ADMIN', 'TENANT_ADMIN']);
const ADMIN_PERMISSIONS = new Set(['all', 'tenant.all']);
const DAY_MS = 24 * 3600_000;

/** Administrators: holders of an administrator role, or of `all` / `tenant.all` however granted. */
const isAdministrator = (grants: MemberGrants, permissions: PermissionSource[]) =>
  grants.roles.some((r) => ADMIN_ROLES.has(r.name)) || permissions.some((p) => ADMIN_PERMISSIONS.has(p.permission));

/**
 * The access review of some tenants: a fixed number of queries whatever the number of
 * members (members, their grants, their MFA factors, machine applications and their grants).
 */
export async function reviewTenants(
  ctx: AppContext,
  tenants: readonly TenantReview['tenant'][],
  options: ReviewOptions,
): Promise<TenantReview[]> {
  if (tenants.length === 0) return [];
  const tenantIds = tenants.map((t) => t.id);
  const [members, grants, apps, groups] = await Promise.all([
    ctx.db
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['m.tenant_id', 'u.id', 'u.email', 'u.name', 'u.status', 'u.home_tenant_id', 'u.last_login_at', 'u.created_at'])
      .where('m.tenant_id', 'in', tenantIds)
      .orderBy('m.tenant_id')
      .orderBy('u.email')
      .execute(),
    tenantsGrants(ctx.db, tenantIds),
    machineApplications(ctx, tenantIds),
    ctx.db
      .selectFrom('group_members as gm')
      .innerJoin('groups as g', 'g.id', 'gm.group_id')
      .select(['gm.tenant_id', 'gm.user_id', 'g.name'])
      .where('gm.tenant_id', 'in', tenantIds)
      .orderBy('g.name')
      .execute(),
  ]);
  const groupsOf = new Map<string, string[]>();
  for (const g of groups) {
    const key = `${g.tenant_id}\0${g.user_id}`;
    groupsOf.set(key, [...(groupsOf.get(key) ?? []), g.name]);
  }
  const factors = await confirmedFactors(ctx.db, [...new Set(members.map((m) => m.id))]);
  const inactiveBefore = ctx.clock.now().getTime() - options.inactiveDays * DAY_MS;

  return tenants.map((tenant) => {
    const reviewed = members
      .filter((m) => m.tenant_id === tenant.id)
      .map((m): ReviewedMember => {
        const held = grants.get(tenant.id)?.get(m.id) ?? { roles: [], direct: [] };
        const permissions = explainPermissions(held);
        const mfa = factors.get(m.id) ?? [];
        const administrator = isAdministrator(held, permissions);
        const lastSeen = (m.last_login_at ?? m.created_at).getTime();
        const flags: MemberFlag[] = [];
        if (administrator && mfa.length === 0) flags.push('admin_without_mfa');
        if (m.status === 'active' && lastSeen < inactiveBefore) flags.push('inactive');
        if (held.direct.length > 0) flags.push('direct_grants');
        if (permissions.some((p) => isRestricted(p.permission))) flags.push('restricted_permissions');
        if (m.status === 'pending') flags.push('invitation_pending');
        return {
          user_id: m.id,
          email: m.email,
          name: m.name,
          status: m.status,
          home_tenant: m.home_tenant_id === tenant.id,
          roles: roleNames(held.roles),
          groups: groupsOf.get(`${tenant.id}\0${m.id}`) ?? [],
          permissions,
          administrator,
          mfa: { enrolled: mfa.length > 0, factors: mfa },
          last_login_at: m.last_login_at,
          created_at: m.created_at,
          flags,
        };
      });
    const machine = apps.filter((a) => a.tenant_id === tenant.id).map(({ tenant_id: _t, ...a }) => a);
    const count = (flag: MemberFlag) => reviewed.filter((m) => m.flags.includes(flag)).length;
    return {
      tenant,
      members: reviewed,
      machine_applications: machine,
      summary: {
        members: reviewed.length,
        administrators: reviewed.filter((m) => m.administrator).length,
        machine_applications: machine.length,
        admin_without_mfa: count('admin_without_mfa'),
        inactive: count('inactive'),
        direct_grants: count('direct_grants'),
        restricted_permissions: count('restricted_permissions'),
        invitation_pending: count('invitation_pending'),
      },
    };
  });
}

/** Machine-to-machine applications of some tenants with their client grants (two queries). */
async function machineApplications(ctx: AppContext, tenantIds: readonly string[]) {
  const apps = await ctx.db
    .selectFrom('applications')
    .select(['id', 'client_id', 'name', 'tenant_id'])
    .where('tenant_id', 'in', tenantIds)
    .where('type', '=', 'm2m')
    .orderBy('name')
    .execute();
  if (apps.length === 0) return [];
  const rows = await ctx.db
    .selectFrom('application_grants as g')
    .innerJoin('apis', 'apis.id', 'g.api_id')
    .leftJoin('application_grant_permissions as p', (join) =>
      join.onRef('p.application_id', '=', 'g.application_id').onRef('p.api_id', '=', 'g.api_id'),
    )
    .select(['g.application_id', 'g.api_id', 'apis.identifier', 'p.value'])
    .where(
      'g.application_id',
      'in',
      apps.map((a) => a.id),
    )
    .orderBy('apis.identifier')
    .orderBy('p.value')
    .execute();
  return apps.map((a) => {
    const grants = new Map<string, { api_id: string; api_identifier: string; permissions: string[] }>();
    for (const row of rows.filter((r) => r.application_id === a.id)) {
      const grant = grants.get(row.api_id) ?? { api_id: row.api_id, api_identifier: row.identifier, permissions: [] };
      grants.set(row.api_id, grant);
      if (row.value !== null) grant.permissions.push(row.value);
    }
    return { application_id: a.id, client_id: a.client_id, name: a.name, tenant_id: a.tenant_id, grants: [...grants.values()] };
  });
}
