import { setTimeout as sleep } from 'node:timers/promises';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { endProtection } from '../../authn/protection/lockout.js';
import { sendEmail } from '../../directory/branding/email.js';
import { endUserAccess } from '../../oauth/access/end-access.js';
import { interactionTenantId } from '../../oauth/engine/stored.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { lockFor } from '../../platform/db/locks.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { pickLocale } from '../../platform/i18n/index.js';
import { emailIs, loginKey, normalizeEmail } from '../../platform/mail/address.js';
import { closeFlows, createFlow, peekLink, spendLink } from '../kit/flows.js';
import { translator } from '../kit/messages.js';
import { RECOVERY, type RecoveryFlow } from './flow.js';

/**
 * Account recovery (issue 5, part 4): a forgot-password request mails a single-use link
 * (15 minutes, a newer request voids older links); the link's page sets a new password,
 * which ends every session and OAuth grant of the user and the lockouts that guarded the
 * old password. An administrator can send the same link.
 */

/** Reset emails one address receives per hour at most (the endpoint must not mail-bomb anyone). */
export const MAX_RECOVERY_EMAILS_PER_HOUR = 5;
/** Every forgot-password answer takes at least this long, whether or not an email was sent. */
const ANSWER_FLOOR_MS = 250;

export interface RecoveryRequest {
  email: string;
  /** The tenant whose branding the email wears (the application's), else the user's home tenant. */
  tenantId?: string | null;
  /** Where the reset returns to (an authorization request), when it started from one. */
  returnTo?: string | null;
  /** Preferred locales (`ui_locales` or the page's language). */
  locale?: string | null;
}

/** An active user by email (case-insensitive, PostgreSQL's folding). */
async function activeUserByEmail(db: Db, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where(emailIs(email)).where('status', '=', 'active').executeTakeFirst();
}

/**
 * Forgot password. The answer is the same whatever happens (no account, a disabled one,
 * too many emails this hour), after at least the same time: nothing tells a caller whether
 * the address has an account.
 */
export async function requestRecovery(ctx: AppContext, input: RecoveryRequest, actor: Actor): Promise<void> {
  const email = normalizeEmail(input.email); // a malformed address is 400, whether or not anyone has it
  const started = Date.now();
  try {
    const user = await activeUserByEmail(ctx.db, email);
    if (!user) return;
    await sendRecoveryLink(ctx, user, { ...input, byAdministrator: false, capped: true }, actor);
  } finally {
    const left = ANSWER_FLOOR_MS - (Date.now() - started);
    if (left > 0) await sleep(left);
  }
}

/**
 * Voids the user's older links and mails a new one, in one transaction with its audit event.
 * `capped` (forgot password): nothing is sent, and undefined returned, when the user had
 * MAX_RECOVERY_EMAILS_PER_HOUR already; the count is taken under the user's lock in the
 * same transaction, so parallel requests cannot all pass it.
 */
export async function sendRecoveryLink(
  ctx: AppContext,
  user: User,
  options: Omit<RecoveryRequest, 'email'> & { byAdministrator: boolean; capped: true },
  actor: Actor,
): Promise<RecoveryFlow | undefined>;
export async function sendRecoveryLink(
  ctx: AppContext,
  user: User,
  options: Omit<RecoveryRequest, 'email'> & { byAdministrator: boolean; capped?: false },
  actor: Actor,
): Promise<RecoveryFlow>;
export async function sendRecoveryLink(
  ctx: AppContext,
  user: User,
  options: Omit<RecoveryRequest, 'email'> & { byAdministrator: boolean; capped?: boolean },
  actor: Actor,
): Promise<RecoveryFlow | undefined> {
  const tenantId = options.tenantId ?? user.home_tenant_id;
  const locale = pickLocale({ uiLocales: options.locale ?? null, userLocale: user.locale });
  return ctx.db.transaction().execute(async (trx) => {
    await lockFor(trx, `recovery-email:${user.id}`);
    if (options.capped) {
      const recent = await trx
        .selectFrom('flows')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('kind', '=', 'recovery')
        .where('user_id', '=', user.id)
        .where('state', '!=', 'forced_change')
        .where('created_at', '>', new Date(ctx.clock.now().getTime() - 3600_000))
        .executeTakeFirstOrThrow();
      if (Number(recent.n) >= MAX_RECOVERY_EMAILS_PER_HOUR) return undefined;
    }
    await closeFlows(trx, ctx, user.id, ['recovery']);
    const { flow, link } = await createFlow(trx, ctx, RECOVERY, {
      state: 'sent',
      channel: 'api',
      tenantId,
      userId: user.id,
      email: user.email,
      returnTo: options.returnTo ?? null,
      locale,
      link: true,
    });
    await sendEmail(
      trx,
      ctx,
      {
        to: user.email,
        tenantId,
        locale,
        name: user.given_name ?? user.name,
        subject: 'recovery.email_subject',
        paragraphs: [
          { key: options.byAdministrator ? 'recovery.email_admin_body' : 'recovery.email_body', vars: { email: user.email } },
          { key: 'recovery.email_expiry' },
        ],
        action: { label: 'recovery.email_action', url: `${ctx.config.issuer}/recovery/reset?token=${encodeURIComponent(link!)}` },
      },
      translator,
    );
    await recordAudit(trx, ctx, {
      action: 'iam.user.passwordResetRequested',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { flow_id: flow.id, by: options.byAdministrator ? 'administrator' : 'user' },
    });
    return flow;
  });
}

