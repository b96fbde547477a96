import { type Actor, recordAudit } from '../audit/record.js';
import type { AppContext } from '../context.js';
import type { Db } from '../db/database.js';
import type { User } from '../db/schema.js';
import { emailIs, loginKey, normalizeEmail } from '../email/address.js';
import { sendEmail } from '../email/templates.js';
import { AppError, notFound } from '../errors.js';
import { createFlow, type Flow, peekLink, spendLink } from '../flows/flows.js';
import { pickLocale } from '../i18n/index.js';
import { addMembership } from '../memberships/memberships.js';
import { hasSecondFactor } from '../mfa/sign-in-step.js';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../password-policy/policy.js';
import { type Access, effectivePermissions, inScope, resolveScope, type Scope, systemTenantId } from '../permissions/effective.js';
import { resolveAssignableRoles, systemRole } from '../roles/roles.js';
import type { ActiveSession } from '../sessions/sessions.js';
import { assertManageable, createUser } from '../users/users.js';

/**
 * Invitations (issue 5, part 3), stored as flows of kind `invitation` with an emailed
 * single-use link (7 days):
 * - `activate`: an administrator created a pending user; the link's page sets the first
 *   password (the mailbox is proved, so the email counts as verified) and signs in.
 * - `join`: an existing user is invited into another tenant with roles; they accept signed
 *   in as that account (with their second factor, if they have one).
 */
export type InvitationMode = 'activate' | 'join';
interface InvitationData {
  mode: InvitationMode;
  /**
   * Role ids of the membership a `join` adds (checked against the inviter's rights when invited, and again when accepted);
   * for an `activate` into a tenant, those the pending user's membership got (shown alike, so the answer does not tell the modes apart).
   */
  roles?: string[];
  /** Who invited, in which scope and tenant (the tenant the inviter acted in): rechecked at acceptance (decision 173). */
  issuer?: { user_id: string; kind: Scope['kind']; tenant_id: string };
}

export const invitationData = (flow: Flow): InvitationData => flow.data as unknown as InvitationData;

/**
 * An invitation as the API shows it. `full: false` (a tenant administrator's view of
 * invitations into the tenant) leaves out `mode` and `user_id`: they would tell whether
 * the address has an account somewhere in the deployment.
 */
export function publicInvitation(flow: Flow, full = true) {
  const data = invitationData(flow);
  return {
    id: flow.id,
    ...(full && { mode: data.mode }),
    tenant_id: flow.tenant_id,
    ...(full && { user_id: flow.user_id }),
    email: flow.email ?? '',
    state: flow.state,
    roles: data.roles ?? [],
    expires_at: flow.expires_at.toISOString(),
    created_at: flow.created_at.toISOString(),
  };
}

/** Voids a user's open invitations into one tenant (a resend, a revocation). */
async function closeInvitations(db: Db, ctx: AppContext, userId: string, tenantId: string | null, state: string): Promise<number> {
  let query = db
    .updateTable('flows')
    .set({ link_hash: null, code_hash: null, state, updated_at: ctx.clock.now() })
    .where('kind', '=', 'invitation')
    .where('user_id', '=', userId)
    .where('link_hash', 'is not', null);
  query = tenantId ? query.where('tenant_id', '=', tenantId) : query.where('tenant_id', 'is', null);
  const rows = await query.returning('id').execute();
  return rows.length;
}

const tenantName = async (db: Db, tenantId: string | null) =>
  tenantId ? ((await db.selectFrom('tenants').select('name').where('id', '=', tenantId).executeTakeFirst())?.name ?? '') : 'Gatehouse';

/** Creates the flow and queues its email, in the caller's transaction (older links into the same tenant die). */
async function issueInvitation(
  trx: Db,
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  user: User,
  tenantId: string | null,
  data: InvitationData,
  /** The address as the inviter typed it (a tenant invitation shows that, not the account's spelling). */
  shownEmail = user.email,
) {
  await closeInvitations(trx, ctx, user.id, tenantId, 'replaced');
  const locale = pickLocale({ userLocale: user.locale });
  const issuer =
    actor.type === 'user' && actor.id
      ? { user_id: actor.id, kind: scope.kind, tenant_id: scope.kind === 'tenant' ? scope.tenantId : await systemTenantId(trx) }
      : undefined;
  const { flow, link } = await createFlow(trx, ctx, {
    kind: 'invitation',
    state: 'sent',
    channel: 'api',
    tenantId,
    userId: user.id,
    email: shownEmail,
    data: { ...data, ...(issuer && { issuer }) } as unknown as Record<string, unknown>,
    locale,
    link: true,
  });
  const tenant = await tenantName(trx, tenantId);
  await sendEmail(trx, ctx, {
    to: user.email,
    tenantId,
    locale,
    name: user.given_name ?? user.name,
    subject: 'invitation.email_subject',
    paragraphs: [
      { key: data.mode === 'join' ? 'invitation.email_join_body' : 'invitation.email_body', vars: { tenant, email: user.email } },
      { key: 'invitation.email_expiry' },
    ],
    action: { label: 'invitation.email_action', url: `${ctx.config.issuer}/invitation?token=${encodeURIComponent(link!)}` },
  });
  await recordAudit(trx, ctx, {
    action: 'iam.user.invited',
    actor,
    tenantId,
    target: { type: 'user', id: user.id },
    details: { flow_id: flow.id, mode: data.mode, ...(data.roles && { roles: data.roles }) },
  });
  return flow;
}

