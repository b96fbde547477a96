/**
 * A machine-to-machine client: gets an access token for an API with the client
 * credentials grant (no user involved), then calls the API with it.
 *
 * The application (type m2m) must have a grant for the API (POST /api/v1/applications/:id/grants);
 * the token then carries the granted permissions.
 */
import * as oidc from 'openid-client';

/**
 * @param {{ issuer: string, clientId: string, clientSecret: string, audience: string, scope?: string }} config
 * @returns {Promise<{ access_token: string, expires_in?: number, scope?: string }>}
 */
export async function getToken({ issuer, clientId, clientSecret, audience, scope }) {
  // Discovery reads /.well-known/openid-configuration (token endpoint: /oauth/token).
  const config = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    // Only for a Gatehouse on http://localhost during development; remove in production (https).
    ...(issuer.startsWith('http:') && { execute: [oidc.allowInsecureRequests] }),
  });
  // `audience` (Auth0's name; `resource` works too) names the API the token is for.
  return oidc.clientCredentialsGrant(config, { audience, ...(scope && { scope }) });
}

/** The claims of a JWT, decoded without verification: for display only (the API verifies). */
export function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** Calls the API with the token; returns the status and the JSON body. */
export async function callApi(url, accessToken) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: response.status, body: await response.json() };
}
