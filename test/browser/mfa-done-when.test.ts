import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';

/** The server's clock, moved one TOTP step between sign-ins (a code is accepted once per step). */
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

/**
 * Issue 4's "done when", tried as a new user would in a real browser: a tenant
 * administrator requires MFA; a user enrols an authenticator app on the hosted page (the
 * app being the `otpauth` library, given the secret shown) and signs in with it.
 */
describe('done when: an administrator requires MFA, a user enrols TOTP on the hosted page and signs in with it', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let chromium: Browser;
  let page: Page;
  let config: client.Configuration;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let authenticatorApp: OTPAuth.TOTP;

  before(async () => {
    callback = await startCallbackServer();
    gh = await startListeningGatehouse({ hostname: 'localhost', clock });
    const acme = await gh.tenantWithAdmin('acme');
    const required = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { mfa: { policy: 'required' } },
    });
    assert.equal(required.status, 200);
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [callback.url] });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    chromium = await launchChromium();
    page = await chromium.newPage();
  });
  after(async () => {
    await chromium?.close();
    await gh?.stop();
    await callback?.stop();
  });

  /** Opens the application's sign-in and types the password; returns the PKCE verifier. */
  async function signIn(shot: string): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await screenshot(page, shot);
    await page.fill('#username', 'jane@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/mfa$/), page.click('button[type=submit]')]);
    return verifier;
  }

  async function claimsAtCallback(verifier: string) {
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    return decodeJwt(tokens.id_token as string);
  }

  it('enrols the authenticator app during the first sign-in', async () => {
    const verifier = await signIn('sign-in');
    assert.match((await page.textContent('h1')) ?? '', /Set up two-step verification/);
    assert.equal(await page.locator('img.qr').isVisible(), true);
    await screenshot(page, 'sign-in-mfa-enrol');
    const secret = ((await page.textContent('#totp-secret')) ?? '').trim();
    authenticatorApp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });

    await page.fill('#code', '000000');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('#form-error')) ?? '', /not right/);
    await screenshot(page, 'sign-in-mfa-enrol-wrong-code');

    await page.fill('#code', authenticatorApp.generate({ timestamp: clock.now().getTime() }));
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await screenshot(page, 'sign-in-mfa-recovery-codes');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    const claims = await claimsAtCallback(verifier);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(claims.acr, 'http://schemas.openid.net/pape/policies/2007/06/multi-factor');
  });

  it('signs in again with the password and the code from the app', async () => {
    await page.context().clearCookies();
    offsetMs += 30_000;
    const verifier = await signIn('sign-in-again');
    assert.equal(await page.locator('input[name=code]').isVisible(), true);
    await screenshot(page, 'sign-in-mfa-challenge');
    await page.fill('#code', authenticatorApp.generate({ timestamp: clock.now().getTime() }));
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    const claims = await claimsAtCallback(verifier);
    assert.ok((claims.amr as string[]).includes('otp'));
    assert.ok((claims.amr as string[]).includes('mfa'));
  });
});
