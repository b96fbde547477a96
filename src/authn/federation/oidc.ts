import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import type { AppContext } from '../../platform/context.js';
import { type Connection, FederationError, type RedirectStrategy, type UpstreamProfile } from './strategy.js';
import {
  baseUrlOf,
  callbackError,
  checkState,
  federationError,
  PROVIDER_TIMEOUT_MS,
  profileFromClaims,
  providerFetch,
  rebased,
  stringOption,
} from './upstream.js';

/**
 * The OpenID Connect strategy (docs/federation.md#openid-connect-oauth-2-and-the-presets), with
 * openid-client: `back_channel` is the authorization code flow with PKCE (S256), state and
 * nonce, the client authenticated as discovery says; `front_channel` is `id_token` by
 * `form_post` with a nonce, no secret. The ID token is checked by openid-client (signature
 * by the discovered JWKS, `iss` pinned to the issuer, `aud`, `azp`, `nonce`, expiry), the
 * authorization response too (state, RFC 9207 `iss`). The presets (./presets.ts) are data
 * over this: `oidcStrategyOf(preset)`.
 */

/** What a preset changes in the generic OIDC strategy. */
export interface OidcPreset {
  /** The identity's `provider`. */
  provider: string;
  /** The issuer (discovery at `{issuer}/.well-known/openid-configuration`) or a full discovery URL. */
  discovery(connection: Connection): string;
  scope(connection: Connection): string;
  frontChannel(connection: Connection): boolean;
  /** The code comes back by form_post (Apple). */
  formPost?: boolean;
  /** Read the userinfo endpoint too (when discovery names one). */
  userinfo: boolean;
  /** Extra authorization parameters (Google's `hd`). */
  authorizationParams?(connection: Connection): Record<string, string>;
  /** The client secret, when it is not `client_secret` (Apple signs one). */
  clientSecret?(ctx: AppContext, connection: Connection): Promise<string>;
  /** The checked claims (ID token, then userinfo) as the person; throws FederationError to refuse. */
  profile?(
    claims: Record<string, unknown>,
    params: Record<string, string>,
    connection: Connection,
  ): Partial<UpstreamProfile> & { subject: string };
}

/** How long discovery (and the client built on it) is kept: a few minutes (decision 242). */
const DISCOVERY_TTL_MS = 5 * 60_000;
const MAX_CACHED = 500;
const cache = new Map<string, { expires: number; config: Promise<client.Configuration> }>();

/**
 * Forgets every discovery: a connection changed on some node (the change feed calls this on
 * every node), and an administrator saving it is how they make Gatehouse read the provider again.
 */
export function forgetDiscoveries(): void {
  cache.clear();
}

/**
 * The key of a connection's cached configuration: its id and a digest of everything that
 * shapes it (options and secrets), so a changed connection is used at once (decision 242).
 */
function cacheKey(ctx: AppContext, connection: Connection): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([connection.strategy, connection.options, connection.secrets, ctx.config.production]))
    .digest('base64url');
  return `${connection.id}:${digest}`;
}

/** client_secret_basic unless discovery lists only client_secret_post (OIDC Discovery's default is basic). */
function secretAuth(secret: string): client.ClientAuth {
  const basic = client.ClientSecretBasic(secret);
  const post = client.ClientSecretPost(secret);
  return (as, metadata, body, headers) => {
    const methods = as.token_endpoint_auth_methods_supported;
    const usePost = Array.isArray(methods) && !methods.includes('client_secret_basic') && methods.includes('client_secret_post');
    (usePost ? post : basic)(as, metadata, body, headers);
  };
}

