/**
 * Issue 17.3: OIDC Front-Channel Logout 1.0 in Chromium, under the sign-out page's own
 * Content-Security-Policy (not bypassed): signing out at /v2/logout loads each signed-in
 * application's `frontchannel_logout_uri` in an iframe with `iss` and `sid`, then goes on
 * to the return URI.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD } from '../helpers/gatehouse.js';

/** An application's own server: its front-channel logout page (framable) records what it was called with. */
async function startRelyingParty(): Promise<{ origin: string; hits: URL[]; stop(): Promise<void> }> {
  const hits: URL[] = [];
  let origin = '';
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', origin);
    if (url.pathname === '/fc-logout') hits.push(url);
    response.writeHead(200, { 'content-type': 'text/html' }).end(url.pathname === '/bye' ? '<h1>Bye</h1>' : '<p>signed out here</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, hits, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('front-channel logout in Chromium', () => {
  let env: BrowserApp;
  let rp: Awaited<ReturnType<typeof startRelyingParty>>;
  let other: Awaited<ReturnType<typeof startRelyingParty>>;
  before(async () => {
    rp = await startRelyingParty();
    other = await startRelyingParty();
    env = await startBrowserApp({
      tenant: 'frontchannel',
      application: () => ({ frontchannel_logout_uri: `${rp.origin}/fc-logout`, post_logout_redirect_uris: [`${rp.origin}/bye`] }),
    });
    await env.gh.createUser(env.tenant.token, { email: 'fc@acme.test', password: PASSWORD });
  });
  after(async () => {
    await env?.stop();
    await rp?.stop();
    await other?.stop();
  });

  it('loads each application’s logout page with iss and sid, then returns to the application', async () => {
    // A second application of the tenant, signed in to in the same browser.
    const second = await env.gh.created('/api/v1/applications', env.tenant.token, {
      name: 'Second',
      type: 'web',
      redirect_uris: [env.callback.url],
      frontchannel_logout_uri: `${other.origin}/fc-logout`,
    });
    const secondConfig = await client.discovery(new URL(env.gh.issuer), second.client_id, second.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const page = await env.chromium.newPage();
    const verifier = await env.openSignIn(page);
    await page.fill('#username', 'fc@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    const tokens = await env.tokensAt(page, verifier);
    const sid = tokens.claims()?.sid as string;
    assert.ok(sid, 'the ID token carries sid');
    // Signed in already: the second application's request returns at once.
    const secondVerifier = client.randomPKCECodeVerifier();
    await page.goto(
      client.buildAuthorizationUrl(secondConfig, {
        redirect_uri: env.callback.url,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(secondVerifier),
        code_challenge_method: 'S256',
      }).href,
    );
    await page.waitForURL(env.isCallback);
    const secondTokens = await client.authorizationCodeGrant(secondConfig, new URL(page.url()), { pkceCodeVerifier: secondVerifier });
    const secondSid = secondTokens.claims()?.sid as string;

    const logout = client.buildEndSessionUrl(env.config, {
      id_token_hint: tokens.id_token as string,
      post_logout_redirect_uri: `${rp.origin}/bye`,
    });
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    await page.goto(logout.href);
    await page.waitForURL(`${rp.origin}/bye`);
    assert.equal(await page.textContent('h1'), 'Bye');
    assert.deepEqual(blocked, [], 'nothing refused by the page’s CSP');
    assert.equal(rp.hits.length, 1);
    assert.equal(rp.hits[0]?.searchParams.get('iss'), env.gh.issuer);
    assert.equal(rp.hits[0]?.searchParams.get('sid'), sid);
    assert.equal(other.hits.length, 1);
    assert.equal(other.hits[0]?.searchParams.get('sid'), secondSid);
    // Signed out: a new authorization request asks for the password again.
    await env.openSignIn(page);
    assert.ok(await page.isVisible('#password'));
  });
});
