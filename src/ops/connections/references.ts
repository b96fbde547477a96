import { assertDelegable, type Scope } from '../../directory/permissions/effective.js';
import type { Db } from '../../platform/db/database.js';
import type { RoleMapping } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { normalMapping } from './rules.js';

/** The checks of what a connection names in the database: applications and roles. */

/**
 * The applications a connection may be enabled for: a tenant's connection only its own
 * tenant's (another tenant's client id is answered like one that does not exist), a system
 * connection any (only a system administrator manages one).
 */
export async function checkClients(trx: Db, tenantId: string | null, clients: string[]): Promise<string[]> {
  const unique = [...new Set(clients)];
  if (unique.length === 0) return unique;
  const found = await trx
    .selectFrom('applications')
    .select('client_id')
    .where('client_id', 'in', unique)
    .$if(tenantId !== null, (q) => q.where('tenant_id', '=', tenantId as string))
    .execute();
  const known = new Set(found.map((a) => a.client_id));
  const unknown = unique.filter((c) => !known.has(c));
  if (unknown.length > 0) {
    throw new AppError(
      'unknown_client',
      tenantId === null ? 'No application has this client id' : 'The connection’s tenant has no application with this client id',
      { field: 'enabled_clients', client_ids: unknown },
    );
  }
  return unique;
}

/**
 * The roles a mapping hands out: for a tenant's connection, names of roles that tenant
 * sees (its own and the global ones); for a system connection, names of roles that exist.
 * A caller maps only roles whose permissions it could grant itself (decision 20).
 */
export type MappingInput = Omit<RoleMapping, 'roles'> & { roles?: string[] | undefined };

export async function checkMapping(trx: Db, scope: Scope, tenantId: string | null, mapping: MappingInput[]): Promise<RoleMapping[]> {
  const rules = normalMapping(mapping);
  await checkMappedGroups(trx, scope, tenantId, [...new Set(rules.flatMap((r) => r.groups ?? []))]);
  const names = [...new Set(rules.flatMap((r) => r.roles))];
  if (names.length === 0) return rules;
  const roles = await trx
    .selectFrom('roles')
    .select(['name', 'permissions'])
    .where('name', 'in', names)
    .$if(tenantId !== null, (q) => q.where((eb) => eb.or([eb('tenant_id', 'is', null), eb('tenant_id', '=', tenantId as string)])))
    .execute();
  const known = new Set(roles.map((r) => r.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0)
    throw new AppError('unknown_role', 'No such role in the connection’s tenant', { field: 'mapping', roles: unknown });
  assertDelegable(
    scope,
    roles.flatMap((r) => r.permissions),
  );
  return rules;
}

/**
 * The groups a mapping makes users join (decision 367): for a tenant's connection, names of
 * that tenant's groups, and only groups whose roles the caller could grant itself (so a
 * mapping never hands out more than assigning the roles would). A system connection's group
 * names are looked up in the tenant of each sign-in (the application's), as its role names are.
 */
async function checkMappedGroups(trx: Db, scope: Scope, tenantId: string | null, names: string[]): Promise<void> {
  if (names.length === 0 || tenantId === null) return;
  const groups = await trx
    .selectFrom('groups')
    .select(['id', 'name'])
    .where('tenant_id', '=', tenantId)
    .where((eb) =>
      eb(
        eb.fn('lower', ['name']),
        'in',
        names.map((n) => n.toLowerCase()),
      ),
    )
    .execute();
  const known = new Set(groups.map((g) => g.name.toLowerCase()));
  const unknown = names.filter((n) => !known.has(n.toLowerCase()));
  if (unknown.length > 0)
    throw new AppError('unknown_group', 'No such group in the connection’s tenant', { field: 'mapping', groups: unknown });
  if (groups.length === 0) return;
  const roles = await trx
    .selectFrom('group_roles as gr')
    .innerJoin('roles as r', 'r.id', 'gr.role_id')
    .select('r.permissions')
    .where(
      'gr.group_id',
      'in',
      groups.map((g) => g.id),
    )
    .execute();
  assertDelegable(
    scope,
    roles.flatMap((r) => r.permissions),
  );
}
