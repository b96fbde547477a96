import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { freePort } from '../helpers/oidc.js';

const SPA_JS = join(import.meta.dirname, '..', '..', 'node_modules', '@auth0', 'auth0-spa-js', 'dist', 'auth0-spa-js.production.js');

/**
 * The Auth0 SPA quick start (`@auth0/auth0-spa-js`, in Chromium, from its own origin)
 * against Gatehouse with only the domain and client id changed (issue 17.1): sign-in by
 * redirect, the user, a token silently through a hidden iframe (`response_mode=web_message`,
 * `prompt=none`) and through a refresh token, and sign-out back to the application.
 */
describe('auth0-spa-js in Chromium against Gatehouse', () => {
  let gh: TestGatehouse;
  let domain: string;
  let spa: Server;
  let spaOrigin: string;
  let chromium: Browser;
  let acme: TenantAdmin;
  let clientId: string;
  /** An origin the application does not list, serving the same page (the attacker's). */
  let other: Server;
  let otherOrigin: string;

  const PAGE =
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>SPA</title><script src="/auth0-spa-js.js"></script></head><body><p>app</p></body></html>';
  const serve = async (): Promise<{ server: Server; origin: string }> => {
    const script = await readFile(SPA_JS);
    const server = createServer((request, response) => {
      if (request.url === '/auth0-spa-js.js') return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` };
  };

  before(async () => {
    const port = await freePort();
    domain = `http://localhost:${port}`;
    // Auth0's form of issuer (trailing slash): auth0-spa-js checks `iss` against `${domain}/`.
    gh = await startGatehouse({ issuer: `${domain}/` });
    await gh.app.listen({ port, host: '127.0.0.1' });
    ({ server: spa, origin: spaOrigin } = await serve());
    ({ server: other, origin: otherOrigin } = await serve());
    acme = await gh.tenantWithAdmin('acme');
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD, name: 'Jane Doe' });
    const app = await gh.created('/api/v1/applications', acme.token, {
      name: 'Acme SPA',
      type: 'spa',
      // The other origin is one of the application's redirect URIs, but not a web origin.
      redirect_uris: [`${spaOrigin}/`, otherOrigin],
      post_logout_redirect_uris: [`${spaOrigin}/`],
      web_origins: [spaOrigin],
    });
    clientId = app.client_id;
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await gh?.stop();
    spa?.close();
    other?.close();
  });

  /** Creates the client on the page, as the quick start does (only domain and clientId are ours). */
  const createClient = (p: Page, extra: Record<string, unknown> = {}) =>
    p.evaluate(
      async ({ domain, clientId, extra }) => {
        // The page's globals (this file compiles without the DOM library).
        const w = globalThis as unknown as { auth0: any; client: any };
        w.client = await w.auth0.createAuth0Client({
          domain,
          clientId,
          authorizationParams: { redirect_uri: `${(globalThis as any).location.origin}/` },
          ...extra,
        });
      },
      { domain, clientId, extra },
    );

  async function signIn(p: Page, extra: Record<string, unknown> = {}) {
    await p.goto(`${spaOrigin}/`);
    await createClient(p, extra);
    await Promise.all([p.waitForURL(/\/interaction\//), p.evaluate(() => (globalThis as any).client.loginWithRedirect())]);
    await p.fill('#username', 'jane@acme.test');
    await p.fill('#password', PASSWORD);
    await Promise.all([p.waitForURL((url) => url.origin === spaOrigin && url.searchParams.has('code')), p.click('button[type=submit]')]);
    await createClient(p, extra);
    await p.evaluate(() => (globalThis as any).client.handleRedirectCallback());
  }

  it('loginWithRedirect, handleRedirectCallback, getUser; getTokenSilently through the iframe; logout', async () => {
    const context = await chromium.newContext();
    const p = await context.newPage();
    await signIn(p);
    const user = await p.evaluate(() => (globalThis as any).client.getUser());
    assert.equal(user.email, 'jane@acme.test', 'scope openid profile email: profile and email claims');
    assert.equal(user.name, 'Jane Doe');

    // A fresh token without the cache: a hidden iframe at /authorize?prompt=none&response_mode=web_message.
    const authorizeRequests: string[] = [];
    p.on('request', (request) => {
      if (request.url().startsWith(`${domain}/authorize`)) authorizeRequests.push(request.url());
    });
    const token = await p.evaluate(() => (globalThis as any).client.getTokenSilently({ cacheMode: 'off' }));
    assert.ok(typeof token === 'string' && token.length > 0);
    const silent = new URL(authorizeRequests.at(-1) as string);
    assert.equal(silent.searchParams.get('response_mode'), 'web_message');
    assert.equal(silent.searchParams.get('prompt'), 'none');

    // Sign-out with client_id and a registered returnTo: back to the application, no question asked.
    await Promise.all([
      p.waitForURL(/\/v2\/logout\?/),
      p.evaluate(() => (globalThis as any).client.logout({ logoutParams: { returnTo: `${(globalThis as any).location.origin}/` } })),
    ]);
    await p.waitForURL((url) => url.origin === spaOrigin);
    await createClient(p);
    const after = await p.evaluate(() =>
      (globalThis as any).client.getTokenSilently({ cacheMode: 'off' }).then(
        () => 'token',
        (error: { error?: string }) => error.error,
      ),
    );
    assert.equal(after, 'login_required', 'signed out: the silent request says so');
    await context.close();
  });

  it('getTokenSilently with refresh tokens (useRefreshTokens): a refresh_token grant from the SPA origin (CORS)', async () => {
    const context = await chromium.newContext();
    const p = await context.newPage();
    await signIn(p, { useRefreshTokens: true, cacheLocation: 'localstorage' });
    const grants: string[] = [];
    p.on('request', (request) => {
      if (request.url() === `${domain}/oauth/token`) grants.push(new URLSearchParams(request.postData() ?? '').get('grant_type') ?? '');
    });
    const token = await p.evaluate(() => (globalThis as any).client.getTokenSilently({ cacheMode: 'off' }));
    assert.ok(typeof token === 'string' && token.length > 0);
    assert.deepEqual(grants, ['refresh_token']);
    await context.close();
  });

  it('the web_message answer goes to a listed web origin only: another origin’s iframe gets nothing', async () => {
    const context = await chromium.newContext();
    const p = await context.newPage();
    await signIn(p);
    // The attacker's page frames the silent request with its own origin as redirect_uri.
    await p.goto(`${otherOrigin}/`);
    const status = await p.evaluate(
      async ({ domain, clientId, origin }) => {
        const url = `${domain}/authorize?${new URLSearchParams({
          client_id: clientId,
          response_type: 'code',
          redirect_uri: origin,
          response_mode: 'web_message',
          prompt: 'none',
          scope: 'openid',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          state: 'x',
        })}`;
        const got = await new Promise<string>((resolve) => {
          (globalThis as any).addEventListener('message', (event: { origin: string }) => resolve(`message from ${event.origin}`));
          const frame = (globalThis as any).document.createElement('iframe');
          frame.src = url;
          (globalThis as any).document.body.appendChild(frame);
          setTimeout(() => resolve('nothing'), 3000);
        });
        return got;
      },
      { domain, clientId, origin: otherOrigin },
    );
    assert.equal(status, 'nothing');
    await context.close();
  });
});
