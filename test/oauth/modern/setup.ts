import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import * as client from 'openid-client';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { type Browser, formOf } from '../../helpers/oidc.js';
import { type AppBody, CALLBACK, gh, isCallback } from '../engine/flows-setup.js';

/** A key pair of the application's: the private key for openid-client, the public JWK for Gatehouse. */
export async function appKeys(alg: 'ES256' | 'PS256' | 'RS256' = 'ES256', kid = `k-${Math.random().toString(36).slice(2)}`) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, jwk, kid, signer: { key: privateKey, kid } as client.PrivateKey };
}

/** openid-client's configuration of an application that authenticates with `private_key_jwt`. */
export const discoverWithKey = (app: AppBody, key: client.PrivateKey) =>
  client.discovery(new URL(gh.issuer), app.client_id, undefined, client.PrivateKeyJwt(key), { execute: [client.allowInsecureRequests] });

/** The error an openid-client call failed with (RFC 6749 `error`, HTTP status). */
export async function oauthError(call: Promise<unknown>): Promise<{ error: string; status: number; description?: string }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof client.ResponseBodyError)
      return { error: error.error, status: error.status, description: error.error_description };
    if (error instanceof client.AuthorizationResponseError) return { error: error.error, status: 0 };
    if (error instanceof client.WWWAuthenticateChallengeError) {
      return { error: error.cause[0]?.parameters.error ?? 'challenge', status: error.status };
    }
    throw error;
  }
  assert.fail('expected the call to fail with an OAuth error');
}

/** Opens `url` (an authorization URL), signs in with the hosted form and returns the callback URL. */
export async function signInAt(browser: Browser, url: URL, email: string): Promise<URL> {
  const opened = await browser.follow(url.href, isCallback);
  assert.equal(opened.response.status, 200, `expected the sign-in page, got ${opened.response.status} at ${opened.url}`);
  const form = formOf(await opened.response.text());
  const landed = await browser.submit(opened.url, form.action, { ...form.fields, username: email, password: PASSWORD }, isCallback);
  assert.ok(isCallback(landed.url), `expected the callback, got ${landed.response.status} ${landed.url}`);
  return new URL(landed.url);
}

/** The answer of an authorization URL opened without signing in: a page (status) or a redirect. */
export async function openAuthorize(browser: Browser, url: URL): Promise<{ status: number; body: string; url: string }> {
  const opened = await browser.follow(url.href, isCallback);
  return { status: opened.response.status, body: await opened.response.text(), url: opened.url };
}

export { CALLBACK };
