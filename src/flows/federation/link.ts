import { connectionById } from '../../authn/federation/connections.js';
import type { UpstreamProfile } from '../../authn/federation/strategy.js';
import { authenticate } from '../../authn/sessions/sessions.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { isUniqueViolation } from '../../platform/db/database.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { advanceFlow, flowOf } from '../kit/flows.js';
import { applyMapping, connectionTenant, linkIdentity } from './complete.js';
import { FEDERATION, type FederationFlow } from './flow.js';

/**
 * Linking to an account that exists (decision 266): the person proves the account with its
 * password (through the brute-force guard, as the sign-in form) and then, in the hosted
 * sign-in, with its second factor when it has one or a policy asks for one. The identity
 * is written only when that sign-in ends (finishPendingLink, called as the login prompt
 * finishes): an identity whose proof stopped halfway is never linked, so it never reaches
 * the account.
 */

/** The account a `link_required` flow asks the person to prove. */
export async function linkTarget(ctx: AppContext, flow: FederationFlow): Promise<User> {
  if (flow.state !== 'link_required' || !flow.data.link_user) throw new AppError('flow_state', 'This sign-in has moved on; start again');
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', flow.data.link_user).executeTakeFirst();
  if (user?.status !== 'active') throw new AppError('account_disabled', 'This account is disabled');
  return user;
}

/** Checks the account's password; the flow then waits for the sign-in to end (`link_pending`). */
export async function proveLinkPassword(
  ctx: AppContext,
  flow: FederationFlow,
  password: string,
  actor: Actor,
): Promise<{ flow: FederationFlow; user: User }> {
  const target = await linkTarget(ctx, flow);
  const user = await authenticate(ctx, { username: target.email, password }, actor);
  if (user.id !== target.id) throw new AppError('invalid_credentials', 'Wrong username or password');
  const next = await advanceFlow(ctx.db, ctx, flow, {
    state: 'link_required',
    data: { ...flow.data, link_pending: true },
    userId: user.id,
  });
  return { flow: next, user };
}

/**
 * The end of a sign-in into the interaction `uid` as `userId`: the identity a federation
 * flow of this interaction waits to link to this very user (its password proved, and now
 * its second factor if one was due) is written, with the mapping, once.
 */
export async function finishPendingLink(ctx: AppContext, uid: string, userId: string, actor: Actor): Promise<void> {
  const rows = await ctx.db
    .selectFrom('flows')
    .selectAll()
    .where('kind', '=', 'federation')
    .where('return_to', '=', `/interaction/${uid}`)
    .where('state', '=', 'done')
    .where('user_id', '=', userId)
    .execute();
  for (const row of rows) {
    const flow = flowOf(FEDERATION, row);
    if (!flow.data.link_pending || flow.data.link_user !== userId || !flow.data.profile) continue;
    const connection = await connectionById(ctx, flow.data.connection_id);
    const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!connection || !user) continue;
    const profile = flow.data.profile as UpstreamProfile;
    const tenantId = connectionTenant(connection, flow);
    await ctx.db
      .transaction()
      .execute(async (trx) => {
        // Taken once: the flow leaves `link_pending` in the same transaction.
        const { link_pending: _taken, ...data } = flow.data;
        await advanceFlow(trx, ctx, flow, { state: 'done', data });
        await linkIdentity(trx, ctx, { connection, profile, user, tenantId, how: 'proved' }, actor);
        await applyMapping(trx, ctx, { connection, profile, user, tenantId, first: true }, actor);
      })
      .catch((error) => {
        // The identity was linked meanwhile (to this or another account): nothing more to do.
        if (!isUniqueViolation(error)) throw error;
      });
  }
}
