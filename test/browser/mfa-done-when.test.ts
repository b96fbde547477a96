import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as OTPAuth from 'otpauth';
import type { Page } from 'playwright-core';
import { screenshot } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD } from '../helpers/gatehouse.js';

/** The server's clock, moved one TOTP step between sign-ins (a code is accepted once per step). */
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

/**
 * Issue 4's "done when", tried as a new user would in a real browser: a tenant
 * administrator requires MFA; a user enrols an authenticator app on the hosted page (the
 * app being the `otpauth` library, given the secret shown) and signs in with it.
 */
describe('done when: an administrator requires MFA, a user enrols TOTP on the hosted page and signs in with it', () => {
  let env: BrowserApp;
  let page: Page;
  let authenticatorApp: OTPAuth.TOTP;

  before(async () => {
    env = await startBrowserApp({ clock });
    const required = await env.gh.request('PATCH', `/api/v1/tenants/${env.tenant.tenantId}/policies`, {
      token: env.tenant.token,
      body: { mfa: { policy: 'required' } },
    });
    assert.equal(required.status, 200);
    await env.gh.createUser(env.tenant.token, { email: 'jane@acme.test', password: PASSWORD });
    page = await env.chromium.newPage(); // screenshots only, no axe-core: the pages' CSP stays on
  });
  after(async () => {
    await env?.stop();
  });

  /** Opens the application's sign-in and types the password; returns the PKCE verifier. */
  async function signIn(shot: string): Promise<string> {
    const verifier = await env.openSignIn(page);
    await screenshot(page, shot);
    await page.fill('#username', 'jane@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/mfa$/), page.click('button[type=submit]')]);
    return verifier;
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
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    const claims = await env.claimsAt(page, verifier);
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
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    const claims = await env.claimsAt(page, verifier);
    assert.ok((claims.amr as string[]).includes('otp'));
    assert.ok((claims.amr as string[]).includes('mfa'));
  });
});
