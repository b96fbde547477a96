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
export async function checkMapping(trx: Db, scope: Scope, tenantId: string | null, mapping: RoleMapping[]): Promise<RoleMapping[]> {
  const rules = normalMapping(mapping);
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
