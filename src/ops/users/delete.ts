import type { Scope } from '../../directory/permissions/effective.js';
import { assertManageable } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';

/** DELETE /users/:id: the rule of decision 180 applies, and nobody deletes their own account here. */
export async function deleteUser(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  const user = await assertManageable(ctx, scope, actor, id, 'delete');
  if (actor.id === id) throw new AppError('forbidden', 'You cannot delete your own account here');
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('users').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.user.deleted',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id },
      details: { email: user.email },
    });
  });
}
