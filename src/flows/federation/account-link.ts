import { connectionOf } from '../../authn/federation/connections.js';
import type { Connection, UpstreamProfile } from '../../authn/federation/strategy.js';
import { hasSecondFactor } from '../../authn/mfa/sign-in-step.js';
import { sessionFromToken } from '../../authn/sessions/sessions.js';
import { identitiesOfUser, identityOf, markIdentityProved } from '../../directory/users/identities.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { isUniqueViolation } from '../../platform/db/database.js';
import type { ConnectionRow, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { advanceFlow } from '../kit/flows.js';
import { applyMapping, connectionTenant, linkIdentity } from './complete.js';
import type { FederationFlow } from './flow.js';

/**
 * Linking an identity from the account page (/account/identities, docs/federation.md#identities-linking-provisioning-role-mapping-mfa).
 * The signed-in user (the second factor proved when the account has one) picks a connection;
 * the flow goes through the connection's strategy, `/login/callback` and the continue step
 * as a sign-in does (the browser binding checked), and on return the identity is added to
 * that user, not to whoever the provider's email names.
 */

/**
 * The connections a user may link (decision 284): those an application of the user's home
 * tenant offers at its sign-in, that is the home tenant's own connections and the system
 * connections, each enabled for at least one of the tenant's applications, less those the
 * user has an identity at already. Another tenant's connection never: its administrator
 * would otherwise hold a way into this account. A user with no home tenant links nothing.
 */
export async function linkableConnections(ctx: AppContext, user: Pick<User, 'id' | 'home_tenant_id'>): Promise<ConnectionRow[]> {
  const tenantId = user.home_tenant_id;
  if (!tenantId) return [];
  const clients = new Set(
    (await ctx.db.selectFrom('applications').select('client_id').where('tenant_id', '=', tenantId).execute()).map((a) => a.client_id),
  );
  const rows = await ctx.db
    .selectFrom('connections')
    .selectAll()
    .where((eb) => eb.or([eb('tenant_id', '=', tenantId), eb('tenant_id', 'is', null)]))
    .orderBy('name')
    .execute();
  const linked = new Set((await identitiesOfUser(ctx.db, user.id)).map((i) => i.connection_id));
  // Rows, not connections: the list page needs no secret unsealed.
  return rows.filter((row) => !linked.has(row.id) && row.enabled_clients.some((id) => clients.has(id)));
}

/** A connection the user may link, by name (case-insensitive); else 400 `connection_unknown`. */
export async function linkableConnection(ctx: AppContext, user: Pick<User, 'id' | 'home_tenant_id'>, name: string): Promise<Connection> {
  const wanted = name.trim().toLowerCase();
  const found = (await linkableConnections(ctx, user)).find((c) => c.name.toLowerCase() === wanted);
  if (!found) throw new AppError('connection_unknown', 'You cannot link that connection', { connection: name.slice(0, 100) });
  return connectionOf(ctx, found);
}

/**
 * The end of a link from the account page: the flow (verified, its browser checked by the
 * caller) is taken once; the account session in this browser must still be the one that
 * started it (same session, same user) and, when the account has a second factor, one that
 * proved it (as unlinking asks), else 403 `link_session_changed`. An identity that belongs
 * to another user is refused (409 `identity_taken`, audited); one already this user's is
 * left as it is. The identity and the connection's mapping are written in one transaction.
 */
export async function finishAccountLink(
  ctx: AppContext,
  flow: FederationFlow,
  connection: Connection,
  sessionToken: string | undefined,
  actor: Actor,
): Promise<void> {
  const account = flow.data.account;
  const profile = flow.data.profile as UpstreamProfile | undefined;
  if (!account || !profile || flow.state !== 'verified') throw new AppError('flow_state', 'This link has moved on; start again');
  const active = sessionToken ? await sessionFromToken(ctx, sessionToken) : undefined;
  const sameSession = active?.session.id === account.session_id && active.user.id === account.user_id;
  const stepUpDue = active && !active.session.amr.includes('mfa') && (await hasSecondFactor(ctx, active.user.id));
  // Taken once, whatever follows: a refused link is not retried with the same answer.
  const { profile: _spent, ...data } = flow.data;
  await advanceFlow(ctx.db, ctx, flow, { state: 'done', data, userId: account.user_id });
  if (!active || !sameSession || stepUpDue)
    throw new AppError('link_session_changed', 'Sign in to your account again and start the link again');
  const user = active.user;
  const tenantId = connectionTenant(connection, flow);
  const taken = async () => {
    await recordAudit(ctx.db, ctx, {
      action: 'iam.user.identityLinked',
      actor: { ...actor, type: 'user', id: user.id },
      outcome: 'failure',
      tenantId: tenantId ?? user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: {
        connection: connection.name,
        strategy: connection.strategy,
        user_id: profile.subject,
        via: 'account',
        reason: 'identity_taken',
      },
    });
    return new AppError('identity_taken', 'That account at the provider is linked to another user already');
  };
  const owner = await identityOf(ctx.db, connection.id, profile.subject);
  if (owner && owner.user_id !== user.id) throw await taken();
  // This user's already: linked on the connection's word alone (by email, or provisioned), it is now proved by its owner.
  if (owner) {
    await markIdentityProved(ctx.db, user.id, connection.id, profile.subject);
    return;
  }

  try {
    await ctx.db.transaction().execute(async (trx) => {
      await linkIdentity(trx, ctx, { connection, profile, user, tenantId, how: 'proved', via: 'account' }, actor);
      await applyMapping(trx, ctx, { connection, profile, user, tenantId, first: true }, actor);
    });
  } catch (error) {
    // Linked a moment ago by a sign-in of someone else through the same identity.
    if (isUniqueViolation(error)) throw await taken();
    throw error;
  }
}
