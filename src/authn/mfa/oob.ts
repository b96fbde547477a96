import { createHmac, randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { brandingOf } from '../../directory/branding/branding.js';
import { sendEmail } from '../../directory/branding/email.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { constantTimeEqual, randomToken, sha256 } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { lockFor } from '../../platform/db/locks.js';
import type { MfaFactor } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { supportedLocale, translator } from '../../platform/i18n/index.js';
import { countText, resendIntervalOf, resendTooSoon } from '../bot-defence/sms-caps.js';
import { assertFactorAllowed, factorDestination, factorOf, sealDestination } from './factors.js';
import { smsSender } from './sms.js';

/** A code sent by email or SMS lives five minutes and takes at most five guesses. */
const OOB_TTL_MS = 5 * 60_000;
const OOB_MAX_ATTEMPTS = 5;
const E164 = /^\+[1-9]\d{6,14}$/;

const OOB_TTL_MINUTES = OOB_TTL_MS / 60_000;

const bindingHash = (ctx: AppContext, challengeId: string, code: string) =>
  createHmac('sha256', ctx.masterKey).update(`mfa-binding-code\0${challengeId}\0${code}`, 'utf8').digest();

async function userWithTenant(ctx: AppContext, userId: string) {
  const user = await ctx.db
    .selectFrom('users as u')
    .leftJoin('tenants as t', 't.id', 'u.home_tenant_id')
    .select(['u.id', 'u.email', 'u.home_tenant_id', 'u.locale', 't.name as tenant_name'])
    .where('u.id', '=', userId)
    .executeTakeFirst();
  if (!user) throw notFound('User');
  return user;
}

/** Email and SMS enrolments a user may start in an hour: each sends a message to a new destination. */
export const OOB_ENROLMENTS_PER_HOUR = 5;

/** Codes sent by email or SMS to one user in an hour, enrolments and resends alike (decision 216). */
export const MFA_SENDS_PER_HOUR = 10;
const HOUR_MS = 3_600_000;

/**
 * Refuses a code beyond MFA_SENDS_PER_HOUR in the last hour: whoever holds a password (or
 * an mfa_token, or a session's sign-in step) could otherwise flood the user's mailbox or
 * phone, and texts cost money. Every send goes through startChallenge, whatever asked
 * (the hosted pages, Auth0's /mfa/challenge, an enrolment), so this is the one limit.
 * Counted from the challenges themselves (kept an hour, a new one only expires the old),
 * under the user's lock in the transaction that adds one: parallel sends cannot all pass.
 */
async function assertSendRate(trx: Db, userId: string, now: Date): Promise<void> {
  await lockFor(trx, `mfa-send:${userId}`);
  const sent = await trx
    .selectFrom('mfa_oob_challenges')
    .select('created_at')
    .where('user_id', '=', userId)
    .where('created_at', '>', new Date(now.getTime() - HOUR_MS))
    .orderBy('created_at')
    .limit(MFA_SENDS_PER_HOUR)
    .execute();
  if (sent.length < MFA_SENDS_PER_HOUR) return;
  const retryAfter = Math.max(1, Math.ceil(((sent[0] as { created_at: Date }).created_at.getTime() + HOUR_MS - now.getTime()) / 1000));
  throw new AppError('too_many_attempts', 'Too many codes sent to this account; try again later', { retry_after: retryAfter });
}

/**
 * Refuses a resend: a new text to a factor whose last code, sent less than `intervalSeconds`
 * ago, is still unanswered (429 resend_too_soon with retry_after). A code that was answered
 * (an enrolment confirmed, a sign-in done) is no reason to wait. Runs under the user's send
 * lock (assertSendRate), so two sends at once cannot both pass.
 */
async function assertResendSpaced(trx: Db, factorId: string, intervalSeconds: number, now: Date): Promise<void> {
  const last = await trx
    .selectFrom('mfa_oob_challenges')
    .select('created_at')
    .where('factor_id', '=', factorId)
    .where('used_at', 'is', null)
    .where('created_at', '>', new Date(now.getTime() - intervalSeconds * 1000))
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!last) return;
  const retryAfter = Math.max(1, Math.ceil((last.created_at.getTime() + intervalSeconds * 1000 - now.getTime()) / 1000));
  throw resendTooSoon(retryAfter);
}

/**
 * Refuses a sixth email or SMS enrolment within an hour: each one sends a text or an email
 * to a destination the caller chose, and texts cost money (toll fraud). Counted from the
 * audit trail, where each enrolment is recorded.
 */
async function assertEnrolmentRate(ctx: AppContext, userId: string): Promise<void> {
  const since = new Date(ctx.clock.now().getTime() - 3_600_000);
  const { started } = await ctx.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<string>().as('started'))
    .where('target_id', '=', userId)
    .where('action', '=', 'iam.mfa.enrolled')
    .where('created_at', '>', since)
    .where(sql<boolean>`details->>'type' in ('sms', 'email') and details->>'confirmed' = 'false'`)
    .executeTakeFirstOrThrow();
  if (Number(started) >= OOB_ENROLMENTS_PER_HOUR) {
    throw new AppError('too_many_attempts', 'Too many email or SMS enrolments; try again later', { retry_after: 3600 });
  }
}

/**
 * Starts an email or SMS enrolment: a new, unconfirmed factor (the destination sealed at
 * rest; email: the account's address) and a first code sent there to prove it.
 */
