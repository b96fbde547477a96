/**
 * Browser-facing OAuth 2.0 / OpenID Connect flows, driven over real HTTP by openid-client
 * (a certified relying-party library none of us wrote) and by plain form posts to the
 * hosted pages, as a browser without JavaScript would send them.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { Browser, formOf } from '../../helpers/oidc.js';
import {
  type AppBody,
  admin,
  CALLBACK,
  createApp,
  DEVICE_CODE,
  discover,
  flowsServer,
  gh,
  isCallback,
  newUser,
  signInThrough,
} from './flows-setup.js';

const HOME = 'http://localhost:4000/';

/** The error an openid-client call failed with (RFC 6749 `error`, HTTP status). */
async function oauthError(call: Promise<unknown>): Promise<{ error: string; status: number }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return { error: error.error, status: error.status };
    if (error instanceof client.AuthorizationResponseError) return { error: error.error, status: 0 };
    throw error;
  }
  assert.fail('expected the call to fail with an OAuth error');
}

const isHome = (location: string) => location.startsWith(HOME);

describe('OAuth / OIDC flows with openid-client and the hosted pages', () => {
  let web: AppBody;
  let webConfig: client.Configuration;

  /** Authorization code + PKCE for a new user of the web application: the user and the token response. */
  async function codeFlow(options: { scope?: string; browser?: Browser; user?: { id: string; email: string; name: string } } = {}) {
    const user = options.user ?? (await newUser());
    const browser = options.browser ?? new Browser();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(webConfig, {
      redirect_uri: CALLBACK,
      scope: options.scope ?? 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const landed = await signInThrough(browser, url.href, user.email);
    assert.ok(isCallback(landed.url), `expected a redirect to the callback, got ${landed.response.status} ${landed.url}`);
    const tokens = await client.authorizationCodeGrant(webConfig, new URL(landed.url), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    return { user, browser, tokens };
  }

  flowsServer();
  before(async () => {
    web = await createApp({
      name: 'Web',
      type: 'web',
      redirect_uris: [CALLBACK],
      post_logout_redirect_uris: [HOME],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    webConfig = await discover(web);
  });

  describe('discovery', () => {
    it('lists exactly the endpoints, grants and client authentication methods Gatehouse supports', async () => {
      const response = await fetch(`${gh.issuer}/.well-known/openid-configuration`);
      assert.equal(response.status, 200);
      const doc = (await response.json()) as Record<string, unknown>;
      assert.equal(doc.issuer, gh.issuer);
      const endpoints = Object.fromEntries(Object.entries(doc).filter(([key]) => key.endsWith('_endpoint') || key === 'jwks_uri'));
      assert.deepEqual(endpoints, {
        authorization_endpoint: `${gh.issuer}/authorize`,
        token_endpoint: `${gh.issuer}/oauth/token`,
        userinfo_endpoint: `${gh.issuer}/userinfo`,
        revocation_endpoint: `${gh.issuer}/oauth/revoke`,
        introspection_endpoint: `${gh.issuer}/oauth/introspect`,
        end_session_endpoint: `${gh.issuer}/v2/logout`,
        device_authorization_endpoint: `${gh.issuer}/oauth/device/code`,
        // Issue 17.3: PAR (RFC 9126) and dynamic client registration (RFC 7591, with an initial access token).
        pushed_authorization_request_endpoint: `${gh.issuer}/oauth/par`,
        registration_endpoint: `${gh.issuer}/oidc/register`,
        jwks_uri: `${gh.issuer}/.well-known/jwks.json`,
      });
      assert.deepEqual(
        [...(doc.grant_types_supported as string[])].sort(),
        [
          'authorization_code',
          'client_credentials',
          'password',
          'refresh_token',
          DEVICE_CODE,
          // Auth0's MFA grants, which complete a password grant answered mfa_required (issue 4).
          'http://auth0.com/oauth/grant-type/mfa-oob',
          'http://auth0.com/oauth/grant-type/mfa-otp',
          'http://auth0.com/oauth/grant-type/mfa-recovery-code',
          // RFC 8693 token exchange, on unless GATEHOUSE_TOKEN_EXCHANGE=false (issue 17, decision 430).
          'urn:ietf:params:oauth:grant-type:token-exchange',
          // Auth0's password grant with a realm, and its passwordless code (issue 17.1).
          'http://auth0.com/oauth/grant-type/password-realm',
          'http://auth0.com/oauth/grant-type/passwordless/otp',
        ].sort(),
      );
      assert.deepEqual([...(doc.token_endpoint_auth_methods_supported as string[])].sort(), [
        'client_secret_basic',
        'client_secret_post',
        'none',
        'private_key_jwt',
      ]);
      for (const [key, value] of Object.entries(doc)) {
        if (!key.endsWith('auth_methods_supported')) continue;
        // No client_secret_jwt: a secret is kept as a digest, so no HMAC made with it can be verified (decision 418).
        for (const method of ['client_secret_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']) {
          assert.ok(!(value as string[]).includes(method), `${key} lists ${method}`);
        }
      }
      assert.deepEqual(doc.response_types_supported, ['code']);
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
      // PAR is per application; request_uri only through PAR; no mTLS (DPoP binds tokens instead).
      for (const absent of [
        'require_pushed_authorization_requests',
        'tls_client_certificate_bound_access_tokens',
        'mtls_endpoint_aliases',
      ]) {
        assert.equal(doc[absent], undefined, `${absent} must not be advertised`);
      }
      assert.equal(doc.request_uri_parameter_supported, false);
      assert.equal(doc.request_parameter_supported, true);
      assert.ok(Array.isArray(doc.dpop_signing_alg_values_supported));
      assert.equal(doc.frontchannel_logout_supported, true);
      assert.equal(doc.frontchannel_logout_session_supported, true);
      const jwks = await fetch(endpoints.jwks_uri as string);
      assert.equal(jwks.status, 200);
      assert.ok(((await jwks.json()) as { keys: unknown[] }).keys.length > 0);
    });
  });

  describe('authorization code + PKCE (openid-client)', () => {
    it('introspection and revocation of an access token (openid-client)', async () => {
      const { user, tokens } = await codeFlow({ scope: 'openid' });
      const active = await client.tokenIntrospection(webConfig, tokens.access_token);
      assert.equal(active.active, true);
      assert.equal(active.sub, user.id);
      assert.equal(active.client_id, web.client_id);
      await client.tokenRevocation(webConfig, tokens.access_token);
      assert.equal((await client.tokenIntrospection(webConfig, tokens.access_token)).active, false);
    });

    it('signs in through the hosted form; ID token, userinfo and rotating refresh tokens', async () => {
      const { user, tokens } = await codeFlow();
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.ok(tokens.access_token);
      assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');

      const claims = tokens.claims();
      assert.ok(claims);
      assert.equal(claims.iss, gh.issuer);
      assert.equal(claims.aud, web.client_id);
      assert.equal(claims.sub, user.id);
      assert.equal(claims.email, user.email);
      // The ID token's signature holds against the published key set.
      const { payload } = await jwtVerify(tokens.id_token as string, createRemoteJWKSet(new URL(`${gh.issuer}/.well-known/jwks.json`)), {
        issuer: gh.issuer,
        audience: web.client_id,
      });
      assert.equal(payload.sub, user.id);

      const info = await client.fetchUserInfo(webConfig, tokens.access_token, user.id);
      assert.equal(info.sub, user.id);
      assert.equal(info.email, user.email);
      assert.equal(info.name, user.name);

      const first = await client.refreshTokenGrant(webConfig, tokens.refresh_token);
      assert.ok(first.refresh_token);
      assert.notEqual(first.refresh_token, tokens.refresh_token, 'a new refresh token on every use');
      assert.notEqual(first.access_token, tokens.access_token);
      assert.equal(first.claims()?.sub, user.id);
      const second = await client.refreshTokenGrant(webConfig, first.refresh_token);
      assert.ok(second.refresh_token);
      assert.notEqual(second.refresh_token, first.refresh_token);
      assert.notEqual(second.refresh_token, tokens.refresh_token);
      assert.equal((await client.fetchUserInfo(webConfig, second.access_token, user.id)).sub, user.id);
    });

    it('reusing a rotated refresh token fails with invalid_grant and revokes the whole family', async () => {
      const { tokens } = await codeFlow();
      const rotated = await client.refreshTokenGrant(webConfig, tokens.refresh_token as string);
      assert.ok(rotated.refresh_token);

      assert.deepEqual(await oauthError(client.refreshTokenGrant(webConfig, tokens.refresh_token as string)), {
        error: 'invalid_grant',
        status: 400,
      });
      // The newest one dies with it: the reuse may have been an attacker's.
      assert.deepEqual(await oauthError(client.refreshTokenGrant(webConfig, rotated.refresh_token)), {
        error: 'invalid_grant',
        status: 400,
      });
    });

    it('a disabled user’s refresh token fails with invalid_grant at once', async () => {
      const { user, tokens } = await codeFlow();
      const patched = await gh.request('PATCH', `/api/v1/users/${user.id}`, { token: admin, body: { status: 'disabled' } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.equal(patched.body.status, 'disabled');

      assert.deepEqual(await oauthError(client.refreshTokenGrant(webConfig, tokens.refresh_token as string)), {
        error: 'invalid_grant',
        status: 400,
      });
      const info = await fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(info.status, 401, 'userinfo says no as well');
      const introspected = await client.tokenIntrospection(webConfig, tokens.access_token);
      assert.equal(introspected.active, false, 'introspection says no as well');
    });
  });

  describe('RP-initiated logout', () => {
    const authorizeUrl = async () =>
      client.buildAuthorizationUrl(webConfig, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href;

    /** Opens a logout URL, confirms on the hosted page and returns where the browser is sent. */
    async function logOut(browser: Browser, url: string) {
      const confirm = await browser.follow(url, isHome);
      assert.equal(confirm.response.status, 200, `expected the confirmation page, got ${confirm.response.status} ${confirm.url}`);
      const page = await confirm.response.text();
      assert.match(page, /Sign out\?/);
      const form = formOf(page);
      assert.match(form.action, /\/v2\/logout\/confirm$/);
      return browser.submit(confirm.url, form.action, { ...form.fields, logout: 'yes' }, isHome);
    }

    it('/v2/logout?returnTo= (Auth0) and /logout?logout_uri= (Cognito) confirm, sign out and return to the registered URI', async () => {
      const user = await newUser();
      const browser = new Browser();
      await codeFlow({ browser, user, scope: 'openid' });

      // Signed in: a new authorization needs no password.
      const silent = await browser.follow(await authorizeUrl(), isCallback);
      assert.ok(isCallback(silent.url), `a live session goes straight back, got ${silent.response.status} ${silent.url}`);

      const auth0 = await logOut(browser, `${gh.issuer}/v2/logout?client_id=${web.client_id}&returnTo=${encodeURIComponent(HOME)}`);
      assert.ok(auth0.response.status >= 300 && auth0.response.status < 400, `got ${auth0.response.status}`);
      assert.equal(auth0.url, HOME);

      // Signed out: the sign-in form again; sign in through it.
      const landed = await signInThrough(browser, await authorizeUrl(), user.email);
      assert.ok(isCallback(landed.url), `got ${landed.response.status} ${landed.url}`);

      const cognito = await logOut(browser, `${gh.issuer}/logout?client_id=${web.client_id}&logout_uri=${encodeURIComponent(HOME)}`);
      assert.equal(cognito.url, HOME);
      const again = await browser.follow(await authorizeUrl(), isCallback);
      assert.equal(again.response.status, 200, `expected the sign-in page after logout, got ${again.response.status} ${again.url}`);
      assert.match(await again.response.text(), /<input[^>]*name="password"/);
    });

    it('refuses a returnTo that is not registered: an error page for a browser, never a redirect', async () => {
      const response = await fetch(
        `${gh.issuer}/v2/logout?client_id=${web.client_id}&returnTo=${encodeURIComponent('https://evil.example.com/')}`,
        { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } },
      );
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('location'), null);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await response.text(), /invalid_request/);
    });
  });

  describe('bad authorization requests', () => {
    it('a public (SPA) client without PKCE gets invalid_request at its redirect URI', async () => {
      const spa = await createApp({ name: 'SPA', type: 'spa', redirect_uris: [CALLBACK] });
      const url = new URL(`${gh.issuer}/authorize`);
      url.search = new URLSearchParams({
        client_id: spa.client_id,
        response_type: 'code',
        redirect_uri: CALLBACK,
        scope: 'openid',
        state: 'st-1',
      }).toString();
      const response = await fetch(url, { redirect: 'manual' });
      assert.ok(response.status >= 300 && response.status < 400, `expected a redirect with the error, got ${response.status}`);
      const location = new URL(response.headers.get('location') as string);
      assert.equal(`${location.origin}${location.pathname}`, CALLBACK);
      assert.equal(location.searchParams.get('error'), 'invalid_request');
      assert.match(location.searchParams.get('error_description') ?? '', /PKCE/);
      assert.equal(location.searchParams.get('state'), 'st-1');
      assert.equal(location.searchParams.get('code'), null);
    });

    it('an unknown client_id and an unregistered redirect_uri get an error page, never a redirect', async () => {
      const cases = [
        { client_id: 'no-such-client', redirect_uri: CALLBACK, code: 'invalid_client' },
        { client_id: web.client_id, redirect_uri: 'https://evil.example.com/callback', code: 'invalid_redirect_uri' },
      ];
      for (const { code, ...params } of cases) {
        const url = new URL(`${gh.issuer}/authorize`);
        url.search = new URLSearchParams({ ...params, response_type: 'code', scope: 'openid', state: 'x' }).toString();
        const response = await fetch(url, { redirect: 'manual' });
        assert.equal(response.status, 400, `${code}: got ${response.status}`);
        assert.equal(response.headers.get('location'), null, `${code}: must not redirect`);
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
        const page = await response.text();
        assert.match(page, new RegExp(code));
        assert.doesNotMatch(page, /evil\.example\.com/);
      }
    });
  });
});
