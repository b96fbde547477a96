import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { guardAttempt } from '../protection/guard.js';
import { factorOf, hasConfirmedFactor } from './factors.js';
import { matchOob } from './oob.js';
import { applicableMfaPolicy } from './policy.js';
import { issueRecoveryCodes } from './recovery-codes.js';
import { invalidCode, otpFactor, subjectOf } from './verify.js';

/** Whether any organization the user belongs to (the home tenant included) requires MFA (decision 190). */
export async function mfaRequiredFor(ctx: AppContext, userId: string, homeTenantId: string | null): Promise<boolean> {
  const memberships = await ctx.db.selectFrom('memberships').select('tenant_id').where('user_id', '=', userId).execute();
  const organizations = memberships.map((m) => m.tenant_id);
  return (await applicableMfaPolicy(ctx, { home_tenant_id: homeTenantId }, { organizations })) === 'required';
}

/**
 * Confirms a pending factor with a code it received or shows (through the brute-force
 * guard). The user's first confirmed factor also returns 10 fresh recovery codes, shown once.
 */
export async function confirmFactor(
  ctx: AppContext,
  actor: Actor,
  userId: string,
  factorId: string,
  proof: { otp?: string; oobCode?: string; bindingCode?: string },
): Promise<{ recoveryCodes?: string[] }> {
  const factor = await factorOf(ctx.db, userId, factorId);
  if (factor.confirmed) throw new AppError('already_enrolled', 'This factor is confirmed already');
  if (factor.type === 'webauthn') throw new AppError('invalid_request', 'A passkey is confirmed by its registration');
  if (factor.type === 'otp' ? proof.otp === undefined : proof.oobCode === undefined || proof.bindingCode === undefined) {
    throw new AppError('missing_field', factor.type === 'otp' ? 'otp is required' : 'oob_code and binding_code are required', {
      field: factor.type === 'otp' ? 'otp' : proof.oobCode === undefined ? 'oob_code' : 'binding_code',
    });
  }
  const { user, subject } = await subjectOf(ctx.db, userId, actor.ip);
  await guardAttempt(
    ctx,
    'mfa',
    subject,
    async () =>
      factor.type === 'otp'
        ? (await otpFactor(ctx, [factor], proof.otp as string)) !== undefined
        : (await matchOob(ctx, userId, proof.oobCode as string, proof.bindingCode as string))?.id === factor.id,
    invalidCode,
  );
  return ctx.db.transaction().execute(async (trx) => {
    const first = !(await hasConfirmedFactor(trx, userId));
    await trx.updateTable('mfa_factors').set({ confirmed: true, last_used_at: ctx.clock.now() }).where('id', '=', factor.id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.enrolled',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { factor_id: factor.id, type: factor.type, confirmed: true },
    });
    return first ? { recoveryCodes: await issueRecoveryCodes(trx, ctx, userId) } : {};
  });
}

/** Removes one factor; the last confirmed one cannot go where MFA is required (`last_factor`). */
export async function removeFactor(ctx: AppContext, actor: Actor, userId: string, factorId: string): Promise<void> {
  const factor = await factorOf(ctx.db, userId, factorId);
  const { user } = await subjectOf(ctx.db, userId, actor.ip);
  // Read before the transaction: on PGlite (one connection) a query outside it would wait for it forever.
  const required = await mfaRequiredFor(ctx, userId, user.home_tenant_id);
  await ctx.db.transaction().execute(async (trx) => {
    // Lock the user's factors, so two removals cannot both see "another one remains".
    const confirmed = await trx
      .selectFrom('mfa_factors')
      .select('id')
      .where('user_id', '=', userId)
      .where('confirmed', '=', true)
      .forUpdate()
      .execute();
    const last = factor.confirmed && confirmed.length === 1;
    if (last && required) {
      throw new AppError('last_factor', 'This is the last factor and multi-factor authentication is required; enrol another one first');
    }
    await trx.deleteFrom('mfa_factors').where('id', '=', factor.id).execute();
    // Without a factor, recovery codes would stand for nothing.
    if (last) await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.removed',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { factor_id: factor.id, type: factor.type },
    });
  });
}

/** Removes every factor and recovery code (an administrator's reset): the user enrols again at the next sign-in. */
export async function resetFactors(ctx: AppContext, actor: Actor, userId: string): Promise<void> {
  const { user } = await subjectOf(ctx.db, userId, actor.ip);
  await ctx.db.transaction().execute(async (trx) => {
    const removed = await trx.deleteFrom('mfa_factors').where('user_id', '=', userId).returning('id').execute();
    await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
    await trx.deleteFrom('webauthn_challenges').where('user_id', '=', userId).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.reset',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { factors_removed: removed.length },
    });
  });
}

/** Replaces the recovery codes with 10 fresh ones (shown once); only for a user with a confirmed factor. */
export async function regenerateRecoveryCodes(ctx: AppContext, actor: Actor, userId: string): Promise<string[]> {
  const { user } = await subjectOf(ctx.db, userId, actor.ip);
  if (!(await hasConfirmedFactor(ctx.db, userId))) {
    throw new AppError('invalid_request', 'Recovery codes stand in for a factor: enrol and confirm one first');
  }
  return ctx.db.transaction().execute(async (trx) => {
    const codes = await issueRecoveryCodes(trx, ctx, userId);
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.recoveryCodesRegenerated',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
    });
    return codes;
  });
}
