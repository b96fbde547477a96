import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { type Scope, systemTenantId } from './effective.js';

/** One permission of an API (resource server), as roles and client grants carry it. */
export interface ApiPermissionRef {
  api_id: string;
  value: string;
}

const key = (p: ApiPermissionRef) => `${p.api_id}\0${p.value}`;

/**
 * Least privilege for API permissions (decisions 20 and 194): a caller grants an API
 * permission (through a role it changes or assigns, or a client grant) only when it holds
 * it itself. Held means: `all` in system scope (every API); `tenant.all` (or `all`, which
 * acts as it outside the system tenant) for the APIs of the tenant it acts in, which that
 * administrator owns and manages anyway; otherwise the permission itself, carried by the
 * caller's own roles in the tenant it acts in (the system tenant for system scope).
 */
export async function assertApiDelegable(db: Db, scope: Scope, refs: readonly ApiPermissionRef[]): Promise<void> {
  if (refs.length === 0 || (scope.kind === 'system' && scope.held.has('all'))) return;
  const actingIn = scope.kind === 'tenant' ? scope.tenantId : await systemTenantId(db);
  const apiIds = [...new Set(refs.map((p) => p.api_id))];
  let missing = refs;
  if (scope.held.has('all') || scope.held.has('tenant.all')) {
    const own = await db.selectFrom('apis').select('id').where('id', 'in', apiIds).where('tenant_id', '=', actingIn).execute();
    const owned = new Set(own.map((a) => a.id));
    missing = missing.filter((p) => !owned.has(p.api_id));
  }
  if (missing.length > 0 && scope.userId !== undefined) {
    const held = await db
      // The caller's roles there, direct and through groups (decision 361).
      .selectFrom('effective_roles as mr')
      .innerJoin('role_api_permissions as rap', 'rap.role_id', 'mr.role_id')
      .select(['rap.api_id', 'rap.value'])
      .where('mr.tenant_id', '=', actingIn)
      .where('mr.user_id', '=', scope.userId)
      .where('rap.api_id', 'in', apiIds)
      .execute();
    const heldKeys = new Set(held.map(key));
    missing = missing.filter((p) => !heldKeys.has(key(p)));
  }
  if (missing.length > 0) {
    throw new AppError('forbidden', 'You can grant only permissions you hold yourself', {
      api_permissions: missing.map((p) => ({ api_id: p.api_id, value: p.value })),
    });
  }
}

/** The API permissions some roles carry (what assigning them grants). */
export async function roleApiPermissions(db: Db, roleIds: readonly string[]): Promise<ApiPermissionRef[]> {
  if (roleIds.length === 0) return [];
  return db.selectFrom('role_api_permissions').select(['api_id', 'value']).where('role_id', 'in', roleIds).distinct().execute();
}
