import { sql } from 'kysely';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { LONG_LIST_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Permission } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { isReservedKey } from './catalog.js';
import { assertDelegable, inScope, owningTenant, type Scope, visibleIn } from './effective.js';

export interface PermissionInput {
  key: string;
  description?: string;
  /** System scope only: make the permission visible in this tenant alone. */
  tenant?: string;
}

/**
 * Checks that each key names a permission visible in `tenantId` (system, global custom,
 * or the tenant's own) and, outside system scope, that none is restricted.
 */
export async function assertGrantable(db: Db, scope: Scope, tenantId: string | null, keys: readonly string[]) {
  if (keys.length === 0) return;
  assertDelegable(scope, keys);
  const unique = [...new Set(keys)];
  const known = await db.selectFrom('permissions').select('key').where('key', 'in', unique).where(visibleIn(tenantId)).execute();
  const knownKeys = new Set(known.map((p) => p.key));
  const unknown = unique.filter((key) => !knownKeys.has(key));
  if (unknown.length > 0) throw new AppError('unknown_permission', 'Unknown permission', { permissions: unknown });
}

/** System permissions, global custom ones, and (in tenant scope) the tenant's own. */
export async function listPermissions(ctx: AppContext, scope: Scope, page: PageRequest): Promise<Page<Permission>> {
  return paginate(
    page,
    LONG_LIST_LIMIT,
    (p) => p.id,
    async (fetch, after) => {
      let query = ctx.db.selectFrom('permissions').selectAll().orderBy('id').limit(fetch);
      if (scope.kind === 'tenant') query = query.where(visibleIn(scope.tenantId));
      if (after) query = query.where('id', '>', after);
      return query.execute();
    },
  );
}

export async function getPermission(ctx: AppContext, scope: Scope, id: string): Promise<Permission> {
  const permission = await ctx.db.selectFrom('permissions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!permission || (permission.tenant_id !== null && !inScope(scope, permission.tenant_id))) throw notFound('Permission');
  return permission;
}

export async function createPermission(ctx: AppContext, scope: Scope, actor: Actor, input: PermissionInput): Promise<Permission> {
  if (isReservedKey(input.key)) {
    throw new AppError('reserved_permission', 'Keys "all", "iam.*" and "tenant.*" are reserved for system permissions');
  }
  const tenantId = owningTenant(scope, input.tenant);
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    if (tenantId) {
      const tenant = await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
      if (!tenant) throw notFound('Tenant');
    }
    // A key is unique among the permissions any one tenant can see; the advisory lock
    // makes concurrent creations of one key (global and tenant) wait for each other.
    await sql`select pg_advisory_xact_lock(hashtext(${`gatehouse:permission:${input.key}`}))`.execute(trx);
    const clash = await trx
      .selectFrom('permissions')
      .select('id')
      .where('key', '=', input.key)
      // A global key must be free in every tenant; a tenant key among those the tenant sees.
      .$if(tenantId !== null, (qb) => qb.where(visibleIn(tenantId)))
      .executeTakeFirst();
    if (clash) throw permissionTaken();
    const permission = await trx
      .insertInto('permissions')
      .values({
        id: ctx.ids.next(),
        key: input.key,
        description: input.description ?? '',
        tenant_id: tenantId,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch((error) => {
        throw isUniqueViolation(error) ? permissionTaken() : error;
      });
    await recordAudit(trx, ctx, {
      action: 'iam.permission.created',
      actor,
      tenantId,
      target: { type: 'permission', id: permission.id },
      details: { key: permission.key },
    });
    return permission;
  });
}

export async function updatePermission(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  patch: { description?: string },
): Promise<Permission> {
  const permission = await assertChangeable(ctx, scope, id);
  return ctx.db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('permissions')
      .set({ ...(patch.description !== undefined && { description: patch.description }), updated_at: ctx.clock.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.permission.modified',
      actor,
      tenantId: permission.tenant_id,
      target: { type: 'permission', id },
      details: { key: permission.key, fields: Object.keys(patch) },
    });
    return updated;
  });
}

/** Deletes a custom permission and takes it out of every role and grant that held it. */
export async function deletePermission(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  const permission = await assertChangeable(ctx, scope, id);
  await ctx.db.transaction().execute(async (trx) => {
    let roles = trx
      .updateTable('roles')
      .set((eb) => ({ permissions: eb.fn('array_remove', ['permissions', eb.val(permission.key)]) }))
      .where((eb) => eb(eb.val(permission.key), '=', eb.fn.any('permissions')));
    let grants = trx.deleteFrom('membership_permissions').where('permission', '=', permission.key);
    if (permission.tenant_id) {
      roles = roles.where('tenant_id', '=', permission.tenant_id);
      grants = grants.where('tenant_id', '=', permission.tenant_id);
    }
    await roles.execute();
    await grants.execute();
    await trx.deleteFrom('permissions').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.permission.deleted',
      actor,
      tenantId: permission.tenant_id,
      target: { type: 'permission', id },
      details: { key: permission.key },
    });
  });
}

async function assertChangeable(ctx: AppContext, scope: Scope, id: string): Promise<Permission> {
  const permission = await getPermission(ctx, scope, id);
  if (permission.is_system) throw new AppError('system_resource', 'System permissions cannot be changed');
  if (scope.kind === 'tenant' && permission.tenant_id === null) {
    throw new AppError('forbidden', 'Global permissions are changed by system administrators only');
  }
  return permission;
}

const permissionTaken = () => new AppError('permission_taken', 'A permission with this key exists');
