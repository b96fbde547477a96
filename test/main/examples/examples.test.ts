/**
 * The programs under examples/ against a real Gatehouse listening on a socket: each is
 * configured as its README says (an application, an API, grants through the admin API),
 * started on a free port, and driven with fetch as a browser or a caller would.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import express from 'express';
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer';
import { createVerifier } from '../../../packages/sdk/src/index.js';
import { PASSWORD, type TestGatehouse } from '../../helpers/gatehouse.js';
import { Browser, formOf, freePort, startListeningGatehouse } from '../../helpers/oidc.js';

/** The examples are plain JavaScript a newcomer copies; these are the parts the tests call. */
interface Server {
  close(): Promise<void>;
}
interface ApiExample {
  start(config: { issuer: string; audience: string; corsOrigins?: string[] }, port?: number): Promise<Server & { url: string }>;
}
interface WebAppExample {
  start(
    config: { issuer: string; clientId: string; clientSecret: string; baseUrl: string; audience?: string; apiUrl?: string },
    port?: number,
  ): Promise<Server>;
}
interface MachineClientExample {
  getToken(config: { issuer: string; clientId: string; clientSecret: string; audience: string; scope?: string }): Promise<{
    access_token: string;
    expires_in?: number;
    scope?: string;
  }>;
  claimsOf(jwt: string): Record<string, any>;
  callApi(url: string, accessToken: string): Promise<{ status: number; body: any }>;
}
interface SpaConfig {
  issuer: string;
  clientId: string;
  redirectUri: string;
  audience?: string;
  scope?: string;
}
type Tokens = { access_token: string; refresh_token?: string; id_token?: string; scope?: string };
interface SpaAuth {
  createLoginRequest(config: SpaConfig): Promise<{ url: string; pending: { verifier: string; state: string } }>;
  handleCallback(
    config: SpaConfig,
    callbackUrl: string,
    pending: { verifier: string; state: string },
    fetchImpl?: typeof fetch,
  ): Promise<Tokens>;
  refresh(config: SpaConfig, refreshToken: string, fetchImpl?: typeof fetch): Promise<Tokens>;
  userinfo(config: SpaConfig, accessToken: string, fetchImpl?: typeof fetch): Promise<Record<string, any>>;
  claimsOf(jwt: string): Record<string, any>;
}
interface SpaServer {
  start(
    config: { issuer: string; clientId: string; audience?: string; apiUrl?: string },
    port?: number,
    origin?: string,
  ): Promise<Server & { url: string }>;
}

/** Imports an example module (a path kept out of the type checker's sight: the examples are JavaScript). */
const example = <T>(path: string): Promise<T> => import(new URL(`../../../examples/${path}`, import.meta.url).href) as Promise<T>;

const AUDIENCE = 'https://invoices.example.com';
const JANE = 'jane@example.com';

