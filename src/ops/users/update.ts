import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { endProtection } from '../../authn/protection/lockout.js';
import { isMember } from '../../directory/memberships/memberships.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { assertMaySetVerified } from '../../directory/users/manage.js';
import { assertManageable, type UserPatch, writeUser } from '../../directory/users/users.js';
import { requestEmailChange } from '../../flows/email-change/email-change.js';
import { closeFlows, EMAILED_FLOWS } from '../../flows/kit/flows.js';
import { endUserAccess } from '../../oauth/access/end-access.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { emailIs, normalizeEmail } from '../../platform/mail/address.js';

/**
 * PATCH /users/:id. `pending`: in tenant scope a new address is not set but confirmed by its
 * mailbox first (decision 188), answered alike whether an account outside the tenant uses it
 * (its owner is told instead) or not: an account outside the tenant does not exist (185).
 */
export async function updateUser(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  typed: UserPatch,
): Promise<{ user: User; pending: boolean }> {
  // One spelling per mailbox (decision 213): the comparisons below see the normalised address.
  const patch = typed.email === undefined ? typed : { ...typed, email: normalizeEmail(typed.email) };
  assertMaySetVerified(scope, patch);
  const user = await assertManageable(ctx, scope, actor, id);
  // Nobody changes their own status (decision 187; as nobody deletes themselves).
  if (actor.id === id && patch.status !== undefined && patch.status !== user.status) {
    throw new AppError('forbidden', 'You cannot change your own status here');
  }
  if (scope.kind !== 'tenant' || patch.email === undefined || patch.email.toLowerCase() === user.email.toLowerCase()) {
    return { user: await applyUserPatch(ctx, actor, id, patch), pending: false };
  }
  const { email, email_verified: _unused, ...rest } = patch;
  const holder = await ctx.db.selectFrom('users').select('id').where(emailIs(email)).executeTakeFirst();
  if (holder && (await isMember(ctx.db, holder.id, scope.tenantId))) {
    throw new AppError('email_taken', 'A user with this email exists');
  }
  const updated = Object.keys(rest).length > 0 ? await applyUserPatch(ctx, actor, id, rest) : user;
  await ctx.db.transaction().execute((trx) => requestEmailChange(trx, ctx, actor, updated, email));
  return { user: updated, pending: true };
}

/** An administrator's change: the row, and what a new password, status or address ends. */
async function applyUserPatch(ctx: AppContext, actor: Actor, id: string, patch: UserPatch): Promise<User> {
  let history = 0;
  if (patch.password !== undefined) {
    const current = await ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await assertPasswordAllowed(ctx, current.home_tenant_id, patch.password, { ...current, ...patch });
    history = (await passwordPolicyFor(ctx, current.home_tenant_id)).history;
  }
  const passwordHash = patch.password === undefined ? undefined : await ctx.passwords.hash(patch.password);
  const user = await ctx.db.transaction().execute(async (trx) => {
    const updated = await writeUser(trx, ctx, actor, id, patch, passwordHash);
    // A disabled account or a password set by an administrator ends every session and OAuth
    // grant at once (with back-channel logout notices).
    if (passwordHash !== undefined || (patch.status !== undefined && patch.status !== 'active')) await endUserAccess(trx, ctx, id);
    if (passwordHash !== undefined) await rememberPassword(trx, ctx, id, passwordHash, history);
    // Links and codes sent to the old address die with it.
    if (patch.email !== undefined) await closeFlows(trx, ctx, id, EMAILED_FLOWS);
    return updated;
  });
  // A new password ends the lockouts and blocked addresses that guarded the old one.
  if (passwordHash !== undefined) await endProtection(ctx, actor, id, user.home_tenant_id, 'password_changed');
  return user;
}
