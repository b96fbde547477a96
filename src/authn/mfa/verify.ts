import type { Kysely } from 'kysely';
import { recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Database, MfaFactor } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import type { AttemptKind } from '../../platform/ports/protection.js';
import { guardAttempt } from '../protection/guard.js';
import { factorSecret, factorsOf, hasConfirmedFactor } from './factors.js';
import { matchOob } from './oob.js';
import { addRecoveryCodes, spendRecoveryCode } from './recovery-codes.js';
import { claimTotpStep, matchTotp } from './totp.js';

export interface SecondFactorProof {
  otp?: string;
  oobCode?: string;
  bindingCode?: string;
  recoveryCode?: string;
}

export interface SecondFactorResult {
  /** RFC 8176 methods this answer proved (the caller adds `pwd` and `mfa`). */
  amr: string[];
  /** A recovery code replacing the one just spent (shown once), as Auth0's mfa-recovery-code grant returns. */
  newRecoveryCode?: string;
  /** The factor that answered (absent for a recovery code). */
  factorId?: string;
}

/** RFC 8176 methods: an authenticator app and an emailed code are `otp`, a text message `sms`. */
export const AMR_OF: Record<MfaFactor['type'], string> = { otp: 'otp', email: 'otp', sms: 'sms', webauthn: 'hwk' };

export const invalidCode = () => new AppError('invalid_code', 'The code is wrong, expired or already used');

export async function subjectOf(db: Kysely<Database>, userId: string, ip: string | null) {
  const user = await db.selectFrom('users').select(['id', 'email', 'home_tenant_id']).where('id', '=', userId).executeTakeFirst();
  if (!user) throw notFound('User');
  return { user, subject: { userId: user.id, login: user.email.trim().toLowerCase(), ip, tenantId: user.home_tenant_id } };
}

/** Exactly one kind of answer: an OTP, an oob_code with its binding code, or a recovery code. */
function kindOf(proof: SecondFactorProof): 'otp' | 'oob' | 'recovery' {
  const kinds = [
    proof.otp !== undefined && 'otp',
    (proof.oobCode !== undefined || proof.bindingCode !== undefined) && 'oob',
    proof.recoveryCode !== undefined && 'recovery',
  ].filter(Boolean) as ('otp' | 'oob' | 'recovery')[];
  if (kinds.length !== 1) throw new AppError('invalid_request', 'Send one answer: otp, oob_code with binding_code, or recovery_code');
  if (kinds[0] === 'oob' && (proof.oobCode === undefined || proof.bindingCode === undefined)) {
    throw new AppError('missing_field', 'oob_code and binding_code go together', {
      field: proof.oobCode === undefined ? 'oob_code' : 'binding_code',
    });
  }
  return kinds[0] as 'otp' | 'oob' | 'recovery';
}

/**
 * The factor an OTP proves among `candidates`, spending its time step (a code is accepted
 * once: a replay within its window fails like a wrong code).
 */
export async function otpFactor(ctx: AppContext, candidates: MfaFactor[], otp: string): Promise<MfaFactor | undefined> {
  const now = ctx.clock.now();
  for (const factor of candidates) {
    if (factor.type !== 'otp') continue;
    const step = matchTotp(factorSecret(ctx, factor), otp.trim(), now);
    if (step !== undefined) return (await claimTotpStep(ctx, factor, step)) ? factor : undefined;
  }
  return undefined;
}

/**
 * Checks one second-factor answer through the brute-force guard (kind `mfa`, or
 * `recovery_code`), so a wrong answer counts as a failed attempt and a locked account is
 * refused without a check. Confirmed factors answer; while the user has none, a pending
 * factor's right answer confirms it (enrolment at sign-in, Auth0's associate-then-verify).
 * A recovery code works only once the user has a confirmed factor; it is spent, and a new
 * one replaces it.
 */
export async function verifySecondFactor(
  ctx: AppContext,
  userId: string,
  proof: SecondFactorProof,
  ip: string | null,
): Promise<SecondFactorResult> {
  const kind = kindOf(proof);
  const { user, subject } = await subjectOf(ctx.db, userId, ip);
  const enrolled = await hasConfirmedFactor(ctx.db, userId);
  const attemptKind: AttemptKind = kind === 'recovery' ? 'recovery_code' : 'mfa';
  let factor: MfaFactor | undefined;
  await guardAttempt(
    ctx,
    attemptKind,
    subject,
    async () => {
      let ok = false;
      if (kind === 'recovery') {
        ok = enrolled && (await spendRecoveryCode(ctx.db, ctx, userId, proof.recoveryCode as string));
      } else if (kind === 'otp') {
        const candidates = (await factorsOf(ctx.db, userId)).filter((f) => f.confirmed || !enrolled);
        factor = await otpFactor(ctx, candidates, proof.otp as string);
        ok = factor !== undefined;
      } else {
        factor = await matchOob(ctx, userId, proof.oobCode as string, proof.bindingCode as string);
        ok = factor !== undefined && (factor.confirmed || !enrolled);
      }
      if (!ok) {
        await recordAudit(ctx.db, ctx, {
          action: 'iam.mfa.challengeFailed',
          actor: { type: 'user', id: userId, ip, userAgent: null },
          outcome: 'failure',
          tenantId: user.home_tenant_id,
          target: { type: 'user', id: userId },
          details: { method: kind },
        });
      }
      return ok;
    },
    invalidCode,
  );
  if (kind === 'recovery') {
    const [newRecoveryCode] = await addRecoveryCodes(ctx.db, ctx, userId, 1);
    return { amr: ['otp'], ...(newRecoveryCode && { newRecoveryCode }) };
  }
  const answered = factor as MfaFactor;
  await ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('mfa_factors').set({ last_used_at: ctx.clock.now(), confirmed: true }).where('id', '=', answered.id).execute();
    if (!answered.confirmed) {
      await recordAudit(trx, ctx, {
        action: 'iam.mfa.enrolled',
        actor: { type: 'user', id: userId, ip, userAgent: null },
        tenantId: user.home_tenant_id,
        target: { type: 'user', id: userId },
        details: { factor_id: answered.id, type: answered.type, confirmed: true },
      });
    }
  });
  return { amr: [AMR_OF[answered.type]], factorId: answered.id };
}
