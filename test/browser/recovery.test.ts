import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { deliverEmails } from '../../src/email/mailer.js';
import { checkPage, launchChromium, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../helpers/smtp.js';

const NEW_PASSWORD = 'a-fresh-password-after-reset';

/**
 * Issue 5, part 4, as a user would do it in a real browser: from an application's sign-in
 * page, "Forgot your password?", the email read from a real SMTP server, the new password,
 * back in the application; then a fresh sign-in with the new password.
 */
describe('browser: forgot password from an application’s sign-in, reset by email, signed in', () => {
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
    await gh.createUser(acme.token, { email: 'rita@acme.test', password: PASSWORD });
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [callback.url] });
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

  async function openSignIn(page: Page) {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    return verifier;
  }
  const emailOf = async (page: Page, verifier: string) => {
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    return decodeJwt(tokens.id_token as string).email;
  };

  it('resets the password through the emailed link and returns to the application', async () => {
    // axe-core is injected as a script: the page's CSP (no scripts) is bypassed for the check only.
    const page = await chromium.newPage({ bypassCSP: true });
    const verifier = await openSignIn(page);
    assert.deepEqual(await checkPage(page, 'recovery-sign-in'), []);
    await Promise.all([page.waitForURL(/\/recovery\?interaction=/), page.click('text=Forgot your password?')]);
    assert.match((await page.textContent('h1')) ?? '', /Reset your password/);
    assert.deepEqual(await checkPage(page, 'recovery-request'), []);
    await page.fill('#email', 'rita@acme.test');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('h1')) ?? '', /Check your email/);
    assert.deepEqual(await checkPage(page, 'recovery-sent'), []);

    await deliverEmails(gh.ctx);
    const mail = await smtp.next('rita@acme.test');
    const link = /(http:\/\/\S+\/recovery\/reset\?token=\S+)/.exec(mail.text)?.[1];
    assert.ok(link, mail.text);
    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /Choose a new password/);
    assert.deepEqual(await checkPage(page, 'recovery-reset'), []);
    await page.fill('#password', 'short');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('#form-error')) ?? '', /too short/);
    assert.deepEqual(await checkPage(page, 'recovery-reset-refused'), []);
    await page.fill('#password', NEW_PASSWORD);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    assert.equal(await emailOf(page, verifier), 'rita@acme.test');

    // The used link is dead.
    await page.goto(link);
    assert.match((await page.textContent('[role=alert]')) ?? '', /not valid/);
    assert.deepEqual(await checkPage(page, 'recovery-link-used'), []);
    await page.close();
  });

  it('signs in with the new password in a fresh browser', async () => {
    const context = await chromium.newContext({ bypassCSP: true });
    const page = await context.newPage();
    const verifier = await openSignIn(page);
    await page.fill('#username', 'rita@acme.test');
    await page.fill('#password', NEW_PASSWORD);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    assert.equal(await emailOf(page, verifier), 'rita@acme.test');
    await context.close();
  });
});
