import type { AppContext } from '../context.js';
import type { MfaPolicy } from '../db/schema.js';
import { isUuid } from '../ids.js';
import { resolvePolicies } from '../policies/policies.js';
import { hasConfirmedFactor } from './factors.js';

export type { MfaPolicy };

const STRICTNESS: Record<MfaPolicy, number> = { off: 0, optional: 1, required: 2 };

/** Where a sign-in or a token leads: what decides which MFA policies apply (decision 190). */
export interface MfaTarget {
  /** The organizations the token will act in (ids or slugs): the chosen one, the one asked for. */
  organizations?: readonly (string | null | undefined)[];
  /** The application signed in to: its owning tenant's policy and its own (`mfa_policy`, null: none). */
  application?: { tenantId: string | null; mfaPolicy?: MfaPolicy | null | undefined } | null;
}

/**
 * Which MFA policy applies (decision 190): the strictest of the user's home tenant's (the
 * system tenant's for a user without one, decision 99), each target organization's, the
 * application's tenant's and the application's own. The one function every sign-in and
 * token path asks. Policies are read from the database on every call, never from a cache,
 * so a change holds for the very next request on every node.
 */
export async function applicableMfaPolicy(
  ctx: AppContext,
  user: { home_tenant_id: string | null },
  target: MfaTarget = {},
): Promise<MfaPolicy> {
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
  const policies = rows.map((row) => resolvePolicies(row.policies).mfa.policy);
  if (target.application?.mfaPolicy) policies.push(target.application.mfaPolicy);
  // No row at all (a deleted home tenant and nothing else): the default.
  if (policies.length === 0) policies.push(resolvePolicies({}).mfa.policy);
  return policies.reduce((strictest, policy) => (STRICTNESS[policy] > STRICTNESS[strictest] ? policy : strictest));
}

/**
 * What a sign-in still needs after its first factor: policy 'off' → 'none'; a confirmed
 * factor → 'challenge'; none and policy 'required' → 'enrol'; else 'none'.
 */
export async function mfaNeed(
  ctx: AppContext,
  user: { id: string; home_tenant_id: string | null },
  target: MfaTarget = {},
): Promise<'none' | 'challenge' | 'enrol'> {
  const policy = await applicableMfaPolicy(ctx, user, target);
  if (policy === 'off') return 'none';
  if (await hasConfirmedFactor(ctx.db, user.id)) return 'challenge';
  return policy === 'required' ? 'enrol' : 'none';
}

/**
 * Whether a token for `target` must be refused to a sign-in that proved `amr` (decision
 * 190): it did no second factor, and the policies that apply now would ask for one.
 */
export async function lacksRequiredMfa(
  ctx: AppContext,
  user: { id: string; home_tenant_id: string | null },
  target: MfaTarget,
  amr: readonly string[],
): Promise<boolean> {
  return !amr.includes('mfa') && (await mfaNeed(ctx, user, target)) !== 'none';
}
