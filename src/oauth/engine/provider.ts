import { createHmac } from 'node:crypto';
import type { JWK } from 'jose';
import Provider, { type Configuration, errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_MULTI_FACTOR } from '../../authn/mfa/index.js';
import { signInNeed } from '../../authn/mfa/sign-in-step.js';
import { revokeSessionByToken, sessionFromToken } from '../../authn/sessions/sessions.js';
import { applicationDestinations } from '../../platform/http/destinations.js';
import { SESSION_COOKIE } from '../../platform/http/guards.js';
import { checkedFetch } from '../../platform/http/outbound.js';
import { cookieOptions } from '../../platform/web/cookies.js';
import { REGISTRATION_PATH } from '../registration/path.js';
import { ACCESS_TOKEN_TTL_S } from '../tokens/lifetimes.js';
import { CLAIMS, findAccount } from './accounts.js';
import { idTokenActionClaims, tokenActions } from './actions.js';
import { consumeHeld, pgAdapter } from './adapter.js';
import { answerAfterAudit } from './audited.js';
import { extraClaims } from './claims.js';
import { DEVICE_CODE_GRANT, EXTRA_CLIENT_METADATA, gatehouseClient } from './clients.js';
import { DPOP_ALGS, dpopNonceSecret } from './dpop.js';
import { frontchannelLogout, markFrontchannelLogout } from './frontchannel.js';
import { auditEngineGrants, registerGrants } from './grants.js';
import { impersonate } from './impersonation.js';
import { askBeforeLogout, carryFederated, endsWithoutClick, federatedLogout } from './logout.js';
import type { OidcContext } from './lookups.js';
import { assertSignInStrength, type GrantSource, mfaTargetOf } from './mfa-policy.js';
import { engineHeaders, renderDevicePage, renderLogoutPage, renderProtocolError } from './pages.js';
import { resourceServer } from './resources.js';
import { exchangedClaims, registerTokenExchange } from './token-exchange.js';
import { answerUnavailable, markUnavailable } from './unavailable.js';
import { authenticationClaims } from './user-tokens.js';
import { withUserinfoAudience } from './userinfo.js';
import { WEB_MESSAGE, webMessageResponse } from './web-message.js';

/** Where the engine's endpoints live: Auth0's paths (the article's compatibility surface). */
export const ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  userinfo: '/userinfo',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  end_session: '/v2/logout',
  jwks: '/.well-known/jwks.json',
  device_authorization: '/oauth/device/code',
  code_verification: '/activate',
  // Auth0's path for pushed authorization requests (RFC 9126).
  pushed_authorization_request: '/oauth/par',
} as const;

export const INTERACTION_PATH = '/interaction';

/** The engine waits this long for an outbound answer (its own default is 2.5 s). */
const ENGINE_FETCH_TIMEOUT_MS = 2_500;

const HOUR = 3600;
const DAY = 24 * HOUR;
/** Lifetimes (docs/architecture.md#tokens). A refresh-token family lives as long as its grant. */
export const TTL = {
  AuthorizationCode: 60,
  DeviceCode: 600,
  IdToken: HOUR,
  Interaction: HOUR,
  Session: 7 * DAY,
  RefreshToken: 30 * DAY,
  Grant: 30 * DAY,
} as const;

const { Check, base } = interactionPolicy;

/** Signatures Gatehouse accepts from clients (private_key_jwt, request objects): asymmetric only. */
const ASYMMETRIC_ALGS = ['RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'] as const;

/**
 * One oidc-provider instance, configured for Gatehouse: our storage, accounts, claims,
 * APIs, hosted pages and signing keys. Built again (cheaply) when the key set changes.
 */
