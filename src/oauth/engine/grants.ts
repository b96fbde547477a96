import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { mfaNeed } from '../../authn/mfa/index.js';
import { isDatabaseConnection } from '../../authn/passwords/connection.js';
import { authenticate } from '../../authn/sessions/sessions.js';
import type { Actor } from '../../platform/audit/record.js';
import { AppError } from '../../platform/errors.js';
import { apiAudience, managementAudience } from '../tokens/access-tokens.js';
import { findAccount } from './accounts.js';
import { auditBeforeAnswer } from './audited.js';
import { gatehouseClient, PASSWORD_GRANT, PASSWORD_REALM_GRANT, PASSWORDLESS_OTP_GRANT, TOKEN_EXCHANGE_GRANT } from './clients.js';
import { dpopNonceSecret, ownGrantProof } from './dpop.js';
import type { OidcContext } from './lookups.js';
import { mfaRequired, registerMfaGrants, temporarilyUnavailable } from './mfa-grants.js';
import { mfaTargetOf } from './mfa-policy.js';
import { resourceServer } from './resources.js';
import { issueUserTokens } from './user-tokens.js';

/**
 * Grants Gatehouse implements itself through oidc-provider's public extension point:
 * client credentials with Auth0's semantics (an `audience` is required and the token
 * carries what the application was granted), and the article's Resource Owner Password
 * flow (off unless the application lists the `password` grant).
 */
export function registerGrants(provider: Provider, ctx: OidcContext): void {
  provider.registerGrantType('client_credentials', (koa) => clientCredentials(provider, ctx, koa), ['scope', 'resource', 'audience']);
  provider.registerGrantType(PASSWORD_GRANT, (koa) => passwordGrant(provider, ctx, koa), [
    'username',
    'password',
    'scope',
    'resource',
    'audience',
  ]);
  // Auth0's password grant naming its connection (decision 387): the same path, lockout and MFA included.
  provider.registerGrantType(PASSWORD_REALM_GRANT, (koa) => passwordRealmGrant(provider, ctx, koa), [
    'username',
    'password',
    'realm',
    'scope',
    'resource',
    'audience',
  ]);
  // Auth0's passwordless code (decision 392): proved by the passwordless flow, through the hook main wires.
  provider.registerGrantType(PASSWORDLESS_OTP_GRANT, (koa) => passwordlessOtpGrant(provider, ctx, koa), [
    'username',
    'otp',
    'realm',
    'scope',
    'resource',
    'audience',
  ]);
  registerMfaGrants(provider, ctx);
}

/** Grants whose tokens issueUserTokens records itself. */
const SELF_ISSUED = new Set<string>([PASSWORD_GRANT, PASSWORD_REALM_GRANT, PASSWORDLESS_OTP_GRANT]);

/**
 * Audit events for the grants the engine runs itself (authorization code, refresh token,
 * device code): every token issued, and every reuse of a rotated refresh token (which has
 * revoked its whole family). Like every token event, they go through the audit buffer, and
 * the answer waits for their write (audited.ts).
 */
export function auditEngineGrants(ctx: OidcContext, provider: Provider): void {
  provider.on('grant.success', (koa) => {
    const { client, params, entities } = koa.oidc;
    const grantType = String(params?.grant_type);
    if (!client || grantType === 'client_credentials' || SELF_ISSUED.has(grantType) || grantType === TOKEN_EXCHANGE_GRANT) return;
    const token = entities.AccessToken as { jti: string; accountId?: string } | undefined;
    if (!token?.accountId) return;
    auditBeforeAnswer(ctx, koa, {
      action: 'iam.token.created',
      actor: actorOf(koa, 'user', token.accountId),
      tenantId: gatehouseClient(client).tenantId,
      target: { type: 'user', id: token.accountId },
      details: { jti: token.jti, client_id: client.clientId, grant_type: grantType },
    });
  });
  provider.on('grant.error', (koa, error) => {
    const { client, entities } = koa.oidc;
    const refreshToken = entities.RefreshToken as { consumed?: unknown; accountId?: string; grantId?: string } | undefined;
    if (!client || !(error instanceof errors.InvalidGrant) || !refreshToken?.consumed) return;
    auditBeforeAnswer(ctx, koa, {
      action: 'iam.oauth.refreshTokenReused',
      actor: actorOf(koa, 'client', client.clientId),
      outcome: 'failure',
      tenantId: gatehouseClient(client).tenantId,
      ...(refreshToken.accountId && { target: { type: 'user', id: refreshToken.accountId } }),
      details: { client_id: client.clientId, grant_id: refreshToken.grantId ?? null, family_revoked: true },
    });
  });
}

