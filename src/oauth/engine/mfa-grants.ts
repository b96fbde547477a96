import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import {
  consumeMfaToken,
  issueMfaToken,
  type MfaTokenState,
  readMfaToken,
  type SecondFactorProof,
  verifySecondFactor,
} from '../../authn/mfa/index.js';
import { AppError } from '../../platform/errors.js';
import { findAccount } from './accounts.js';
import type { OidcContext } from './lookups.js';
import { issueUserTokens } from './user-tokens.js';

/** Auth0's grant types that complete a password grant answered `mfa_required`. */
export const MFA_GRANTS = {
  otp: 'http://auth0.com/oauth/grant-type/mfa-otp',
  oob: 'http://auth0.com/oauth/grant-type/mfa-oob',
  recovery: 'http://auth0.com/oauth/grant-type/mfa-recovery-code',
} as const;

/** An RFC 6749-shaped error with the status and code Auth0 answers with. */
function oauthError(status: number, error: string, description: string) {
  const e = new errors.CustomOIDCProviderError(error, description);
  Object.assign(e, { status, statusCode: status, expose: true });
  return e;
}

/**
 * 503 `temporarily_unavailable` with Retry-After: a dependency of the check failed (Redis
 * fail-closed, decision 313). Never "wrong password" nor a 500.
 */
export function temporarilyUnavailable(koa: KoaContextWithOIDC, error: AppError) {
  const retryAfter = error.details?.retry_after;
  koa.set('Retry-After', String(typeof retryAfter === 'number' ? retryAfter : 1));
  return oauthError(503, 'temporarily_unavailable', error.message);
}

/** Auth0's answer to a password grant that needs a second factor: 403 with an mfa_token (5 minutes, this client and user). */
export async function mfaRequired(
  ctx: OidcContext,
  koa: KoaContextWithOIDC,
  state: Omit<MfaTokenState, 'request'>,
  amr?: string[],
): Promise<void> {
  const params = koa.oidc.params as { scope?: string; audience?: string; resource?: string };
  const audience = params.resource ?? params.audience;
  const mfaToken = await issueMfaToken(ctx, {
    ...state,
    request: {
      ...(params.scope && { scope: params.scope }),
      ...(typeof audience === 'string' && audience && { audience }),
      // How the first step signed in, when not with a password (the passwordless OTP grant).
      ...(amr && { amr }),
    },
  });
  koa.status = 403;
  koa.body = { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: mfaToken };
}

export function registerMfaGrants(provider: Provider, ctx: OidcContext): void {
  provider.registerGrantType(MFA_GRANTS.otp, (koa) => mfaGrant(provider, ctx, koa, 'otp'), ['mfa_token', 'otp']);
  provider.registerGrantType(MFA_GRANTS.oob, (koa) => mfaGrant(provider, ctx, koa, 'oob'), ['mfa_token', 'oob_code', 'binding_code']);
  provider.registerGrantType(MFA_GRANTS.recovery, (koa) => mfaGrant(provider, ctx, koa, 'recovery'), ['mfa_token', 'recovery_code']);
}

const WRONG: Record<'otp' | 'oob' | 'recovery', string> = {
  otp: 'Invalid otp_code.',
  oob: 'Invalid binding_code.',
  recovery: 'MFA Authorization rejected.',
};

/** Our errors as Auth0 words them on the token endpoint. */
function translate(koa: KoaContextWithOIDC, error: unknown, kind: 'otp' | 'oob' | 'recovery'): unknown {
  if (!(error instanceof AppError)) return error;
  switch (error.code) {
    case 'too_many_attempts': {
      const retryAfter = error.details?.retry_after;
      if (typeof retryAfter === 'number') koa.set('Retry-After', String(retryAfter));
      return oauthError(429, 'too_many_attempts', 'Too many attempts; try again later');
    }
    case 'invalid_code':
      return oauthError(400, 'invalid_grant', WRONG[kind]);
    case 'mfa_token_expired':
      return oauthError(400, 'expired_token', 'mfa_token is expired');
    case 'invalid_mfa_token':
      return oauthError(400, 'invalid_grant', error.message);
    case 'account_disabled':
      return new errors.InvalidGrant('wrong username or password');
    case 'service_unavailable':
      return temporarilyUnavailable(koa, error);
    default:
      return error.status < 500 ? new errors.InvalidRequest(error.message) : error;
  }
}

async function mfaGrant(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC, kind: 'otp' | 'oob' | 'recovery') {
  const client = koa.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>;
  const params = koa.oidc.params as Record<string, string | undefined>;
  const field = { otp: 'otp', oob: 'binding_code', recovery: 'recovery_code' }[kind];
  if (!params.mfa_token) throw new errors.InvalidRequest('missing required parameter: mfa_token');
  if (!params[field] || (kind === 'oob' && !params.oob_code)) {
    throw new errors.InvalidRequest(`missing required parameter: ${kind === 'oob' && !params.oob_code ? 'oob_code' : field}`);
  }
  const proof: SecondFactorProof =
    kind === 'otp'
      ? { otp: params.otp as string }
      : kind === 'oob'
        ? { oobCode: params.oob_code as string, bindingCode: params.binding_code as string }
        : { recoveryCode: params.recovery_code as string };
  try {
    const state = await readMfaToken(ctx, params.mfa_token, client.clientId);
    const result = await verifySecondFactor(ctx, state.userId, proof, koa.ip ?? null);
    await consumeMfaToken(ctx, params.mfa_token);
    const account = await findAccount(ctx, state.userId);
    if (!account) throw new errors.InvalidGrant('wrong username or password');
    koa.oidc.entity('Account', account);
    await issueUserTokens(provider, ctx, koa, {
      account,
      amr: [...(state.request.amr ?? ['pwd']), ...result.amr],
      scope: state.request.scope,
      audience: state.request.audience,
      grantType: MFA_GRANTS[kind],
    });
    if (result.newRecoveryCode) (koa.body as Record<string, unknown>).recovery_code = result.newRecoveryCode;
  } catch (error) {
    throw translate(koa, error, kind);
  }
}