async function discover(ctx: AppContext, connection: Connection, preset: OidcPreset): Promise<client.Configuration> {
  const clientId = stringOption(connection, 'client_id');
  if (!clientId) throw new FederationError('misconfigured', 'the connection has no client_id');
  const front = preset.frontChannel(connection);
  let auth: client.ClientAuth = client.None();
  if (!front) {
    const secret = preset.clientSecret ? await preset.clientSecret(ctx, connection) : connection.secrets.client_secret;
    if (!secret) throw new FederationError('misconfigured', 'the connection has no client_secret');
    auth = secretAuth(secret);
  }
  let server: URL;
  try {
    server = new URL(preset.discovery(connection));
  } catch (error) {
    if (error instanceof FederationError) throw error;
    throw new FederationError('misconfigured', 'the issuer or discovery_url is not a URL');
  }
  const execute = [
    ...(ctx.config.production ? [] : [client.allowInsecureRequests]),
    // The ID token's signature is checked in the code flow too: openid-client skips it by
    // default for a token from the token endpoint, as OIDC Core allows (decision 245).
    front ? client.useIdTokenResponseType : client.enableNonRepudiationChecks,
  ];
  let config: client.Configuration;
  try {
    config = await client.discovery(server, clientId, undefined, auth, {
      [client.customFetch]: providerFetch(ctx, connection),
      timeout: PROVIDER_TIMEOUT_MS / 1000,
      execute,
    });
  } catch (error) {
    const translated = federationError(error, 'discovery');
    throw translated.code === 'misconfigured' ? translated : new FederationError('unreachable', translated.reason);
  }
  // A discovery URL given in full is not checked against an issuer by openid-client: pin it here.
  const pinned = stringOption(connection, 'issuer');
  if (pinned && stringOption(connection, 'discovery_url') && config.serverMetadata().issuer !== pinned) {
    throw new FederationError('invalid_response', `discovery names the issuer ${config.serverMetadata().issuer}, not ${pinned}`);
  }
  return config;
}

/** The connection's client, discovered at most every few minutes. */
async function configuration(ctx: AppContext, connection: Connection, preset: OidcPreset): Promise<client.Configuration> {
  const now = ctx.clock.now().getTime();
  const key = cacheKey(ctx, connection);
  const hit = cache.get(key);
  if (hit && hit.expires > now) return hit.config;
  for (const [k, entry] of cache) if (entry.expires <= now || cache.size >= MAX_CACHED) cache.delete(k);
  const config = discover(ctx, connection, preset);
  cache.set(key, { expires: now + DISCOVERY_TTL_MS, config });
  config.catch(() => cache.delete(key));
  return config;
}

/** The parameters of an authorization response openid-client checks (no others: it refuses what it does not expect). */
const RESPONSE_PARAMS = ['code', 'state', 'iss', 'session_state'];
const FRONT_CHANNEL_PARAMS = ['id_token', 'state', 'iss', 'session_state'];

function callbackUrl(redirectUri: string, params: Record<string, string>, names: string[], inHash: boolean): URL {
  const url = new URL(redirectUri);
  const picked = new URLSearchParams();
  for (const name of names) if (typeof params[name] === 'string') picked.set(name, params[name]);
  if (inHash) url.hash = picked.toString();
  else for (const [name, value] of picked) url.searchParams.set(name, value);
  return url;
}

/** Without `token`, `id_token`, `access_token`, `refresh_token` and the one-time check values. */
function claimsOnly(claims: Record<string, unknown>): Record<string, unknown> {
  const { nonce: _n, at_hash: _a, c_hash: _c, s_hash: _s, ...rest } = claims;
  return rest;
}