/** The reset link's flow and user, without spending the link (its page shows a form first). */
export async function peekRecovery(ctx: AppContext, token: string): Promise<{ flow: RecoveryFlow; user: User }> {
  const flow = await peekLink(ctx.db, ctx, RECOVERY, token);
  const user = flow.user_id ? await ctx.db.selectFrom('users').selectAll().where('id', '=', flow.user_id).executeTakeFirst() : undefined;
  // A link sent to an address the account no longer has is dead (the old mailbox may be the compromised one).
  const sameAddress = user && loginKey(flow.email ?? '').toLowerCase() === user.email.toLowerCase();
  if (!user || !sameAddress || flow.state !== 'sent')
    throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
  if (user.status !== 'active') throw new AppError('account_disabled', 'This account is disabled');
  return { flow, user };
}

/**
 * Sets the new password of a reset link, spending it: the home tenant's policy (history
 * included), the forced-change flag cleared, every session and grant ended, the password
 * lockouts ended, all audited.
 */
export async function resetPassword(
  ctx: AppContext,
  token: string,
  password: string,
  actor: Actor,
): Promise<{ user: User; flow: RecoveryFlow }> {
  const { flow, user } = await peekRecovery(ctx, token);
  await assertPasswordAllowed(ctx, user.home_tenant_id, password, user);
  const { history } = await passwordPolicyFor(ctx, user.home_tenant_id);
  const hash = await ctx.passwords.hash(password);
  const asUser: Actor = { ...actor, type: 'user', id: user.id };
  const updated = await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendLink(trx, ctx, RECOVERY, token, 'done');
    if (spent.id !== flow.id) throw new AppError('link_invalid', 'This link is not valid; it may have been used already');
    const row = await trx
      .updateTable('users')
      .set({ password_hash: hash, password_reset_required: false, updated_at: ctx.clock.now() })
      .where('id', '=', user.id)
      .where('status', '=', 'active')
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new AppError('account_disabled', 'This account is disabled');
    await rememberPassword(trx, ctx, user.id, hash, history);
    const ended = await endUserAccess(trx, ctx, user.id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.passwordReset',
      actor: asUser,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { flow_id: flow.id, sessions_ended: ended.sessions, grants_ended: ended.grants },
    });
    return { row, spent };
  });
  // A new password ends the lockouts and blocked addresses that guarded the old one.
  await endProtection(ctx, asUser, user.id, user.home_tenant_id, 'password_changed');
  return { user: updated.row, flow: updated.spent };
}

/** An administrator's reset that ends the user's sessions and grants now, before the new password is set (audited). */
export async function endAccessForReset(ctx: AppContext, actor: Actor, user: User): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const ended = await endUserAccess(trx, ctx, user.id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.sessionsRevoked',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { reason: 'password_reset', sessions_ended: ended.sessions, grants_ended: ended.grants },
    });
  });
}

/** The tenant of the application an authorization request (interaction uid) belongs to, for branding. */
export async function interactionTenant(ctx: AppContext, uid: string | null | undefined): Promise<string | null> {
  if (!uid) return null;
  return interactionTenantId(ctx.db, uid);
}

/** The tenant of an application by client id (the API twin's optional `client_id`). */
export async function applicationTenant(ctx: AppContext, clientId: string | undefined): Promise<string | null> {
  if (!clientId) return null;
  const row = await ctx.db.selectFrom('applications').select('tenant_id').where('client_id', '=', clientId).executeTakeFirst();
  return row?.tenant_id ?? null;
}
