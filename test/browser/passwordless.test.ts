import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { deliverEmails } from '../../src/email/mailer.js';
import { checkPage, launchChromium, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';
import { codeIn } from '../helpers/sms.js';
import { type SmtpPeer, startSmtpPeer } from '../helpers/smtp.js';

/**
 * Passwordless sign-in in a real browser (issue 5, part 5): an OIDC application's sign-in
 * page → "Sign in without a password" → a code from a real SMTP server → signed in at the
 * application's callback; then a magic link in the same browser. Every page is
 * screenshotted and checked with axe-core.
 */
describe('passwordless sign-in in Chromium', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let smtp: SmtpPeer;
  let chromium: Browser;
  let page: Page;
  let config: client.Configuration;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;

  before(async () => {
    callback = await startCallbackServer();
    smtp = await startSmtpPeer();
    gh = await startListeningGatehouse({ hostname: 'localhost', config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@x.test>' } });
    const acme = await gh.tenantWithAdmin('acme');
    const enabled = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { passwordless: { methods: ['email_code', 'email_link', 'sms_code'] } },
    });
    assert.equal(enabled.status, 200);
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [callback.url] });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    chromium = await launchChromium();
    // axe-core is injected as a script: the pages' CSP (no scripts) would refuse it.
    page = await (await chromium.newContext({ bypassCSP: true })).newPage();
  });
  after(async () => {
    await chromium?.close();
    await gh?.stop();
    await smtp?.stop();
    await callback?.stop();
  });

  const check = async (name: string) => assert.deepEqual(await checkPage(page, `passwordless-${name}`), [], name);
  const mailTo = async (to: string) => {
    await deliverEmails(gh.ctx);
    return smtp.next(to);
  };

  /** The application sends the browser to sign in; the user picks "Sign in without a password". */
  async function openStartPage(shot: boolean): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await Promise.all([page.waitForURL(/\/passwordless$/), page.click('text=Sign in without a password')]);
    if (shot) await check('start');
    return verifier;
  }

  async function claimsAtCallback(verifier: string) {
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    return decodeJwt(tokens.id_token as string);
  }

  it('signs in with an emailed code', async () => {
    const verifier = await openStartPage(true);
    await page.fill('#email-login', 'jane@acme.test');
    await Promise.all([page.waitForURL(/\/passwordless\/flw_/), page.click('button[value=email_code]')]);
    assert.match((await page.textContent('h1')) ?? '', /Check your messages/);
    await check('code');

    await page.fill('#code', '000000');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('#form-error')) ?? '', /not right/);
    await check('code-wrong');

    const code = codeIn((await mailTo('jane@acme.test')).text);
    await page.fill('#code', code);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    const claims = await claimsAtCallback(verifier);
    assert.equal(claims.email, 'jane@acme.test');
    assert.deepEqual(claims.amr, ['email']);
  });

  it('signs in with a magic link opened in the same browser', async () => {
    await page.context().clearCookies(); // signed out: the sign-in page again
    const verifier = await openStartPage(false);
    await page.fill('#email-login', 'jane@acme.test');
    await Promise.all([page.waitForURL(/\/passwordless\/flw_/), page.click('button[value=email_link]')]);
    await check('link-sent');
    const link = /(http:\/\/\S+\/passwordless\/link\?token=\S+)/.exec((await mailTo('jane@acme.test')).text)?.[1] as string;
    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /Sign in/);
    await check('link');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    assert.deepEqual((await claimsAtCallback(verifier)).amr, ['email']);

    await page.goto(link);
    assert.match((await page.textContent('[role=alert]')) ?? '', /not valid/);
    await check('link-used');
  });

  it('a link opened in another browser says where to open it', async () => {
    await page.context().clearCookies();
    await openStartPage(false);
    await page.fill('#email-login', 'jane@acme.test');
    await Promise.all([page.waitForURL(/\/passwordless\/flw_/), page.click('button[value=email_link]')]);
    const link = /(http:\/\/\S+\/passwordless\/link\?token=\S+)/.exec((await mailTo('jane@acme.test')).text)?.[1] as string;
    const other = await (await chromium.newContext({ bypassCSP: true })).newPage(); // another browser: its own cookies
    try {
      await other.goto(link);
      assert.match((await other.textContent('h1')) ?? '', /same browser/);
      assert.deepEqual(await checkPage(other, 'passwordless-link-other-browser'), []);
    } finally {
      await other.close();
    }
  });
});
