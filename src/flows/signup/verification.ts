import { sql } from 'kysely';
import { sendEmail } from '../../directory/branding/email.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { assertManageable } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { lockFor } from '../../platform/db/locks.js';
import type { FlowChannel, FlowKind, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import type { Locale } from '../../platform/i18n/index.js';
import { emailIs, loginKey } from '../../platform/mail/address.js';
import { closeFlows, createFlow, FLOW_LIFETIME_MS, flowOf, peekLink, spendCode, spendLink } from '../kit/flows.js';
import { translator } from '../kit/messages.js';
import { VERIFICATION, type VerificationFlow } from './flow.js';

/**
 * Email verification (issue 5): a `verification` flow carries an emailed link and a
 * six-digit code; either one, once, marks the address verified. A flow with no user behind
 * it (an address that is taken or unknown) answers like a real one and can never succeed.
 */
export interface VerificationOptions {
  channel: FlowChannel;
  /** The browser binding cookie's value: only this browser may type the code (and is signed in after). */
  browser?: string | null;
  applicationId?: string | null;
  tenantId?: string | null;
  returnTo?: string | null;
  locale: Locale;
  actor: Actor;
  /**
   * The registration that created the user, in this browser, proved the password: only
   * then may the verification sign the browser in. A resend never does (anyone may ask
   * for one, and the code alone proves only the mailbox).
   */
  signsIn?: boolean;
}

/** Verification emails to one user per hour, at most (sign-up, resend and admin resend together). */
export const VERIFICATION_EMAILS_PER_HOUR = 5;

/** Flows of a kind created in the last hour, for one address (any case) or one user. */
export async function recentFlowCount(
  db: Db,
  ctx: AppContext,
  filter: { kind: FlowKind; email?: string; userId?: string; state?: string; data?: [string, string] },
): Promise<number> {
  let query = db
    .selectFrom('flows')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('kind', '=', filter.kind)
    .where('created_at', '>', new Date(ctx.clock.now().getTime() - 3600_000));
  if (filter.email) query = query.where(emailIs(filter.email));
  if (filter.userId) query = query.where('user_id', '=', filter.userId);
  if (filter.state) query = query.where('state', '=', filter.state);
  if (filter.data) query = query.where(sql<string>`data->>${filter.data[0]}`, '=', filter.data[1]);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * A new verification flow for a user and its email (link + code); earlier open
 * verification flows of the user end, so only the latest email works. `capped` (the
 * resends): nothing is sent, and undefined returned, when the user had
 * VERIFICATION_EMAILS_PER_HOUR already, counted under the user's lock in the same
 * transaction (parallel requests cannot all pass the count).
 */
export async function sendVerification(
  ctx: AppContext,
  user: User,
  options: VerificationOptions & { capped: true },
): Promise<VerificationFlow | undefined>;
export async function sendVerification(
  ctx: AppContext,
  user: User,
  options: VerificationOptions & { capped?: false },
): Promise<VerificationFlow>;
export async function sendVerification(
  ctx: AppContext,
  user: User,
  options: VerificationOptions & { capped?: boolean },
): Promise<VerificationFlow | undefined> {
  const tenantId = options.tenantId ?? user.home_tenant_id;
  return ctx.db.transaction().execute(async (trx) => {
    await lockFor(trx, `verification-email:${user.id}`);
    if (options.capped && (await recentFlowCount(trx, ctx, { kind: 'verification', userId: user.id })) >= VERIFICATION_EMAILS_PER_HOUR) {
      return undefined;
    }
    await closeFlows(trx, ctx, user.id, ['verification']);
    const { flow, link, code } = await createFlow(trx, ctx, VERIFICATION, {
      state: 'sent',
      channel: options.channel,
      tenantId,
      applicationId: options.applicationId ?? null,
      userId: user.id,
      email: user.email,
      browser: options.browser ?? null,
      returnTo: options.returnTo ?? null,
      locale: options.locale,
      link: true,
      code: true,
      ...(options.signsIn && { data: { signs_in: true } }),
    });
    await sendEmail(
      trx,
      ctx,
      {
        to: user.email,
        tenantId,
        locale: options.locale,
        name: user.given_name ?? user.name,
        subject: 'email.verify.subject',
        paragraphs: [
          { key: 'email.verify.body' },
          { key: 'email.verify.expiry', vars: { hours: FLOW_LIFETIME_MS.verification / 3600_000 } },
        ],
        action: { label: 'email.verify.action', url: `${ctx.config.issuer}/verify?token=${encodeURIComponent(link as string)}` },
        code: code as string,
      },
      translator,
    );
    await recordAudit(trx, ctx, {
      action: 'iam.user.verificationEmailSent',
      actor: options.actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { flow_id: flow.id },
    });
    return flow;
  });
}

/** A flow with no user behind it, shaped like a real one (unknown, taken or already verified addresses). */
export async function decoyVerification(
  ctx: AppContext,
  email: string,
  options: Omit<VerificationOptions, 'actor'>,
): Promise<VerificationFlow> {
  const { flow } = await createFlow(ctx.db, ctx, VERIFICATION, {
    state: 'sent',
    channel: options.channel,
    tenantId: options.tenantId ?? null,
    applicationId: options.applicationId ?? null,
    email,
    browser: options.browser ?? null,
    returnTo: options.returnTo ?? null,
    locale: options.locale,
  });
  return flow;
}

/** A verification flow by id; its expiry is the code's business (an expired code is `invalid_code`). */
export async function verificationFlow(ctx: AppContext, id: string): Promise<VerificationFlow> {
  const row = await ctx.db.selectFrom('flows').selectAll().where('id', '=', id).where('kind', '=', 'verification').executeTakeFirst();
  if (!row) throw new AppError('flow_not_found', 'This flow does not exist; start again');
  return flowOf(VERIFICATION, row);
}

/**
 * The page a sign-in shows an unverified self-registered user (after the right password):
 * a `resend` flow bound to this browser, whose form asks for a new verification email.
 */
export async function resendFlow(
  ctx: AppContext,
  user: User | undefined,
  options: { tenantId: string; browser: string; returnTo: string; locale: Locale },
): Promise<VerificationFlow> {
  const { flow } = await createFlow(ctx.db, ctx, VERIFICATION, {
    state: 'resend',
    channel: 'browser',
    tenantId: options.tenantId,
    userId: user?.id ?? null,
    email: user?.email ?? null,
    browser: options.browser,
    returnTo: options.returnTo,
    locale: options.locale,
  });
  return flow;
}

/** Marks the flow's user verified (and audits it); the user, or undefined for a flow with no user. */
async function markVerified(ctx: AppContext, flow: VerificationFlow, actor: Actor, method: 'link' | 'code'): Promise<User> {
  const userId = flow.user_id;
  if (!userId) throw new AppError('invalid_code', 'That code is not right, or it has expired');
  return ctx.db.transaction().execute(async (trx) => {
    const user = await trx
      .updateTable('users')
      .set({ email_verified: true, updated_at: ctx.clock.now() })
      .where('id', '=', userId)
      // The address the email went to must still be the account's address.
      .where(emailIs(flow.email ?? ''))
      .returningAll()
      .executeTakeFirst();
    if (!user) throw new AppError('link_invalid', 'This account’s email address has changed since the email was sent');
    await recordAudit(trx, ctx, {
      action: 'iam.user.emailVerified',
      actor: { ...actor, type: 'user', id: user.id },
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: user.id },
      details: { method, flow_id: flow.id },
    });
    return user;
  });
}

/** The code typed for a verification flow (brute-force guarded; five wrong codes kill it). */
export async function verifyByCode(
  ctx: AppContext,
  flow: VerificationFlow,
  code: string,
  actor: Actor,
): Promise<{ flow: VerificationFlow; user: User }> {
  if (!/^\s*\d{6}\s*$/.test(code)) throw new AppError('invalid_code', 'That code is not right, or it has expired');
  const spent = await spendCode(ctx.db, ctx, flow, code, actor, 'verified');
  return { flow: spent, user: await markVerified(ctx, spent, actor, 'code') };
}

/** The emailed link's token, spent (`link_invalid` when unknown, used or forged; `link_expired` when late). */
export async function verifyByLink(ctx: AppContext, token: string, actor: Actor): Promise<{ flow: VerificationFlow; user: User }> {
  const spent = await spendLink(ctx.db, ctx, VERIFICATION, token, 'verified');
  return { flow: spent, user: await markVerified(ctx, spent, actor, 'link') };
}

/** Looks at a link before the confirmation click (mail scanners follow links; only the POST spends it). */
export const peekVerificationLink = (ctx: AppContext, token: string) => peekLink(ctx.db, ctx, VERIFICATION, token);

/**
 * "Send me a new verification email": the same answer (a verification flow) for any
 * address; an email goes out only to an unverified account, at most a few an hour.
 */
export async function resendVerification(
  ctx: AppContext,
  email: string,
  options: Omit<VerificationOptions, 'actor'> & { actor: Actor; userId?: string },
): Promise<VerificationFlow> {
  const user = options.userId
    ? await ctx.db.selectFrom('users').selectAll().where('id', '=', options.userId).executeTakeFirst()
    : await ctx.db.selectFrom('users').selectAll().where(emailIs(email)).executeTakeFirst();
  const eligible = user && !user.email_verified && user.status === 'active';
  const sent = eligible
    ? await sendVerification(ctx, user, { ...options, tenantId: options.tenantId ?? user.home_tenant_id, capped: true })
    : undefined;
  return sent ?? decoyVerification(ctx, user?.email ?? loginKey(email), options);
}

/** An administrator's "resend the verification email" (the rule of decision 180; audited by sendVerification). */
export async function adminResendVerification(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<VerificationFlow> {
  const user = await assertManageable(ctx, scope, actor, userId);
  if (user.email_verified) throw new AppError('already_verified', 'This user’s email address is verified already');
  const locale = (user.locale as Locale | null) === 'de' ? 'de' : 'en';
  const sent = await sendVerification(ctx, user, { channel: 'api', locale, actor, capped: true });
  if (!sent) {
    throw new AppError('too_many_attempts', 'Too many verification emails for this user; try again in an hour', { retry_after: 3600 });
  }
  return sent;
}
