import { verifyCurrentPassword } from '../../authn/passwords/change.js';
import { isSystemAdministrator, systemTenantId } from '../../directory/permissions/effective.js';
import { tenantPolicies } from '../../directory/policies/policies.js';
import { endUserAccess } from '../../oauth/access/end-access.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';

/**
 * May this user delete their own account (decision 168)? Their home tenant's policy
 * `account.allow_deletion` says so (a user without a home tenant: the system tenant's),
 * and never the last system administrator.
 */
export async function deletionAllowed(ctx: AppContext, user: User): Promise<{ allowed: boolean; reason?: 'disabled' | 'last_admin' }> {
  const tenantId = user.home_tenant_id ?? (await systemTenantId(ctx.db));
  if (!(await tenantPolicies(ctx, tenantId)).account.allow_deletion) return { allowed: false, reason: 'disabled' };
  if (await isLastSystemAdministrator(ctx, user.id)) return { allowed: false, reason: 'last_admin' };
  return { allowed: true };
}

async function isLastSystemAdministrator(ctx: AppContext, userId: string): Promise<boolean> {
  if (!(await isSystemAdministrator(ctx.db, userId))) return false;
  const others = await ctx.db
    .selectFrom('memberships')
    .select('user_id')
    .where('tenant_id', '=', await systemTenantId(ctx.db))
    .where('user_id', '!=', userId)
    .execute();
  for (const { user_id } of others) if (await isSystemAdministrator(ctx.db, user_id)) return false;
  return true;
}

/**
 * A user deletes their own account with their current password (the second factor was
 * proved by the session): every session and OAuth grant ends (back-channel logouts
 * queued), the account goes, and `iam.user.deleted` is audited in the same transaction.
 */
export async function deleteOwnAccount(ctx: AppContext, actor: Actor, user: User, password: string): Promise<void> {
  const verdict = await deletionAllowed(ctx, user);
  if (verdict.reason === 'last_admin') {
    throw new AppError('last_system_administrator', 'The last system administrator cannot delete their own account');
  }
  if (!verdict.allowed) throw new AppError('account_deletion_disabled', 'Your organization does not let you delete your account yourself');
  await verifyCurrentPassword(ctx, actor, user, password, 'password');
  await ctx.db.transaction().execute(async (trx) => {
    const ended = await endUserAccess(trx, ctx, user.id);
    await trx.deleteFrom('users').where('id', '=', user.id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.user.deleted',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { email: user.email, self_service: true, sessions_ended: ended.sessions, grants_ended: ended.grants },
    });
  });
}
