import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { oidcStrategy } from '../../../src/authn/federation/oidc.js';
import { FederationError } from '../../../src/authn/federation/strategy.js';
import { strategyContext, testConnection } from '../../helpers/federation-strategy.js';
import { startUpstreamProvider, type UpstreamProvider, upstreamClient } from '../../helpers/upstream-oidc.js';

const REDIRECT_URI = 'https://gatehouse.test/login/callback';
const LOOPBACK_REDIRECT_URI = 'http://127.0.0.1:1/login/callback';
const ctx = strategyContext();

/** Rejects with a FederationError of this code (and a reason matching `reason`, when given). */
async function refused(promise: Promise<unknown>, code: FederationError['code'], reason?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FederationError, `not a FederationError: ${error}`);
    assert.equal(error.code, code, error.reason);
    if (reason) assert.match(error.reason, reason);
    return true;
  });
}

describe('the oidc strategy against a real OpenID provider', () => {
  let upstream: UpstreamProvider;
  let other: UpstreamProvider;
  const accounts = {
    ada: {
      email: 'ada@example.test',
      email_verified: true,
      name: 'Ada Lovelace',
      given_name: 'Ada',
      family_name: 'Lovelace',
      locale: 'en-GB',
    },
    bob: { email: 'bob@example.test', email_verified: false, name: 'Bob' },
  };

  before(async () => {
    const clients = [
      upstreamClient('gatehouse', 'upstream-secret', REDIRECT_URI),
      upstreamClient('another-app', 'another-secret', REDIRECT_URI),
      upstreamClient('loopback', 'loopback-secret', LOOPBACK_REDIRECT_URI),
    ];
    upstream = await startUpstreamProvider({ clients, accounts });
    other = await startUpstreamProvider({ clients, accounts });
  });
  after(async () => {
    await upstream.close();
    await other.close();
  });

  const backChannel = (options: Record<string, unknown> = {}, secret = 'upstream-secret') =>
    testConnection('oidc', { issuer: upstream.issuer, client_id: 'gatehouse', ...options }, { client_secret: secret });
  const frontChannel = (options: Record<string, unknown> = {}) =>
    testConnection('oidc', { issuer: upstream.issuer, client_id: 'gatehouse', type: 'front_channel', ...options });

  /** start → the provider (the account signs in) → the callback's parameters. */
  async function signIn(connection = backChannel(), options: { account?: string; cancel?: boolean; amr?: string[] } = { account: 'ada' }) {
    const state = `state-${Math.random()}`;
    const started = await oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state, loginHint: 'ada@example.test' });
    const { params, mode } = await upstream.signIn(started.url, options);
    return { started, params, mode, state, connection };
  }

  it('signs a person in by the code flow with PKCE, state and nonce, and reads the userinfo claims', async () => {
    const { started, params, mode, connection } = await signIn(backChannel(), { account: 'ada', amr: ['pwd', 'mfa'] });
    const url = new URL(started.url);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('scope'), 'openid profile email');
    assert.equal(url.searchParams.get('login_hint'), 'ada@example.test');
    assert.equal(url.searchParams.get('nonce'), started.saved.nonce);
    assert.ok(started.saved.verifier && !started.url.includes(started.saved.verifier), 'the verifier stays in saved');
    assert.equal(mode, 'query');
    assert.equal(params.iss, upstream.issuer, 'the provider sends RFC 9207 iss');

    const profile = await oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.subject, 'ada');
    assert.equal(profile.provider, 'oidc');
    assert.equal(profile.email, 'ada@example.test');
    assert.equal(profile.emailVerified, true);
    // oidc-provider puts the profile claims in userinfo only (conformIdTokenClaims): they arrived by the userinfo request.
    assert.equal(profile.name, 'Ada Lovelace');
    assert.equal(profile.givenName, 'Ada');
    assert.equal(profile.familyName, 'Lovelace');
    assert.equal(profile.locale, 'en-GB');
    assert.equal(profile.mfa, true, JSON.stringify(profile.claims));
    assert.equal(profile.claims.iss, upstream.issuer);
    assert.equal(profile.claims.nonce, undefined);
    for (const value of Object.values(profile.claims)) assert.ok(!String(value).startsWith('ey'), 'no token among the claims');
  });

  it('works with an http loopback callback, as a Gatehouse under test has', async () => {
    const connection = testConnection('oidc', { issuer: upstream.issuer, client_id: 'loopback' }, { client_secret: 'loopback-secret' });
    const started = await oidcStrategy.start(ctx, connection, { redirectUri: LOOPBACK_REDIRECT_URI, state: 'loop' });
    const { params } = await upstream.signIn(started.url, { account: 'ada' });
    const profile = await oidcStrategy.finish(ctx, connection, { redirectUri: LOOPBACK_REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.subject, 'ada');
  });

  it('reports no MFA without amr mfa, and an unverified email as unverified', async () => {
    const { started, params, connection } = await signIn(backChannel(), { account: 'bob' });
    const profile = await oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.email, 'bob@example.test');
    assert.equal(profile.emailVerified, false);
    assert.equal(profile.mfa, false);
  });

  it('sends the code with its PKCE verifier: another verifier is refused by the provider', async () => {
    const { started, params, connection } = await signIn();
    const saved = { ...started.saved, verifier: 'x'.repeat(43) };
    await refused(oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved }), 'provider_error', /invalid_grant/);
  });

  it('signs in by id_token form_post (front_channel) without a secret', async () => {
    const { started, params, mode, connection } = await signIn(frontChannel());
    const url = new URL(started.url);
    assert.equal(url.searchParams.get('response_type'), 'id_token');
    assert.equal(url.searchParams.get('response_mode'), 'form_post');
    assert.equal(started.saved.verifier, undefined);
    assert.equal(mode, 'form_post');
    const profile = await oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.subject, 'ada');
    assert.equal(profile.email, 'ada@example.test');
    assert.equal(profile.emailVerified, true);
  });

  it('turns a cancel at the provider into cancelled', async () => {
    const { started, params, connection } = await signIn(backChannel(), { cancel: true });
    assert.equal(params.error, 'access_denied');
    await refused(oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }), 'cancelled');
  });

  it('turns another error from the provider into provider_error', async () => {
    const connection = backChannel();
    const started = await oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 's1' });
    const params = { error: 'server_error', error_description: 'oops', state: 's1' };
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }),
      'provider_error',
      /server_error/,
    );
  });

  it('reports a wrong client secret as provider_error with the provider’s code', async () => {
    const { started, params, connection } = await signIn(backChannel({}, 'not-the-secret'));
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }),
      'provider_error',
      /invalid_client/,
    );
  });

  it('refuses an ID token with another nonce', async () => {
    const { started, params, connection } = await signIn();
    const saved = { ...started.saved, nonce: 'another-nonce' };
    await refused(oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved }), 'invalid_response', /nonce/);
  });

  it('refuses a front-channel ID token with another nonce', async () => {
    const { started, params, connection } = await signIn(frontChannel());
    const saved = { ...started.saved, nonce: 'another-nonce' };
    await refused(oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved }), 'invalid_response');
  });

  it('refuses a callback with another state', async () => {
    const { started, params, connection } = await signIn();
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params: { ...params, state: 'forged' }, saved: started.saved }),
      'invalid_response',
      /state/,
    );
    await refused(
      oidcStrategy.finish(ctx, connection, {
        redirectUri: REDIRECT_URI,
        params: { ...params, error: 'access_denied', state: 'forged' },
        saved: started.saved,
      }),
      'invalid_response',
      /state/,
    );
  });

  it('refuses an authorization response whose iss names another issuer (mix-up)', async () => {
    const { started, params, connection } = await signIn();
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params: { ...params, iss: other.issuer }, saved: started.saved }),
      'invalid_response',
      /iss/,
    );
    // The provider announces RFC 9207 support: an answer without iss is refused too.
    const { iss: _dropped, ...withoutIss } = params;
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params: withoutIss, saved: started.saved }),
      'invalid_response',
    );
  });

  it('refuses the answer of another provider the browser was sent to (mix-up)', async () => {
    const connection = backChannel();
    const started = await oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 'mixed' });
    const elsewhere = new URL(started.url);
    const { params } = await other.signIn(`${other.issuer}/auth${elsewhere.search}`, { account: 'ada' });
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }),
      'invalid_response',
      /iss/,
    );
  });

  it('refuses an ID token signed by another issuer', async () => {
    const connection = frontChannel();
    const started = await oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 'other-issuer' });
    const { params } = await other.signIn(`${other.issuer}/auth${new URL(started.url).search}`, { account: 'ada' });
    delete params.iss;
    await refused(oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }), 'invalid_response');
  });

  it('refuses an ID token issued to another client (aud)', async () => {
    const connection = frontChannel();
    const started = await oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 'other-aud' });
    const request = new URL(started.url);
    request.searchParams.set('client_id', 'another-app');
    const { params } = await upstream.signIn(request.href, { account: 'ada' });
    await refused(
      oidcStrategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }),
      'invalid_response',
      /aud/,
    );
  });

  it('reports a provider that does not answer as unreachable', async () => {
    const connection = testConnection('oidc', { issuer: 'http://127.0.0.1:9', client_id: 'gatehouse' }, { client_secret: 's' });
    await refused(oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 's' }), 'unreachable');
  });

  it('refuses an http issuer in production as misconfigured', async () => {
    const production = strategyContext({ production: true });
    await refused(oidcStrategy.start(production, backChannel(), { redirectUri: REDIRECT_URI, state: 's' }), 'misconfigured', /https/);
  });

  it('refuses discovery that names another issuer than the one configured', async () => {
    const connection = testConnection(
      'oidc',
      {
        issuer: 'https://pinned.example.test',
        discovery_url: `${upstream.issuer}/.well-known/openid-configuration`,
        client_id: 'gatehouse',
      },
      { client_secret: 'upstream-secret' },
    );
    await refused(oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 's' }), 'invalid_response', /issuer/);
  });

  it('uses a changed connection at once (the discovery cache is keyed on the options)', async () => {
    const connection = backChannel();
    await oidcStrategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state: 's' });
    const moved = { ...connection, options: { ...connection.options, issuer: other.issuer } };
    const started = await oidcStrategy.start(ctx, moved, { redirectUri: REDIRECT_URI, state: 's' });
    assert.ok(started.url.startsWith(other.issuer), started.url);
  });
});
