import * as client from 'openid-client';
import type { AppContext } from '../../platform/context.js';
import { type Connection, FederationError, type RedirectStrategy, type UpstreamProfile } from './strategy.js';
import {
  baseUrlOf,
  callbackError,
  checkState,
  federationError,
  listOption,
  PROVIDER_TIMEOUT_MS,
  profileFromClaims,
  providerFetch,
  rebased,
  requiredOption,
  stringOption,
} from './upstream.js';

/**
 * The plain OAuth 2 strategy (docs/federation.md#openid-connect-oauth-2-and-the-presets): the
 * authorization code flow, PKCE (S256) unless `pkce: false`, state; the person is whatever
 * the userinfo URL answers for the access token. No ID token, so nothing is signed: the
 * answer is trusted because it came over TLS from the configured endpoint. An email is never
 * taken as verified unless the provider's documented field says so. GitHub and Facebook
 * (./presets.ts) are data over this: `oauth2StrategyOf(preset)`.
 */

/** Reads one JSON resource with the access token (the preset's extra calls, GitHub's /user/emails). */
export type ReadJson = (url: string) => Promise<unknown>;

export interface OAuth2Preset {
  provider: string;
  endpoints(connection: Connection): { authorization: string; token: string; userinfo: string };
  scope(connection: Connection): string;
  /** Headers for the resource requests (GitHub wants a User-Agent and its media type). */
  headers?: Record<string, string>;
  /** The person from the userinfo answer; throws FederationError to refuse. */
  profile(
    userinfo: Record<string, unknown>,
    read: ReadJson,
    connection: Connection,
  ): Promise<Partial<UpstreamProfile> & { subject: string }>;
}

/** The client: the endpoints as the server's metadata; the `issuer` option (when set) checks RFC 9207 `iss`. */
function configuration(ctx: AppContext, connection: Connection, preset: OAuth2Preset): client.Configuration {
  const clientId = requiredOption(connection, 'client_id');
  const secret = connection.secrets.client_secret;
  if (!secret) throw new FederationError('misconfigured', 'the connection has no client_secret');
  const { authorization, token, userinfo } = preset.endpoints(connection);
  const issuer = stringOption(connection, 'issuer') ?? `${new URL(authorization).origin}/`;
  const auth =
    stringOption(connection, 'token_endpoint_auth_method') === 'client_secret_basic'
      ? client.ClientSecretBasic(secret)
      : client.ClientSecretPost(secret);
  const config = new client.Configuration(
    { issuer, authorization_endpoint: authorization, token_endpoint: token, userinfo_endpoint: userinfo },
    clientId,
    undefined,
    auth,
  );
  config[client.customFetch] = providerFetch(ctx, connection);
  config.timeout = PROVIDER_TIMEOUT_MS / 1000;
  if (!ctx.config.production) client.allowInsecureRequests(config);
  return config;
}

function configured(ctx: AppContext, connection: Connection, preset: OAuth2Preset): client.Configuration {
  try {
    return configuration(ctx, connection, preset);
  } catch (error) {
    if (error instanceof FederationError) throw error;
    throw new FederationError('misconfigured', `the connection's endpoints are not usable: ${(error as Error).message}`);
  }
}

const usesPkce = (connection: Connection) => connection.options.pkce !== false;

