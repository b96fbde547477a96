import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { Browser, passwordSignIn, startListeningGatehouse } from '../../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const API = 'urn:gatehouse:acme:orders';

/**
 * The edges of Auth0's Authentication API that its SDKs do not reach (issue 17.1): JSON
 * bodies and their refusals, `offline_access` with a prompt, `screen_hint=signup`, Auth0's
 * database connection name on /authorize, and the `web_origins` field of the admin API.
 */
describe('Auth0 Authentication API: the edges', () => {
  let gh: TestGatehouse & { issuer: string };
  let acme: TenantAdmin;
  let web: { id: string; client_id: string; client_secret: string };
  let machine: { client_id: string; client_secret: string };

  const post = (path: string, body: string, type: string) =>
    fetch(`${gh.issuer}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
  const json = (path: string, body: unknown) => post(path, JSON.stringify(body), 'application/json');

  before(async () => {
    gh = await startListeningGatehouse();
    acme = await gh.tenantWithAdmin('acme');
    const signup = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { signup: { enabled: true } },
    });
    assert.equal(signup.status, 200);
    const api = await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Orders', permissions: [{ value: 'read:orders' }] });
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token', 'password', 'urn:ietf:params:oauth:grant-type:device_code'],
    });
    machine = await gh.created('/api/v1/applications', acme.token, { name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${(machine as unknown as { id: string }).id}/grants`, acme.token, {
      api_id: api.id,
      permissions: ['read:orders'],
    });
  });
  after(() => gh.stop());

  it('takes JSON on /oauth/token (numbers and booleans as text, null as absent) as it takes a form', async () => {
    const response = await json('/oauth/token', {
      grant_type: 'client_credentials',
      client_id: machine.client_id,
      client_secret: machine.client_secret,
      audience: API,
      scope: null,
    });
    assert.equal(response.status, 200, await response.clone().text());
    const body = (await response.json()) as { access_token: string; scope: string };
    assert.equal(body.scope, 'read:orders');
    const password = await json('/oauth/token', {
      grant_type: 'password',
      username: 'jane@acme.test',
      password: PASSWORD,
      client_id: web.client_id,
      client_secret: web.client_secret,
    });
    assert.equal(password.status, 200);
  });

  it('takes JSON on /oauth/device/code and /oauth/revoke', async () => {
    const device = await json('/oauth/device/code', { client_id: web.client_id, client_secret: web.client_secret, scope: 'openid' });
    assert.equal(device.status, 200, await device.clone().text());
    assert.ok(((await device.json()) as { device_code?: string }).device_code);
    const revoke = await json('/oauth/revoke', { client_id: web.client_id, client_secret: web.client_secret, token: 'not-a-token' });
    assert.equal(revoke.status, 200);
  });

  it('refuses malformed JSON, a JSON array, a nested value and JSON where the RFC wants a form: 400 invalid_request', async () => {
    for (const [path, body] of [
      ['/oauth/token', '{"grant_type":'],
      ['/oauth/token', '["client_credentials"]'],
      ['/oauth/token', JSON.stringify({ grant_type: 'client_credentials', audience: { a: 1 } })],
      ['/oauth/introspect', JSON.stringify({ token: 'x' })],
    ] as const) {
      const response = await post(path, body, 'application/json');
      assert.equal(response.status, 400, `${path} ${body}`);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_request');
    }
    const huge = await post(
      '/oauth/token',
      JSON.stringify({ grant_type: 'password', username: 'x'.repeat(60 * 1024) }),
      'application/json',
    );
    assert.equal(huge.status, 413, 'the same limit as a form');
  });

  async function authorize(params: Record<string, string>) {
    const browser = new Browser();
    const query = new URLSearchParams({
      client_id: web.client_id,
      response_type: 'code',
      redirect_uri: CALLBACK,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      ...params,
    });
    const opened = await browser.follow(`${gh.issuer}/authorize?${query}`);
    return { browser, opened };
  }

  it('offline_access with prompt=login still yields a refresh token', async () => {
    const config = await client.discovery(new URL(gh.issuer), web.client_id, web.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const signedIn = await passwordSignIn(new Browser(), config, {
      callback: CALLBACK,
      email: 'jane@acme.test',
      password: PASSWORD,
      params: { scope: 'openid offline_access', prompt: 'login' },
    });
    assert.ok(signedIn.atCallback, signedIn.url);
    const tokens = await client.authorizationCodeGrant(config, new URL(signedIn.url), { pkceCodeVerifier: signedIn.verifier });
    assert.ok(tokens.refresh_token, 'a refresh token');
  });

  it('screen_hint=signup opens the sign-up page; its sign-in link leads to the sign-in form', async () => {
    const { browser, opened } = await authorize({ scope: 'openid', screen_hint: 'signup' });
    assert.match(opened.url, /\/signup\/|\/signup\?/);
    const page = await opened.response.text();
    const signIn = /href="(\/interaction\/[^"]+)"/.exec(page)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(signIn?.includes('signin=1'), page.slice(0, 500));
    const form = await browser.follow(new URL(signIn as string, gh.issuer).href);
    assert.match(await form.response.text(), /name="password"/);
  });

  it('connection=Username-Password-Authentication is the password sign-in', async () => {
    const { opened } = await authorize({ scope: 'openid', connection: 'Username-Password-Authentication' });
    assert.equal(opened.response.status, 200);
    assert.match(opened.url, /\/interaction\//);
    assert.match(await opened.response.text(), /name="password"/);
  });

  it('web_origins: exact origins for spa and web applications, shown and changed by the admin API', async () => {
    const created = await gh.created('/api/v1/applications', acme.token, {
      name: 'SPA',
      type: 'spa',
      redirect_uris: ['https://app.acme.test/'],
      web_origins: ['https://app.acme.test'],
    });
    assert.deepEqual(created.web_origins, ['https://app.acme.test']);
    for (const origin of [
      'https://app.acme.test/',
      'https://app.acme.test/path',
      'https://*.acme.test',
      'http://app.acme.test',
      'not a url',
    ]) {
      const refused = await gh.request('PATCH', `/api/v1/applications/${created.id}`, {
        token: acme.token,
        body: { web_origins: [origin] },
      });
      assert.equal(refused.status, 400, origin);
      assert.equal(refused.body.error, 'invalid_web_origin', origin);
    }
    const m2m = await gh.request('POST', '/api/v1/applications', {
      token: acme.token,
      body: { name: 'M', type: 'm2m', web_origins: ['https://app.acme.test'] },
    });
    assert.equal(m2m.status, 400);
    assert.equal(m2m.body.error, 'invalid_web_origin');
    const patched = await gh.request('PATCH', `/api/v1/applications/${created.id}`, {
      token: acme.token,
      body: { web_origins: ['https://app.acme.test', 'http://localhost:3001'] },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual((await gh.request('GET', `/api/v1/applications/${created.id}`, { token: acme.token })).body.web_origins, [
      'https://app.acme.test',
      'http://localhost:3001',
    ]);
  });
});
