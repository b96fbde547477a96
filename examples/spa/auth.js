/**
 * OAuth 2.0 for a single-page app, with nothing but the browser's Web Crypto and fetch:
 * authorization code + PKCE (RFC 7636) for a public client (type spa, no secret).
 * The same module runs in Node (20+), which the tests use.
 *
 * Gatehouse answers the browser's cross-origin calls to /oauth/token and /userinfo
 * because the page's origin is the origin of one of the application's redirect URIs.
 */

/** @typedef {{ issuer: string, clientId: string, redirectUri: string, audience?: string, scope?: string }} SpaConfig */

const DEFAULT_SCOPE = 'openid profile email offline_access';

const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** A PKCE pair: the verifier stays in the browser, the S256 challenge goes to /authorize. */
export async function createPkcePair() {
  const verifier = randomString();
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

/**
 * Step 1: where to send the browser. Keep `pending` (verifier and state) until the
 * redirect comes back, e.g. in sessionStorage.
 * @param {SpaConfig} config
 */
export async function createLoginRequest(config) {
  const { verifier, challenge } = await createPkcePair();
  const state = randomString();
  const url = new URL('/authorize', config.issuer);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scope ?? DEFAULT_SCOPE,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(config.audience && { audience: config.audience }),
  }).toString();
  return { url: url.href, pending: { verifier, state } };
}

/**
 * Step 2: the browser is back on the redirect URI with `?code=…&state=…`: check the
 * state, then exchange the code and the PKCE verifier for tokens (no client secret).
 * @param {SpaConfig} config
 * @param {string} callbackUrl the full URL the browser came back to
 * @param {{ verifier: string, state: string }} pending
 */
export async function handleCallback(config, callbackUrl, pending, fetchImpl = fetch) {
  const params = new URL(callbackUrl).searchParams;
  if (params.get('error')) throw new Error(`${params.get('error')}: ${params.get('error_description') ?? ''}`);
  if (!pending || params.get('state') !== pending.state) throw new Error('The state does not match: start the sign-in again');
  return tokenRequest(
    config,
    { grant_type: 'authorization_code', code: params.get('code') ?? '', redirect_uri: config.redirectUri, code_verifier: pending.verifier },
    fetchImpl,
  );
}

/** A new access token from the refresh token. Refresh tokens rotate: keep the new one, the old one is spent. */
export function refresh(config, refreshToken, fetchImpl = fetch) {
  return tokenRequest(config, { grant_type: 'refresh_token', refresh_token: refreshToken }, fetchImpl);
}

/**
 * The user's claims from /userinfo: with an access token for Gatehouse itself (a sign-in
 * without `audience`), or for an API when `openid` was asked for too (as Auth0's).
 */
export async function userinfo(config, accessToken, fetchImpl = fetch) {
  const response = await fetchImpl(new URL('/userinfo', config.issuer), { headers: { authorization: `Bearer ${accessToken}` } });
  if (!response.ok) throw new Error(`userinfo: ${response.status}`);
  return response.json();
}

/** Where to send the browser to sign out of Gatehouse too (Auth0's /v2/logout with returnTo). */
export function logoutUrl(config, returnTo) {
  const url = new URL('/v2/logout', config.issuer);
  url.search = new URLSearchParams({ client_id: config.clientId, returnTo }).toString();
  return url.href;
}

/** The claims of a JWT, decoded without verification: for display only. */
export function claimsOf(jwt) {
  const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
}

async function tokenRequest(config, params, fetchImpl) {
  const response = await fetchImpl(new URL('/oauth/token', config.issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: config.clientId, ...params }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error}: ${body.error_description ?? ''}`);
  return body;
}
