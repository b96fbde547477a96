import type { Scope } from '../../directory/permissions/effective.js';
import { assertManageable } from '../../directory/users/users.js';
import { endUserAccess } from '../../oauth/access/end-access.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import type { EndedAccess } from '../../platform/ports/user-access.js';

/**
 * Incident actions on a user: each one call, one transaction, one audit event. Who may act
 * is who may change the account's credentials (the rule of decision 180, src/users/manage.ts:
 * every tenant of the account administered and outranked). Each ends every session and
 * OAuth grant of the user at once.
 */

/** Disables the account and ends its access: sign-in, refresh and introspection say no at once. */
export async function disableUser(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<EndedAccess> {
  const user = await assertManageable(ctx, scope, actor, id);
  if (actor.id === id) throw new AppError('forbidden', 'You cannot disable your own account');
  return ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ status: 'disabled', updated_at: ctx.clock.now() }).where('id', '=', id).execute();
    const ended = await endUserAccess(trx, ctx, id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.disabled',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id },
      details: { previous_status: user.status, ...counts(ended) },
    });
    return ended;
  });
}

/**
 * The user must choose a new password at the next sign-in (decision 123): the right
 * password then answers `password_change_required` until POST /api/v1/session/password.
 * Ends every session too, or a signed-in thief would keep the account.
 */
export async function forcePasswordReset(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<EndedAccess> {
  const user = await assertManageable(ctx, scope, actor, id);
  return ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ password_reset_required: true, updated_at: ctx.clock.now() }).where('id', '=', id).execute();
    const ended = await endUserAccess(trx, ctx, id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.passwordResetForced',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id },
      details: counts(ended),
    });
    return ended;
  });
}

const counts = (ended: EndedAccess) => ({
  sessions_revoked: ended.sessions,
  grants_revoked: ended.grants,
  backchannel_logouts: ended.notices,
});