/** 429 `too_many_attempts` with Retry-After, in the OAuth error shape (as Auth0's token endpoint answers). */
function tooManyAttempts(koa: KoaContextWithOIDC, error: AppError): Error {
  const retryAfter = error.details?.retry_after;
  if (typeof retryAfter === 'number') koa.set('Retry-After', String(retryAfter));
  const refusal = new errors.CustomOIDCProviderError('too_many_attempts', 'Too many attempts; try again later');
  Object.assign(refusal, { status: 429, statusCode: 429 });
  return refusal;
}

/** The one API a token is asked for (`audience`, or RFC 8707's `resource`). */
export function requestedAudience(koa: KoaContextWithOIDC): string | undefined {
  const audience = koa.oidc.params?.resource ?? koa.oidc.params?.audience;
  if (audience === undefined || audience === '') return undefined;
  if (typeof audience !== 'string') throw new errors.InvalidTarget('only one audience may be requested');
  return audience;
}

export const requestedScopes = (koa: KoaContextWithOIDC): string[] =>
  String(koa.oidc.params?.scope ?? '')
    .split(' ')
    .filter(Boolean);

export function actorOf(koa: KoaContextWithOIDC, type: Actor['type'], id: string | null): Actor {
  return { type, id, ip: koa.ip ?? null, userAgent: koa.get('user-agent') || null };
}

/**
 * The admin API's audience as asked: the issuer, or Auth0's `{issuer}/api/v2/` (decision 401),
 * which names the same API and gives the same token (its `aud` is the issuer).
 */
function adminAudience(ctx: OidcContext, audience: string): string | undefined {
  return audience === apiAudience(ctx) || audience === managementAudience(ctx) ? apiAudience(ctx) : undefined;
}

/**
 * What a machine application was granted for `audience`: its admin grant (decision 400,
 * read afresh: the admin API checks it again on every call) or its client grant for an API of
 * its own tenant.
 */
async function grantedFor(ctx: OidcContext, client: { clientId: string }, tenantId: string, audience: string): Promise<string[]> {
  if (adminAudience(ctx, audience)) {
    const grant = await ctx.db
      .selectFrom('application_admin_grants as g')
      .innerJoin('applications as a', 'a.id', 'g.application_id')
      .select('g.permissions')
      .where('a.client_id', '=', client.clientId)
      .executeTakeFirst();
    if (!grant) throw new errors.AccessDenied('this application has no grant of the admin API');
    return [...new Set(grant.permissions)].sort();
  }
  const api = await ctx.lookups.api(audience);
  if (api?.tenantId !== tenantId) throw new errors.InvalidTarget(`no API has the identifier ${JSON.stringify(audience)}`);
  const granted = await ctx.lookups.clientGrant(client.clientId, api.id);
  if (!granted) throw new errors.AccessDenied(`this application has no grant for ${audience}`);
  return granted;
}

async function clientCredentials(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC): Promise<void> {
  const client = koa.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>;
  const asked = requestedAudience(koa);
  if (!asked) throw new errors.InvalidRequest('missing required parameter: audience (the API the token is for)');
  const audience = adminAudience(ctx, asked) ?? asked;
  const granted = await grantedFor(ctx, client, gatehouseClient(client).tenantId, audience);
  const requested = requestedScopes(koa);
  const notGranted = requested.filter((scope) => !granted.includes(scope));
  if (notGranted.length > 0) throw new errors.InvalidScope('requested scope was not granted to this application', notGranted.join(' '));
  const scopes = requested.length > 0 ? requested : granted;

  const jkt = await ownGrantProof(provider, koa, dpopNonceSecret(ctx.masterKey));
  const token = new provider.ClientCredentials({ client, scope: scopes.join(' ') || undefined });
  token.resourceServer = new provider.ResourceServer(audience, await resourceServer(ctx, koa, audience, client, true));
  if (jkt) token.setThumbprint('jkt', jkt);
  const value = await token.save();
  auditBeforeAnswer(ctx, koa, {
    action: 'iam.token.created',
    actor: actorOf(koa, 'client', client.clientId),
    tenantId: gatehouseClient(client).tenantId,
    target: { type: 'application', id: client.clientId },
    details: { jti: token.jti, client_id: client.clientId, grant_type: 'client_credentials', audience },
  });
  koa.body = {
    access_token: value,
    token_type: jkt ? 'DPoP' : 'Bearer',
    expires_in: token.expiration,
    ...(token.scope && { scope: token.scope }),
  };
}

/**
 * `realm` names the connection whose passwords are checked: Auth0's database connection
 * is Gatehouse's own passwords; any other realm is refused before a password is tried.
 */
