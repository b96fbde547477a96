import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { runTrigger } from '../../platform/ports/actions.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import type { EndedAccess } from '../../platform/ports/user-access.js';
import { guardAttempt } from '../protection/guard.js';
import { endProtection } from '../protection/lockout.js';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from './policy.js';

/**
 * A signed-in user proves their current password again (before changing the password or
 * the email, or deleting the account) through the brute-force guard: a stolen session
 * cannot guess it freely.
 */
export async function verifyCurrentPassword(ctx: AppContext, actor: Actor, user: User, password: string, field = 'current_password') {
  await guardAttempt(
    ctx,
    'password',
    { userId: user.id, login: user.email.toLowerCase(), ip: actor.ip, tenantId: user.home_tenant_id },
    () => ctx.passwords.verify(user.password_hash, password),
    () => new AppError('invalid_credentials', 'The current password is wrong', { field }),
  );
}

/**
 * The steps every password change shares, whoever asks (the user signed in, or the way out
 * of a forced reset): the home tenant's policy, the history, one transaction that stores the
 * hash, ends every session but `keepSessionId` and every OAuth grant, and audits; then the
 * lockouts that guarded the old password end.
 */
export async function storeNewPassword(
  ctx: AppContext,
  actor: Actor,
  user: User,
  newPassword: string,
  options: {
    keepSessionId?: string;
    audit: (ended: EndedAccess) => { action: 'iam.user.modified' | 'iam.user.passwordChanged'; details: Record<string, unknown> };
  },
): Promise<void> {
  await assertPasswordAllowed(ctx, user.home_tenant_id, newPassword, user);
  const { history } = await passwordPolicyFor(ctx, user.home_tenant_id);
  const hash = await ctx.passwords.hash(newPassword);
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ password_hash: hash, password_reset_required: false, updated_at: ctx.clock.now() })
      .where('id', '=', user.id)
      .execute();
    await rememberPassword(trx, ctx, user.id, hash, history);
    const ended = await ctx.access.end(trx, ctx, user.id, options.keepSessionId);
    const { action, details } = options.audit(ended);
    await recordAudit(trx, ctx, { action, actor, tenantId: user.home_tenant_id, target: { type: 'user', id: user.id }, details });
  });
  // A new password ends the lockouts and blocked addresses that guarded the old one.
  await endProtection(ctx, actor, user.id, user.home_tenant_id, 'password_changed');
  // The post-change-password actions: told, after the fact (a failure is recorded and audited, nothing undone).
  await runTrigger(ctx, 'post-change-password', {
    tenantId: user.home_tenant_id,
    userId: user.id,
    request: { ip: actor.ip ?? undefined, user_agent: actor.userAgent ?? undefined },
  });
}

/**
 * A signed-in user changes their own password: the current one is checked through the
 * brute-force guard, the new one against the home tenant's policy. Every other session
 * and every OAuth grant ends; this one stays.
 */
export async function changeOwnPassword(
  ctx: AppContext,
  actor: Actor,
  signedIn: ActiveSession,
  input: { current_password: string; new_password: string },
): Promise<void> {
  const { user, session } = signedIn;
  await verifyCurrentPassword(ctx, actor, user, input.current_password);
  await storeNewPassword(ctx, actor, user, input.new_password, {
    keepSessionId: session.id,
    audit: (ended) => ({
      action: 'iam.user.modified',
      details: { fields: ['password'], sessions_ended: ended.sessions, grants_ended: ended.grants },
    }),
  });
}
