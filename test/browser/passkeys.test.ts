import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { addVirtualAuthenticator, launchChromium, screenshot, startCallbackServer, type VirtualAuthenticator } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';

describe('passkeys in Chromium (virtual authenticator)', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let chromium: Browser;
  let page: Page;
  let authenticator: VirtualAuthenticator;
  let config: client.Configuration;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let CALLBACK: string;

  before(async () => {
    callback = await startCallbackServer();
    CALLBACK = callback.url;
    gh = await startListeningGatehouse({ hostname: 'localhost' });
    const acme = await gh.tenantWithAdmin('acme');
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [CALLBACK] });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    chromium = await launchChromium();
    page = await chromium.newPage();
    authenticator = await addVirtualAuthenticator(page);
  });
  after(async () => {
    await chromium?.close();
    await gh?.stop();
    await callback?.stop();
  });

  it('enrols a passkey on /account/security', async () => {
    await page.goto(`${gh.issuer}/account/security`);
    assert.match(page.url(), /\/account\/sign-in$/);
    await screenshot(page, 'account-sign-in');
    await page.fill('#username', 'jane@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/account\/security$/), page.click('button[type=submit]')]);
    await screenshot(page, 'account-security-empty');

    await Promise.all([page.waitForURL(/notice=added/), page.click('#passkey-button')]);
    assert.equal(await page.locator('#passkey-error').isHidden(), true);
    assert.match((await page.textContent('#factors')) ?? '', /Passkey/);
    const credentials = await authenticator.credentials();
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]?.isResidentCredential, true);
    await screenshot(page, 'account-security-passkey');
  });

  it('signs in to an application with the password and the passkey as the second factor', async () => {
    await page.context().clearCookies();
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await page.fill('#username', 'jane@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/mfa$/), page.click('button[type=submit]')]);
    await screenshot(page, 'sign-in-mfa-passkey');
    const before = (await authenticator.credentials())[0]?.signCount ?? 0;

    await Promise.all([page.waitForURL((u) => u.href.startsWith(CALLBACK)), page.click('#passkey-button')]);
    assert.ok(((await authenticator.credentials())[0]?.signCount ?? 0) > before, 'the authenticator signed');
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    const claims = decodeJwt(tokens.id_token as string);
    assert.ok((claims.amr as string[]).includes('hwk'), JSON.stringify(claims.amr));
    assert.ok((claims.amr as string[]).includes('mfa'));
    assert.equal(claims.acr, 'http://schemas.openid.net/pape/policies/2007/06/multi-factor');
  });

  it('refuses a forged passkey answer with a stable message, not an error', async () => {
    await page.context().clearCookies();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', state: client.randomState() });
    await page.goto(url.href);
    await page.fill('#username', 'jane@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/mfa$/), page.click('button[type=submit]')]);
    const answer = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/mfa')),
      page.locator('#passkey-form').evaluate((form) => {
        const f = form as unknown as { elements: { namedItem(name: string): { value: string } }; submit(): void };
        f.elements.namedItem('response').value = JSON.stringify({ id: 'forged', response: {} });
        f.submit();
      }),
    ]);
    assert.equal(answer[0].status(), 400);
    assert.match((await page.textContent('#form-error')) ?? '', /passkey was not accepted/);
    await screenshot(page, 'sign-in-mfa-passkey-refused');
  });
});
