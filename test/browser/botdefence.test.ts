import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { checkPage } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD } from '../helpers/gatehouse.js';

/**
 * Issue 16.5 in a real browser: with the tenant's bot defence at `always`, the hosted
 * sign-up page shows the ALTCHA widget, served by Gatehouse itself under the pages'
 * strict Content-Security-Policy (this page does NOT bypass it); the widget solves its
 * proof of work in the page and the sign-up goes through. Without a solution (JavaScript
 * off) the page says why and the sign-up is refused.
 */
describe('bot defence in a browser: the ALTCHA widget on the hosted sign-up page', () => {
  let env: BrowserApp;

  before(async () => {
    env = await startBrowserApp({ smtpFrom: 'Acme <no-reply@acme.test>' });
    const admin = await env.gh.adminToken();
    const policies = await env.gh.request('PATCH', `/api/v1/tenants/${env.tenant.tenantId}/policies`, {
      token: admin,
      body: { signup: { enabled: true }, bot_defence: { mode: 'always', actions: ['signup'] } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
  });
  after(async () => {
    await env?.stop();
  });

  const userOf = (email: string) => env.gh.ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();

  async function openSignup(page: Page) {
    await env.openSignIn(page);
    await Promise.all([page.waitForURL(/\/signup\/flw_/), page.click('text=Create an account')]);
  }

  it('shows the widget, solves it in the page under the strict CSP, and signs up', async () => {
    const context = await env.chromium.newContext();
    const page = await context.newPage();
    const refusals: string[] = [];
    page.on('console', (message) => {
      if (/Content.Security.Policy|Refused to/i.test(message.text())) refusals.push(message.text());
    });
    await openSignup(page);
    const widget = page.locator('altcha-widget');
    assert.equal(await widget.count(), 1, 'the widget is on the page');
    await page.fill('#email', 'solved@example.com');
    await page.fill('#password', PASSWORD);
    // auto="onfocus": typing in the form starts the proof of work in the widget's worker.
    // The widget's hidden field gets its payload when the worker has found the solution.
    // (Polled from here: the page's CSP refuses the eval a waitForFunction would need.)
    let payload = '';
    for (const deadline = Date.now() + 60_000; payload === '' && Date.now() < deadline; ) {
      payload = (await page.locator('input[name=captcha]').count()) > 0 ? await page.inputValue('input[name=captcha]') : '';
      if (payload === '') await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.notEqual(payload, '', 'the widget solved its challenge');
    const decoded = JSON.parse(Buffer.from(payload, 'base64').toString());
    assert.equal(decoded.challenge.parameters.algorithm, 'PBKDF2/SHA-256', 'solved by the widget’s own worker');
    await Promise.all([page.waitForURL(/\/verify\/flw_/), page.click('button[type=submit]')]);
    assert.match((await page.textContent('h1')) ?? '', /Check your email/);
    assert.ok(await userOf('solved@example.com'), 'the account exists');
    assert.deepEqual(refusals, [], 'the CSP refused nothing the widget needs');
    await context.close();
  });

  it('without a solution (JavaScript off) the page says why and the sign-up is refused', async () => {
    const context = await env.chromium.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await openSignup(page);
    assert.match((await page.textContent('.captcha noscript, .captcha')) ?? '', /needs JavaScript/);
    await page.fill('#email', 'unsolved@example.com');
    await page.fill('#password', PASSWORD);
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type=submit]')]);
    assert.equal(response.status(), 428);
    assert.match((await page.textContent('#form-error')) ?? '', /confirm that you are a person/);
    assert.equal(await userOf('unsolved@example.com'), undefined, 'no account');
    await context.close();
  });

  it('the page with the widget passes the accessibility check', async () => {
    const page = await env.newPage();
    await openSignup(page);
    assert.deepEqual(await checkPage(page, 'botdefence-signup-widget'), []);
  });
});