export async function enrolOob(
  ctx: AppContext,
  actor: Actor,
  userId: string,
  channel: 'email' | 'sms',
  phoneNumber?: string,
): Promise<{ factorId: string; oobCode: string }> {
  const user = await userWithTenant(ctx, userId);
  await assertFactorAllowed(ctx, user.home_tenant_id, channel);
  await assertEnrolmentRate(ctx, userId);
  let destination = user.email;
  if (channel === 'sms') {
    const phone = phoneNumber?.replace(/[\s().-]/g, '');
    if (!phone || !E164.test(phone))
      throw new AppError('invalid_phone_number', 'phone_number must be in E.164 form, e.g. +14155550100', { field: 'phone_number' });
    destination = phone;
  }
  const factorId = ctx.ids.next();
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('mfa_factors').where('user_id', '=', userId).where('type', '=', channel).where('confirmed', '=', false).execute();
    await trx
      .insertInto('mfa_factors')
      .values({
        id: factorId,
        user_id: userId,
        type: channel,
        destination_sealed: sealDestination(ctx, factorId, destination),
        created_at: ctx.clock.now(),
      })
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.enrolled',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { factor_id: factorId, type: channel, confirmed: false },
    });
  });
  const { oobCode } = await startChallenge(ctx, userId, factorId);
  return { factorId, oobCode };
}

/**
 * Sends a fresh six-digit code to an email or SMS factor (earlier unanswered codes of that
 * factor stop working) and returns the `oob_code` that binds the answer to this challenge.
 */
export async function startChallenge(ctx: AppContext, userId: string, factorId: string): Promise<{ oobCode: string }> {
  const factor = await factorOf(ctx.db, userId, factorId);
  if (factor.type !== 'email' && factor.type !== 'sms') {
    throw new AppError('invalid_request', 'Only email and SMS factors are sent a code', { factor_type: factor.type });
  }
  const user = await userWithTenant(ctx, userId);
  // In the user's language (English without one): src/i18n/messages/emails.ts.
  const locale = supportedLocale(user.locale) ?? 'en';
  const destination = factorDestination(ctx, factor);
  const oobCode = randomToken('ghoob');
  const bindingCode = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const challengeId = ctx.ids.next();
  const now = ctx.clock.now();
  // A text again to this factor while its last code is unanswered is a resend: spaced by the tenant's interval (decision 381).
  const resendInterval = factor.type === 'sms' ? await resendIntervalOf(ctx, user.home_tenant_id) : 0;
  await ctx.db.transaction().execute(async (trx) => {
    await assertSendRate(trx, userId, now);
    if (resendInterval > 0) await assertResendSpaced(trx, factor.id, resendInterval, now);
    // The factor's earlier codes stop working; their rows stay an hour, counted by assertSendRate.
    await trx
      .updateTable('mfa_oob_challenges')
      .set({ expires_at: now })
      .where('factor_id', '=', factor.id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .execute();
    await trx
      .insertInto('mfa_oob_challenges')
      .values({
        id: challengeId,
        user_id: userId,
        factor_id: factor.id,
        oob_code_hash: sha256(oobCode),
        binding_code_hash: bindingHash(ctx, challengeId, bindingCode),
        expires_at: new Date(now.getTime() + OOB_TTL_MS),
        created_at: now,
      })
      .execute();
    if (factor.type === 'email') {
      await sendEmail(
        trx,
        ctx,
        {
          to: destination,
          tenantId: user.home_tenant_id,
          locale,
          subject: 'mail.code_subject',
          paragraphs: [{ key: 'mail.code_intro' }, { key: 'mail.code_expiry', vars: { minutes: OOB_TTL_MINUTES } }],
          code: bindingCode,
        },
        translator,
      );
    }
  });
  if (factor.type === 'sms') {
    try {
      // SMS pumping (decision 379): within the tenant's and the country's hourly caps, or not sent.
      await countText(ctx, user.home_tenant_id, destination);
      const brand = (await brandingOf(ctx, user.home_tenant_id ?? undefined))?.display_name ?? user.tenant_name ?? 'Gatehouse';
      await smsSender(ctx).send(destination, translator(locale)('sms.code', { code: bindingCode, brand, minutes: OOB_TTL_MINUTES }), {
        tenantId: user.home_tenant_id,
        userId: user.id,
      });
    } catch (error) {
      await ctx.db.deleteFrom('mfa_oob_challenges').where('id', '=', challengeId).execute();
      throw error;
    }
  }
  return { oobCode };
}

/**
 * The factor an `oob_code` + binding code answer proves, or undefined. Every answer to a
 * live challenge spends one of its five attempts; the binding code is compared as a keyed
 * hash in constant time; a right answer spends the challenge.
 */
export async function matchOob(ctx: AppContext, userId: string, oobCode: string, bindingCode: string): Promise<MfaFactor | undefined> {
  const now = ctx.clock.now();
  const challenge = await ctx.db
    .updateTable('mfa_oob_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('oob_code_hash', '=', sha256(oobCode))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .where('attempts', '<', OOB_MAX_ATTEMPTS)
    .returning(['id', 'factor_id', 'binding_code_hash'])
    .executeTakeFirst();
  if (!challenge) return undefined;
  if (!constantTimeEqual(bindingHash(ctx, challenge.id, bindingCode.trim()), challenge.binding_code_hash)) return undefined;
  const spent = await ctx.db
    .updateTable('mfa_oob_challenges')
    .set({ used_at: now })
    .where('id', '=', challenge.id)
    .where('used_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (!spent) return undefined;
  return ctx.db.selectFrom('mfa_factors').selectAll().where('id', '=', challenge.factor_id).executeTakeFirst();
}
