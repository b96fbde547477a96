import { sql } from 'kysely';
import { assertResendSpacing, countCountryText, countTenantText } from '../../authn/bot-defence/sms-caps.js';
import { factorDestination, factorsOf } from '../../authn/mfa/factors.js';
import { smsSender } from '../../authn/mfa/sms.js';
import { mustVerifyEmailFirst } from '../../authn/sessions/verified-email-rule.js';
import { brandingOf } from '../../directory/branding/branding.js';
import { brandedEmail, sendEmail } from '../../directory/branding/email.js';
import { systemTenantId } from '../../directory/permissions/effective.js';
import { tenantPolicies } from '../../directory/policies/policies.js';
import { findUserByLogin } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { fingerprint } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { lockFor } from '../../platform/db/locks.js';
import type { FlowChannel, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import type { Locale } from '../../platform/i18n/index.js';
import { loginKey } from '../../platform/mail/address.js';
import { DEFAULT_BRANDING } from '../../platform/web/html.js';
import { createFlow } from '../kit/flows.js';
import { translator } from '../kit/messages.js';
import { PASSWORDLESS, type PasswordlessFlow, type PasswordlessMethod } from './flow.js';

/**
 * Passwordless sign-in (issue 5, part 5): an emailed link, an emailed code or a texted
 * code, each switched on per tenant (`passwordless.methods`). Starting one always answers
 * the same way, whether or not an account matches: a flow id, and a message sent only when
 * an active member of the application's tenant (any active user for a platform
 * application) matches (decision 160).
 */
/** Messages one account (or one unknown login) may be sent in an hour (toll fraud for SMS, mailbox flooding). */
export const SENDS_PER_HOUR = 5;
const HOUR_MS = 3_600_000;

/** The application a passwordless flow signs into, by its client_id. */
export interface SignInApplication {
  id: string;
  clientId: string;
  tenantId: string;
  mfaPolicy: 'off' | 'optional' | 'required' | null;
}

export async function applicationByClientId(ctx: AppContext, clientId: string): Promise<SignInApplication> {
  const row = await ctx.db
    .selectFrom('applications')
    .select(['id', 'client_id', 'tenant_id', 'mfa_policy'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  if (!row) throw new AppError('invalid_field', 'No application has this client_id', { field: 'client_id' });
  return { id: row.id, clientId: row.client_id, tenantId: row.tenant_id, mfaPolicy: row.mfa_policy };
}

/** The methods the application's tenant allows; none: passwordless sign-in is off there. */
export async function allowedMethods(ctx: AppContext, tenantId: string): Promise<PasswordlessMethod[]> {
  return [...(await tenantPolicies(ctx, tenantId)).passwordless.methods];
}

export async function assertMethodAllowed(ctx: AppContext, tenantId: string, method: PasswordlessMethod): Promise<void> {
  if (!(await allowedMethods(ctx, tenantId)).includes(method)) {
    throw new AppError('passwordless_disabled', `Sign-in with ${method} is not enabled for this application's tenant`, { method });
  }
}

/**
 * The user a passwordless flow may sign in: active, and a member of the application's
 * tenant (any user for a platform application, as the password sign-in), and for a texted
 * code not held back by the sign-up rule (an unverified self-registered address). Anyone
 * else is nobody, with no different answer.
 */
export async function eligibleUser(
  ctx: AppContext,
  userId: string | null,
  tenantId: string,
  method: PasswordlessMethod,
): Promise<User | undefined> {
  if (!userId) return undefined;
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', userId).where('status', '=', 'active').executeTakeFirst();
  if (!user) return undefined;
  // A texted code proves the phone, not the email address: the sign-up rule still holds (an emailed one proves the address).
  if (method === 'sms_code' && (await mustVerifyEmailFirst(ctx, user))) return undefined;
  if (tenantId === (await systemTenantId(ctx.db))) return user;
  const member = await ctx.db
    .selectFrom('memberships')
    .select('user_id')
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  return member ? user : undefined;
}

/**
 * The phone a texted code goes to: a confirmed SMS factor's number, else the profile's
 * phone when it is verified (decision 160). A number the user typed themselves (sign-up,
 * the profile page) is not a credential: anyone holding a session, or signing up with
 * someone else's address, could set it.
 */
async function phoneOf(ctx: AppContext, user: User): Promise<string | undefined> {
  const factor = (await factorsOf(ctx.db, user.id)).find((f) => f.type === 'sms' && f.confirmed && f.destination_sealed);
  if (factor) return factorDestination(ctx, factor);
  return user.phone_verified ? (user.phone ?? undefined) : undefined;
}

/**
 * At most SENDS_PER_HOUR flows per account and hour; an unknown login is counted under its
 * own key, so the limit says nothing about whether an account exists.
 */
async function assertSendRate(trx: Db, ctx: AppContext, sendKey: string): Promise<void> {
  // Counted under the key's lock, in the transaction that creates the flow: parallel starts cannot all pass.
  await lockFor(trx, `passwordless-send:${sendKey}`);
  const since = new Date(ctx.clock.now().getTime() - HOUR_MS);
  const rows = await trx
    .selectFrom('flows')
    .select('created_at')
    .where('kind', '=', 'passwordless')
    .where(sql<string>`data->>'send_key'`, '=', sendKey)
    .where('created_at', '>', since)
    .orderBy('created_at')
    .limit(SENDS_PER_HOUR)
    .execute();
  if (rows.length < SENDS_PER_HOUR) return;
  const oldest = (rows[0] as { created_at: Date }).created_at.getTime();
  const retryAfter = Math.max(1, Math.ceil((oldest + HOUR_MS - ctx.clock.now().getTime()) / 1000));
  throw new AppError('too_many_attempts', 'Too many sign-in messages for this account; try again later', { retry_after: retryAfter });
}

/** What the send rate counts a flow under (and the OTP grant finds it by): the account, else the login typed. */
export const sendKeyOf = (ctx: AppContext, found: { id: string } | undefined, login: string): string =>
  fingerprint(ctx.masterKey, 'passwordless-send', found ? `user:${found.id}` : `login:${loginKey(login).toLowerCase()}`);

export interface StartInput {
  application: SignInApplication;
  method: PasswordlessMethod;
  /** Email or username, as typed. */
  login: string;
  channel: FlowChannel;
  /** The browser binding (browser flows). */
  browser?: string | null;
  returnTo?: string | null;
  locale: Locale;
}

/** Starts a passwordless flow and sends its code or link when an eligible account matches. */
export async function startPasswordless(ctx: AppContext, input: StartInput, actor: Actor): Promise<PasswordlessFlow> {
  const { application, method } = input;
  await assertMethodAllowed(ctx, application.tenantId, method);
  const login = input.login.trim();
  if (!login) throw new AppError('missing_field', 'Enter an email address or username', { field: 'login' });
  const found = await findUserByLogin(ctx.db, login);
  const user = await eligibleUser(ctx, found?.id ?? null, application.tenantId, method);
  const sendKey = sendKeyOf(ctx, found, login);
  const phone = user && method === 'sms_code' ? await phoneOf(ctx, user) : undefined;
  const recipient = user && (method === 'sms_code' ? phone : user.email);
  const locale = input.locale;
  const t = translator(locale);
  const brand = (await brandingOf(ctx, application.tenantId))?.display_name ?? DEFAULT_BRANDING.display_name;
  if (method === 'sms_code') {
    // SMS pumping (decisions 379–381), alike for a known and an unknown login: the resend
    // spacing of this login and the tenant's hourly cap of texts.
    await assertResendSpacing(ctx, application.tenantId, `passwordless:${sendKey}`);
    await countTenantText(ctx, application.tenantId);
  }

  let sms: { to: string; body: string } | undefined;
  const flow = await ctx.db.transaction().execute(async (trx) => {
    await assertSendRate(trx, ctx, sendKey);
    const created = await createFlow(trx, ctx, PASSWORDLESS, {
      state: 'sent',
      channel: input.channel,
      tenantId: application.tenantId,
      applicationId: application.id,
      userId: recipient ? (user?.id ?? null) : null,
      browser: input.browser ?? null,
      returnTo: input.returnTo ?? null,
      locale,
      data: { method, send_key: sendKey },
      link: method === 'email_link',
      code: method !== 'email_link',
    });
    const email = {
      to: user?.email ?? 'nobody@invalid',
      tenantId: application.tenantId,
      locale,
      subject: 'passwordless.email_subject' as const,
      name: user?.name ?? null,
      paragraphs: [
        { key: method === 'email_link' ? ('passwordless.email_link_text' as const) : ('passwordless.email_code_text' as const) },
      ],
      ...(created.link && {
        action: {
          label: 'passwordless.email_link_action' as const,
          url: `${ctx.config.issuer}/passwordless/link?token=${encodeURIComponent(created.link)}`,
        },
      }),
      ...(created.code && { code: created.code }),
    };
    if (!recipient || !user) {
      // Nobody to send to: render the message anyway (through this transaction), so the answer takes about as long.
      if (method !== 'sms_code') await brandedEmail(trx, ctx, email, translator);
      return created.flow;
    }
    if (method === 'sms_code') {
      sms = { to: recipient, body: t('passwordless.sms_text', { code: created.code ?? '', brand }) };
    } else {
      await sendEmail(trx, ctx, email, translator);
    }
    await recordAudit(trx, ctx, {
      action: 'iam.passwordless.sent',
      actor,
      tenantId: application.tenantId,
      target: { type: 'user', id: user.id },
      details: { flow_id: created.flow.id, method, client_id: application.clientId },
    });
    return created.flow;
  });
  if (sms) {
    // Not awaited: a gateway's latency would tell who has an account (the answer is the same either way).
    // The country's cap is counted only for a real text, so its refusal is quiet here: the
    // answer would otherwise tell that the login has an account (decision 380).
    const { to, body } = sms;
    const userId = user?.id;
    countCountryText(ctx, application.tenantId, to)
      .then(() => smsSender(ctx).send(to, body, { tenantId: application.tenantId, action: 'passwordless', ...(userId && { userId }) }))
      .catch((error: unknown) => ctx.log.warn({ flow_id: flow.id, err: (error as Error).message }, 'Passwordless SMS not sent'));
  }
  return flow;
}