export function oidcStrategyOf(preset: OidcPreset): RedirectStrategy {
  return {
    kind: 'redirect',

    async start(ctx, connection, { redirectUri, state, loginHint }) {
      const config = await configuration(ctx, connection, preset);
      const front = preset.frontChannel(connection);
      const nonce = client.randomNonce();
      const params: Record<string, string> = {
        ...preset.authorizationParams?.(connection),
        redirect_uri: redirectUri,
        scope: preset.scope(connection),
        state,
        nonce,
      };
      const saved: Record<string, string> = { state, nonce };
      if (front) {
        params.response_type = 'id_token';
        params.response_mode = 'form_post';
      } else {
        saved.verifier = client.randomPKCECodeVerifier();
        params.response_type = 'code';
        params.code_challenge = await client.calculatePKCECodeChallenge(saved.verifier);
        params.code_challenge_method = 'S256';
        if (preset.formPost) params.response_mode = 'form_post';
      }
      if (loginHint) params.login_hint = loginHint;
      let url: string;
      try {
        url = client.buildAuthorizationUrl(config, params).href;
      } catch (error) {
        throw federationError(error, 'the authorization request');
      }
      return { url: rebased(url, baseUrlOf(ctx, connection)), saved };
    },

    async finish(ctx, connection, { redirectUri, params, saved }) {
      // The state first (unless the provider answered an error without one): an answer to another flow is refused.
      if (params.state !== undefined || !params.error) checkState(params, saved);
      const refused = callbackError(params);
      if (refused) throw refused;
      const config = await configuration(ctx, connection, preset);
      let claims: Record<string, unknown>;
      if (preset.frontChannel(connection)) {
        if (!saved.nonce) throw new FederationError('invalid_response', 'no nonce was saved for this sign-in');
        try {
          const url = callbackUrl(redirectUri, params, FRONT_CHANNEL_PARAMS, true);
          claims = { ...(await client.implicitAuthentication(config, url, saved.nonce, { expectedState: saved.state })) };
        } catch (error) {
          throw federationError(error, 'the ID token');
        }
      } else {
        if (!saved.verifier || !saved.nonce)
          throw new FederationError('invalid_response', 'no PKCE verifier or nonce was saved for this sign-in');
        let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
        try {
          tokens = await client.authorizationCodeGrant(config, callbackUrl(redirectUri, params, RESPONSE_PARAMS, false), {
            pkceCodeVerifier: saved.verifier,
            expectedState: saved.state,
            expectedNonce: saved.nonce,
            idTokenExpected: true,
          });
        } catch (error) {
          throw federationError(error, 'the token request');
        }
        const idClaims = tokens.claims();
        if (!idClaims) throw new FederationError('invalid_response', 'the token response has no ID token');
        claims = { ...idClaims };
        if (preset.userinfo && config.serverMetadata().userinfo_endpoint) {
          try {
            // openid-client refuses a userinfo `sub` other than the ID token's.
            const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
            claims = { ...userinfo, ...idClaims };
          } catch (error) {
            throw federationError(error, 'the userinfo request');
          }
        }
      }
      claims = claimsOnly(claims);
      return profileFromClaims(preset.provider, claims, preset.profile?.(claims, params, connection) ?? { subject: String(claims.sub) });
    },

    /**
     * OpenID Connect RP-Initiated Logout 1.0: the discovered `end_session_endpoint` with
     * `client_id`, `post_logout_redirect_uri` and `state`. No `id_token_hint`: the provider's
     * ID token is not kept after the sign-in (decision 457), so the provider may ask the
     * person to confirm, and must have the return URI registered for the client.
     */
    async logoutUrl(ctx, connection, { postLogoutRedirectUri, state }) {
      const config = await configuration(ctx, connection, preset);
      if (!config.serverMetadata().end_session_endpoint) return undefined;
      const url = client.buildEndSessionUrl(config, { post_logout_redirect_uri: postLogoutRedirectUri, state });
      return rebased(url.href, baseUrlOf(ctx, connection));
    },
  };
}

/** The generic `oidc` strategy: `issuer` or `discovery_url`, `client_id`, `client_secret`, `scope`, `type`. */
export const oidcStrategy: RedirectStrategy = oidcStrategyOf({
  provider: 'oidc',
  discovery: (connection) => {
    const url = stringOption(connection, 'discovery_url') ?? stringOption(connection, 'issuer');
    if (!url) throw new FederationError('misconfigured', 'the connection has neither issuer nor discovery_url');
    return url;
  },
  scope: (connection) => {
    const scope = stringOption(connection, 'scope') ?? 'openid profile email';
    return scope.split(/\s+/).includes('openid') ? scope : `openid ${scope}`;
  },
  frontChannel: (connection) => stringOption(connection, 'type') === 'front_channel',
  userinfo: true,
});
