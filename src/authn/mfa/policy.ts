import { resolvePolicies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import type { MfaFactorType, MfaPolicy } from '../../platform/db/schema.js';
import { isUuid } from '../../platform/ids.js';
import { hasConfirmedFactor } from './factors.js';
import { AMR_OF } from './verify.js';

export type { MfaPolicy };

const STRICTNESS: Record<MfaPolicy, number> = { off: 0, optional: 1, required: 2 };

/** Where a sign-in or a token leads: what decides which MFA policies apply (decision 190). */
export interface MfaTarget {
  /** The organizations the token will act in (ids or slugs): the chosen one, the one asked for. */
  organizations?: readonly (string | null | undefined)[];
  /** The application signed in to: its owning tenant's policy and its own (`mfa_policy`, null: none). */
  application?: { tenantId: string | null; mfaPolicy?: MfaPolicy | null | undefined } | null;
}

/** What applies to a sign-in: the strictest policy, and the factor types every tenant involved allows. */
export interface ApplicableMfa {
  policy: MfaPolicy;
  factors: MfaFactorType[];
}

/**
 * Which MFA policy applies (decision 190): the strictest of the user's home tenant's (the
 * system tenant's for a user without one, decision 99), each target organization's, the
 * application's tenant's and the application's own; and which factor types count (decision
 * 198): those every one of these tenants allows (the intersection of their `factors`). The
 * one function every sign-in and token path asks. Policies are read from the database on
 * every call, never from a cache, so a change holds for the very next request on every node.
 */
export async function applicableMfa(
  ctx: AppContext,
  user: { home_tenant_id: string | null },
  target: MfaTarget = {},
): Promise<ApplicableMfa> {
  const named = [user.home_tenant_id, target.application?.tenantId, ...(target.organizations ?? [])].filter(
    (name): name is string => typeof name === 'string' && name !== '',
  );
  const ids = [...new Set(named.filter(isUuid))];
  const slugs = [...new Set(named.filter((name) => !isUuid(name)).map((name) => name.toLowerCase()))];
  const rows = await ctx.db
    .selectFrom('tenants')
    .select('policies')
    .where((eb) =>
      eb.or([
        ...(user.home_tenant_id === null ? [eb('is_system', '=', true)] : []),
        ...(ids.length > 0 ? [eb('id', 'in', ids)] : []),
        ...(slugs.length > 0 ? [eb(eb.fn('lower', ['slug']), 'in', slugs)] : []),
        eb.val(false),
      ]),
    )
    .execute();
  return applicableMfaOf(
    rows.map((row) => row.policies),
    target.application?.mfaPolicy,
  );
}

/**
 * The strictest policy and the factor types that count, from the stored policies of the
 * tenants involved and the application's own policy: what applicableMfa decides, for a
 * caller that read those rows itself (the token endpoint reads them with the token).
 */
export function applicableMfaOf(
  tenantPolicies: readonly (Record<string, unknown> | null | undefined)[],
  applicationPolicy: MfaPolicy | null | undefined,
): ApplicableMfa {
  // No row at all (a deleted home tenant and nothing else): the defaults.
  const tenants = (tenantPolicies.length > 0 ? tenantPolicies : [{}]).map((policies) => resolvePolicies(policies).mfa);
  const policies = tenants.map((mfa) => mfa.policy);
  if (applicationPolicy) policies.push(applicationPolicy);
  return {
    policy: policies.reduce((strictest, policy) => (STRICTNESS[policy] > STRICTNESS[strictest] ? policy : strictest)),
    factors: tenants.reduce<MfaFactorType[]>((allowed, mfa) => allowed.filter((type) => mfa.factors.includes(type)), [...FACTOR_TYPES]),
  };
}

const FACTOR_TYPES: readonly MfaFactorType[] = ['otp', 'email', 'sms', 'webauthn'];

/** The strictest MFA policy that applies (decision 190). */
export async function applicableMfaPolicy(
  ctx: AppContext,
  user: { home_tenant_id: string | null },
  target: MfaTarget = {},
): Promise<MfaPolicy> {
  return (await applicableMfa(ctx, user, target)).policy;
}

/**
 * Whether a sign-in's `amr` proves a second factor of a type in `allowed` (decision 198): a
 * second factor was done, and one of its methods is one an allowed type writes (`otp` for an
 * authenticator app or an emailed code, `sms`, `hwk`/`swk` for a passkey), or a connection
 * trusted for it vouched for the provider's MFA (`fed` with `mfa`, decision 268).
 */
export function provesAllowedFactor(amr: readonly string[], allowed: readonly MfaFactorType[]): boolean {
  const methods = new Set(allowed.flatMap((type) => (type === 'webauthn' ? [AMR_OF[type], 'swk'] : [AMR_OF[type]])));
  // A sign-in through a connection carries `mfa` only when the provider did MFA and the
  // connection says to trust it (`upstream_mfa`) and may speak for the account (src/flows/federation/complete.ts amrOf):
  // that connection's word is the second factor (decision 268).
  if (amr.includes('fed') && amr.includes('mfa')) return true;
  return amr.includes('mfa') && amr.some((method) => methods.has(method));
}

/**
 * What a sign-in still needs after its first factor: policy 'off' → 'none'; a confirmed
 * factor of a type that counts (decision 198) → 'challenge'; none and policy 'required' →
 * 'enrol'; else 'none'.
 */
export async function mfaNeed(
  ctx: AppContext,
  user: { id: string; home_tenant_id: string | null },
  target: MfaTarget = {},
): Promise<'none' | 'challenge' | 'enrol'> {
  return needOf(ctx, user.id, await applicableMfa(ctx, user, target));
}

async function needOf(ctx: AppContext, userId: string, { policy, factors }: ApplicableMfa): Promise<'none' | 'challenge' | 'enrol'> {
  if (policy === 'off') return 'none';
  if (await hasConfirmedFactor(ctx.db, userId, factors)) return 'challenge';
  return policy === 'required' ? 'enrol' : 'none';
}

/**
 * What a sign-in that proved `amr` still needs for `target`: nothing once it proved a second
 * factor of a type that counts there (decision 198), else what the policies ask (decision 190).
 */
export async function mfaNeedAfter(
  ctx: AppContext,
  user: { id: string; home_tenant_id: string | null },
  target: MfaTarget,
  amr: readonly string[],
): Promise<'none' | 'challenge' | 'enrol'> {
  const applicable = await applicableMfa(ctx, user, target);
  return provesAllowedFactor(amr, applicable.factors) ? 'none' : needOf(ctx, user.id, applicable);
}

/**
 * lacksRequiredMfa from facts read beforehand: what applies (applicableMfaOf) and the types
 * of the user's confirmed factors.
 */
export function lacksRequiredMfaOf(applicable: ApplicableMfa, factorTypes: readonly string[], amr: readonly string[]): boolean {
  if (provesAllowedFactor(amr, applicable.factors)) return false;
  if (applicable.policy === 'off') return false;
  if (factorTypes.some((type) => (applicable.factors as readonly string[]).includes(type))) return true;
  return applicable.policy === 'required';
}

/**
 * Whether a token for `target` must be refused to a sign-in that proved `amr` (decisions
 * 190, 198): it did no second factor of a type that counts there, and the policies that
 * apply now would ask for one.
 */
export async function lacksRequiredMfa(
  ctx: AppContext,
  user: { id: string; home_tenant_id: string | null },
  target: MfaTarget,
  amr: readonly string[],
): Promise<boolean> {
  return (await mfaNeedAfter(ctx, user, target, amr)) !== 'none';
}
