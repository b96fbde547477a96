import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { storeNewPassword } from '../passwords/change.js';
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
  const self = { ...actor, type: 'user' as const, id: user.id };
  await storeNewPassword(ctx, self, user, input.newPassword, {
    audit: () => ({ action: 'iam.user.passwordChanged', details: { was_required: user.password_reset_required } }),
  });
}
