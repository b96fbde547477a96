import { sql } from 'kysely';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { LONG_LIST_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Role } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { assertApiDelegable, roleApiPermissions } from '../permissions/api-delegation.js';
import { isRestricted, isSystemRoleName } from '../permissions/catalog.js';
import { assertDelegable, assertOutranks, inScope, listedTenant, owningTenant, type Scope, visibleIn } from '../permissions/effective.js';
import { assertGrantable } from '../permissions/permissions.js';

export interface RoleInput {
  name: string;
  description?: string;
  permissions?: string[];
  /** System scope only: the tenant the role belongs to; absent = a global role. */
  tenant?: string;
}

export type RolePatch = Partial<Omit<RoleInput, 'tenant'>>;

/** A role is visible to a tenant when it is global or the tenant's own. */
const visible = (scope: Scope, role: Role) => role.tenant_id === null || inScope(scope, role.tenant_id);

/** In creation order (the global roles first); a system administrator without `tenant` sees every tenant's. */
export async function listRoles(
  ctx: AppContext,
  scope: Scope,
  filter: { tenant?: string | undefined },
  page: PageRequest,
): Promise<Page<Role>> {
  return paginate(
    page,
    LONG_LIST_LIMIT,
    (r) => r.id,
    async (fetch, after) => {
      let query = ctx.db.selectFrom('roles').selectAll().orderBy('id').limit(fetch);
      const tenantId = listedTenant(scope, filter.tenant);
      if (tenantId) query = query.where(visibleIn(tenantId));
      if (after) query = query.where('id', '>', after);
      return query.execute();
    },
  );
}

export async function getRole(ctx: AppContext, scope: Scope, id: string): Promise<Role> {
  const role = await ctx.db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!role || !visible(scope, role)) throw notFound('Role');
  return role;
}

export async function createRole(ctx: AppContext, scope: Scope, actor: Actor, input: RoleInput): Promise<Role> {
  const tenantId = owningTenant(scope, input.tenant);
  const permissions = [...new Set(input.permissions ?? [])];
  assertName(input.name);
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    if (tenantId && !(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) {
      throw notFound('Tenant');
    }
    await assertRolePermissions(trx, scope, tenantId, permissions);
    await assertNameFree(trx, tenantId, input.name);
    const role = await trx
      .insertInto('roles')
      .values({
        id: ctx.ids.next(),
        tenant_id: tenantId,
        name: input.name,
        description: input.description ?? '',
        permissions,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowNameTaken);
    await recordAudit(trx, ctx, {
      action: 'iam.role.created',
      actor,
      tenantId,
      target: { type: 'role', id: role.id },
      details: { name: role.name, permissions },
    });
    return role;
  });
}

export async function updateRole(ctx: AppContext, scope: Scope, actor: Actor, id: string, patch: RolePatch): Promise<Role> {
  const role = await assertChangeable(ctx, scope, id);
  if (patch.name !== undefined) assertName(patch.name);
  const permissions = patch.permissions && [...new Set(patch.permissions)];
  return ctx.db.transaction().execute(async (trx) => {
    if (permissions) await assertRolePermissions(trx, scope, role.tenant_id, permissions);
    if (patch.name !== undefined) await assertNameFree(trx, role.tenant_id, patch.name, id);
    const updated = await trx
      .updateTable('roles')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.description !== undefined && { description: patch.description }),
        ...(permissions && { permissions }),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowNameTaken);
    await recordAudit(trx, ctx, {
      action: 'iam.role.modified',
      actor,
      tenantId: role.tenant_id,
      target: { type: 'role', id },
      details: { fields: Object.keys(patch), ...(permissions && { permissions }) },
    });
    return updated;
  });
}

export async function deleteRole(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  const role = await assertChangeable(ctx, scope, id);
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('roles').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.role.deleted',
      actor,
      tenantId: role.tenant_id,
      target: { type: 'role', id },
      details: { name: role.name },
    });
  });
}

/**
 * Resolves role ids for a membership in `tenantId`: each must be global or the tenant's
 * own, outside system scope none may carry a restricted permission, and the caller must
 * hold every permission they carry, API permissions included (least privilege). The roles
 * stay locked against deletion until the transaction ends.
 */
