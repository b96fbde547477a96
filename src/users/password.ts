import { type Actor, recordAudit } from '../audit/record.js';
import type { AppContext } from '../context.js';
import { AppError } from '../errors.js';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../password-policy/policy.js';
import { guardAttempt } from '../protection/guard.js';
import { endProtection } from '../protection/lockout.js';
import { endUserAccess } from '../sessions/revoke-access.js';
import type { ActiveSession } from '../sessions/sessions.js';

/**
 * A signed-in user changes their own password: the current one is checked through the
 * brute-force guard (a stolen session cannot guess it freely), the new one against the
 * home tenant's policy. Every other session and every OAuth grant ends; this one stays.
 */
export async function changeOwnPassword(
  ctx: AppContext,
  actor: Actor,
  signedIn: ActiveSession,
  input: { current_password: string; new_password: string },
): Promise<void> {
  const { user, session } = signedIn;
  await guardAttempt(
    ctx,
    'password',
    { userId: user.id, login: user.email.toLowerCase(), ip: actor.ip, tenantId: user.home_tenant_id },
    () => ctx.passwords.verify(user.password_hash, input.current_password),
    () => new AppError('invalid_credentials', 'The current password is wrong', { field: 'current_password' }),
  );
  await assertPasswordAllowed(ctx, user.home_tenant_id, input.new_password, user);
  const { history } = await passwordPolicyFor(ctx, user.home_tenant_id);
  const hash = await ctx.passwords.hash(input.new_password);
  await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.clock.now();
    await trx.updateTable('users').set({ password_hash: hash, updated_at: now }).where('id', '=', user.id).execute();
    await rememberPassword(trx, ctx, user.id, hash, history);
    const ended = await endUserAccess(trx, ctx, user.id, session.id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.modified',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { fields: ['password'], sessions_ended: ended.sessions, grants_ended: ended.grants },
    });
  });
  await endProtection(ctx, actor, user.id, user.home_tenant_id, 'password_changed');
}
