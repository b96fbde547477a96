import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { deliverEmails } from '../../src/email/mailer.js';
import { checkPage, launchChromium, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD, type TenantAdmin } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../helpers/smtp.js';

const CHOSEN = 'my-own-chosen-password';

/**
 * Issue 5, part 3, in a real browser: an administrator invites a user, who follows the
 * emailed link, chooses a password and is signed in; and a user with a temporary password
 * chooses a new one on the hosted sign-in and reaches the application.
 */
describe('browser: invitations and temporary passwords', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let smtp: SmtpPeer;
  let chromium: Browser;
  let acme: TenantAdmin;
  let config: client.Configuration;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;

  before(async () => {
    smtp = await startSmtpPeer();
    callback = await startCallbackServer();
    gh = await startListeningGatehouse({ hostname: 'localhost', config: { smtpUrl: smtp.url, smtpFrom: 'Acme <no-reply@acme.test>' } });
    acme = await gh.tenantWithAdmin('acme');
    await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}`, {
      token: acme.token,
      body: { branding: { display_name: 'Acme Sign-In', primary_color: '#aa3300' } },
    });
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

  it('an administrator invites; the email’s link sets the password and signs the user in', async () => {
    const created = await gh.request('POST', '/api/v1/users', { token: acme.token, body: { email: 'ivy@acme.test', invite: true } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await deliverEmails(gh.ctx);
    const mail = await smtp.next('ivy@acme.test');
    const link = /(http:\/\/\S+\/invitation\?token=\S+)/.exec(mail.text)?.[1];
    assert.ok(link, mail.text);

    const context = await chromium.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /invited to Acme Sign-In/);
    assert.deepEqual(await checkPage(page, 'invitation-set-password'), []);
    await page.fill('#password', CHOSEN);
    await Promise.all([page.waitForURL(/\/account/), page.click('button[type=submit]')]);
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name === 'gatehouse_session' && c.httpOnly));
    const user = await gh.request('GET', `/api/v1/users/${created.body.id}`, { token: acme.token });
    assert.equal(user.body.status, 'active');
    await context.close();
  });

  it('a temporary password is replaced on the hosted sign-in, which then returns to the application', async () => {
    await gh.createUser(acme.token, { email: 'tom@acme.test', password: PASSWORD, temporary: true });
    // axe-core is injected as a script: the page's CSP (no scripts) is bypassed for the check only.
    const page = await chromium.newPage({ bypassCSP: true });
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await page.fill('#username', 'tom@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('h1')) ?? '', /Choose a new password/);
    assert.deepEqual(await checkPage(page, 'sign-in-forced-password-change'), []);
    await page.fill('#password', CHOSEN);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier });
    assert.equal(decodeJwt(tokens.id_token as string).email, 'tom@acme.test');
    await page.close();
  });
});
