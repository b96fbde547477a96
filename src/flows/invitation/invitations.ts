import { sendEmail } from '../../directory/branding/email.js';
import { isMember } from '../../directory/memberships/memberships.js';
import { inScope, type Scope, systemTenantId } from '../../directory/permissions/effective.js';
import { resolveAssignableRoles, systemRole } from '../../directory/roles/roles.js';
import { assertManageable } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { User } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { pickLocale } from '../../platform/i18n/index.js';
import { emailIs, loginKey, normalizeEmail } from '../../platform/mail/address.js';
import { createFlow, flowOf, peekLink } from '../kit/flows.js';
import { translator } from '../kit/messages.js';
import { INVITATION, type InvitationData, type InvitationFlow, type InvitationMode } from './flow.js';

/**
 * An invitation as the API shows it. `full: false` (a tenant administrator's view of
 * invitations into the tenant) leaves out `mode` and `user_id`: they would tell whether
 * the address has an account somewhere in the deployment.
 */
export function publicInvitation(flow: InvitationFlow, full = true) {
  const { data } = flow;
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

/** Voids the open invitations into one tenant of an account, or of an address without one (a resend, a revocation). */
async function closeInvitations(
  db: Db,
  ctx: AppContext,
  to: { userId?: string; email?: string },
  tenantId: string | null,
  state: 'replaced' | 'revoked',
): Promise<number> {
  let query = db
    .updateTable('flows')
    .set({ link_hash: null, code_hash: null, state, updated_at: ctx.clock.now() })
    .where('kind', '=', 'invitation')
    .where('link_hash', 'is not', null)
    .where((eb) =>
      eb.or([
        ...(to.userId ? [eb('user_id', '=', to.userId)] : []),
        ...(to.email ? [eb.and([eb('user_id', 'is', null), emailIs(to.email)])] : []),
      ]),
    );
  query = tenantId ? query.where('tenant_id', '=', tenantId) : query.where('tenant_id', 'is', null);
  const rows = await query.returning('id').execute();
  return rows.length;
}

export const tenantName = async (db: Db, tenantId: string | null) =>
  tenantId ? ((await db.selectFrom('tenants').select('name').where('id', '=', tenantId).executeTakeFirst())?.name ?? '') : 'Gatehouse';

/**
 * Creates the flow and queues its email, in the caller's transaction (older links into the
 * same tenant, for the same account or address, die). `user` is the invited account, if
 * there is one. An invitation into a tenant is audited without its mode or account
 * (`opaque`): the tenant's trail must not tell what the answer does not (decision 185).
 */
async function issueInvitation(
  trx: Db,
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  to: { user?: User | undefined; email: string },
  tenantId: string | null,
  data: InvitationData,
  opaque: boolean,
) {
  const { user } = to;
  await closeInvitations(trx, ctx, { ...(user && { userId: user.id }), email: to.email }, tenantId, 'replaced');
  const locale = pickLocale({ userLocale: user?.locale ?? null });
  const issuer =
    actor.type === 'user' && actor.id
      ? { user_id: actor.id, kind: scope.kind, tenant_id: scope.kind === 'tenant' ? scope.tenantId : await systemTenantId(trx) }
      : undefined;
  const { flow, link } = await createFlow(trx, ctx, INVITATION, {
    state: 'sent',
    channel: 'api',
    tenantId,
    ...(user && { userId: user.id }),
    // The address as the inviter typed it (a tenant invitation shows that, not the account's spelling).
    email: to.email,
    data: { ...data, ...(issuer && { issuer }) },
    locale,
    link: true,
  });
  const recipient = user?.email ?? to.email;
  const tenant = await tenantName(trx, tenantId);
  await sendEmail(
    trx,
    ctx,
    {
      to: recipient,
      tenantId,
      locale,
      name: user ? (user.given_name ?? user.name) : null,
      subject: 'invitation.email_subject',
      paragraphs: [
        { key: data.mode === 'join' ? 'invitation.email_join_body' : 'invitation.email_body', vars: { tenant, email: recipient } },
        { key: 'invitation.email_expiry' },
      ],
      action: { label: 'invitation.email_action', url: `${ctx.config.issuer}/invitation?token=${encodeURIComponent(link!)}` },
    },
    translator,
  );
  await recordAudit(trx, ctx, {
    action: 'iam.user.invited',
    actor,
    tenantId,
    ...(opaque
      ? { target: { type: 'invitation', id: flow.id }, details: { flow_id: flow.id, roles: data.roles ?? [] } }
      : { target: { type: 'user', id: user!.id }, details: { flow_id: flow.id, mode: data.mode } }),
  });
  return flow;
}

/** Emails a pending user the activation link, in the caller's transaction (POST /users with `invite`). */
export async function sendActivation(trx: Db, ctx: AppContext, scope: Scope, actor: Actor, user: User): Promise<InvitationFlow> {
  return issueInvitation(trx, ctx, scope, actor, { user, email: user.email }, user.home_tenant_id, { mode: 'activate' }, false);
}

/** Sends (or resends, voiding the older link) the invitation of a pending user; the rule of decision 180. */
export async function inviteUser(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<InvitationFlow> {
  const user = await assertManageable(ctx, scope, actor, userId);
  if (user.status !== 'pending') throw new AppError('not_pending', 'Only a pending user (not yet activated) is invited');
  return ctx.db.transaction().execute((trx) => sendActivation(trx, ctx, scope, actor, user));
}

/** Revokes a pending user's invitation: the link dies, the user stays pending. */
export async function revokeUserInvitation(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<void> {
  const user = await assertManageable(ctx, scope, actor, userId);
  await ctx.db.transaction().execute(async (trx) => {
    const closed = await closeInvitations(trx, ctx, { userId: user.id }, user.home_tenant_id, 'revoked');
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
 * Invites an existing account into a tenant with roles (ids, checked by the caller), in the
 * caller's transaction: a pending account homed there gets its activation again (with the
 * roles), any other is asked to join. Also what an address outside the tenant gets from POST
 * /users and the import (decision 185).
 */
export async function inviteAccount(
  trx: Db,
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  user: User,
  tenantId: string,
  roles: string[],
  typed: string,
): Promise<InvitationFlow> {
  const mode = user.status === 'pending' && user.home_tenant_id === tenantId ? 'activate' : 'join';
  return issueInvitation(trx, ctx, scope, actor, { user, email: typed.trim() }, tenantId, { mode, roles }, true);
}

/**
 * Invites a person into a tenant (decision 186): an existing account is asked to join (with
 * the roles); an address without an account gets an activation link, and the account (homed
 * in the tenant) is made when it is accepted. Until then nothing but the invitation shows,
 * so the answer, the lists and the tenant's audit trail are the same for both.
 */
export async function inviteToTenant(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  input: { email: string; roles?: string[] | undefined },
): Promise<InvitationFlow> {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
  if (!(await ctx.db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
  const roles = input.roles
    ? (await resolveAssignableRoles(ctx.db, scope, tenantId, input.roles)).map((r) => r.id)
    : [(await systemRole(ctx.db, 'USER')).id];
  const typed = normalizeEmail(input.email);
  return ctx.db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('users').selectAll().where(emailIs(typed)).executeTakeFirst();
    if (!existing) return issueInvitation(trx, ctx, scope, actor, { email: typed }, tenantId, { mode: 'activate', roles }, true);
    // A member is the tenant's to know about.
    if (await isMember(trx, existing.id, tenantId)) throw new AppError('already_member', 'The user is already a member of this tenant');
    return inviteAccount(trx, ctx, scope, actor, existing, tenantId, roles, typed);
  });
}

/** A tenant's open invitations. */
export async function listTenantInvitations(ctx: AppContext, scope: Scope, tenantId: string): Promise<InvitationFlow[]> {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
  const rows = await ctx.db
    .selectFrom('flows')
    .selectAll()
    .where('kind', '=', 'invitation')
    .where('tenant_id', '=', tenantId)
    .where('link_hash', 'is not', null)
    .where('expires_at', '>', ctx.clock.now())
    .orderBy('created_at', 'desc')
    .limit(500)
    .execute();
  return rows.map((row) => flowOf(INVITATION, row));
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
    // Audited like the invitation: without its mode or account (decision 185).
    await recordAudit(trx, ctx, {
      action: 'iam.user.invitationRevoked',
      actor,
      tenantId,
      target: { type: 'invitation', id: flow.id },
      details: { flow_id: flow.id },
    });
  });
}

export interface OpenInvitation {
  flow: InvitationFlow;
  /** The invited account; none for an invitation of an address without one (its account is made when accepted). */
  user: User | undefined;
  /** Where the link went, and the account's language. */
  email: string;
  locale: string | null;
  mode: InvitationMode;
  tenantName: string;
}

const linkInvalid = () => new AppError('link_invalid', 'This link is not valid; it may have been used already');

/** The invitation a link names, without spending it. */
export async function peekInvitation(ctx: AppContext, token: string): Promise<OpenInvitation> {
  const flow = await peekLink(ctx.db, ctx, INVITATION, token);
  const { mode } = flow.data;
  const address = flow.email ?? '';
  const holder = await ctx.db
    .selectFrom('users')
    .selectAll()
    .where((eb) => (flow.user_id ? eb('id', '=', flow.user_id) : emailIs(address)))
    .executeTakeFirst();
  if (flow.user_id) {
    // A link sent to an address the account no longer has is dead.
    if (!holder || loginKey(address).toLowerCase() !== holder.email.toLowerCase()) throw linkInvalid();
    if (holder.status === 'disabled') throw new AppError('account_disabled', 'This account is disabled');
    if (mode === 'activate' && holder.status !== 'pending') throw new AppError('link_invalid', 'This invitation was accepted already');
  } else if (mode !== 'activate' || holder) {
    // The address has an account since it was invited (or accepted already): this link can make none.
    throw linkInvalid();
  }
  const user = flow.user_id ? holder : undefined;
  return {
    flow,
    user,
    email: user?.email ?? address,
    locale: user?.locale ?? flow.locale,
    mode,
    tenantName: await tenantName(ctx.db, flow.tenant_id),
  };
}
