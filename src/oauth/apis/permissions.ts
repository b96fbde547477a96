import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';

/** One permission an API defines (Auth0's scope of a resource server), e.g. `read:invoices`. */
export interface ApiPermission {
  value: string;
  description: string;
}

/** The permissions of each API, sorted by value. */
export async function permissionsOfApis(db: Db, apiIds: readonly string[]): Promise<Map<string, ApiPermission[]>> {
  const byApi = new Map<string, ApiPermission[]>(apiIds.map((id) => [id, []]));
  if (apiIds.length === 0) return byApi;
  const rows = await db
    .selectFrom('api_permissions')
    .select(['api_id', 'value', 'description'])
    .where('api_id', 'in', [...apiIds])
    .orderBy('api_id')
    .orderBy('value')
    .execute();
  for (const { api_id, ...permission } of rows) byApi.get(api_id)?.push(permission);
  return byApi;
}

/** As a request names one: the description may be left out. */
export interface ApiPermissionInput {
  value: string;
  description?: string | undefined;
}

/** Refuses a list that names one value twice: which description would count? */
export function assertDistinct(permissions: readonly ApiPermissionInput[]) {
  const seen = new Set<string>();
  const twice = permissions.filter((p) => seen.has(p.value) || !seen.add(p.value)).map((p) => p.value);
  if (twice.length > 0) throw new AppError('duplicate_permission', 'A permission value is listed twice', { permissions: twice });
}

/**
 * Makes the API's permissions exactly `permissions`: removed values go (and with them
 * every role and grant that carried them), kept values keep their references and take the
 * new description, new values are added. Returns the values removed and added.
 */
export async function replaceApiPermissions(db: Db, apiId: string, permissions: readonly ApiPermissionInput[]) {
  const current = await db.selectFrom('api_permissions').select('value').where('api_id', '=', apiId).execute();
  const wanted = new Set(permissions.map((p) => p.value));
  const removed = current.map((p) => p.value).filter((value) => !wanted.has(value));
  const had = new Set(current.map((p) => p.value));
  const added = permissions.map((p) => p.value).filter((value) => !had.has(value));
  if (removed.length > 0) await db.deleteFrom('api_permissions').where('api_id', '=', apiId).where('value', 'in', removed).execute();
  if (permissions.length > 0) {
    await db
      .insertInto('api_permissions')
      .values(permissions.map((p) => ({ api_id: apiId, value: p.value, description: p.description ?? '' })))
      .onConflict((oc) => oc.columns(['api_id', 'value']).doUpdateSet((eb) => ({ description: eb.ref('excluded.description') })))
      .execute();
  }
  return { removed, added };
}

/** Refuses values the API does not define (`400 unknown_permission`), naming them. */
export async function assertApiPermissions(db: Db, apiId: string, values: readonly string[]): Promise<string[]> {
  const unique = [...new Set(values)];
  if (unique.length === 0) return unique;
  const known = await db
    .selectFrom('api_permissions')
    .select('value')
    .where('api_id', '=', apiId)
    .where('value', 'in', unique)
    .forKeyShare()
    .execute();
  const knownValues = new Set(known.map((p) => p.value));
  const unknown = unique.filter((value) => !knownValues.has(value));
  if (unknown.length > 0) throw new AppError('unknown_permission', 'The API does not define these permissions', { permissions: unknown });
  return unique;
}
