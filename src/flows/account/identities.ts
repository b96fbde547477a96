import { sql } from 'kysely';
import { identitiesOfUser, removeIdentity } from '../../directory/users/identities.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError, notFound } from '../../platform/errors.js';
import { dropMappedGroups, dropMappedRoles } from '../federation/mapping.js';

/**
 * A user's identities at other providers (docs/federation.md), as the account page, the
 * user's own API and the administrators' API show them, and unlinking one. The checks of
 * who may do it are the callers' (the session for one's own, decision 180 for an administrator).
 */
export interface IdentitySummary {
  /** The connection's name. */
  connection: string;
  display_name: string;
  provider: string;
  /** The provider's id of the person (the identity's subject). */
  user_id: string;
  profile_data: Record<string, unknown>;
  created_at: Date;
  last_login_at: Date | null;
}

export async function listIdentities(ctx: AppContext, userId: string, tenantId?: string): Promise<IdentitySummary[]> {
  return (await identitiesOfUser(ctx.db, userId)).map((i) => ({
    connection: i.connection,
    display_name: i.display_name,
    provider: i.provider,
    user_id: i.subject,
    // What another tenant's provider said about a shared member is that tenant's (decision 290).
    profile_data:
      tenantId === undefined || i.connection_tenant_id === null || i.connection_tenant_id === tenantId
        ? (i.profile_data as Record<string, unknown>)
        : {},
    created_at: i.created_at,
    last_login_at: i.last_login_at,
  }));
}

/**
 * Unlinks one identity of a user (by the connection's name and the provider's id of the
 * person): that sign-in no longer reaches the account, and a later sign-in through it is a
 * stranger's (linking again takes the rules of a first link). Refused when it is the last
 * way to sign in: no password and no other identity (decision 240). The roles the
 * connection's mapping granted are removed in the same transaction (decision 285).
 */
export async function unlinkIdentity(
  ctx: AppContext,
  actor: Actor,
  userId: string,
  connectionName: string,
  subject: string,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const user = await trx
      .selectFrom('users')
      .select(['id', 'password_hash', 'home_tenant_id'])
      .where('id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
    if (!user) throw notFound('User');
    const connection = await trx
      .selectFrom('connections')
      .select(['id', 'name'])
      .where(sql<string>`lower(name)`, '=', connectionName.toLowerCase())
      .executeTakeFirst();
    const identities = await identitiesOfUser(trx, userId);
    const identity = connection && identities.find((i) => i.connection_id === connection.id && i.subject === subject);
    if (!connection || !identity) throw notFound('Identity');
    if (user.password_hash === null && identities.length === 1) {
      throw new AppError('last_sign_in_method', 'This is the account’s only way to sign in: set a password or link another identity first');
    }
    await removeIdentity(trx, userId, connection.id, subject);
    // The roles its connection's mapping granted go with the last identity at that connection (decision 285).
    if (!identities.some((i) => i.connection_id === connection.id && i.subject !== subject)) {
      await dropMappedRoles(trx, ctx, { connection, userId, actor });
      await dropMappedGroups(trx, ctx, { connection, userId, actor });
    }
    await recordAudit(trx, ctx, {
      action: 'iam.user.identityUnlinked',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { connection: connection.name, connection_id: connection.id, provider: identity.provider, user_id: subject },
    });
  });
}
