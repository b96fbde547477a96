import type { Db } from '../../platform/db/database.js';
import type { User } from '../../platform/db/schema.js';

/**
 * The user lookups the hosted pages need by id, so a page handler calls a function instead
 * of querying (docs/architecture.md: SQL lives in query modules).
 */

/** An active user (a disabled or pending one is nobody to sign in). */
export const activeUser = (db: Db, id: string): Promise<User | undefined> =>
  db.selectFrom('users').selectAll().where('id', '=', id).where('status', '=', 'active').executeTakeFirst();

/** A user whatever its status. */
export const userById = (db: Db, id: string): Promise<User | undefined> =>
  db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();

/** A user's own language, for the pages after the password step. */
export async function userLocale(db: Db, id: string): Promise<string | null> {
  return (await db.selectFrom('users').select('locale').where('id', '=', id).executeTakeFirst())?.locale ?? null;
}

/** A user's home tenant (its branding and policies), when the user exists. */
export async function homeTenantOf(db: Db, id: string): Promise<string | null | undefined> {
  return (await db.selectFrom('users').select('home_tenant_id').where('id', '=', id).executeTakeFirst())?.home_tenant_id;
}
