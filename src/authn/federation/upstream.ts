import * as client from 'openid-client';
import type { AppContext } from '../../platform/context.js';
import { applicationDestinations } from '../../platform/http/destinations.js';
import { checkedFetch } from '../../platform/http/outbound.js';
import { type Connection, FederationError, type UpstreamProfile } from './strategy.js';

/**
 * What the OIDC and OAuth 2 strategies share (./oidc.ts, ./oauth2.ts): the one way to reach
 * a provider, the translation of every failure into a `FederationError`, and the options.
 */

/** How long one request to a provider may take, connection and answer (decision 243). */
export const PROVIDER_TIMEOUT_MS = 10_000;

/** A string option, trimmed; undefined when absent or empty. */
export function stringOption(connection: Connection, name: string): string | undefined {
  const value = connection.options[name];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

export function requiredOption(connection: Connection, name: string): string {
  const value = stringOption(connection, name);
  if (value === undefined) throw new FederationError('misconfigured', `the connection has no ${name}`);
  return value;
}

/** A string-list option (a list, or one string); undefined when absent. */
export function listOption(connection: Connection, name: string): string[] | undefined {
  const value = connection.options[name];
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return undefined;
}

/**
 * The test-only option `base_url` (decision 244): every request to the provider, and the
 * authorization URL, go to this origin instead, path and query kept, so tests can answer
 * at a provider's documented paths from a local server. Refused in production: it would
 * let whoever edits the connection send the client secret anywhere.
 */
export function baseUrlOf(ctx: AppContext, connection: Connection): URL | undefined {
  const baseUrl = stringOption(connection, 'base_url');
  if (baseUrl === undefined) return undefined;
  if (ctx.config.production) throw new FederationError('misconfigured', 'base_url is for tests only and refused in production');
  return new URL(baseUrl);
}

/** `url` moved to `base`'s origin (path and query kept); unchanged without a base. */
export function rebased(url: string, base: URL | undefined): string {
  if (!base) return url;
  const moved = new URL(url);
  moved.protocol = base.protocol;
  moved.host = base.host;
  return moved.href;
}

/**
 * The fetch for one connection: the SSRF-checked one (src/platform/http/outbound.ts), to
 * `base_url` when set. A network failure is thrown as `FederationError('unreachable')`;
 * openid-client wraps it, `federationError` finds it again.
 */
export function providerFetch(ctx: AppContext, connection: Connection): client.CustomFetch {
  const base = baseUrlOf(ctx, connection);
  const fetch = checkedFetch(applicationDestinations(ctx.config), PROVIDER_TIMEOUT_MS);
  return async (url, options) => {
    try {
      return await fetch(rebased(url, base), {
        method: options.method,
        headers: options.headers,
        body: options.body as string | URLSearchParams | undefined,
      });
    } catch (error) {
      throw new FederationError('unreachable', `${new URL(url).origin} did not answer: ${(error as Error).message}`);
    }
  };
}

/** A FederationError anywhere in an error's cause chain. */
function foundFederationError(error: unknown): FederationError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof FederationError) return e;
  }
  return undefined;
}

/**
 * Every failure of a call to a provider as a `FederationError` (decision 245): the provider
 * refusing (an OAuth error answer) → `provider_error` with its error code; a network failure,
 * a time-out or a server error → `unreachable`; anything that fails a check → `invalid_response`.
 * Nothing from openid-client escapes untranslated.
 */
export function federationError(error: unknown, during: string): FederationError {
  const found = foundFederationError(error);
  if (found) return found;
  if (error instanceof client.ResponseBodyError) {
    if (error.status >= 500) return new FederationError('unreachable', `${during}: the provider answered HTTP ${error.status}`);
    return new FederationError('provider_error', `${during}: the provider refused: ${error.error}`);
  }
  if (error instanceof client.AuthorizationResponseError) {
    return new FederationError(error.error === 'access_denied' ? 'cancelled' : 'provider_error', `${during}: ${error.error}`);
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const code = error.cause[0]?.parameters.error ?? `HTTP ${error.status}`;
    return new FederationError('provider_error', `${during}: the provider refused: ${code}`);
  }
  if (error instanceof client.ClientError) {
    if (error.code === 'OAUTH_HTTP_REQUEST_FORBIDDEN') {
      return new FederationError('misconfigured', `${during}: the provider's URLs must be https in production`);
    }
    if (error.code === 'OAUTH_TIMEOUT' || error.code === 'OAUTH_ABORT') {
      return new FederationError('unreachable', `${during}: no answer in time`);
    }
    const cause = error.cause;
    if (error.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' && cause instanceof Response) {
      return new FederationError(
        cause.status >= 500 ? 'unreachable' : 'provider_error',
        `${during}: the provider answered HTTP ${cause.status}`,
      );
    }
    // An OAuth error in a 200 answer (GitHub's token endpoint answers so): the provider refused.
    const body = (cause as { cause?: { body?: { error?: unknown } } } | undefined)?.cause?.body;
    if (typeof body?.error === 'string') {
      return new FederationError('provider_error', `${during}: the provider refused: ${body.error.slice(0, 100)}`);
    }
    const detail = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return new FederationError('invalid_response', `${during}: ${error.message}${detail}${error.code ? ` (${error.code})` : ''}`);
  }
  return new FederationError('invalid_response', `${during}: ${(error as Error)?.message ?? String(error)}`);
}

/** The callback's `error` parameter, as a FederationError: the person cancelling is not a failure of the provider. */
export function callbackError(params: Record<string, string>): FederationError | undefined {
  const { error } = params;
  if (!error) return undefined;
  const description = params.error_description ? `: ${params.error_description.slice(0, 200)}` : '';
  return new FederationError(
    error === 'access_denied' ? 'cancelled' : 'provider_error',
    `the provider answered ${error.slice(0, 100)}${description}`,
  );
}

/** The state that came back is the one that went out (CSRF, and the flow it belongs to). */
export function checkState(params: Record<string, string>, saved: Record<string, string>): void {
  if (!saved.state || params.state !== saved.state) {
    throw new FederationError('invalid_response', 'the state that came back is not the one sent');
  }
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * Claims as an UpstreamProfile. `emailVerified` only when the provider says exactly `true`
 * (decision 246); `mfa` only when `amr` holds `mfa` (RFC 8176).
 */
export function profileFromClaims(
  provider: string,
  claims: Record<string, unknown>,
  overrides: Partial<UpstreamProfile> & { subject: string },
): UpstreamProfile {
  const amr = Array.isArray(claims.amr) ? claims.amr : [];
  const picture = claims.picture;
  return {
    provider,
    email: text(claims.email),
    emailVerified: claims.email_verified === true,
    name: text(claims.name),
    givenName: text(claims.given_name),
    familyName: text(claims.family_name),
    picture: text(picture),
    locale: text(claims.locale),
    claims,
    mfa: amr.includes('mfa'),
    // An override left undefined keeps what the claims say.
    ...Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined)),
    subject: overrides.subject,
  };
}
