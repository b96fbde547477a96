import { type Actor, recordAudit } from '../audit/record.js';
import type { AppContext } from '../context.js';
import { AppError } from '../errors.js';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../password-policy/policy.js';
import { endProtection } from '../protection/lockout.js';
import { endUserAccess } from './revoke-access.js';
import { authenticate } from './sessions.js';

export interface PasswordChange {
  username: string;
  password: string;
  newPassword: string;
}

/**
 * Changes a password with the current one, without a session: the way out of a forced
 * password reset (decision 123), for a user whose reset was forced. Clears the requirement and
 * ends every session and OAuth grant; the user then signs in (with MFA, if required) as usual.
 */
export async function changePassword(ctx: AppContext, input: PasswordChange, actor: Actor): Promise<void> {
  const user = await authenticate(ctx, input, actor, { passwordChange: true });
  // Only the way out of a forced reset: otherwise the password alone (without the second
  // factor) would be enough to take the account over. Users change their password signed in.
  if (!user.password_reset_required) {
    throw new AppError('forbidden', 'No password change is required; signed in, use POST /api/v1/users/me/password');
  }
  if (input.newPassword === input.password) throw new AppError('password_unchanged', 'Choose a password other than the current one');
  await assertPasswordAllowed(ctx, user.home_tenant_id, input.newPassword, user);
  const { history } = await passwordPolicyFor(ctx, user.home_tenant_id);
  const hash = await ctx.passwords.hash(input.newPassword);
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ password_hash: hash, password_reset_required: false, updated_at: now })
      .where('id', '=', user.id)
      .execute();
    await rememberPassword(trx, ctx, user.id, hash, history);
    await endUserAccess(trx, ctx, user.id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.passwordChanged',
      actor: { ...actor, type: 'user', id: user.id },
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { was_required: user.password_reset_required },
    });
  });
  // A new password ends the lockouts and blocked addresses that guarded the old one.
  await endProtection(ctx, { ...actor, type: 'user', id: user.id }, user.id, user.home_tenant_id, 'password_changed');
}
