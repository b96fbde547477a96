import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkPage } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD, type TenantAdmin } from '../helpers/gatehouse.js';

const CHOSEN = 'my-own-chosen-password';

/**
 * Issue 5, part 3, in a real browser: an administrator invites a user, who follows the
 * emailed link, chooses a password and is signed in; and a user with a temporary password
 * chooses a new one on the hosted sign-in and reaches the application.
 */
describe('browser: invitations and temporary passwords', () => {
  let env: BrowserApp;
  let acme: TenantAdmin;

  before(async () => {
    env = await startBrowserApp({ smtpFrom: 'Acme <no-reply@acme.test>' });
    acme = env.tenant;
    await env.gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}`, {
      token: acme.token,
      body: { branding: { display_name: 'Acme Sign-In', primary_color: '#aa3300' } },
    });
  });
  after(async () => {
    await env?.stop();
  });

  it('an administrator invites; the email’s link sets the password and signs the user in', async () => {
    const created = await env.gh.request('POST', '/api/v1/users', { token: acme.token, body: { email: 'ivy@acme.test', invite: true } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const mail = await env.mailTo('ivy@acme.test');
    const link = /(http:\/\/\S+\/invitation\?token=\S+)/.exec(mail.text)?.[1];
    assert.ok(link, mail.text);

    const page = await env.newPage();
    const context = page.context();
    await page.goto(link);
    assert.match((await page.textContent('h1')) ?? '', /invited to Acme Sign-In/);
    assert.deepEqual(await checkPage(page, 'invitation-set-password'), []);
    await page.fill('#password', CHOSEN);
    await Promise.all([page.waitForURL(/\/account/), page.click('button[type=submit]')]);
    const cookies = await context.cookies();
    assert.ok(cookies.some((c) => c.name === 'gatehouse_session' && c.httpOnly));
    const user = await env.gh.request('GET', `/api/v1/users/${created.body.id}`, { token: acme.token });
    assert.equal(user.body.status, 'active');
    await context.close();
  });

  it('a temporary password is replaced on the hosted sign-in, which then returns to the application', async () => {
    await env.gh.createUser(acme.token, { email: 'tom@acme.test', password: PASSWORD, temporary: true });
    const page = await env.newPage();
    const verifier = await env.openSignIn(page);
    await page.fill('#username', 'tom@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('h1')) ?? '', /Choose a new password/);
    assert.deepEqual(await checkPage(page, 'sign-in-forced-password-change'), []);
    await page.fill('#password', CHOSEN);
    await Promise.all([page.waitForURL(env.isCallback), page.click('button[type=submit]')]);
    assert.equal((await env.claimsAt(page, verifier)).email, 'tom@acme.test');
    await page.close();
  });
});
