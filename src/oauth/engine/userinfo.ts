import { decodeJwt, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { SIGNING_ALGS } from '../../platform/ports/signing-keys.js';
import { apiAudience, verifierFor } from '../tokens/access-tokens.js';
import { CLAIMS, findAccount } from './accounts.js';
import { apiAudienceOf, isLive, userinfoAudience } from './introspection.js';
import type { OidcContext } from './lookups.js';

/**
 * Auth0's `/userinfo` with an API's access token (decision 389): a token asked for with
 * `openid` names `{issuer}/userinfo` as its second audience and carries the OpenID scopes
 * the user granted in its `scope`, as Auth0's does. Only tokens signed with Gatehouse's own
 * keys get it: an HS256 API's secret is held by its tenant's administrators, who must not
 * be able to mint a token that reads a user's profile here.
 */
export function withUserinfoAudience(ctx: OidcContext) {
  return (
    koa: KoaContextWithOIDC,
    token: { kind: string; resourceServer?: { audience?: string; jwt?: { sign?: { alg?: string } } } },
    structured: { payload: JWTPayload },
  ) => {
    if (token.kind !== 'AccessToken') return;
    const audience = token.resourceServer?.audience;
    if (!audience || audience === apiAudience(ctx) || token.resourceServer?.jwt?.sign?.alg === 'HS256') return;
    const grant = koa?.oidc?.entities?.Grant as { getOIDCScope(): string } | undefined;
    const oidcScopes = (grant?.getOIDCScope() ?? '').split(' ').filter(Boolean);
    if (!oidcScopes.includes('openid')) return;
    const own = String(structured.payload.scope ?? '')
      .split(' ')
      .filter(Boolean);
    structured.payload.aud = [audience, userinfoAudience(ctx)];
    structured.payload.scope = [...oidcScopes, ...own.filter((scope) => !oidcScopes.includes(scope))].join(' ');
  };
}

export type UserinfoAnswer =
  | { status: 200; body: Record<string, unknown> }
  | { status: 401; body: { error: string; error_description: string } };

const invalid = (description: string): UserinfoAnswer => ({
  status: 401,
  body: { error: 'invalid_token', error_description: description },
});

/** `/userinfo` for a JWT access token with the userinfo audience: the claims of the OpenID scopes it carries. */
export async function userinfoFromJwt(
  ctx: OidcContext,
  token: string,
  /** Why a DPoP-bound token's request is refused (its scheme and proof), or undefined (dpop.ts resourceProofProblem). */
  proofProblem: (bound: { jkt: string; clientId: string }) => Promise<string | undefined>,
  scheme: 'bearer' | 'dpop',
): Promise<UserinfoAnswer> {
  let api: string | undefined;
  try {
    api = apiAudienceOf(ctx, decodeJwt(token).aud);
  } catch {
    return invalid('invalid token provided');
  }
  const apiInfo = api ? await ctx.lookups.api(api) : undefined;
  if (!api || apiInfo?.secret) return invalid('the token is not for the userinfo endpoint');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, verifierFor(await ctx.keys.jwks()), {
      issuer: ctx.config.tokenIssuer,
      audience: userinfoAudience(ctx),
      typ: 'at+jwt',
      currentDate: ctx.clock.now(),
      algorithms: [...SIGNING_ALGS],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) return invalid('invalid token provided');
    throw error;
  }
  const scopes = String(payload.scope ?? '').split(' ');
  if (!scopes.includes('openid') || typeof payload.sub !== 'string' || typeof payload.client_id !== 'string') {
    return invalid('the token was not issued with the openid scope');
  }
  // Bound to a DPoP key (cnf.jkt): only with a proof of that key (RFC 9449 §7), never as a bearer token.
  const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
  if (typeof jkt === 'string') {
    const problem = await proofProblem({ jkt, clientId: payload.client_id });
    if (problem) return invalid(problem);
  } else if (scheme === 'dpop') return invalid('the token is not bound to a DPoP key');
  // Revoked (the deny list), or its user, grant or organization gone.
  if (!(await isLive(ctx, payload, apiInfo))) return invalid('the token is no longer active');
  const account = await findAccount(ctx, payload.sub, typeof payload.gid === 'string' ? payload.gid : undefined);
  if (!account) return invalid('the token is no longer active');
  const all = (await account.claims('userinfo', scopes.join(' '), {}, [])) as Record<string, unknown>;
  const allowed = new Set(scopes.flatMap((scope) => CLAIMS[scope as keyof typeof CLAIMS] ?? []));
  const body = Object.fromEntries(Object.entries(all).filter(([name, value]) => allowed.has(name) && value !== undefined));
  return { status: 200, body: { ...body, sub: payload.sub } };
}
