import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { checkPage, launchChromium } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';

/**
 * The hosted account area in a real browser, without a line of our JavaScript: sign in at
 * /account/sign-in, open every section (screenshot and axe-core check of each), change the
 * profile and sign another session out.
 */
describe('the account area in Chromium', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let chromium: Browser;
  let page: Page;

  before(async () => {
    gh = await startListeningGatehouse({ hostname: 'localhost' });
    const acme = await gh.tenantWithAdmin('acme');
    await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { account: { allow_deletion: true } },
    });
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD, given_name: 'Jane' });
    chromium = await launchChromium();
    // axe-core is injected as a script; the pages' CSP (rightly) allows none of ours.
    page = await (await chromium.newContext({ bypassCSP: true })).newPage();
  });
  after(async () => {
    await chromium?.close();
    await gh?.stop();
  });

  it('signs in at /account/sign-in and lands on the profile', async () => {
    await page.goto(`${gh.issuer}/account`);
    assert.match(page.url(), /\/account\/sign-in$/);
    assert.deepEqual(await checkPage(page, 'account-sign-in'), []);
    await page.fill('#username', 'jane@acme.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/account$/), page.click('button[type=submit]')]);
    assert.equal(await page.textContent('h1'), 'Your profile');
    assert.deepEqual(await checkPage(page, 'account-profile'), []);
  });

  it('changes the profile', async () => {
    await page.fill('#family_name', 'Doe');
    await page.fill('#name', 'Jane Doe');
    await page.selectOption('#locale', 'de');
    await Promise.all([page.waitForURL(/notice=saved/), page.click('form[action="/account"] button[type=submit]')]);
    assert.equal(await page.textContent('h1'), 'Ihr Profil');
    assert.equal(await page.inputValue('#family_name'), 'Doe');
    assert.deepEqual(await checkPage(page, 'account-profile-saved-de'), []);
    await page.selectOption('#locale', 'en');
    await Promise.all([page.waitForURL(/notice=saved/), page.click('form[action="/account"] button[type=submit]')]);
    assert.equal(await page.textContent('h1'), 'Your profile');
  });

  for (const [path, name, title] of [
    ['/account/email', 'account-email', 'Your email address'],
    ['/account/password', 'account-password', 'Change your password'],
    ['/account/security', 'account-security', 'Sign-in and security'],
    ['/account/applications', 'account-applications', 'Your applications'],
    ['/account/delete', 'account-delete', 'Delete your account'],
  ] as const) {
    it(`shows ${path} through the navigation`, async () => {
      await page.goto(`${gh.issuer}/account`);
      await Promise.all([page.waitForURL(new RegExp(`${path}$`)), page.click(`nav a[href="${path}"]`)]);
      assert.equal(await page.textContent('h1'), title);
      assert.equal(await page.getAttribute(`nav a[href="${path}"]`, 'aria-current'), 'page');
      assert.deepEqual(await checkPage(page, name), []);
    });
  }

  it('signs another session out on /account/sessions', async () => {
    await gh.signIn('jane@acme.test', PASSWORD);
    await page.goto(`${gh.issuer}/account/sessions`);
    assert.equal(await page.locator('#sessions li').count(), 2);
    assert.deepEqual(await checkPage(page, 'account-sessions'), []);
    const other = page.locator('#sessions li', { hasNot: page.locator('em') });
    await Promise.all([page.waitForURL(/notice=session_revoked/), other.locator('button').click()]);
    assert.equal(await page.locator('#sessions li').count(), 1);
    assert.match((await page.textContent('#sessions')) ?? '', /this session/);
    assert.deepEqual(await checkPage(page, 'account-sessions-revoked'), []);
  });
});
