import { errors } from 'oidc-provider';
import { applicableMfaOf, lacksRequiredMfa, lacksRequiredMfaOf, type MfaTarget } from '../../authn/mfa/index.js';
import type { OidcContext } from './lookups.js';
import { prefetchedMfa } from './prefetch.js';

/**
 * The MFA target of an authorization (decision 190): the application (its tenant and its
 * own policy, read afresh, not through the engine's client cache), the organization the
 * request names (`organization`, id or slug) and the one its grant holds.
 */
export async function mfaTargetOf(
  ctx: OidcContext,
  clientId: string,
  where: { organization?: unknown; grantId?: string | undefined },
): Promise<MfaTarget> {
  const application = await ctx.db
    .selectFrom('applications')
    .select(['tenant_id', 'mfa_policy'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  const chosen = await ctx.lookups.grantOrganization(where.grantId);
  return {
    application: application ? { tenantId: application.tenant_id, mfaPolicy: application.mfa_policy } : null,
    organizations: [typeof where.organization === 'string' ? where.organization : undefined, chosen?.id],
  };
}

/** What the engine hands findAccount: the code, refresh token or device code being exchanged (the user is the account it found). */
export interface GrantSource {
  kind?: string;
  accountId?: string;
  clientId?: string;
  grantId?: string;
  amr?: string[];
}

/** The grant sources that carry a sign-in (its `amr`), from which the engine issues tokens. */
const SIGN_IN_SOURCES = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/**
 * Every token the engine issues from a sign-in (an authorization code, a refresh token, a
 * device code) meets the MFA policies that apply now (decision 190): a sign-in without a
 * second factor gets nothing more once its organization, the user's home tenant or the
 * application asks for one. Checked when the engine loads the account, before a refresh
 * token is rotated, so the refusal spends nothing. The facts are those read with the
 * token in this request (prefetch.ts) when there are, else read now.
 */
export async function assertSignInStrength(
  ctx: OidcContext,
  user: { id: string; home_tenant_id: string | null },
  source: GrantSource | undefined,
  request?: object,
): Promise<void> {
  if (!source?.kind || !SIGN_IN_SOURCES.has(source.kind) || !source.clientId) return;
  const amr = source.amr ?? [];
  const read = source.accountId === user.id ? prefetchedMfa(request, source) : undefined;
  const lacks = read
    ? lacksRequiredMfaOf(applicableMfaOf(read.tenantPolicies, read.application?.mfaPolicy), read.factorTypes, amr)
    : await lacksRequiredMfa(ctx, user, await mfaTargetOf(ctx, source.clientId, { grantId: source.grantId }), amr);
  if (lacks) {
    throw new errors.InvalidGrant('multi-factor authentication is now required: sign in again');
  }
}
