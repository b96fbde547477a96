import { hasSecondFactor } from '../../authn/mfa/sign-in-step.js';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { addMembership, isMember } from '../../directory/memberships/memberships.js';
import { type Access, effectivePermissions, inScope, resolveScope, type Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import { spendLink } from '../kit/flows.js';
import { INVITATION, type InvitationFlow } from './flow.js';
import { type OpenInvitation, peekInvitation } from './invitations.js';

/**
 * The inviter's scope now (decision 173): the inviter must still be an active user and a
 * member of the tenant they invited from, holding the right to invite there. An invitation
 * stored without its issuer (issued before this check) counts as a tenant administrator's
 * with the common rights only, so it can carry no restricted role.
 */
async function issuerScopeNow(trx: Db, flow: InvitationFlow): Promise<Scope> {
  const { issuer } = flow.data;
  const invalid = (why: string) => new AppError('invalid_invitation', `This invitation is no longer valid: ${why}; ask for a new one`);
  if (!issuer) return { kind: 'tenant', tenantId: flow.tenant_id ?? '', held: new Set(['tenant.all']) };
  const inviter = await trx.selectFrom('users').select('status').where('id', '=', issuer.user_id).executeTakeFirst();
  if (inviter?.status !== 'active') throw invalid('the person who sent it no longer has an active account');
  const grants = await effectivePermissions(trx, issuer.user_id, issuer.tenant_id);
  const held = new Set(grants?.permissions ?? []);
  const scope =
    grants && INVITE.map((a) => resolveScope(held, issuer.tenant_id, issuer.kind === 'system', a, issuer.user_id)).find(Boolean);
  if (!scope || scope.kind !== issuer.kind || !inScope(scope, flow.tenant_id)) {
    throw invalid('the person who sent it may no longer invite into this organization');
  }
  return scope;
}

/**
 * The rights an invitation is issued with: the guards of POST /users (with `invite`, and for
 * an address outside the tenant), the import, /users/:id/invitation and /tenants/:id/invitations.
 */
const INVITE: readonly Access[] = [
  { system: 'iam.account.create', tenant: 'tenant.account.create' },
  { system: 'iam.account.update', tenant: 'tenant.account.update' },
  { system: 'iam.membership.update', tenant: 'tenant.membership.create' },
];

/**
 * Adds the membership an invitation into a tenant carries, with the inviter's rights as
 * they are now (decision 173): the roles must still exist, carry no restricted permission
 * when a tenant administrator invited, and be the inviter's to grant.
 */
async function joinInvitedTenant(trx: Db, ctx: AppContext, flow: InvitationFlow, userId: string, actor: Actor): Promise<void> {
  const scope = await issuerScopeNow(trx, flow);
  const { roles } = flow.data;
  if (!flow.tenant_id || !roles || (await isMember(trx, userId, flow.tenant_id))) return;
  await addMembership(trx, ctx, scope, actor, flow.tenant_id, { userId, roles }).catch((error: unknown) => {
    if (error instanceof AppError && ['unknown_role', 'restricted_permission', 'forbidden'].includes(error.code)) {
      throw new AppError(
        'invalid_invitation',
        'This invitation is no longer valid: its roles changed since it was sent; ask for a new one',
        {
          reason: error.code,
        },
      );
    }
    throw error;
  });
}

/**
 * Accepts an activation: the first password (policy-checked), the account active and
 * verified, the membership of an invitation into a tenant; spends the link. An invitation of
 * an address without an account makes the account now, homed in the tenant (decision 186).
 */
export async function acceptWithPassword(
  ctx: AppContext,
  token: string,
  password: string,
  actor: Actor,
): Promise<{ user: User; flow: InvitationFlow }> {
  const { flow, user, mode, email } = await peekInvitation(ctx, token);
  if (mode !== 'activate') throw new AppError('invalid_invitation', 'This invitation is accepted by signing in, not with a new password');
  const homeTenantId = user ? user.home_tenant_id : flow.tenant_id;
  await assertPasswordAllowed(ctx, homeTenantId, password, user ?? { email });
  const { history } = await passwordPolicyFor(ctx, homeTenantId);
  const hash = await ctx.passwords.hash(password);
  const updated = await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendLink(trx, ctx, INVITATION, token, 'accepted');
    if (spent.id !== flow.id) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
    const now = ctx.clock.now();
    const active = {
      status: 'active' as const,
      email_verified: true,
      password_hash: hash,
      password_reset_required: false,
      updated_at: now,
    };
    const row = user
      ? await trx
          .updateTable('users')
          .set(active)
          .where('id', '=', user.id)
          .where('status', '=', 'pending')
          .returningAll()
          .executeTakeFirst()
      : await trx
          .insertInto('users')
          .values({
            ...active,
            id: ctx.ids.next(),
            email,
            home_tenant_id: homeTenantId,
            user_metadata: '{}',
            app_metadata: '{}',
            created_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow()
          .catch((error: unknown) => {
            if (isUniqueViolation(error, 'users_email_key')) throw new AppError('link_invalid', 'This address has an account already');
            throw error;
          });
    if (!row) throw new AppError('link_invalid', 'This invitation was accepted already');
    const asUser: Actor = { ...actor, type: 'user', id: row.id };
    if (!user) {
      await recordAudit(trx, ctx, {
        action: 'iam.user.created',
        actor: asUser,
        tenantId: homeTenantId,
        target: { type: 'user', id: row.id },
        details: { email: row.email, status: row.status, invitation: flow.id },
      });
    }
    // The pending user of an older invitation is a member already; a removed or disabled inviter's link dies all the same.
    if (flow.data.issuer || !user) await joinInvitedTenant(trx, ctx, flow, row.id, asUser);
    await rememberPassword(trx, ctx, row.id, hash, history);
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationAccepted',
      actor: asUser,
      tenantId: flow.tenant_id,
      target: { type: 'user', id: row.id },
      details: { flow_id: flow.id, mode },
    });
    return { row, spent };
  });
  return { user: updated.row, flow: updated.spent };
}

/**
 * Accepts a `join` invitation: only the invited account, signed in (with its second factor
 * when it has one), adds the membership with the invited roles; spends the link.
 */
export async function acceptJoin(ctx: AppContext, token: string, signedIn: ActiveSession, actor: Actor): Promise<OpenInvitation> {
  const invitation = await peekInvitation(ctx, token);
  const { flow, user, mode } = invitation;
  if (mode !== 'join' || !user) throw new AppError('invalid_invitation', 'This invitation is accepted by choosing a password');
  if (signedIn.user.id !== user.id) {
    throw new AppError('invitation_wrong_account', 'This invitation is for another account; sign in as the invited account');
  }
  if (!signedIn.session.amr.includes('mfa') && (await hasSecondFactor(ctx, user.id))) {
    throw new AppError('mfa_step_required', 'Sign in with your second factor first: this session proved only the password');
  }
  const asUser: Actor = { ...actor, type: 'user', id: user.id };
  await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendLink(trx, ctx, INVITATION, token, 'accepted');
    if (spent.id !== flow.id || !flow.tenant_id)
      throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
    await joinInvitedTenant(trx, ctx, flow, user.id, asUser);
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationAccepted',
      actor: asUser,
      tenantId: flow.tenant_id,
      target: { type: 'user', id: user.id },
      details: { flow_id: flow.id, mode, roles: flow.data.roles ?? [] },
    });
  });
  return invitation;
}