async function passwordRealmGrant(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC): Promise<void> {
  const realm = koa.oidc.params?.realm;
  if (typeof realm !== 'string' || !realm) throw new errors.InvalidRequest('missing required parameter: realm');
  if (!isDatabaseConnection(realm))
    throw new errors.InvalidRequest(`realm ${JSON.stringify(realm)} is not a password connection of this application`);
  await passwordGrant(provider, ctx, koa, PASSWORD_REALM_GRANT);
}

async function passwordGrant(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC, grantType = PASSWORD_GRANT): Promise<void> {
  const client = koa.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>;
  const { username, password } = koa.oidc.params as { username?: string; password?: string };
  if (!username || !password) throw new errors.InvalidRequest('missing required parameter: username and password');

  let user: Awaited<ReturnType<typeof authenticate>>;
  try {
    user = await authenticate(ctx, { username, password }, actorOf(koa, 'anonymous', null));
  } catch (error) {
    // After the right password only: the user must choose a new one (decision 123).
    if (error instanceof AppError && error.code === 'password_change_required') throw new errors.InvalidGrant('password change required');
    // After the right password only: a self-registered user must verify the email address first (decision 151).
    if (error instanceof AppError && error.code === 'email_not_verified') throw new errors.InvalidGrant('email address not verified');
    // Auth0 answers a blocked or locked account with 429 too_many_attempts, for unknown users too.
    if (error instanceof AppError && error.code === 'too_many_attempts') throw tooManyAttempts(koa, error);
    // The brute-force counters cannot be reached and the deployment fails closed (decision 313).
    if (error instanceof AppError && error.code === 'service_unavailable') throw temporarilyUnavailable(koa, error);
    // Same answer for unknown user, wrong password and disabled account (docs/security.md#v2-authentication).
    if (error instanceof AppError) throw new errors.InvalidGrant('wrong username or password');
    throw error;
  }
  const account = await findAccount(ctx, user.id);
  if (!account) throw new errors.InvalidGrant('wrong username or password');
  koa.oidc.entity('Account', account);

  // A user with a factor (or who must enrol one) answers Auth0's mfa_required, with the token for the MFA API.
  // The policies that apply are the user's home tenant's and the application's (decision 190); the
  // password grant acts in the application's own tenant only.
  const need = await mfaNeed(ctx, user, await mfaTargetOf(ctx, client.clientId, {}));
  if (need !== 'none') {
    await mfaRequired(ctx, koa, { userId: user.id, clientId: client.clientId, tenantId: gatehouseClient(client).tenantId, need });
    return;
  }
  await issueUserTokens(provider, ctx, koa, {
    account,
    amr: ['pwd'],
    scope: koa.oidc.params?.scope,
    audience: requestedAudience(koa),
    grantType,
  });
}

async function passwordlessOtpGrant(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC): Promise<void> {
  const client = koa.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>;
  const { username, otp, realm } = koa.oidc.params as { username?: string; otp?: string; realm?: string };
  if (!username || !otp || !realm) throw new errors.InvalidRequest('missing required parameter: username, otp and realm');
  if (realm !== 'email' && realm !== 'sms') throw new errors.InvalidRequest('realm must be email or sms');
  const prove = ctx.hooks.proveOtp;
  if (!prove) throw new errors.UnsupportedGrantType();
  let proved: { userId: string; amr: string[] };
  try {
    proved = await prove({ clientId: client.clientId, realm, username, otp }, actorOf(koa, 'anonymous', null) as never);
  } catch (error) {
    if (error instanceof AppError && error.code === 'too_many_attempts') throw tooManyAttempts(koa, error);
    if (error instanceof AppError && error.code === 'service_unavailable') throw temporarilyUnavailable(koa, error);
    if (error instanceof AppError && error.status < 500) throw new errors.InvalidGrant('Wrong email or verification code.');
    throw error;
  }
  const account = await findAccount(ctx, proved.userId);
  if (!account) throw new errors.InvalidGrant('Wrong email or verification code.');
  koa.oidc.entity('Account', account);
  const need = await mfaNeed(ctx, account.user, await mfaTargetOf(ctx, client.clientId, {}));
  if (need !== 'none') {
    const state = { userId: account.user.id, clientId: client.clientId, tenantId: gatehouseClient(client).tenantId, need };
    await mfaRequired(ctx, koa, state, proved.amr);
    return;
  }
  await issueUserTokens(provider, ctx, koa, {
    account,
    amr: proved.amr,
    scope: koa.oidc.params?.scope,
    audience: requestedAudience(koa),
    grantType: PASSWORDLESS_OTP_GRANT,
  });
}
