import { type Profile, writeUser } from '../../directory/users/users.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';

/** The user's own account: profile and user_metadata only (PATCH /users/me and the account area). */
export async function updateMe(ctx: AppContext, actor: Actor, id: string, patch: Profile): Promise<User> {
  return ctx.db.transaction().execute((trx) => writeUser(trx, ctx, actor, id, patch));
}
