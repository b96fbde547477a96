import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { COMMON_PERMISSIONS, type CommonPermission, isRestricted, type RestrictedPermission } from './catalog.js';

export interface Grants {
  /** Names of the roles the member holds (directly or through a group), each once, sorted. */
  roles: string[];
  /** Union of the roles' permissions and the direct grants, sorted. */
  permissions: string[];
  /** Names of the member's groups in the tenant, sorted (decision 360). */
  groups: string[];
}

/** A role as the member holds it; `group`: the name of the group it comes through (absent: assigned directly). */
export interface HeldRole {
  name: string;
  permissions: string[];
  group?: string;
}

/**
 * The roles of a member in a tenant, direct and through groups (the view effective_roles,
 * migration 0029), as one JSON array of HeldRole, ordered by role then group. A SQL
 * fragment for the statements below, so every reader of a member's roles counts the groups.
 */
const heldRolesJson = (tenantId: unknown, userId: unknown) => sql<HeldRole[]>`(
  select coalesce(json_agg(json_strip_nulls(json_build_object('name', r.name, 'permissions', r.permissions, 'group', g.name))
    order by r.name, g.name nulls first), '[]')
  from (select distinct role_id, group_id from effective_roles er where er.tenant_id = ${tenantId} and er.user_id = ${userId}) er
  inner join roles r on r.id = er.role_id
  left join groups g on g.id = er.group_id)`;

const groupNamesJson = (tenantId: unknown, userId: unknown) => sql<string[]>`(
  select coalesce(json_agg(g.name order by g.name), '[]') from group_members gm inner join groups g on g.id = gm.group_id
  where gm.tenant_id = ${tenantId} and gm.user_id = ${userId})`;

/** The role names of held roles, each once, sorted. */
export const roleNames = (roles: readonly HeldRole[]): string[] => [...new Set(roles.map((r) => r.name))].sort();

/**
 * Effective permissions of a user in a tenant (docs/architecture.md#domain-model): the union of the roles of
 * the membership (global and tenant roles alike, assigned directly or held through a group,
 * decision 361) and the permissions granted directly.
 * The one place this is computed; every check and every token claim uses it.
 * Undefined when the user is not a member of the tenant.
 */
export async function effectivePermissions(db: Db, userId: string, tenantId: string): Promise<Grants | undefined> {
  // One round trip: it runs on every admin request and every token issued.
  const { rows } = await sql<{ roles: HeldRole[]; direct: string[]; groups: string[] }>`
    select ${heldRolesJson(sql.ref('m.tenant_id'), sql.ref('m.user_id'))} as roles,
      (select coalesce(json_agg(mp.permission), '[]') from membership_permissions mp
        where mp.tenant_id = m.tenant_id and mp.user_id = m.user_id) as direct,
      ${groupNamesJson(sql.ref('m.tenant_id'), sql.ref('m.user_id'))} as groups
    from memberships m where m.tenant_id = ${tenantId} and m.user_id = ${userId}`.execute(db);
  const row = rows[0];
  if (!row) return undefined;
  return { roles: roleNames(row.roles), permissions: combinePermissions(row.roles, row.direct), groups: row.groups };
}

/** The union itself: roles' permissions and direct grants, sorted, each once. */
export function combinePermissions(roles: readonly { permissions: readonly string[] }[], direct: readonly string[]): string[] {
  const permissions = new Set<string>(direct);
  for (const role of roles) for (const p of role.permissions) permissions.add(p);
  return [...permissions].sort();
}

/**
 * Where one effective permission comes from: `role:<name>` for each role assigned directly
 * that carries it, `group:<name>` for each group whose roles carry it (decision 364),
 * `direct` for a direct grant.
 */
export interface PermissionSource {
  permission: string;
  from: string[];
}

/** A member's grants in a tenant, as stored: the roles held (with their permissions, and the group of each one held through a group) and the direct grants. */
export interface MemberGrants {
  roles: HeldRole[];
  direct: string[];
}

/**
 * The variant of the union above that also says where each permission comes from (the
 * access review, the members API); the permissions are exactly `combinePermissions`'s, in its order.
 */
export function explainPermissions(grants: MemberGrants): PermissionSource[] {
  const sources = new Map<string, Set<string>>(combinePermissions(grants.roles, grants.direct).map((p) => [p, new Set()]));
  const byName = (a: HeldRole, b: HeldRole) => a.name.localeCompare(b.name) || (a.group ?? '').localeCompare(b.group ?? '');
  for (const role of [...grants.roles].filter((r) => r.group === undefined).sort(byName)) {
    for (const p of role.permissions) sources.get(p)?.add(`role:${role.name}`);
  }
  const grouped = [...grants.roles].filter((r) => r.group !== undefined);
  grouped.sort((a, b) => (a.group as string).localeCompare(b.group as string) || a.name.localeCompare(b.name));
  for (const role of grouped) for (const p of role.permissions) sources.get(p)?.add(`group:${role.group}`);
  for (const p of grants.direct) sources.get(p)?.add('direct');
  return [...sources].map(([permission, from]) => ({ permission, from: [...from] }));
}