/** Sends (or resends, voiding the older link) the invitation of a pending user; home-tenant rule. */
export async function inviteUser(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<Flow> {
  const user = await assertManageable(ctx, scope, userId);
  if (user.status !== 'pending') throw new AppError('not_pending', 'Only a pending user (not yet activated) is invited');
  return ctx.db.transaction().execute((trx) => issueInvitation(trx, ctx, scope, actor, user, user.home_tenant_id, { mode: 'activate' }));
}

/** Revokes a pending user's invitation: the link dies, the user stays pending. */
export async function revokeUserInvitation(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<void> {
  const user = await assertManageable(ctx, scope, userId);
  await ctx.db.transaction().execute(async (trx) => {
    const closed = await closeInvitations(trx, ctx, user.id, user.home_tenant_id, 'revoked');
    if (closed === 0) throw notFound('Invitation');
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationRevoked',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { mode: 'activate' },
    });
  });
}

/**
 * Invites a person into a tenant: an existing account is asked to join (with the roles),
 * an unknown address gets a pending user homed in the tenant and an activation link.
 */
export async function inviteToTenant(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  input: { email: string; roles?: string[] | undefined },
): Promise<Flow> {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
  if (!(await ctx.db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
  const roles = input.roles
    ? (await resolveAssignableRoles(ctx.db, scope, tenantId, input.roles)).map((r) => r.id)
    : [(await systemRole(ctx.db, 'USER')).id];
  const existing = await ctx.db.selectFrom('users').selectAll().where(emailIs(input.email)).executeTakeFirst();
  const typed = normalizeEmail(input.email);
  if (!existing) {
    const user = await createUser(ctx, scope, actor, { email: input.email, roles, tenant: tenantId });
    return ctx.db
      .transaction()
      .execute((trx) => issueInvitation(trx, ctx, scope, actor, user, tenantId, { mode: 'activate', roles }, typed));
  }
  const member = await ctx.db
    .selectFrom('memberships')
    .select('user_id')
    .where('user_id', '=', existing.id)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (member) throw new AppError('already_member', 'The user is already a member of this tenant');
  return ctx.db.transaction().execute((trx) => issueInvitation(trx, ctx, scope, actor, existing, tenantId, { mode: 'join', roles }, typed));
}

/** A tenant's open invitations. */
export async function listTenantInvitations(ctx: AppContext, scope: Scope, tenantId: string): Promise<Flow[]> {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
  return ctx.db
    .selectFrom('flows')
    .selectAll()
    .where('kind', '=', 'invitation')
    .where('tenant_id', '=', tenantId)
    .where('link_hash', 'is not', null)
    .where('expires_at', '>', ctx.clock.now())
    .orderBy('created_at', 'desc')
    .limit(500)
    .execute();
}

export async function revokeTenantInvitation(ctx: AppContext, scope: Scope, actor: Actor, tenantId: string, flowId: string): Promise<void> {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
  await ctx.db.transaction().execute(async (trx) => {
    const flow = await trx
      .updateTable('flows')
      .set({ link_hash: null, code_hash: null, state: 'revoked', updated_at: ctx.clock.now() })
      .where('id', '=', flowId)
      .where('kind', '=', 'invitation')
      .where('tenant_id', '=', tenantId)
      .where('link_hash', 'is not', null)
      .returningAll()
      .executeTakeFirst();
    if (!flow) throw notFound('Invitation');
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationRevoked',
      actor,
      tenantId,
      ...(flow.user_id && { target: { type: 'user', id: flow.user_id } }),
      details: { flow_id: flow.id, mode: invitationData(flow).mode },
    });
  });
}

export interface OpenInvitation {
  flow: Flow;
  user: User;
  mode: InvitationMode;
  tenantName: string;
}

/** The invitation a link names, without spending it. */
export async function peekInvitation(ctx: AppContext, token: string): Promise<OpenInvitation> {
  const flow = await peekLink(ctx.db, ctx, token, 'invitation');
  const user = flow.user_id ? await ctx.db.selectFrom('users').selectAll().where('id', '=', flow.user_id).executeTakeFirst() : undefined;
  // A link sent to an address the account no longer has is dead.
  if (!user || loginKey(flow.email ?? '').toLowerCase() !== user.email.toLowerCase()) {
    throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
  }
  if (user.status === 'disabled') throw new AppError('account_disabled', 'This account is disabled');
  const { mode } = invitationData(flow);
  if (mode === 'activate' && user.status !== 'pending') throw new AppError('link_invalid', 'This invitation was accepted already');
  return { flow, user, mode, tenantName: await tenantName(ctx.db, flow.tenant_id) };
}