export function buildProvider(ctx: OidcContext, keys: JWK[]): Provider {
  const { config } = ctx;
  const configuration: Configuration = {
    adapter: pgAdapter(ctx.db, ctx.lookups, () => ctx.clock.now(), ctx.masterKey),
    findAccount: async (koa, sub, token) => {
      const source = token as GrantSource | undefined;
      const account = await findAccount(ctx, sub, source?.grantId, koa);
      if (account) await assertSignInStrength(ctx, account.user, source, koa);
      return account;
    },
    jwks: { keys: keys as never },
    cookies: {
      keys: [createHmac('sha256', ctx.masterKey).update('gatehouse:oidc-cookies').digest('base64url')],
    },
    claims: CLAIMS,
    // Auth0's value: an application asks for MFA (a step-up) with acr_values=<this>.
    acrValues: [ACR_MULTI_FACTOR],
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    conformIdTokenClaims: false,
    // `connection` (Auth0) and `identity_provider` (Cognito) name the connection to sign in with (src/flows/federation/).
    // `screen_hint=signup` (Auth0) opens the sign-up page instead of the sign-in form (decision 395).
    extraParams: ['audience', 'organization', 'connection', 'identity_provider', 'screen_hint'],
    extraClientMetadata: { properties: EXTRA_CLIENT_METADATA },
    clientDefaults: { grant_types: ['authorization_code'], id_token_signed_response_alg: 'RS256', response_types: ['code'] },
    responseTypes: ['code'],
    // Client secrets are stored as digests, so only methods that send the secret itself can
    // work (no client_secret_jwt); private_key_jwt verifies with the application's public keys (decision 418).
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // Public clients and FAPI 2.0 clients (§5.3.1.1: PKCE S256, the engine's only method).
    pkce: { required: (_koa, client) => client.clientAuthMethod === 'none' || gatehouseClient(client).fapiProfile === '2.0' },
    rotateRefreshToken: true,
    routes: ROUTES,
    ttl: {
      ...TTL,
      AccessToken: (_koa, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL_S,
      ClientCredentials: (_koa, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TOKEN_TTL_S,
    },
    interactions: {
      url: (_koa, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
      policy: interactionPolicyFor(ctx),
    },
    features: {
      devInteractions: { enabled: false },
      // RFC 9126; an application may require it (`require_pushed_authorization_requests`, decision 415).
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
      // RFC 9449 (decision 416): tokens bound to the proof's key (`cnf.jkt`); an application may
      // require proofs (`dpop_bound_access_tokens`), and then a server nonce too. The nonce
      // secret comes from the master key, so every node makes and accepts the same nonces; a
      // proof's `jti` is remembered in PostgreSQL (adapter.ts ReplayDetection), so a proof
      // replayed to another node is refused as well.
      dPoP: {
        enabled: true,
        nonceSecret: dpopNonceSecret(ctx.masterKey),
        requireNonce: (koa) => koa.oidc.client?.dpopBoundAccessTokens === true,
        allowReplay: false,
      },
      // RFC 9101 (decision 417): signed request objects, by value or pushed (PAR); no request_uri of the client's.
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      // FAPI 2.0 Security Profile per application (decision 419); what the engine does not enforce per client,
      // the application's rules (applications/modern.ts) and its metadata (clients.ts) do.
      fapi: { enabled: true, profile: (_koa, client) => (client ? gatehouseClient(client).fapiProfile : undefined) },
      introspection: {
        enabled: true,
        // A client may introspect its own tokens, and a confidential one those of its own tenant's applications.
        // A token of a user who is no longer active is inactive at once (docs/security.md#v3-session-management).
        allowedPolicy: async (koa, client, token) => {
          const accountId = (token as { accountId?: string }).accountId;
          if (accountId && !(await findAccount(ctx, accountId))) return false;
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none' || !token.clientId) return false;
          const owner = await koa.oidc.provider.Client.find(token.clientId);
          return owner !== undefined && gatehouseClient(owner).tenantId === gatehouseClient(client).tenantId;
        },
      },
      revocation: { enabled: true },
      // OIDC Back-Channel Logout: discovery, client metadata, `sid` in ID tokens and the
      // notices of the engine's own end-session; Gatehouse's revocations use our queue (backchannel/).
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: (koa, form, _out, err) => renderDevicePage(ctx, koa, { step: 'input', form, error: err }),
        userCodeConfirmSource: (koa, form, client, _device, userCode) =>
          renderDevicePage(ctx, koa, { step: 'confirm', form, clientName: client.clientName ?? client.clientId, userCode }),
        successSource: (koa) => renderDevicePage(ctx, koa, { step: 'success' }),
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (koa, form) =>
          renderLogoutPage(ctx, koa, { step: 'confirm', form: carryFederated(koa, form), auto: await endsWithoutClick(ctx, koa) }),
        postLogoutSuccessSource: (koa) => renderLogoutPage(ctx, koa, { step: 'done' }),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (koa) => audienceParam(koa),
        useGrantedResource: () => true,
        getResourceServerInfo: (koa, identifier, client) => resourceServer(ctx, koa, identifier, client),
      },
    },
    extraTokenClaims: async (koa, token) => {
      const client =
        koa.oidc.client?.clientId === token.clientId ? koa.oidc.client : await koa.oidc.provider.Client.find(token.clientId as string);
      if (!client) return undefined;
      const isClient = token.kind === 'ClientCredentials';
      const accountId = isClient ? undefined : (token as { accountId: string }).accountId;
      const actions = await tokenActions(ctx, koa, {
        kind: isClient ? 'client' : 'user',
        clientId: token.clientId as string,
        tenantId: gatehouseClient(client).tenantId,
        accountId,
        audience: token.resourceServer?.audience,
      });
      return {
        // An action's claims first: Gatehouse's own (and the reserved names) always win.
        ...actions.accessTokenClaims,
        ...(await extraClaims(ctx, {
          request: koa,
          kind: isClient ? 'client' : 'user',
          clientId: token.clientId as string,
          clientTenantId: gatehouseClient(client).tenantId,
          ...(!isClient && { accountId: (token as { accountId: string }).accountId }),
          ...(!isClient && { grantId: (token as { grantId?: string }).grantId }),
          ...(token.resourceServer?.audience && { audience: token.resourceServer.audience }),
        })),
        // How the user signed in (RFC 8176), when the grant says: the password and MFA grants, a refresh token, a code.
        ...(!isClient && authenticationClaims(koa)),
        // A token exchange (token-exchange.ts): `act`, and the permissions narrowed to the scopes issued.
        ...(!isClient && exchangedClaims(koa)),
      } as never;
    },
    // The origins of the redirect URIs and the allowed web origins (Auth0's "Allowed Web Origins" open CORS too).
    clientBasedCORS: (_koa, origin, client) =>
      [...(client.redirectUris ?? []), ...(client.postLogoutRedirectUris ?? [])].some((uri) => originOf(uri) === origin),
    // An API token asked for with `openid` also opens /userinfo, as Auth0's does (decision 389).
    formats: { customizers: { jwt: withUserinfoAudience(ctx) as never } },
    renderError: (koa, out, error) => renderProtocolError(ctx, koa, out, error),
    // The engine's outgoing requests (back-channel logout at its end-session) go through the
    // webhooks' checked connection, which judges the address before connecting (decision
    // 204), in place of the engine's guard; outside production a logout URI may be
    // http://localhost, as a redirect URI may (decision 124).
    fetch: checkedFetch(applicationDestinations(config), ENGINE_FETCH_TIMEOUT_MS),
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      // No HS256: a client's secret is kept as a digest, so nothing can verify an HMAC made with it.
      clientAuthSigningAlgValues: ASYMMETRIC_ALGS,
      requestObjectSigningAlgValues: ASYMMETRIC_ALGS,
      dPoPSigningAlgValues: DPOP_ALGS,
    },
    // What Gatehouse serves beside the engine (decisions 422, 424): dynamic registration and front-channel logout.
    discovery: {
      registration_endpoint: `${config.issuer}${REGISTRATION_PATH}`,
      frontchannel_logout_supported: true,
      frontchannel_logout_session_supported: true,
    },
  };
  const provider = new Provider(config.tokenIssuer, configuration);
  // The engine (Koa) trusts every proxy or none. With a list of trusted proxies, the mount
  // (routes.ts) replaces X-Forwarded-* by what Fastify resolved through that list.
  provider.proxy = config.trustProxy !== false;
  registerGrants(provider, ctx);
  registerTokenExchange(provider, ctx, impersonate);
  provider.registerResponseMode(WEB_MESSAGE, webMessageResponse as never);
  includeSidForFrontchannel(provider);
  // The post-login actions' ID token claims, outside the scope mask as the engine's own `extra` are.
  const idTokenPayload = provider.IdToken.prototype.payload;
  provider.IdToken.prototype.payload = async function (this: { ctx?: object }) {
    const payload = (await idTokenPayload.call(this)) as Record<string, unknown>;
    return this.ctx ? { ...(await idTokenActionClaims(this.ctx)), ...payload } : payload;
  };
  // Outermost: it sees every answer last, the engine's error pages and JSON included.
  provider.use(answerUnavailable(ctx));
  provider.use(answerAfterAudit);
  provider.use(consumeHeldRefreshToken(ctx));
  provider.use(engineHeaders);
  provider.use(askBeforeLogout(ctx));
  provider.use(endGatehouseSessionAtLogout(ctx));
  provider.use(frontchannelLogout(ctx));
  provider.use(federatedLogout(ctx));
  provider.use(unauthorizedClientForDisallowedGrant);
  provider.on('server_error', (koa, error) => {
    if (markUnavailable(koa, error)) ctx.log.warn({ err: error }, 'OAuth engine request failed: a dependency is unavailable');
    else ctx.log.error({ err: error }, 'OAuth engine error');
  });
  auditEngineGrants(ctx, provider);
  provider.on('end_session.success', (koa) => {
    markGatehouseSessionEnded(ctx, koa);
    markFrontchannelLogout(koa);
  });
  provider.on('backchannel.error', (_koa, error, client) =>
    ctx.log.warn({ client_id: client.clientId, err: (error as Error).message }, 'Back-channel logout at sign-out not delivered'),
  );
  return provider;
}

/**
 * OIDC Front-Channel Logout 1.0 §3 (decision 424): an application told of sign-outs in the
 * browser gets `sid` in its ID tokens, to match the `sid` its logout page is called with.
 * The engine puts it there for back-channel logout only; its Client's `includeSid` (a
 * public method of this provider's own class) is widened for ours.
 */
function includeSidForFrontchannel(provider: Provider): void {
  const prototype = provider.Client.prototype as { includeSid(): boolean };
  const engineRule = prototype.includeSid;
  prototype.includeSid = function (this: InstanceType<Provider['Client']>) {
    return engineRule.call(this) || gatehouseClient(this).frontchannelLogoutUri !== undefined;
  };
}

/**
 * One sign-out: signing out of the engine (once it has checked the confirmation form's
 * own CSRF field) also ends the Gatehouse session of this browser. The engine's event marks
 * it (its listeners cannot wait); the middleware ends it before the answer leaves, so the
 * session is gone when the browser reaches the return URI. The cookie is cleared in this answer.
 */
function markGatehouseSessionEnded(ctx: OidcContext, koa: KoaContextWithOIDC): void {
  if (!koa.oidc.params?.logout) return;
  const token = koa.cookies.get(SESSION_COOKIE);
  if (!token) return;
  // Koa picks Secure from the request itself (and refuses it on one it does not see as https).
  const { secure: _, ...attributes } = cookieOptions(ctx);
  koa.cookies.set(SESSION_COOKIE, null, attributes);
  koa.state.gatehouseSessionToEnd = token;
}

function endGatehouseSessionAtLogout(ctx: OidcContext) {
  return async (koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    const token = koa.state.gatehouseSessionToEnd as string | undefined;
    if (!token) return;
    const actor = { type: 'anonymous' as const, id: null, ip: koa.ip ?? null, userAgent: koa.get('user-agent') || null };
    await revokeSessionByToken(ctx, token, actor).catch((error) =>
      ctx.log.error({ err: error }, 'Ending the Gatehouse session at logout failed'),
    );
  };
}

/**
 * A refresh token consumed by the engine is consumed with its successor's save (decision
 * 320, adapter.ts rotate); if a request ends without that save, it is consumed here. A
 * token presented twice revokes its family there as well (and is logged here: the answer
 * has already been decided).
 */
function consumeHeldRefreshToken(ctx: OidcContext) {
  return async (koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    try {
      await next();
    } finally {
      await consumeHeld(ctx.db, ctx.clock.now(), koa).catch((error) =>
        ctx.log.warn({ err: error }, 'A refresh token was used twice; its grant is revoked'),
      );
    }
  };
}

/**
 * RFC 6749 §5.2: a client asking for a grant type it may not use is `unauthorized_client`
 * (Auth0 answers so too); oidc-provider says `invalid_request`. Rewritten on the way out.
 */
async function unauthorizedClientForDisallowedGrant(koa: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const body = koa.body as { error?: unknown } | undefined;
  if (koa.oidc?.route !== 'token' || koa.status !== 400 || body?.error !== 'invalid_request') return;
  const grantType = koa.oidc.params?.grant_type;
  if (typeof grantType === 'string' && koa.oidc.client && !koa.oidc.client.grantTypeAllowed(grantType)) body.error = 'unauthorized_client';
}

/** Auth0's `audience` parameter names the API a token is for (RFC 8707's `resource`). */
function audienceParam(koa: KoaContextWithOIDC): string | undefined {
  const audience = koa.oidc.params?.audience ?? (koa.oidc.body as Record<string, unknown> | undefined)?.audience;
  return typeof audience === 'string' && audience ? audience : undefined;
}

const originOf = (uri: string): string | undefined => {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
};

/**
 * The standard prompts plus three of ours: sign in again when the Gatehouse session behind
 * the engine's session has ended (one sign-in serves the hosted pages and /api/v1/session,
 * so signing out of either ends both); prove a second factor when the MFA policies that
 * apply (decision 190: the user's home tenant, the organization asked for or chosen, the
 * application), or its `acr_values` (a step-up), ask for one that the session has not done
 * (the hosted page then challenges without asking for the password again; an organization
 * chosen on the picker brings the user back here before any code is issued); and choose an
 * organization when the application requires one or the `organization` parameter names
 * another than the grant holds.
 */
function interactionPolicyFor(ctx: OidcContext) {
  const policy = base();
  policy.get('login')?.checks.add(
    new Check('gatehouse_session', 'The Gatehouse session has ended', async (koa) => {
      const token = koa.cookies.get(SESSION_COOKIE);
      const active = token ? await sessionFromToken(ctx, token, false) : undefined;
      return active?.user.id === koa.oidc.session?.accountId ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  policy.get('login')?.checks.add(
    new Check('gatehouse_mfa', 'A second factor is required', async (koa) => {
      const token = koa.cookies.get(SESSION_COOKIE);
      const active = token ? await sessionFromToken(ctx, token, false) : undefined;
      const client = koa.oidc.client;
      if (!active || !client || active.user.id !== koa.oidc.session?.accountId) return Check.NO_NEED_TO_PROMPT;
      const acrValues = koa.oidc.params?.acr_values as string | undefined;
      // The organization asked for and the one the grant holds (chosen on the picker just now) count too (decision 190).
      const target = await mfaTargetOf(ctx, client.clientId, {
        organization: koa.oidc.params?.organization,
        grantId: koa.oidc.session?.grantIdFor(client.clientId),
      });
      // Codes carry the engine session's `amr`, which a factor proved on the account page has
      // not raised: the factor counts once both sessions hold it (the hosted page then raises it).
      const engineAmr = koa.oidc.session?.amr ?? [];
      const amr = engineAmr.includes('mfa') ? active.session.amr : engineAmr;
      const need = await signInNeed(ctx, active.user, target, { amr, acrValues });
      return need === 'none' ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  policy.get('consent')?.checks.add(
    new Check('organization', 'An organization must be chosen', async (koa) => {
      const client = koa.oidc.client;
      const requested = koa.oidc.params?.organization as string | undefined;
      if (!client || (!gatehouseClient(client).organizationRequired && !requested)) return Check.NO_NEED_TO_PROMPT;
      const grantId = koa.oidc.session?.grantIdFor(client.clientId);
      const chosen = await ctx.lookups.grantOrganization(grantId);
      if (!chosen) return Check.REQUEST_PROMPT;
      const matches = !requested || requested === chosen.id || requested.toLowerCase() === chosen.slug.toLowerCase();
      return matches ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}

export { DEVICE_CODE_GRANT, errors };