describe('examples/', () => {
  let gh: TestGatehouse & { issuer: string };
  let admin: string;
  let api: Server & { url: string };
  const servers: Server[] = [];

  /** Creates an m2m application with a grant for the Invoices API; returns its credentials. */
  async function machineApp(name: string, permissions: string[], apiId: string) {
    const app = await gh.created('/api/v1/applications', admin, { name, type: 'm2m' });
    await gh.created(`/api/v1/applications/${app.id}/grants`, admin, { api_id: apiId, permissions });
    return { clientId: app.client_id as string, clientSecret: app.client_secret as string };
  }

  let apiId: string;
  before(async () => {
    // The API example imports @gatehouse/sdk, which resolves to the package's build.
    if (!existsSync(new URL('../../../packages/sdk/dist/express.js', import.meta.url))) {
      execFileSync('npm', ['run', '--silent', 'build', '-w', '@gatehouse/sdk'], {
        cwd: new URL('../../..', import.meta.url),
        stdio: 'inherit',
      });
    }
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    // The API: RBAC on (a user's token carries the API permissions of their roles), permissions in the token.
    const created = await gh.created('/api/v1/apis', admin, {
      identifier: AUDIENCE,
      name: 'Invoices',
      permissions: [
        { value: 'read:invoices', description: 'Read invoices' },
        { value: 'create:invoices', description: 'Create invoices' },
      ],
      rbac: true,
      permissions_in_token: true,
    });
    apiId = created.id;
    // Jane holds the role Accountant, which carries read:invoices (not create:invoices).
    const { systemTenantId } = await gh.systemAdmin();
    const role = await gh.created('/api/v1/roles', admin, { name: 'Accountant', tenant: systemTenantId });
    const added = await gh.request('POST', `/api/v1/roles/${role.id}/api-permissions`, {
      token: admin,
      body: { permissions: [{ api_id: apiId, value: 'read:invoices' }] },
    });
    assert.ok(added.status < 300, `role API permissions: ${added.status} ${JSON.stringify(added.body)}`);
    await gh.createUser(admin, { email: JANE, password: PASSWORD, name: 'Jane Doe', tenant: systemTenantId, roles: [role.id] });

    const { start } = await example<ApiExample>('api/app.js');
    api = await start({ issuer: gh.issuer, audience: AUDIENCE }, 0);
    servers.push(api);
  });

  after(async () => {
    for (const server of servers) await server.close();
    await gh?.stop();
  });

  describe('api', () => {
    it('answers 401 without a token, and with a token that is not a JWT of Gatehouse', async () => {
      const none = await fetch(`${api.url}/invoices`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      const garbage = await fetch(`${api.url}/invoices`, { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(garbage.status, 401);
      assert.equal((await fetch(`${api.url}/health`)).status, 200);
    });

    it('answers 403 to a valid token without the permission', async () => {
      const client = await machineApp('No permissions', [], apiId);
      const { getToken, callApi } = await example<MachineClientExample>('machine-client/client.js');
      const { access_token } = await getToken({ issuer: gh.issuer, audience: AUDIENCE, ...client });
      const me = await callApi(`${api.url}/me`, access_token);
      assert.equal(me.status, 200);
      const invoices = await callApi(`${api.url}/invoices`, access_token);
      assert.equal(invoices.status, 403);
      assert.equal(invoices.body.error, 'insufficient_permissions');
    });
  });

  describe('machine-client', () => {
    it('gets a client-credentials token for the API with the granted permissions and calls the API', async () => {
      const client = await machineApp('Invoice sync', ['read:invoices'], apiId);
      const { getToken, claimsOf, callApi } = await example<MachineClientExample>('machine-client/client.js');
      const tokens = await getToken({ issuer: gh.issuer, audience: AUDIENCE, ...client });
      const claims = claimsOf(tokens.access_token);
      assert.equal(claims.iss, gh.issuer);
      assert.equal(claims.aud, AUDIENCE);
      assert.equal(claims.client_id, client.clientId);
      assert.deepEqual(claims.permissions, ['read:invoices']);

      const invoices = await callApi(`${api.url}/invoices`, tokens.access_token);
      assert.equal(invoices.status, 200);
      assert.ok(invoices.body.invoices.length > 0);
      // Granted read:invoices only.
      const create = await fetch(`${api.url}/invoices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ customer: 'Initech', amount: 10 }),
      });
      assert.equal(create.status, 403);
    });

    it('is refused a token with a wrong secret', async () => {
      const client = await machineApp('Wrong secret', ['read:invoices'], apiId);
      const { getToken } = await example<MachineClientExample>('machine-client/client.js');
      await assert.rejects(getToken({ issuer: gh.issuer, audience: AUDIENCE, clientId: client.clientId, clientSecret: 'wrong' }), {
        error: 'invalid_client',
      });
    });
  });

  describe('express-web-app', () => {
    it('signs in through the hosted page, shows the claims, calls the API with the access token, and signs out', async () => {
      const port = await freePort();
      const baseUrl = `http://127.0.0.1:${port}`;
      const app = await gh.created('/api/v1/applications', admin, {
        name: 'Invoices web',
        type: 'web',
        redirect_uris: [`${baseUrl}/callback`],
        post_logout_redirect_uris: [`${baseUrl}/`],
      });
      const { start } = await example<WebAppExample>('express-web-app/app.js');
      servers.push(
        await start(
          { issuer: gh.issuer, clientId: app.client_id, clientSecret: app.client_secret, baseUrl, audience: AUDIENCE, apiUrl: api.url },
          port,
        ),
      );

      const browser = new Browser();
      const home = await browser.fetch(`${baseUrl}/`);
      assert.match(await home.text(), /Sign in/);

      // /profile → /login → Gatehouse's sign-in page.
      const signInPage = await browser.follow(`${baseUrl}/profile`);
      assert.equal(signInPage.response.status, 200);
      assert.ok(signInPage.url.startsWith(gh.issuer), signInPage.url);
      const form = formOf(await signInPage.response.text());
      // Signing in goes back through /callback to the page asked for.
      const profile = await browser.submit(signInPage.url, form.action, { ...form.fields, username: JANE, password: PASSWORD });
      assert.equal(profile.url, `${baseUrl}/profile`);
      assert.equal(profile.response.status, 200);
      const profilePage = await profile.response.text();
      assert.match(profilePage, new RegExp(`id="claims">[^<]*${JANE}`));
      assert.match(profilePage, /id="access">[^<]*&quot;permissions&quot;: \[\s*&quot;read:invoices&quot;/);

      const invoices = await browser.fetch(`${baseUrl}/invoices`);
      const invoicesPage = await invoices.text();
      assert.equal(invoices.status, 200, invoicesPage);
      assert.match(invoicesPage, /The API answered 200/);
      assert.match(invoicesPage, /inv_001/);

      // Sign out: the app's session ends, Gatehouse confirms and sends the browser back to returnTo.
      const isHome = (location: string) => location === `${baseUrl}/`;
      const confirm = await browser.follow(`${baseUrl}/logout`, isHome);
      assert.equal(confirm.response.status, 200);
      assert.ok(confirm.url.startsWith(`${gh.issuer}/v2/logout`), confirm.url);
      const logoutForm = formOf(await confirm.response.text());
      const back = await browser.submit(confirm.url, logoutForm.action, { ...logoutForm.fields, logout: 'yes' }, isHome);
      assert.equal(back.url, `${baseUrl}/`);
      const after = await browser.follow(`${baseUrl}/profile`);
      assert.ok(after.url.startsWith(gh.issuer), 'signed out of the app and of Gatehouse: the sign-in page again');
      assert.match(await after.response.text(), /<form/);
    });
  });

  describe('done when (issue 3): the web app’s access token passes our SDK, express-oauth2-jwt-bearer and aws-jwt-verify', () => {
    it('signs in through the hosted page and calls an API that verifies the same token with all three', async () => {
      // An API that checks each token it gets with the three verifiers and says which passed.
      const sdk = createVerifier({ issuer: gh.issuer, audience: AUDIENCE });
      const aws = JwtRsaVerifier.create(
        { issuer: gh.issuer, audience: AUDIENCE, jwksUri: `${gh.issuer}/.well-known/jwks.json` },
        // aws-jwt-verify fetches over node:https only; the test issuer is plain http.
        { jwksCache: new SimpleJwksCache({ fetcher: { fetch: async (uri: string) => (await fetch(uri)).arrayBuffer() } }) },
      );
      const checker = express();
      checker.get(
        '/invoices',
        auth({ issuerBaseURL: gh.issuer, audience: AUDIENCE }),
        requiredScopes('read:invoices'),
        async (req, res) => {
          const token = (req.headers.authorization ?? '').slice('Bearer '.length);
          const passed = ['express-oauth2-jwt-bearer'];
          if ((await sdk.verify(token)).permissions.includes('read:invoices')) passed.push('@gatehouse/sdk');
          if ([(await aws.verify(token)).aud].flat().includes(AUDIENCE)) passed.push('aws-jwt-verify');
          res.json({ invoices: [{ id: 'inv_001' }], verified_by: passed });
        },
      );
      const checkerServer = checker.listen(0, '127.0.0.1');
      await new Promise((resolve) => checkerServer.once('listening', resolve));
      servers.push({ close: () => new Promise<void>((resolve) => checkerServer.close(() => resolve())) } as unknown as Server);
      const checkerUrl = `http://127.0.0.1:${(checkerServer.address() as AddressInfo).port}`;

      const port = await freePort();
      const baseUrl = `http://127.0.0.1:${port}`;
      const app = await gh.created('/api/v1/applications', admin, {
        name: 'Done-when web',
        type: 'web',
        redirect_uris: [`${baseUrl}/callback`],
      });
      const { start } = await example<WebAppExample>('express-web-app/app.js');
      servers.push(
        await start(
          { issuer: gh.issuer, clientId: app.client_id, clientSecret: app.client_secret, baseUrl, audience: AUDIENCE, apiUrl: checkerUrl },
          port,
        ),
      );
      const browser = new Browser();
      const signInPage = await browser.follow(`${baseUrl}/invoices`);
      const form = formOf(await signInPage.response.text());
      const invoices = await browser.submit(signInPage.url, form.action, { ...form.fields, username: JANE, password: PASSWORD });
      const page = await invoices.response.text();
      assert.equal(invoices.response.status, 200, page);
      assert.match(page, /The API answered 200/);
      for (const verifier of ['express-oauth2-jwt-bearer', '@gatehouse/sdk', 'aws-jwt-verify']) assert.match(page, new RegExp(verifier));
    });
  });

  describe('spa', () => {
    it('serves the page and its configuration', async () => {
      const port = await freePort();
      const origin = `http://127.0.0.1:${port}`;
      const { start } = await example<SpaServer>('spa/server.js');
      const server = await start({ issuer: gh.issuer, clientId: 'abc', audience: AUDIENCE, apiUrl: api.url }, port, origin);
      servers.push(server);
      const page = await fetch(`${origin}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module" src="\/app.js">/);
      assert.equal((await fetch(`${origin}/auth.js`)).status, 200);
      assert.deepEqual(await (await fetch(`${origin}/config.json`)).json(), {
        issuer: gh.issuer,
        clientId: 'abc',
        audience: AUDIENCE,
        apiUrl: api.url,
        redirectUri: `${origin}/`,
      });
      assert.equal((await fetch(`${origin}/../package.json`)).status, 404);
    });

    it('signs in with PKCE and no secret; /oauth/token answers the page origin with CORS headers; refresh rotates', async () => {
      const origin = 'http://127.0.0.1:3003';
      const app = await gh.created('/api/v1/applications', admin, {
        name: 'Invoices SPA',
        type: 'spa',
        redirect_uris: [`${origin}/`],
        post_logout_redirect_uris: [`${origin}/`],
      });
      assert.equal(app.client_secret, undefined);
      const config: SpaConfig = {
        issuer: gh.issuer,
        clientId: app.client_id,
        redirectUri: `${origin}/`,
        audience: AUDIENCE,
        scope: 'openid profile email offline_access read:invoices',
      };
      const auth = await example<SpaAuth>('spa/auth.js');
      const corsHeaders: (string | null)[] = [];
      // What the browser does: every cross-origin call carries the page's Origin.
      const browserFetch: typeof fetch = async (input, init = {}) => {
        const response = await fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), origin } });
        corsHeaders.push(response.headers.get('access-control-allow-origin'));
        return response;
      };

      const { url, pending } = await auth.createLoginRequest(config);
      assert.match(url, /code_challenge_method=S256/);
      const browser = new Browser();
      const isCallback = (location: string) => location.startsWith(`${origin}/`);
      const signInPage = await browser.follow(url, isCallback);
      const form = formOf(await signInPage.response.text());
      const callback = await browser.submit(
        signInPage.url,
        form.action,
        { ...form.fields, username: JANE, password: PASSWORD },
        isCallback,
      );
      assert.ok(isCallback(callback.url), callback.url);

      // A callback whose state is not ours is refused before any request.
      await assert.rejects(auth.handleCallback(config, callback.url, { ...pending, state: 'other' }, browserFetch), /state/);

      // The preflight a browser sends before the token request.
      const preflight = await fetch(`${gh.issuer}/oauth/token`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.ok(preflight.status < 300, `preflight ${preflight.status}`);
      assert.equal(preflight.headers.get('access-control-allow-origin'), origin);

      const tokens = await auth.handleCallback(config, callback.url, pending, browserFetch);
      assert.equal(corsHeaders.at(-1), origin);
      assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
      assert.equal(auth.claimsOf(tokens.id_token!).email, JANE);
      const access = auth.claimsOf(tokens.access_token);
      // Asked with openid, the API's token also names /userinfo and carries the OpenID scopes (as Auth0's).
      assert.equal([access.aud].flat()[0], AUDIENCE);
      assert.deepEqual(access.permissions, ['read:invoices']);
      assert.deepEqual(
        String(access.scope)
          .split(' ')
          .filter((scope) => scope.includes(':')),
        ['read:invoices'],
        'of API scopes, an access token for an API carries only its own',
      );
      // The token works on the API.
      assert.equal((await fetch(`${api.url}/invoices`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);

      // Asked with openid, the API's token serves /userinfo too (its second audience, as Auth0's).
      assert.equal((await auth.userinfo(config, tokens.access_token, browserFetch)).email, JANE);

      const refreshed = await auth.refresh(config, tokens.refresh_token!, browserFetch);
      assert.equal(corsHeaders.at(-1), origin);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
      // The spent refresh token is refused (and its whole family revoked: reuse detection).
      await assert.rejects(auth.refresh(config, tokens.refresh_token!, browserFetch), /invalid_grant/);
      await assert.rejects(auth.refresh(config, refreshed.refresh_token!, browserFetch), /invalid_grant/);

      // Another origin gets no CORS headers.
      const other = await fetch(`${gh.issuer}/oauth/token`, {
        method: 'POST',
        headers: { origin: 'https://evil.example.com', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', client_id: app.client_id, refresh_token: 'x' }),
      });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    });
  });
});
