import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { constantTimeEqual } from '../../platform/crypto/secrets.js';
import type { MfaFactor } from '../../platform/db/schema.js';
import { notFound } from '../../platform/errors.js';
import { assertFactorAllowed, sealSecret } from './factors.js';

/** RFC 6238 as every authenticator app reads it: SHA-1, 6 digits, 30 seconds; one step either side. */
const PERIOD = 30;
const DIGITS = 6;
const WINDOW = 1;

function totpOf(secret: string, issuer = 'Gatehouse', label = 'user'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD, secret: Secret.fromBase32(secret) });
}

export interface TotpEnrolment {
  factorId: string;
  secret: string;
  otpauthUri: string;
  qrCodeDataUrl: string;
}

/**
 * Starts a TOTP enrolment: a new, unconfirmed factor with a fresh 160-bit seed (sealed at
 * rest), its `otpauth://` URI (issuer: the home tenant's name, label: the email) and that
 * URI as a QR code. Unconfirmed TOTP factors the user started before are dropped.
 */
export async function enrolTotp(ctx: AppContext, actor: Actor, userId: string, name?: string): Promise<TotpEnrolment> {
  const user = await ctx.db
    .selectFrom('users as u')
    .leftJoin('tenants as t', 't.id', 'u.home_tenant_id')
    .select(['u.id', 'u.email', 'u.home_tenant_id', 't.name as tenant_name'])
    .where('u.id', '=', userId)
    .executeTakeFirst();
  if (!user) throw notFound('User');
  await assertFactorAllowed(ctx, user.home_tenant_id, 'otp');
  const secret = new Secret({ size: 20 }).base32;
  const otpauthUri = totpOf(secret, user.tenant_name ?? 'Gatehouse', user.email).toString();
  const factorId = ctx.ids.next();
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('mfa_factors').where('user_id', '=', userId).where('type', '=', 'otp').where('confirmed', '=', false).execute();
    await trx
      .insertInto('mfa_factors')
      .values({
        id: factorId,
        user_id: userId,
        type: 'otp',
        name: name ?? null,
        secret_sealed: sealSecret(ctx, factorId, secret),
        created_at: ctx.clock.now(),
      })
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.enrolled',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { factor_id: factorId, type: 'otp', confirmed: false },
    });
  });
  return { factorId, secret, otpauthUri, qrCodeDataUrl: await QRCode.toDataURL(otpauthUri) };
}

/**
 * The time step a code belongs to, if it is right within the window (each candidate
 * compared in constant time), or undefined. The caller accepts it only if the step is
 * later than the last one accepted (no replay within the window).
 */
export function matchTotp(secret: string, code: string, now: Date): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const totp = totpOf(secret);
  const step = Math.floor(now.getTime() / 1000 / PERIOD);
  let matched: number | undefined;
  for (let delta = -WINDOW; delta <= WINDOW; delta++) {
    const expected = totp.generate({ timestamp: (step + delta) * PERIOD * 1000 });
    if (constantTimeEqual(Buffer.from(expected), Buffer.from(code))) matched = step + delta;
  }
  return matched;
}

/** Records the step of an accepted code; false when that step (or a later one) was accepted already: a replay. */
export async function claimTotpStep(ctx: AppContext, factor: MfaFactor, step: number): Promise<boolean> {
  const claimed = await ctx.db
    .updateTable('mfa_factors')
    .set({ last_totp_step: step, last_used_at: ctx.clock.now() })
    .where('id', '=', factor.id)
    .where((eb) => eb.or([eb('last_totp_step', 'is', null), eb('last_totp_step', '<', step)]))
    .returning('id')
    .executeTakeFirst();
  return claimed !== undefined;
}