/**
 * The inviter's scope now (decision 173): the inviter must still be an active user and a
 * member of the tenant they invited from, holding the right to invite there. An invitation
 * stored without its issuer (issued before this check) counts as a tenant administrator's
 * with the common rights only, so it can carry no restricted role.
 */
async function issuerScopeNow(trx: Db, flow: Flow, accesses: readonly Access[]): Promise<Scope> {
  const { issuer } = invitationData(flow);
  const invalid = (why: string) => new AppError('invalid_invitation', `This invitation is no longer valid: ${why}; ask for a new one`);
  if (!issuer) return { kind: 'tenant', tenantId: flow.tenant_id ?? '', held: new Set(['tenant.all']) };
  const inviter = await trx.selectFrom('users').select('status').where('id', '=', issuer.user_id).executeTakeFirst();
  if (inviter?.status !== 'active') throw invalid('the person who sent it no longer has an active account');
  const grants = await effectivePermissions(trx, issuer.user_id, issuer.tenant_id);
  const held = new Set(grants?.permissions ?? []);
  const scope = grants && accesses.map((a) => resolveScope(held, issuer.tenant_id, issuer.kind === 'system', a)).find(Boolean);
  if (!scope || scope.kind !== issuer.kind || !inScope(scope, flow.tenant_id)) {
    throw invalid('the person who sent it may no longer invite into this organization');
  }
  return scope;
}

/** The rights an invitation is issued with (the guards of POST /users with invite, /users/:id/invitation, /tenants/:id/invitations). */
const INVITE_MEMBER: Access = { system: 'iam.membership.update', tenant: 'tenant.membership.create' };
const INVITE_ANY: readonly Access[] = [
  { system: 'iam.account.create', tenant: 'tenant.account.create' },
  { system: 'iam.account.update', tenant: 'tenant.account.update' },
  INVITE_MEMBER,
];

/** Accepts an activation: the first password (policy-checked), the user active and verified; spends the link. */
export async function acceptWithPassword(
  ctx: AppContext,
  token: string,
  password: string,
  actor: Actor,
): Promise<{ user: User; flow: Flow }> {
  const { flow, user, mode } = await peekInvitation(ctx, token);
  if (mode !== 'activate') throw new AppError('invalid_invitation', 'This invitation is accepted by signing in, not with a new password');
  await assertPasswordAllowed(ctx, user.home_tenant_id, password, user);
  const { history } = await passwordPolicyFor(ctx, user.home_tenant_id);
  const hash = await ctx.passwords.hash(password);
  const updated = await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendLink(trx, ctx, token, 'invitation', 'accepted');
    if (spent.id !== flow.id) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
    // The pending user's membership was made when invited; a removed or disabled inviter's link dies all the same.
    if (invitationData(flow).issuer) await issuerScopeNow(trx, flow, INVITE_ANY);
    const row = await trx
      .updateTable('users')
      .set({ status: 'active', email_verified: true, password_hash: hash, password_reset_required: false, updated_at: ctx.clock.now() })
      .where('id', '=', user.id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new AppError('link_invalid', 'This invitation was accepted already');
    await rememberPassword(trx, ctx, user.id, hash, history);
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationAccepted',
      actor: { ...actor, type: 'user', id: user.id },
      tenantId: flow.tenant_id,
      target: { type: 'user', id: user.id },
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
  if (mode !== 'join') throw new AppError('invalid_invitation', 'This invitation is accepted by choosing a password');
  if (signedIn.user.id !== user.id) {
    throw new AppError('invitation_wrong_account', 'This invitation is for another account; sign in as the invited account');
  }
  if (!signedIn.session.amr.includes('mfa') && (await hasSecondFactor(ctx, user.id))) {
    throw new AppError('mfa_step_required', 'Sign in with your second factor first: this session proved only the password');
  }
  const asUser: Actor = { ...actor, type: 'user', id: user.id };
  await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendLink(trx, ctx, token, 'invitation', 'accepted');
    if (spent.id !== flow.id || !flow.tenant_id)
      throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
    // The roles are checked again with the inviter's rights as they are now (decision 173): they must still
    // exist, carry no restricted permission when a tenant administrator invited, and be the inviter's to grant.
    const scope = await issuerScopeNow(trx, flow, [INVITE_MEMBER]);
    await addMembership(trx, ctx, scope, asUser, flow.tenant_id, { userId: user.id, roles: invitationData(flow).roles }).catch(
      (error: unknown) => {
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
      },
    );
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationAccepted',
      actor: asUser,
      tenantId: flow.tenant_id,
      target: { type: 'user', id: user.id },
      details: { flow_id: flow.id, mode, roles: invitationData(flow).roles ?? [] },
    });
  });
  return invitation;
}
