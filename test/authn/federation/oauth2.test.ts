import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { oauth2Strategy } from '../../../src/authn/federation/oauth2.js';
import { FederationError } from '../../../src/authn/federation/strategy.js';
import { strategyContext, testConnection } from '../../helpers/federation-strategy.js';
import { startUpstreamProvider, type UpstreamProvider, upstreamClient } from '../../helpers/upstream-oidc.js';

const REDIRECT_URI = 'https://gatehouse.test/login/callback';
const ctx = strategyContext();

async function refused(promise: Promise<unknown>, code: FederationError['code'], reason?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FederationError, `not a FederationError: ${error}`);
    assert.equal(error.code, code, error.reason);
    if (reason) assert.match(error.reason, reason);
    return true;
  });
}

/** oidc-provider as a plain OAuth 2 server: its /auth, /token and /me (userinfo) endpoints. */
describe('the oauth2 strategy against a real authorization server', () => {
  let upstream: UpstreamProvider;
  before(async () => {
    upstream = await startUpstreamProvider({
      clients: [{ ...upstreamClient('gatehouse', 'upstream-secret', REDIRECT_URI), token_endpoint_auth_method: 'client_secret_post' }],
      accounts: { ada: { email: 'ada@example.test', email_verified: true, name: 'Ada' }, bob: { email: 'bob@example.test', name: 'Bob' } },
    });
  });
  after(() => upstream.close());

  const connection = (options: Record<string, unknown> = {}, secret = 'upstream-secret') =>
    testConnection(
      'oauth2',
      {
        authorizationURL: `${upstream.issuer}/auth`,
        tokenURL: `${upstream.issuer}/token`,
        userinfoURL: `${upstream.issuer}/me`,
        issuer: upstream.issuer,
        client_id: 'gatehouse',
        scope: 'openid email profile',
        ...options,
      },
      { client_secret: secret },
    );

  async function signIn(conn = connection(), account = 'ada') {
    const started = await oauth2Strategy.start(ctx, conn, { redirectUri: REDIRECT_URI, state: `s-${Math.random()}` });
    const { params } = await upstream.signIn(started.url, { account });
    return { started, params, conn };
  }

  it('signs in by code with PKCE and reads the person from the userinfo URL', async () => {
    const { started, params, conn } = await signIn();
    const url = new URL(started.url);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('scope'), 'openid email profile');
    const profile = await oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.subject, 'ada');
    assert.equal(profile.provider, 'oauth2');
    assert.equal(profile.email, 'ada@example.test');
    assert.equal(profile.emailVerified, true, 'email_verified: true is the documented field');
    assert.equal(profile.name, 'Ada');
    assert.equal(profile.claims.sub, 'ada');
  });

  it('does not take an email as verified without the provider saying so', async () => {
    const { started, params, conn } = await signIn(connection(), 'bob');
    const profile = await oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.email, 'bob@example.test');
    assert.equal(profile.emailVerified, false);
  });

  it('takes the user id from user_id_attribute', async () => {
    const { started, params, conn } = await signIn(connection({ user_id_attribute: 'email' }));
    const profile = await oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: started.saved });
    assert.equal(profile.subject, 'ada@example.test');
  });

  it('sends the PKCE verifier: another one is refused by the provider', async () => {
    const { started, params, conn } = await signIn();
    await refused(
      oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: { ...started.saved, verifier: 'y'.repeat(43) } }),
      'provider_error',
      /invalid_grant/,
    );
  });

  it('reports a wrong client secret as provider_error', async () => {
    const { started, params, conn } = await signIn(connection({}, 'wrong'));
    await refused(
      oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: started.saved }),
      'provider_error',
      /invalid_client/,
    );
  });

  it('refuses another state, and an iss of another issuer when the issuer is configured', async () => {
    const { started, params, conn } = await signIn();
    await refused(
      oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params: { ...params, state: 'x' }, saved: started.saved }),
      'invalid_response',
      /state/,
    );
    await refused(
      oauth2Strategy.finish(ctx, conn, {
        redirectUri: REDIRECT_URI,
        params: { ...params, iss: 'https://evil.example.test' },
        saved: started.saved,
      }),
      'invalid_response',
      /iss/,
    );
  });

  it('turns a cancel into cancelled', async () => {
    const conn = connection();
    const started = await oauth2Strategy.start(ctx, conn, { redirectUri: REDIRECT_URI, state: 'c' });
    const { params } = await upstream.signIn(started.url, { cancel: true });
    await refused(oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: started.saved }), 'cancelled');
  });

  it('reports an unreachable token endpoint as unreachable', async () => {
    const { started, params } = await signIn();
    const conn = connection({ tokenURL: 'http://127.0.0.1:9/token' });
    await refused(oauth2Strategy.finish(ctx, conn, { redirectUri: REDIRECT_URI, params, saved: started.saved }), 'unreachable');
  });

  it('refuses base_url in production (test-only)', async () => {
    const production = strategyContext({ production: true });
    await refused(
      oauth2Strategy.start(production, connection({ base_url: 'http://127.0.0.1:1' }), { redirectUri: REDIRECT_URI, state: 's' }),
      'misconfigured',
      /base_url/,
    );
  });
});
