import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { checkPage } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { codeIn } from '../helpers/sms.js';

/**
 * Passwordless sign-in in a real browser (issue 5, part 5): an OIDC application's sign-in
 * page → "Sign in without a password" → a code from a real SMTP server → signed in at the
 * application's callback; then a magic link in the same browser. Every page is
 * screenshotted and checked with axe-core.
 */
describe('passwordless sign-in in Chromium', () => {
  let env: BrowserApp;
  let page: Page;

  before(async () => {
    env = await startBrowserApp({ smtpFrom: 'Gatehouse <no-reply@x.test>' });
    const enabled = await env.gh.request('PATCH', `/api/v1/tenants/${env.tenant.tenantId}/policies`, {
      token: env.tenant.token,
      body: { passwordless: { methods: ['email_code', 'email_link', 'sms_code'] } },
    });
    assert.equal(enabled.status, 200);
    await env.gh.createUser(env.tenant.token, { email: 'jane@acme.test', password: PASSWORD });
    page = await env.newPage();
  });
  after(async () => {
    await env?.stop();
  });

  const check = async (name: string) => assert.deepEqual(await checkPage(page, `passwordless-${name}`), [], name);

  /** The application sends the browser to sign in; the user picks "Sign in without a password". */
  async function openStartPage(shot: boolean): Promise<string> {
    const verifier = await env.openSignIn(page);
    await Promise.all([page.waitForURL(/\/passwordless$/), page.click('text=Sign in without a password')]);
    if (shot) await check('start');
    return verifier;
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

    const code = codeIn((await env.mailTo('jane@acme.test')).text);
    await page.fill('#code', code);
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    const claims = await env.claimsAt(page, verifier);
    assert.equal(claims.email, 'jane@acme.test');
    assert.deepEqual(claims.amr, ['email']);
  });

  it('signs in with a magic link opened in the same browser', async () => {
    await page.context().clearCookies(); // signed out: the sign-in page again
    const verifier = await openStartPage(false);
    await page.fill('#email-login', 'jane@acme.test');
    await Promise.all([page.waitForURL(/\/passwordless\/flw_/), page.click('button[value=email_link]')]);
    await check('link-sent');
    const link = /(http:\/\/\S+\/passwordless\/link\?token=\S+)/.exec((await env.mailTo('jane@acme.test')).text)?.[1] as string;
    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /Sign in/);
    await check('link');
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    assert.deepEqual((await env.claimsAt(page, verifier)).amr, ['email']);

    await page.goto(link);
    assert.match((await page.textContent('[role=alert]')) ?? '', /not valid/);
    await check('link-used');
  });

  it('a link opened in another browser says where to open it', async () => {
    await page.context().clearCookies();
    await openStartPage(false);
    await page.fill('#email-login', 'jane@acme.test');
    await Promise.all([page.waitForURL(/\/passwordless\/flw_/), page.click('button[value=email_link]')]);
    const link = /(http:\/\/\S+\/passwordless\/link\?token=\S+)/.exec((await env.mailTo('jane@acme.test')).text)?.[1] as string;
    const other = await env.newPage(); // another browser: its own cookies
    try {
      await other.goto(link);
      assert.match((await other.textContent('h1')) ?? '', /same browser/);
      assert.deepEqual(await checkPage(other, 'passwordless-link-other-browser'), []);
    } finally {
      await other.close();
    }
  });
});
