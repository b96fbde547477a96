import type { Kysely } from 'kysely';
import { tenantPolicies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import { seal, unseal } from '../../platform/crypto/secrets.js';
import type { Database, MfaFactor, MfaFactorType } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';

export type FactorType = MfaFactorType | 'recovery-code';

export interface FactorSummary {
  id: string;
  type: FactorType;
  name: string | null;
  confirmed: boolean;
  created_at: Date;
  last_used_at: Date | null;
  /** masked email/phone for oob factors */
  destination?: string;
}

/** The pseudo-factor id under which a user's recovery codes are listed. */
export const RECOVERY_CODE_ID = 'recovery-code';

const secretContext = (factorId: string) => `mfa-factor-secret:${factorId}`;
const destinationContext = (factorId: string) => `mfa-factor-destination:${factorId}`;

export const sealSecret = (ctx: AppContext, factorId: string, secret: string) => seal(ctx.masterKey, secret, secretContext(factorId));
export const sealDestination = (ctx: AppContext, factorId: string, destination: string) =>
  seal(ctx.masterKey, destination, destinationContext(factorId));

export function factorSecret(ctx: AppContext, factor: MfaFactor): string {
  if (!factor.secret_sealed) throw new Error(`Factor ${factor.id} has no secret`);
  return unseal(ctx.masterKey, factor.secret_sealed, secretContext(factor.id));
}

export function factorDestination(ctx: AppContext, factor: MfaFactor): string {
  if (!factor.destination_sealed) throw new Error(`Factor ${factor.id} has no destination`);
  return unseal(ctx.masterKey, factor.destination_sealed, destinationContext(factor.id));
}

/** `j•••@example.com`, `••••••••89`: enough for the user to recognize, too little to learn anything. */
export function maskDestination(type: MfaFactorType, destination: string): string {
  if (type === 'email') {
    const at = destination.lastIndexOf('@');
    return `${destination.slice(0, 1)}•••${destination.slice(at)}`;
  }
  return `${'•'.repeat(Math.max(destination.length - 2, 0))}${destination.slice(-2)}`;
}

export function summarize(ctx: AppContext, factor: MfaFactor): FactorSummary {
  return {
    id: factor.id,
    type: factor.type,
    name: factor.name,
    confirmed: factor.confirmed,
    created_at: factor.created_at,
    last_used_at: factor.last_used_at,
    ...(factor.destination_sealed && { destination: maskDestination(factor.type, factorDestination(ctx, factor)) }),
  };
}

export function factorsOf(db: Kysely<Database>, userId: string): Promise<MfaFactor[]> {
  return db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export async function factorOf(db: Kysely<Database>, userId: string, factorId: string): Promise<MfaFactor> {
  const factor = await db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).where('id', '=', factorId).executeTakeFirst();
  if (!factor) throw notFound('Factor');
  return factor;
}

/** Whether the user has a confirmed factor (of one of `types`, when given). */
export async function hasConfirmedFactor(db: Kysely<Database>, userId: string, types?: readonly MfaFactorType[]): Promise<boolean> {
  if (types?.length === 0) return false;
  const row = await db
    .selectFrom('mfa_factors')
    .select('id')
    .where('user_id', '=', userId)
    .where('confirmed', '=', true)
    .$if(types !== undefined, (qb) => qb.where('type', 'in', types as MfaFactorType[]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The factors of a user, with the recovery codes as one pseudo-factor while any is unspent. */
export async function listFactors(ctx: AppContext, userId: string): Promise<FactorSummary[]> {
  const factors = (await factorsOf(ctx.db, userId)).map((factor) => summarize(ctx, factor));
  const codes = await ctx.db
    .selectFrom('mfa_recovery_codes')
    .select((eb) => [eb.fn.min('created_at').as('created_at'), eb.fn.max('used_at').as('last_used_at'), eb.fn.countAll<string>().as('n')])
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  if (codes && Number(codes.n) > 0 && codes.created_at) {
    factors.push({
      id: RECOVERY_CODE_ID,
      type: 'recovery-code',
      name: null,
      confirmed: true,
      created_at: new Date(codes.created_at),
      last_used_at: codes.last_used_at ? new Date(codes.last_used_at) : null,
    });
  }
  return factors;
}

/** Refuses to enrol a factor the user's home tenant does not allow. */
export async function assertFactorAllowed(ctx: AppContext, homeTenantId: string | null, type: MfaFactorType): Promise<void> {
  const { mfa } = await tenantPolicies(ctx, homeTenantId);
  if (!mfa.factors.includes(type)) throw new AppError('factor_not_allowed', `This organization does not allow ${type} factors`, { type });
  if (type === 'sms' && ctx.config.production && !ctx.config.smsWebhookUrl) {
    throw new AppError('factor_not_allowed', 'SMS is not configured on this server (GATEHOUSE_SMS_WEBHOOK_URL)', { type });
  }
}