/**
 * The grants of every member of some tenants, in two queries whatever their number (the
 * access review of a tenant of thousands). Keyed by tenant id, then user id; a member
 * without roles or grants is absent.
 */
export async function tenantsGrants(db: Db, tenantIds: readonly string[]): Promise<Map<string, Map<string, MemberGrants>>> {
  const result = new Map<string, Map<string, MemberGrants>>();
  if (tenantIds.length === 0) return result;
  const of = (tenantId: string, userId: string) => {
    const tenant = result.get(tenantId) ?? new Map<string, MemberGrants>();
    result.set(tenantId, tenant);
    const member = tenant.get(userId) ?? { roles: [], direct: [] };
    tenant.set(userId, member);
    return member;
  };
  const [roles, direct] = await Promise.all([
    heldRolesOf(db, tenantIds),
    db
      .selectFrom('membership_permissions')
      .select(['tenant_id', 'user_id', 'permission'])
      .where('tenant_id', 'in', tenantIds)
      .orderBy('permission')
      .execute(),
  ]);
  for (const r of roles) of(r.tenant_id, r.user_id).roles.push(r.role);
  for (const d of direct) of(d.tenant_id, d.user_id).direct.push(d.permission);
  return result;
}

/**
 * The roles held in some tenants (of some users, when named), direct and through groups,
 * one row per role and source, ordered by role name: the bulk twin of heldRolesJson.
 */
export async function heldRolesOf(
  db: Db,
  tenantIds: readonly string[],
  userIds?: readonly string[],
): Promise<{ tenant_id: string; user_id: string; role_id: string; role: HeldRole }[]> {
  if (tenantIds.length === 0 || userIds?.length === 0) return [];
  const rows = await db
    .selectFrom('effective_roles as er')
    .innerJoin('roles as r', 'r.id', 'er.role_id')
    .leftJoin('groups as g', 'g.id', 'er.group_id')
    .select(['er.tenant_id', 'er.user_id', 'er.role_id', 'r.name', 'r.permissions', 'g.name as group'])
    .distinct()
    .where('er.tenant_id', 'in', tenantIds)
    .$if(userIds !== undefined, (q) => q.where('er.user_id', 'in', userIds as string[]))
    .orderBy('r.name')
    .orderBy('g.name')
    .execute();
  return rows.map((r) => ({
    tenant_id: r.tenant_id,
    user_id: r.user_id,
    role_id: r.role_id,
    role: { name: r.name, permissions: r.permissions, ...(r.group !== null && { group: r.group }) },
  }));
}

/**
 * Where a caller may act (across all tenants, or inside one), with the permissions it holds
 * there and, when known, who it is (whose API permissions count when granting them, decision 194).
 */
export type Scope =
  | { kind: 'system'; held: ReadonlySet<string>; userId?: string }
  | { kind: 'tenant'; tenantId: string; held: ReadonlySet<string>; userId?: string };

/** What a route needs: the common permission for its own tenant, the restricted one across tenants. */
export interface Access {
  tenant?: CommonPermission;
  system?: RestrictedPermission;
}

/**
 * The one place permissions are checked. Restricted permissions count only in the
 * system tenant; `all` implies everything, `tenant.all` every common permission.
 */
export function resolveScope(
  held: ReadonlySet<string>,
  tenantId: string,
  isSystemTenant: boolean,
  access: Access,
  userId?: string,
): Scope | undefined {
  const who = userId === undefined ? {} : { userId };
  if (access.system && isSystemTenant && (held.has('all') || held.has(access.system))) return { kind: 'system', held, ...who };
  if (access.tenant && access.tenant in COMMON_PERMISSIONS) {
    if (held.has('all') || held.has('tenant.all') || held.has(access.tenant)) return { kind: 'tenant', tenantId, held, ...who };
  }
  return undefined;
}

/** Whether the scope holds what `access` names (the route's check, for a second permission a change also needs). */
export const holds = (scope: Scope, access: Access): boolean =>
  scope.kind === 'system'
    ? scope.held.has('all') || (access.system !== undefined && scope.held.has(access.system))
    : scope.held.has('all') || scope.held.has('tenant.all') || (access.tenant !== undefined && scope.held.has(access.tenant));

export const inScope = (scope: Scope, tenantId: string | null): boolean => scope.kind === 'system' || scope.tenantId === tenantId;

/**
 * Rows of a table with `tenant_id` (roles, permissions) that one tenant sees: the global
 * ones and its own; with no tenant, the global ones only.
 */
export const visibleIn = (tenantId: string | null) =>
  tenantId === null ? sql<boolean>`tenant_id is null` : sql<boolean>`(tenant_id is null or tenant_id = ${tenantId})`;

/**
 * The tenant a list is filtered by: in tenant scope always the caller's own (asking for
 * another is refused), in system scope the requested one, if any.
 */
