import { tenantPolicies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';

/**
 * The sign-in rule of self-registration (decision 151): a user who signed up on their own
 * and has not verified the email address may not sign in with a password unless the home
 * tenant's policy `signup.allow_unverified_sign_in` says so. Accounts an administrator
 * created or imported are vouched for and never stopped here.
 */
export async function mustVerifyEmailFirst(ctx: AppContext, user: User): Promise<boolean> {
  if (!user.self_registered || user.email_verified) return false;
  const { signup } = await tenantPolicies(ctx, user.home_tenant_id);
  return !signup.allow_unverified_sign_in;
}
