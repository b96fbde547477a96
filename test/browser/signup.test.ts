import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { checkPage } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD } from '../helpers/gatehouse.js';

/**
 * Issue 5, part 2, as a new person would do it in a real browser: an application's sign-in
 * page → "Create an account" → the form → the verification email (read from a real SMTP
 * peer) → back at the application, signed in → signed out → signed in with the password.
 */
describe('sign-up in a browser: create an account, verify the email, come back signed in', () => {
  let env: BrowserApp;

  before(async () => {
    env = await startBrowserApp({
      smtpFrom: 'Acme <no-reply@acme.test>',
      application: (callbackUrl) => ({ post_logout_redirect_uris: [callbackUrl.replace('/callback', '/signed-out')] }),
    });
    const policies = await env.gh.request('PATCH', `/api/v1/tenants/${env.tenant.tenantId}/policies`, {
      token: env.tenant.token,
      body: { signup: { enabled: true, profile_fields: ['given_name'], required_fields: ['given_name'] } },
    });
    assert.equal(policies.status, 200);
  });
  after(async () => {
    await env?.stop();
  });

  async function check(page: Page, step: string) {
    assert.deepEqual(await checkPage(page, `signup-${step}`), [], `accessibility of ${step}`);
  }

  /** Opens the application's sign-in page; returns the PKCE verifier. */
  async function openApp(page: Page, step: string): Promise<string> {
    const verifier = await env.openSignIn(page);
    await check(page, step);
    return verifier;
  }

  async function signUp(page: Page, email: string, prefix: string): Promise<string> {
    const verifier = await openApp(page, `${prefix}sign-in`);
    await Promise.all([page.waitForURL(/\/signup\/flw_/), page.click('text=Create an account')]);
    assert.match((await page.textContent('h1')) ?? '', /Create an account/);
    await check(page, `${prefix}form`);

    await page.fill('#email', email);
    await page.fill('#password', 'short');
    await page.fill('#given_name', 'Rosa');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('#form-error')) ?? '', /too short/);
    await check(page, `${prefix}form-error`);

    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/verify\/flw_/), page.click('button[type=submit]')]);
    assert.match((await page.textContent('h1')) ?? '', /Check your email/);
    await check(page, `${prefix}check-email`);
    return verifier;
  }

  it('signs up, verifies with the emailed link, signs out, and signs in again with the password', async () => {
    const page = await env.newPage();
    const verifier = await signUp(page, 'rosa@example.com', '');
    const mail = await env.mailTo('rosa@example.com');
    const link = /(http:\/\/localhost:\d+\/verify\?token=\S+)/.exec(mail.text)?.[1] as string;
    assert.ok(link, mail.text);

    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /Confirm your email address/);
    await check(page, 'confirm-link');
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    const tokens = await env.tokensAt(page, verifier);
    assert.equal(tokens.claims()?.email, 'rosa@example.com');
    assert.equal(tokens.claims()?.email_verified, true);

    // RP-initiated logout, then the password sign-in works.
    const logout = client.buildEndSessionUrl(env.config, {
      id_token_hint: tokens.id_token as string,
      post_logout_redirect_uri: env.callback.url.replace('/callback', '/signed-out'),
    });
    // A valid id_token_hint of this user with a registered return URI signs out without a click (decision 206).
    await Promise.all([page.waitForURL(/signed-out/), page.goto(logout.href)]);

    const again = await openApp(page, 'sign-in-again');
    await page.fill('#username', 'rosa@example.com');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    assert.equal((await env.tokensAt(page, again)).claims()?.email, 'rosa@example.com');
    await page.close();
  });

  it('signs up and verifies with the emailed code', async () => {
    const page = await env.newPage();
    const verifier = await signUp(page, 'omar@example.com', 'code-');
    const mail = await env.mailTo('omar@example.com');
    const code = /Your code:\s*(\d{6})/.exec(mail.text)?.[1] as string;
    assert.match(code, /^\d{6}$/);

    await page.fill('#code', code === '000000' ? '111111' : '000000');
    await Promise.all([page.waitForLoadState(), page.click('form[action^="/verify/"] >> nth=0 >> button')]);
    assert.match((await page.textContent('#form-error')) ?? '', /not right/);
    await check(page, 'code-wrong');

    await page.fill('#code', code);
    await Promise.all([page.waitForURL(env.isCallback), page.click('form[action^="/verify/"] >> nth=0 >> button')]);
    assert.equal((await env.tokensAt(page, verifier)).claims()?.email, 'omar@example.com');
    await page.close();
  });
});
