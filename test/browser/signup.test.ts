import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { deliverEmails } from '../../src/email/mailer.js';
import { checkPage, launchChromium, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../helpers/smtp.js';

/**
 * Issue 5, part 2, as a new person would do it in a real browser: an application's sign-in
 * page → "Create an account" → the form → the verification email (read from a real SMTP
 * peer) → back at the application, signed in → signed out → signed in with the password.
 */
describe('sign-up in a browser: create an account, verify the email, come back signed in', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let smtp: SmtpPeer;
  let chromium: Browser;
  let config: client.Configuration;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;

  before(async () => {
    smtp = await startSmtpPeer();
    callback = await startCallbackServer();
    gh = await startListeningGatehouse({ hostname: 'localhost', config: { smtpUrl: smtp.url, smtpFrom: 'Acme <no-reply@acme.test>' } });
    const acme = await gh.tenantWithAdmin('acme');
    const policies = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { signup: { enabled: true, profile_fields: ['given_name'], required_fields: ['given_name'] } },
    });
    assert.equal(policies.status, 200);
    const app = await gh.created('/api/v1/applications', acme.token, {
      name: 'Acme Portal',
      type: 'web',
      redirect_uris: [callback.url],
      post_logout_redirect_uris: [callback.url.replace('/callback', '/signed-out')],
    });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await gh?.stop();
    await callback?.stop();
    await smtp?.stop();
  });

  /** axe-core is injected as an inline script, which the pages' CSP (rightly) forbids: the check page bypasses it. */
  const newPage = () => chromium.newPage({ bypassCSP: true });

  async function mailTo(to: string) {
    await deliverEmails(gh.ctx);
    return smtp.next(to);
  }

  async function check(page: Page, step: string) {
    assert.deepEqual(await checkPage(page, `signup-${step}`), [], `accessibility of ${step}`);
  }

  /** Opens the application's sign-in page; returns the PKCE verifier. */
  async function openApp(page: Page, step: string): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
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

  async function landed(page: Page, verifier: string) {
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    return tokens;
  }

  it('signs up, verifies with the emailed link, signs out, and signs in again with the password', async () => {
    const page = await newPage();
    const verifier = await signUp(page, 'rosa@example.com', '');
    const mail = await mailTo('rosa@example.com');
    const link = /(http:\/\/localhost:\d+\/verify\?token=\S+)/.exec(mail.text)?.[1] as string;
    assert.ok(link, mail.text);

    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /Confirm your email address/);
    await check(page, 'confirm-link');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    const tokens = await landed(page, verifier);
    assert.equal(tokens.claims()?.email, 'rosa@example.com');
    assert.equal(tokens.claims()?.email_verified, true);

    // RP-initiated logout, then the password sign-in works.
    const logout = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token as string,
      post_logout_redirect_uri: callback.url.replace('/callback', '/signed-out'),
    });
    await page.goto(logout.href);
    await check(page, 'sign-out');
    await Promise.all([page.waitForURL(/signed-out/), page.click('button[value=yes]')]);

    const again = await openApp(page, 'sign-in-again');
    await page.fill('#username', 'rosa@example.com');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    assert.equal((await landed(page, again)).claims()?.email, 'rosa@example.com');
    await page.close();
  });

  it('signs up and verifies with the emailed code', async () => {
    const page = await newPage();
    const verifier = await signUp(page, 'omar@example.com', 'code-');
    const mail = await mailTo('omar@example.com');
    const code = /Your code:\s*(\d{6})/.exec(mail.text)?.[1] as string;
    assert.match(code, /^\d{6}$/);

    await page.fill('#code', code === '000000' ? '111111' : '000000');
    await Promise.all([page.waitForLoadState(), page.click('form[action^="/verify/"] >> nth=0 >> button')]);
    assert.match((await page.textContent('#form-error')) ?? '', /not right/);
    await check(page, 'code-wrong');

    await page.fill('#code', code);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('form[action^="/verify/"] >> nth=0 >> button')]);
    assert.equal((await landed(page, verifier)).claims()?.email, 'omar@example.com');
    await page.close();
  });
});