export function oauth2StrategyOf(preset: OAuth2Preset): RedirectStrategy {
  return {
    kind: 'redirect',

    async start(ctx, connection, { redirectUri, state }) {
      const config = configured(ctx, connection, preset);
      const params: Record<string, string> = { redirect_uri: redirectUri, state, response_type: 'code' };
      const scope = preset.scope(connection);
      if (scope) params.scope = scope;
      const saved: Record<string, string> = { state };
      if (usesPkce(connection)) {
        saved.verifier = client.randomPKCECodeVerifier();
        params.code_challenge = await client.calculatePKCECodeChallenge(saved.verifier);
        params.code_challenge_method = 'S256';
      }
      const url = client.buildAuthorizationUrl(config, params).href;
      return { url: rebased(url, baseUrlOf(ctx, connection)), saved };
    },

    async finish(ctx, connection, { redirectUri, params, saved }) {
      if (params.state !== undefined || !params.error) checkState(params, saved);
      const refused = callbackError(params);
      if (refused) throw refused;
      const config = configured(ctx, connection, preset);
      const callback = new URL(redirectUri);
      for (const name of ['code', 'state', ...(stringOption(connection, 'issuer') ? ['iss'] : [])]) {
        if (typeof params[name] === 'string') callback.searchParams.set(name, params[name]);
      }
      let accessToken: string;
      try {
        const tokens = await client.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: usesPkce(connection) ? saved.verifier : undefined,
          expectedState: saved.state,
        });
        accessToken = tokens.access_token;
      } catch (error) {
        throw federationError(error, 'the token request');
      }
      const read: ReadJson = async (url) => {
        let response: Response;
        try {
          response = await client.fetchProtectedResource(
            config,
            accessToken,
            new URL(url),
            'GET',
            undefined,
            new Headers({ accept: 'application/json', ...preset.headers }),
          );
        } catch (error) {
          throw federationError(error, `the request to ${new URL(url).pathname}`);
        }
        if (!response.ok) {
          const code = response.status >= 500 ? 'unreachable' : 'provider_error';
          throw new FederationError(code, `${new URL(url).pathname} answered HTTP ${response.status}`);
        }
        try {
          return await response.json();
        } catch {
          throw new FederationError('invalid_response', `${new URL(url).pathname} did not answer JSON`);
        }
      };
      const userinfo = await read(config.serverMetadata().userinfo_endpoint as string);
      if (typeof userinfo !== 'object' || userinfo === null || Array.isArray(userinfo)) {
        throw new FederationError('invalid_response', 'the userinfo answer is not a JSON object');
      }
      const claims = userinfo as Record<string, unknown>;
      const person = await preset.profile(claims, read, connection);
      if (!person.subject) throw new FederationError('invalid_response', 'the provider named no user id');
      return profileFromClaims(preset.provider, claims, { emailVerified: false, ...person });
    },
  };
}

/** The user id in a userinfo answer: `user_id_attribute`, else `sub`, else `id`. */
export function userIdOf(userinfo: Record<string, unknown>, connection: Connection): string {
  const attribute = stringOption(connection, 'user_id_attribute');
  const value = attribute ? userinfo[attribute] : (userinfo.sub ?? userinfo.id);
  if ((typeof value !== 'string' || value === '') && typeof value !== 'number') {
    throw new FederationError('invalid_response', `the userinfo answer has no ${attribute ?? 'sub or id'}`);
  }
  return String(value);
}

/**
 * The generic `oauth2` strategy: `authorizationURL`, `tokenURL`, `userinfoURL`, `client_id`,
 * `client_secret`, `scope`, `pkce` (default true), `user_id_attribute`, optional `issuer`
 * (checks RFC 9207 `iss`), `token_endpoint_auth_method` (`client_secret_post`, the default, or
 * `client_secret_basic`). The email counts as verified only when the answer has
 * `email_verified: true` (OpenID's field; a provider that documents nothing verifies nothing).
 */
export const oauth2Strategy: RedirectStrategy = oauth2StrategyOf({
  provider: 'oauth2',
  endpoints: (connection) => ({
    authorization: requiredOption(connection, 'authorizationURL'),
    token: requiredOption(connection, 'tokenURL'),
    userinfo: requiredOption(connection, 'userinfoURL'),
  }),
  scope: (connection) => (listOption(connection, 'scope') ?? []).join(' '),
  profile: async (userinfo, _read, connection) => ({
    subject: userIdOf(userinfo, connection),
    emailVerified: userinfo.email_verified === true,
  }),
});