export async function resolveAssignableRoles(db: Db, scope: Scope, tenantId: string, roleIds: readonly string[]) {
  const unique = [...new Set(roleIds)];
  if (unique.length === 0) return [];
  const roles = await db.selectFrom('roles').selectAll().where('id', 'in', unique).forKeyShare().execute();
  const usable = roles.filter((r) => r.tenant_id === null || r.tenant_id === tenantId);
  if (usable.length !== unique.length) {
    const found = new Set(usable.map((r) => r.id));
    throw new AppError('unknown_role', 'Unknown role for this tenant', { roles: unique.filter((id) => !found.has(id)) });
  }
  if (scope.kind === 'tenant') {
    const privileged = usable.filter((r) => r.permissions.some(isRestricted));
    if (privileged.length > 0) {
      throw new AppError('restricted_permission', 'Roles with restricted permissions are assigned by system administrators only', {
        roles: privileged.map((r) => r.name),
      });
    }
  }
  assertDelegable(
    scope,
    usable.flatMap((r) => r.permissions),
  );
  // …and every API permission they carry (decision 194).
  await assertApiDelegable(
    db,
    scope,
    await roleApiPermissions(
      db,
      usable.map((r) => r.id),
    ),
  );
  return usable;
}

/** The role a name means in a tenant: the tenant's own role of that name, else the global one (sign-up's default role). */
export async function roleNamed(db: Db, tenantId: string, name: string): Promise<Role | undefined> {
  const roles = await db
    .selectFrom('roles')
    .selectAll()
    .where('name', '=', name)
    .where((eb) => eb.or([eb('tenant_id', 'is', null), eb('tenant_id', '=', tenantId)]))
    .execute();
  return roles.find((r) => r.tenant_id === tenantId) ?? roles[0];
}

/** The role of the given system name (USER, TENANT_ADMIN, ADMIN). */
export async function systemRole(db: Db, name: string): Promise<Role> {
  return db
    .selectFrom('roles')
    .selectAll()
    .where('tenant_id', 'is', null)
    .where('is_system', '=', true)
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
}

async function assertRolePermissions(db: Db, scope: Scope, tenantId: string | null, permissions: string[]) {
  if (tenantId !== null && permissions.some(isRestricted)) {
    throw new AppError('restricted_permission', 'A tenant role may not carry a restricted permission', {
      permissions: permissions.filter(isRestricted),
    });
  }
  await assertGrantable(db, scope, tenantId, permissions);
}

/** The role, if the caller may change it: not a system role, not global in tenant scope, and outranked by the caller. */
export async function assertChangeable(ctx: AppContext, scope: Scope, id: string): Promise<Role> {
  const role = await getRole(ctx, scope, id);
  if (role.is_system) throw new AppError('system_resource', 'System roles cannot be changed');
  if (scope.kind === 'tenant' && role.tenant_id === null) {
    throw new AppError('forbidden', 'Global roles are changed by system administrators only');
  }
  assertOutranks(scope, role.permissions);
  return role;
}

/**
 * A role name is unique, in any letter case, among the roles one tenant can see (the
 * global ones and its own), so the `roles` claim never names two different roles alike.
 * The advisory lock makes concurrent creations of one name wait for each other.
 */
async function assertNameFree(db: Db, tenantId: string | null, name: string, exceptId?: string) {
  await sql`select pg_advisory_xact_lock(hashtext(${`gatehouse:role:${name.toLowerCase()}`}))`.execute(db);
  let query = db
    .selectFrom('roles')
    .select('id')
    .where((eb) => eb(eb.fn('lower', ['name']), '=', eb.fn('lower', [eb.val(name)])));
  if (tenantId) query = query.where(visibleIn(tenantId));
  if (exceptId) query = query.where('id', '!=', exceptId);
  if (await query.executeTakeFirst()) throw new AppError('role_name_taken', 'A role with this name exists');
}

function assertName(name: string) {
  if (isSystemRoleName(name)) throw new AppError('restricted_role_name', `"${name}" is the name of a system role`);
}

function rethrowNameTaken(error: unknown): never {
  if (isUniqueViolation(error)) throw new AppError('role_name_taken', 'A role with this name exists');
  throw error;
}