export function listedTenant(scope: Scope, requested: string | undefined): string | undefined {
  if (scope.kind === 'system') return requested;
  if (requested !== undefined && requested !== scope.tenantId) {
    throw new AppError('forbidden', 'A tenant administrator lists only the own tenant’s records');
  }
  return scope.tenantId;
}

/**
 * The tenant a new record belongs to: the caller's own in tenant scope (naming another
 * one is refused), the requested one (or none) in system scope.
 */
export function owningTenant(scope: Scope, requested: string | undefined): string | null {
  if (scope.kind === 'system') return requested ?? null;
  if (requested !== undefined && requested !== scope.tenantId) {
    throw new AppError('forbidden', 'A tenant administrator creates records in the own tenant only');
  }
  return scope.tenantId;
}

/**
 * Which of `permissions` the caller's own do not cover. `all` covers everything (but in
 * tenant scope never a restricted permission: those count only in the system tenant);
 * `tenant.all` covers every permission that is not restricted.
 */
function uncovered(scope: Scope, permissions: Iterable<string>): string[] {
  const { held } = scope;
  return [...new Set(permissions)].filter((key) =>
    isRestricted(key)
      ? scope.kind === 'tenant' || !(held.has('all') || held.has(key))
      : !(held.has('all') || held.has('tenant.all') || held.has(key)),
  );
}

/**
 * Least privilege when granting (decision 20): a caller grants (through roles it creates,
 * changes or assigns, or directly) only permissions it holds itself, and outside system
 * scope no restricted permission at all.
 */
export function assertDelegable(scope: Scope, permissions: Iterable<string>): void {
  const missing = uncovered(scope, permissions);
  if (missing.length === 0) return;
  if (scope.kind === 'tenant' && missing.some(isRestricted)) {
    throw new AppError('restricted_permission', 'Restricted permissions are granted by system administrators only', {
      permissions: missing.filter(isRestricted),
    });
  }
  throw new AppError('forbidden', 'You can grant only permissions you hold yourself', { permissions: missing });
}

/**
 * The other half of least privilege: a caller manages (changes, resets, removes) only an
 * account or membership whose permissions its own cover, so a narrow administrator
 * cannot take over or demote a broader one.
 */
export function assertOutranks(scope: Scope, targetPermissions: Iterable<string>): void {
  const missing = uncovered(scope, targetPermissions);
  if (missing.length === 0) return;
  if (scope.kind === 'tenant' && missing.some(isRestricted)) {
    throw new AppError('restricted_permission', 'This holds restricted permissions; a system administrator manages it');
  }
  throw new AppError('forbidden', 'This holds permissions you do not hold; an administrator above it manages it', {
    permissions: missing,
  });
}

/** assertOutranks as a question: whether the caller's permissions cover all of these. */
export const outranks = (scope: Scope, targetPermissions: Iterable<string>): boolean => uncovered(scope, targetPermissions).length === 0;

/**
 * A system administrator: holds a restricted permission in the system tenant. Such an
 * account is out of every tenant administrator's reach, whatever its home tenant.
 */
export async function isSystemAdministrator(db: Db, userId: string): Promise<boolean> {
  const grants = await effectivePermissions(db, userId, await systemTenantId(db));
  return grants?.permissions.some(isRestricted) ?? false;
}

export async function systemTenantId(db: Db): Promise<string> {
  return (await db.selectFrom('tenants').select('id').where('is_system', '=', true).executeTakeFirstOrThrow()).id;
}

/**
 * What a user's access token carries, in one round trip (decision 319): the effective
 * permissions in the tenant (effectivePermissions: undefined when not a member) and,
 * for an API, the permissions the member's roles (direct and through groups) carry for it.
 */
export async function tokenPermissions(
  db: Db,
  userId: string,
  tenantId: string,
  apiId: string | undefined,
): Promise<{ grants: Grants | undefined; api: string[] }> {
  const { rows } = await sql<{ member: boolean; roles: HeldRole[]; direct: string[]; groups: string[]; api: string[] }>`
    select
      exists (select 1 from memberships m where m.tenant_id = ${tenantId} and m.user_id = ${userId}) as member,
      ${heldRolesJson(tenantId, userId)} as roles,
      (select coalesce(json_agg(mp.permission), '[]') from membership_permissions mp
        where mp.tenant_id = ${tenantId} and mp.user_id = ${userId}) as direct,
      ${groupNamesJson(tenantId, userId)} as groups,
      (select coalesce(json_agg(distinct rap.value order by rap.value), '[]')
        from effective_roles er inner join role_api_permissions rap on rap.role_id = er.role_id
        where er.tenant_id = ${tenantId} and er.user_id = ${userId} and rap.api_id = ${apiId ?? null}::uuid) as api`.execute(db);
  const row = rows[0]!;
  return {
    grants: row.member
      ? { roles: roleNames(row.roles), permissions: combinePermissions(row.roles, row.direct), groups: row.groups }
      : undefined,
    api: apiId ? row.api : [],
  };
}
