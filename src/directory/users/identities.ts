import type { Kysely } from 'kysely';
import type { Database, UserIdentity } from '../../platform/db/schema.js';

/**
 * A user's identities at other providers (Auth0's `identities`): one row per connection
 * and the provider's id of the person (`subject`). An identity belongs to exactly one user;
 * a sign-in through a connection finds the user by it and by nothing else.
 */
type Db = Kysely<Database>;

export async function identityOf(db: Db, connectionId: string, subject: string): Promise<UserIdentity | undefined> {
  return db
    .selectFrom('user_identities')
    .selectAll()
    .where('connection_id', '=', connectionId)
    .where('subject', '=', subject)
    .executeTakeFirst();
}

/** A user's identities with their connection's name, display name and strategy, oldest first. */
export async function identitiesOfUser(db: Db, userId: string) {
  return db
    .selectFrom('user_identities as i')
    .innerJoin('connections as c', 'c.id', 'i.connection_id')
    .select([
      'i.connection_id',
      'i.subject',
      'i.provider',
      'i.profile_data',
      'i.created_at',
      'i.last_login_at',
      'c.name as connection',
      'c.display_name',
      'c.strategy',
      'c.tenant_id as connection_tenant_id',
    ])
    .where('i.user_id', '=', userId)
    .orderBy('i.created_at')
    .execute();
}

/** Links an identity to a user (in the caller's transaction); the primary key refuses a second owner. */
export async function addIdentity(
  db: Db,
  identity: {
    connectionId: string;
    subject: string;
    userId: string;
    provider: string;
    profileData: Record<string, unknown>;
    at: Date;
    proved?: boolean;
  },
): Promise<void> {
  await db
    .insertInto('user_identities')
    .values({
      connection_id: identity.connectionId,
      subject: identity.subject,
      user_id: identity.userId,
      provider: identity.provider,
      profile_data: JSON.stringify(identity.profileData),
      created_at: identity.at,
      last_login_at: identity.at,
      proved: identity.proved === true,
    })
    .execute();
}

/** Marks an identity of this user as proved by the account's owner (decision 278); false when the user has no such identity. */
export async function markIdentityProved(db: Db, userId: string, connectionId: string, subject: string): Promise<boolean> {
  const result = await db
    .updateTable('user_identities')
    .set({ proved: true })
    .where('user_id', '=', userId)
    .where('connection_id', '=', connectionId)
    .where('subject', '=', subject)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Records a sign-in through an identity, with what the provider said this time. */
export async function touchIdentity(
  db: Db,
  identity: { connectionId: string; subject: string; profileData: Record<string, unknown>; at: Date },
): Promise<void> {
  await db
    .updateTable('user_identities')
    .set({ profile_data: JSON.stringify(identity.profileData), last_login_at: identity.at })
    .where('connection_id', '=', identity.connectionId)
    .where('subject', '=', identity.subject)
    .execute();
}

/** Removes one identity of a user; false when the user has no such identity. */
export async function removeIdentity(db: Db, userId: string, connectionId: string, subject: string): Promise<boolean> {
  const result = await db
    .deleteFrom('user_identities')
    .where('user_id', '=', userId)
    .where('connection_id', '=', connectionId)
    .where('subject', '=', subject)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
