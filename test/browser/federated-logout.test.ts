import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';

/**
 * Auth0's `/v2/logout?federated` (issue 17) in Chromium, against a real provider: a SECOND
 * Gatehouse is the upstream of an `oidc` connection, its own `/v2/logout` the end-session
 * endpoint its discovery names. A person signs in through the connection; the application
 * sends the browser to `/v2/logout?federated&client_id&returnTo`; the browser passes through
 * the upstream's sign-out (which ends the upstream session) and lands at the returnTo. A
 * sign-in through the connection afterwards asks for the upstream password again; without
 * `federated` it does not (the upstream session lives on).
 */
describe('federation in Chromium: /v2/logout?federated signs out at an upstream Gatehouse too', () => {
  let b: BrowserApp;
  let home: string;
  let upstream: TestGatehouse & { issuer: string };
  let upstreamTenant: TenantAdmin;

  before(async () => {
    b = await startBrowserApp({
      application: (callbackUrl) => ({ post_logout_redirect_uris: [callbackUrl.replace(/\/callback$/, '/signed-out')] }),
    });
    home = b.callback.url.replace(/\/callback$/, '/signed-out');
    upstream = await startListeningGatehouse();
    upstreamTenant = await upstream.tenantWithAdmin('upstream');
    await upstream.createUser(upstreamTenant.token, { email: 'ada@upstream.test', password: PASSWORD });
    const rp = await upstream.created('/api/v1/applications', upstreamTenant.token, {
      name: 'Acme Gatehouse',
      type: 'web',
      redirect_uris: [`${b.gh.issuer}/login/callback`],
      post_logout_redirect_uris: [`${b.gh.issuer}/login/logout-callback`],
    });
    await b.gh.created('/api/v1/connections', b.tenant.token, {
      name: 'upstream-gh',
      strategy: 'oidc',
      display_name: 'Upstream Gatehouse',
      enabled_clients: [b.app.client_id],
      options: { issuer: upstream.issuer, client_id: rp.client_id, client_secret: rp.client_secret, scope: 'openid profile email' },
    });
  });
  after(async () => {
    await b?.stop();
    await upstream?.stop();
  });

  /** Through the connection; at the upstream's sign-in page when it asks. Whether it asked for the password. */
  async function signIn(page: Page): Promise<boolean> {
    await b.openSignIn(page, { connection: 'upstream-gh' });
    await page.waitForURL((url) => b.isCallback(url) || (url.href.startsWith(upstream.issuer) && url.pathname.startsWith('/interaction/')));
    if (b.isCallback(new URL(page.url()))) return false;
    await page.waitForSelector('#password');
    const username = page.locator('#username');
    if ((await username.inputValue()) !== 'ada@upstream.test') await username.fill('ada@upstream.test');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(b.isCallback);
    return true;
  }

  async function signOut(page: Page, federated: boolean): Promise<string[]> {
    const visited: string[] = [];
    page.on('request', (request) => {
      if (request.isNavigationRequest()) visited.push(request.url());
    });
    const query = `${federated ? 'federated&' : ''}client_id=${b.app.client_id}&returnTo=${encodeURIComponent(home)}`;
    await page.goto(`${b.gh.issuer}/v2/logout?${query}`);
    await page.waitForURL((url) => url.href === home);
    return visited;
  }

  it('federated: the upstream end-session is visited, the browser lands at the returnTo, the upstream asks again next time', async () => {
    const page = await b.newPage();
    assert.equal(await signIn(page), true, 'the first sign-in asks at the upstream');
    const visited = await signOut(page, true);
    const atUpstream = visited.filter((url) => url.startsWith(`${upstream.issuer}/v2/logout`));
    assert.ok(atUpstream.length > 0, `the upstream sign-out was visited: ${visited.join(' → ')}`);
    assert.ok(
      visited.some((url) => url.startsWith(`${b.gh.issuer}/login/logout-callback?state=`)),
      'back through logout-callback',
    );
    assert.equal(page.url(), home);
    assert.equal(await signIn(page), true, 'the upstream session ended: its password is asked again');
    await page.context().close();
  });

  it('without federated the upstream is not visited and its session lives on', async () => {
    const page = await b.newPage();
    assert.equal(await signIn(page), true);
    const visited = await signOut(page, false);
    assert.deepEqual(
      visited.filter((url) => url.startsWith(upstream.issuer)),
      [],
    );
    assert.equal(await signIn(page), false, 'the upstream signs in again without a password');
    await page.context().close();
  });
});
