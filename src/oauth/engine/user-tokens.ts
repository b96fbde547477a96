import type Provider from 'oidc-provider';
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import { mfaClaims } from '../../authn/mfa/index.js';
import { auditBeforeAnswer } from './audited.js';
import { gatehouseClient, PASSWORD_GRANT } from './clients.js';
import { dpopNonceSecret, ownGrantProof } from './dpop.js';
import type { OidcContext } from './lookups.js';
import { resourceServer } from './resources.js';

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

/** The `amr`/`acr` of the tokens a request issues, for extraTokenClaims (access tokens are JWTs built by the engine). */
const issuedWith = new WeakMap<object, { amr: string[]; acr?: string }>();

/**
 * The `amr` and `acr` claims for an access token being issued: those the password and MFA
 * grants set for this request, or those the refresh token or authorization code carries.
 */
export function authenticationClaims(koa: KoaContextWithOIDC | undefined): { amr?: string[]; acr?: string } {
  if (!koa) return {};
  const set = issuedWith.get(koa);
  if (set) return set;
  const source = (koa.oidc?.entities?.RefreshToken ?? koa.oidc?.entities?.AuthorizationCode) as
    | { amr?: string[]; acr?: string }
    | undefined;
  return { ...(source?.amr && { amr: source.amr }), ...(source?.acr && { acr: source.acr }) };
}

export interface UserTokenRequest {
  account: Account;
  /** RFC 8176 methods the user proved (`pwd`, `otp`, …). */
  amr: string[];
  /** As the client asked for them (the password step's, replayed by the MFA grants). */
  scope: unknown;
  audience: string | undefined;
  /** The grant type to record (`password`, or the MFA grant that completed it). */
  grantType?: string;
}

/**
 * The tokens of a user who signed in without a browser (the password grant, and the MFA
 * grants that complete it): an access token (a JWT for `audience`, else opaque), a refresh
 * token with `offline_access`, an ID token with `openid`; each says how the user signed in.
 */
export async function issueUserTokens(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC, request: UserTokenRequest) {
  const client = koa.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>;
  const userId = request.account.accountId;
  const gty = request.grantType ?? PASSWORD_GRANT;
  // A DPoP proof binds the tokens to its key (decision 416), before anything is saved.
  const jkt = await ownGrantProof(provider, koa, dpopNonceSecret(ctx.masterKey));
  const claims = mfaClaims(request.amr);
  issuedWith.set(koa, claims);
  const scopes = String(request.scope ?? '')
    .split(' ')
    .filter(Boolean);
  const oidcScopes = scopes.filter((scope) => OIDC_SCOPES.has(scope));
  const audience = request.audience;
  const grant = new provider.Grant({ accountId: userId, clientId: client.clientId });
  grant.addOIDCScope(oidcScopes.join(' '));
  koa.oidc.entity('Grant', grant);
  let resource: InstanceType<Provider['ResourceServer']> | undefined;
  if (audience) {
    resource = new provider.ResourceServer(audience, await resourceServer(ctx, koa, audience, client));
    grant.addResourceScope(audience, scopes.filter((scope) => resource?.scopes.has(scope)).join(' '));
  }
  const grantId = await grant.save();
  const authTime = Math.floor(ctx.clock.now().getTime() / 1000);

  const accessToken = new provider.AccessToken({
    accountId: userId,
    client,
    grantId,
    gty,
    scope: (resource ? scopes.filter((scope) => resource?.scopes.has(scope)) : oidcScopes).join(' ') || undefined,
  });
  if (resource) accessToken.resourceServer = resource;
  if (jkt) accessToken.setThumbprint('jkt', jkt);
  const accessTokenValue = await accessToken.save();

  let refreshToken: string | undefined;
  if (oidcScopes.includes('offline_access') && client.grantTypeAllowed('refresh_token')) {
    refreshToken = await new provider.RefreshToken({
      accountId: userId,
      client,
      grantId,
      gty,
      scope: scopes.join(' '),
      ...(audience && { resource: audience }),
      authTime,
      amr: claims.amr,
      ...(claims.acr && { acr: claims.acr }),
      rotations: 0,
      // RFC 9449 §5: a public client's refresh token is bound to the key too (the engine's rule).
      ...(jkt && client.clientAuthMethod === 'none' && { jkt }),
    }).save();
  }

  let idToken: string | undefined;
  if (oidcScopes.includes('openid')) {
    const available = await request.account.claims('id_token', oidcScopes.join(' '), {}, []);
    const token = new provider.IdToken({ ...available, auth_time: authTime }, { ctx: koa });
    (token as unknown as { scope: string }).scope = oidcScopes.join(' ');
    token.set('amr', claims.amr);
    if (claims.acr) token.set('acr', claims.acr);
    idToken = await token.issue({ use: 'idtoken' });
  }

  auditBeforeAnswer(ctx, koa, {
    action: 'iam.token.created',
    actor: { type: 'user', id: userId, ip: koa.ip ?? null, userAgent: koa.get('user-agent') || null },
    tenantId: gatehouseClient(client).tenantId,
    target: { type: 'user', id: userId },
    details: { jti: accessToken.jti, client_id: client.clientId, grant_type: gty, amr: claims.amr, ...(audience && { audience }) },
  });
  koa.body = {
    access_token: accessTokenValue,
    token_type: jkt ? 'DPoP' : 'Bearer',
    expires_in: accessToken.expiration,
    ...(accessToken.scope && { scope: accessToken.scope }),
    ...(refreshToken && { refresh_token: refreshToken }),
    ...(idToken && { id_token: idToken }),
  };
}
