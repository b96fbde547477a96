import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { Role } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { type ApiPermissionRef, assertApiDelegable } from '../permissions/api-delegation.js';
import { inScope, type Scope } from '../permissions/effective.js';
import { assertChangeable, getRole } from './roles.js';

export type { ApiPermissionRef };

export interface RoleApiPermission extends ApiPermissionRef {
  api_identifier: string;
  description: string;
}

/**
 * The API permissions a role carries, by API identifier and value. A tenant
 * administrator reading a global role sees only those of the own tenant's APIs.
 */
export async function listRoleApiPermissions(ctx: AppContext, scope: Scope, roleId: string): Promise<RoleApiPermission[]> {
  await getRole(ctx, scope, roleId);
  return readRoleApiPermissions(ctx.db, scope, roleId);
}

/** Adds permissions to the role; ones it carries already are left as they are. Returns what the role carries then. */
export async function addRoleApiPermissions(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  roleId: string,
  permissions: readonly ApiPermissionRef[],
): Promise<RoleApiPermission[]> {
  const role = await assertChangeable(ctx, scope, roleId);
  const refs = distinct(permissions);
  return ctx.db.transaction().execute(async (trx) => {
    await assertUsable(trx, scope, role, refs);
    // Grant only what you hold (decision 194): a role's API permissions are the caller's to give.
    await assertApiDelegable(trx, scope, refs);
    await trx
      .insertInto('role_api_permissions')
      .values(refs.map((p) => ({ role_id: roleId, ...p })))
      .onConflict((oc) => oc.doNothing())
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.role.modified',
      actor,
      tenantId: role.tenant_id,
      target: { type: 'role', id: roleId },
      details: { fields: ['api_permissions'], api_permissions_added: refs },
    });
    return readRoleApiPermissions(trx, scope, roleId);
  });
}

/** Takes permissions from the role; ones it does not carry are ignored. Returns what the role carries then. */
export async function removeRoleApiPermissions(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  roleId: string,
  permissions: readonly ApiPermissionRef[],
): Promise<RoleApiPermission[]> {
  const role = await assertChangeable(ctx, scope, roleId);
  const refs = distinct(permissions);
  return ctx.db.transaction().execute(async (trx) => {
    const removed = await trx
      .deleteFrom('role_api_permissions')
      .where('role_id', '=', roleId)
      .where((eb) => eb.or(refs.map((p) => eb.and([eb('api_id', '=', p.api_id), eb('value', '=', p.value)]))))
      .returning(['api_id', 'value'])
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.role.modified',
      actor,
      tenantId: role.tenant_id,
      target: { type: 'role', id: roleId },
      details: { fields: ['api_permissions'], api_permissions_removed: removed },
    });
    return readRoleApiPermissions(trx, scope, roleId);
  });
}

/**
 * Each permission must exist on an API the caller reaches; a tenant role carries only
 * permissions of its own tenant's APIs, a global role those of any API.
 */
async function assertUsable(db: Db, scope: Scope, role: Role, refs: readonly ApiPermissionRef[]) {
  const apiIds = [...new Set(refs.map((p) => p.api_id))];
  const apis = await db.selectFrom('apis').select(['id', 'tenant_id']).where('id', 'in', apiIds).forKeyShare().execute();
  const reachable = new Map(apis.filter((a) => inScope(scope, a.tenant_id)).map((a) => [a.id, a.tenant_id]));
  const foreign = [...reachable].filter(([, tenantId]) => role.tenant_id !== null && tenantId !== role.tenant_id).map(([id]) => id);
  if (foreign.length > 0) {
    throw new AppError('tenant_mismatch', 'A tenant role carries only permissions of its own tenant’s APIs', { api_ids: foreign });
  }
  const known = await db
    .selectFrom('api_permissions')
    .select(['api_id', 'value'])
    .where((eb) => eb.or(refs.map((p) => eb.and([eb('api_id', '=', p.api_id), eb('value', '=', p.value)]))))
    .forKeyShare()
    .execute();
  const found = new Set(known.filter((p) => reachable.has(p.api_id)).map(key));
  const unknown = refs.filter((p) => !found.has(key(p)));
  if (unknown.length > 0) throw new AppError('unknown_permission', 'No API you manage defines these permissions', { permissions: unknown });
}

async function readRoleApiPermissions(db: Db, scope: Scope, roleId: string): Promise<RoleApiPermission[]> {
  return db
    .selectFrom('role_api_permissions as r')
    .innerJoin('apis as a', 'a.id', 'r.api_id')
    .innerJoin('api_permissions as p', (join) => join.onRef('p.api_id', '=', 'r.api_id').onRef('p.value', '=', 'r.value'))
    .select(['r.api_id', 'a.identifier as api_identifier', 'r.value', 'p.description'])
    .where('r.role_id', '=', roleId)
    .$if(scope.kind === 'tenant', (q) => q.where('a.tenant_id', '=', scope.kind === 'tenant' ? scope.tenantId : ''))
    .orderBy('a.identifier')
    .orderBy('r.value')
    .execute();
}

const key = (p: ApiPermissionRef) => `${p.api_id}\0${p.value}`;

function distinct(refs: readonly ApiPermissionRef[]): ApiPermissionRef[] {
  const byKey = new Map(refs.map((p) => [key(p), { api_id: p.api_id, value: p.value }]));
  return [...byKey.values()];
}
