import { sha256 } from './dpop.js';
import { IntrospectionUnavailableError, InvalidTokenError } from './errors.js';

/**
 * The optional online check: after a token verified locally, Gatehouse's introspection
 * endpoint (RFC 7662) is asked whether it is still active: revoked (`POST /oauth/revoke`),
 * its user disabled, its grant or its client gone. Answers are cached, by the token's
 * SHA-256, for `cacheMaxAge` (and never past the token's `exp`), so a token costs one call
 * per `cacheMaxAge` whatever the traffic; concurrent checks of one token share one call.
 */
export interface RevocationOptions {
  /** The resource server's own client at Gatehouse: a confidential application of the tenant whose tokens it checks. */
  clientId: string;
  clientSecret: string;
  /** Default `${issuer}/oauth/introspect`. */
  introspectionEndpoint?: string | URL;
  /** How long an answer is reused, in ms: the longest a revoked token still passes. Default 10 s. */
  cacheMaxAge?: number;
  /** How many answers the cache holds (the oldest go first). Default 10,000. */
  cacheSize?: number;
  /** Timeout of one introspection call, in ms. Default 5 s. */
  timeoutDuration?: number;
  /**
   * When Gatehouse cannot answer (unreachable, timeout, an error status): false (the default)
   * refuses the request with 503 `temporarily_unavailable`; true accepts the locally verified
   * token. Either way `onError` is told.
   */
  failOpen?: boolean;
  /** Called with each failed introspection call (for logs and metrics); never with the token. */
  onError?: (error: IntrospectionUnavailableError) => void;
}

export const REVOCATION_CACHE_MAX_AGE_MS = 10_000;
export const REVOCATION_CACHE_SIZE = 10_000;
const DEFAULT_TIMEOUT_MS = 5_000;

export interface RevocationCheck {
  /** Resolves when the token is active (or Gatehouse cannot tell and `failOpen`); rejects with an `AuthError` otherwise. */
  check(token: string, exp: number): Promise<void>;
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded before they are joined for Basic. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

export function createRevocationCheck(issuer: string, options: RevocationOptions): RevocationCheck {
  if (
    typeof options.clientId !== 'string' ||
    options.clientId === '' ||
    typeof options.clientSecret !== 'string' ||
    options.clientSecret === ''
  ) {
    throw new TypeError('createVerifier: "revocation" needs the "clientId" and "clientSecret" of the API\'s own client');
  }
  const endpoint = new URL(options.introspectionEndpoint ?? `${issuer.replace(/\/+$/, '')}/oauth/introspect`);
  const maxAge = options.cacheMaxAge ?? REVOCATION_CACHE_MAX_AGE_MS;
  const maxEntries = options.cacheSize ?? REVOCATION_CACHE_SIZE;
  const timeout = options.timeoutDuration ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(maxAge) || maxAge < 0) throw new TypeError('createVerifier: "revocation.cacheMaxAge" must be a number of ms');
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new TypeError('createVerifier: "revocation.cacheSize" must be a positive integer');
  const authorization = `Basic ${btoa(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`)}`;

  const answers = new Map<string, { active: boolean; until: number }>();
  const pending = new Map<string, Promise<boolean>>();

  async function introspect(token: string): Promise<boolean> {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        signal: AbortSignal.timeout(timeout),
        redirect: 'error',
      });
    } catch (error) {
      throw new IntrospectionUnavailableError('the introspection endpoint did not answer', { cause: error });
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new IntrospectionUnavailableError(`the introspection endpoint answered ${response.status}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new IntrospectionUnavailableError('the introspection answer is not JSON', { cause: error });
    }
    const active = (body as { active?: unknown } | null)?.active;
    if (typeof active !== 'boolean') throw new IntrospectionUnavailableError('the introspection answer has no "active"');
    return active;
  }

  async function isActive(token: string, exp: number): Promise<boolean> {
    const key = await sha256(token);
    const now = Date.now();
    const cached = answers.get(key);
    if (cached && cached.until > now) return cached.active;
    let call = pending.get(key);
    if (!call) {
      call = introspect(token).finally(() => pending.delete(key));
      pending.set(key, call);
      call.then(
        (active) => {
          answers.delete(key);
          if (answers.size >= maxEntries) answers.delete(answers.keys().next().value as string);
          answers.set(key, { active, until: Math.min(Date.now() + maxAge, exp * 1000) });
        },
        () => {}, // failures are not cached: the next request asks again
      );
    }
    return call;
  }

  return {
    async check(token, exp) {
      let active: boolean;
      try {
        active = await isActive(token, exp);
      } catch (error) {
        if (!(error instanceof IntrospectionUnavailableError)) throw error;
        options.onError?.(error);
        if (options.failOpen) return;
        throw error;
      }
      if (!active) throw new InvalidTokenError('revoked');
    },
  };
}
