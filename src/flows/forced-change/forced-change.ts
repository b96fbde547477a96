import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { endProtection } from '../../authn/protection/lockout.js';
import { findUserByLogin } from '../../directory/users/users.js';
import { endUserAccess } from '../../oauth/access/end-access.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { advanceFlow, createFlow, readFlow } from '../kit/flows.js';
import { RECOVERY, type RecoveryFlow } from '../recovery/flow.js';

/**
 * The forced password change of the hosted sign-in (a temporary password, decision 123):
 * after the right current password, a stored flow (kind `recovery`, state `forced_change`)
 * bound to the browser and to the authorization request's interaction remembers that the
 * password was proved; the new-password form names that flow, never the user, so nobody
 * reaches the form without the current password (decision 157).
 */
const FORCED_CHANGE_MS = 15 * 60_000;

/** Called only after `authenticate` answered `password_change_required` (the password was right). */
export async function startForcedChange(ctx: AppContext, username: string, uid: string, browser: string): Promise<RecoveryFlow> {
  const user = await findUserByLogin(ctx.db, username);
  if (!user?.password_reset_required) throw new AppError('interaction_expired', 'Sign in again');
  const { flow } = await createFlow(ctx.db, ctx, RECOVERY, {
    state: 'forced_change',
    channel: 'browser',
    browser,
    userId: user.id,
    email: user.email,
    data: { interaction: uid },
    lifetimeMs: FORCED_CHANGE_MS,
  });
  return flow;
}

/** The flow a change form names (`flow_expired` when it is past its 15 minutes: the sign-in starts over). */
export const forcedChangeFlow = (ctx: AppContext, flowId: string) => readFlow(ctx.db, ctx, RECOVERY, flowId);

/** Sets the new password of a forced change: clears the flag, ends every session and grant, audits. */
export async function finishForcedChange(ctx: AppContext, flow: RecoveryFlow, uid: string, password: string, actor: Actor): Promise<User> {
  if (flow.state !== 'forced_change' || flow.data.interaction !== uid || !flow.user_id) {
    throw new AppError('flow_state', 'This form belongs to another sign-in; sign in again');
  }
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', flow.user_id).executeTakeFirst();
  if (user?.status !== 'active') throw new AppError('account_disabled', 'This account is disabled');
  if (!user.password_reset_required) throw new AppError('flow_state', 'The password was changed already; sign in again');
  if (await ctx.passwords.verify(user.password_hash, password)) {
    throw new AppError('password_unchanged', 'Choose a password other than the current one');
  }
  await assertPasswordAllowed(ctx, user.home_tenant_id, password, user);
  const { history } = await passwordPolicyFor(ctx, user.home_tenant_id);
  const hash = await ctx.passwords.hash(password);
  const asUser: Actor = { ...actor, type: 'user', id: user.id };
  const updated = await ctx.db.transaction().execute(async (trx) => {
    await advanceFlow(trx, ctx, flow, { state: 'done' });
    const row = await trx
      .updateTable('users')
      .set({ password_hash: hash, password_reset_required: false, updated_at: ctx.clock.now() })
      .where('id', '=', user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await rememberPassword(trx, ctx, user.id, hash, history);
    await endUserAccess(trx, ctx, user.id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.passwordChanged',
      actor: asUser,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { was_required: true, via: 'hosted_sign_in' },
    });
    return row;
  });
  await endProtection(ctx, asUser, user.id, user.home_tenant_id, 'password_changed');
  return updated;
}
