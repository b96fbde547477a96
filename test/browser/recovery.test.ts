import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { checkPage } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD } from '../helpers/gatehouse.js';

const NEW_PASSWORD = 'a-fresh-password-after-reset';

/**
 * Issue 5, part 4, as a user would do it in a real browser: from an application's sign-in
 * page, "Forgot your password?", the email read from a real SMTP server, the new password,
 * back in the application; then a fresh sign-in with the new password.
 */
describe('browser: forgot password from an application’s sign-in, reset by email, signed in', () => {
  let env: BrowserApp;

  before(async () => {
    env = await startBrowserApp({ smtpFrom: 'Acme <no-reply@acme.test>' });
    await env.gh.createUser(env.tenant.token, { email: 'rita@acme.test', password: PASSWORD });
  });
  after(async () => {
    await env?.stop();
  });

  const emailOf = async (page: Page, verifier: string) => (await env.claimsAt(page, verifier)).email;

  it('resets the password through the emailed link and returns to the application', async () => {
    const page = await env.newPage();
    const verifier = await env.openSignIn(page);
    assert.deepEqual(await checkPage(page, 'recovery-sign-in'), []);
    await Promise.all([page.waitForURL(/\/recovery\?interaction=/), page.click('text=Forgot your password?')]);
    assert.match((await page.textContent('h1')) ?? '', /Reset your password/);
    assert.deepEqual(await checkPage(page, 'recovery-request'), []);
    await page.fill('#email', 'rita@acme.test');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('h1')) ?? '', /Check your email/);
    assert.deepEqual(await checkPage(page, 'recovery-sent'), []);

    const mail = await env.mailTo('rita@acme.test');
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
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    assert.equal(await emailOf(page, verifier), 'rita@acme.test');

    // The used link is dead.
    await page.goto(link);
    assert.match((await page.textContent('[role=alert]')) ?? '', /not valid/);
    assert.deepEqual(await checkPage(page, 'recovery-link-used'), []);
    await page.close();
  });

  it('signs in with the new password in a fresh browser', async () => {
    const page = await env.newPage();
    const verifier = await env.openSignIn(page);
    await page.fill('#username', 'rita@acme.test');
    await page.fill('#password', NEW_PASSWORD);
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    assert.equal(await emailOf(page, verifier), 'rita@acme.test');
    await page.close();
  });
});
