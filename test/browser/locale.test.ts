import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { checkPage, launchChromium, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';

/** The server's clock, moved one TOTP step between sign-ins (a code is accepted once per step). */
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

/**
 * Issue 5, part 8 in a real browser: the hosted pages speak the language of the request's
 * `ui_locales`, then the user's `locale` (once the password step names the user), then the
 * browser's Accept-Language; every page is screenshotted and checked by axe-core.
 */
describe('the hosted pages in German and English', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let chromium: Browser;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  const configs: Record<'portal' | 'partner' | 'orgs' | 'secure', client.Configuration> = {} as never;
  const contexts: BrowserContext[] = [];

  before(async () => {
    callback = await startCallbackServer();
    gh = await startListeningGatehouse({ hostname: 'localhost', clock });
    const admin = await gh.adminToken();
    const acme = await gh.tenantWithAdmin('acme');
    const globex = await gh.tenantWithAdmin('globex');
    const secure = await gh.tenantWithAdmin('secure');
    const required = await gh.request('PATCH', `/api/v1/tenants/${secure.tenantId}/policies`, {
      token: secure.token,
      body: { mfa: { policy: 'required' } },
    });
    assert.equal(required.status, 200);

    await gh.createUser(acme.token, { email: 'ada@acme.test', password: PASSWORD });
    const member = await gh.createUser(acme.token, { email: 'member@acme.test', password: PASSWORD });
    await gh.created(`/api/v1/tenants/${globex.tenantId}/members`, admin, { userId: member });
    await gh.createUser(secure.token, { email: 'klaus@secure.test', password: PASSWORD, locale: 'de' });

    const discover = async (app: { client_id: string; client_secret: string }) =>
      client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    const web = { type: 'web', redirect_uris: [callback.url] };
    configs.portal = await discover(await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', ...web }));
    configs.partner = await discover(
      await gh.created('/api/v1/applications', acme.token, { name: 'Partner App', ...web, first_party: false }),
    );
    configs.orgs = await discover(
      await gh.created('/api/v1/applications', admin, { name: 'Org Portal', ...web, organization_required: true }),
    );
    configs.secure = await discover(await gh.created('/api/v1/applications', secure.token, { name: 'Secure App', ...web }));
    chromium = await launchChromium();
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await chromium?.close();
    await gh?.stop();
    await callback?.stop();
  });

  /**
   * A fresh browser (no cookies) whose Accept-Language is that of `locale`. The pages' CSP
   * (default-src 'none') would refuse the axe-core script checkPage adds, so the test
   * browser bypasses it (the CSP itself is tested in test/flows/sign-in/hosted-pages.test.ts).
   */
  async function browserPage(locale = 'en-US'): Promise<Page> {
    const context = await chromium.newContext({ locale, bypassCSP: true });
    contexts.push(context);
    return context.newPage();
  }

  async function authorizationUrl(app: keyof typeof configs, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    return client.buildAuthorizationUrl(configs[app], {
      redirect_uri: callback.url,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    }).href;
  }

  async function signIn(page: Page, email: string, next: RegExp) {
    await page.fill('#username', email);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(next), page.click('button[type=submit]')]);
  }

  const lang = (page: Page) => page.getAttribute('html', 'lang');
  const h1 = async (page: Page) => ((await page.textContent('h1')) ?? '').trim();

  it('ui_locales=de shows the German sign-in page; no ui_locales and an English browser the English one', async () => {
    const german = await browserPage();
    await german.goto(await authorizationUrl('portal', { ui_locales: 'de' }));
    assert.equal(await lang(german), 'de');
    assert.equal(await h1(german), 'Anmelden');
    assert.match((await german.textContent('main')) ?? '', /um mit Acme Portal fortzufahren/);
    assert.equal(await german.textContent('label[for=password]'), 'Passwort');
    assert.deepEqual(await checkPage(german, 'locale-sign-in-de'), []);

    // A wrong password: the error is German too.
    await german.fill('#username', 'ada@acme.test');
    await german.fill('#password', 'not the password');
    await Promise.all([german.waitForLoadState(), german.click('button[type=submit]')]);
    assert.match((await german.textContent('#form-error')) ?? '', /Falscher Benutzername oder falsches Passwort/);
    assert.equal(await lang(german), 'de');
    assert.deepEqual(await checkPage(german, 'locale-sign-in-error-de'), []);

    const english = await browserPage('en-US');
    await english.goto(await authorizationUrl('portal'));
    assert.equal(await lang(english), 'en');
    assert.equal(await h1(english), 'Sign in');
    assert.deepEqual(await checkPage(english, 'locale-sign-in-en'), []);
  });

  it('Accept-Language de-DE without ui_locales shows German; ui_locales beats it', async () => {
    const page = await browserPage('de-DE');
    await page.goto(await authorizationUrl('portal'));
    assert.equal(await lang(page), 'de');
    assert.equal(await h1(page), 'Anmelden');

    const overridden = await browserPage('de-DE');
    await overridden.goto(await authorizationUrl('portal', { ui_locales: 'en' }));
    assert.equal(await lang(overridden), 'en');
    assert.equal(await h1(overridden), 'Sign in');
  });

  let authenticatorApp: OTPAuth.TOTP;

  it('a user whose locale is de gets the German MFA pages after the password step (an English browser)', async () => {
    const page = await browserPage('en-US');
    await page.goto(await authorizationUrl('secure'));
    assert.equal(await h1(page), 'Sign in', 'the user is not known yet: the browser’s language');
    await signIn(page, 'klaus@secure.test', /\/mfa$/);
    assert.equal(await lang(page), 'de');
    assert.equal(await h1(page), 'Bestätigung in zwei Schritten einrichten');
    assert.deepEqual(await checkPage(page, 'locale-mfa-enrol-de'), []);

    const secret = ((await page.textContent('#totp-secret')) ?? '').trim();
    authenticatorApp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
    await page.fill('#code', '000000');
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('#form-error')) ?? '', /Dieser Code stimmt nicht/);

    await page.fill('#code', authenticatorApp.generate({ timestamp: clock.now().getTime() }));
    await Promise.all([page.waitForLoadState(), page.click('button[type=submit]')]);
    assert.equal(await h1(page), 'Ihre Wiederherstellungscodes');
    assert.deepEqual(await checkPage(page, 'locale-mfa-recovery-codes-de'), []);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback.url)), page.click('button[type=submit]')]);
  });

  it('the MFA challenge in the user’s German, and in English when the application asks for ui_locales=en', async () => {
    offsetMs += 30_000;
    const german = await browserPage('en-US');
    await german.goto(await authorizationUrl('secure'));
    await signIn(german, 'klaus@secure.test', /\/mfa$/);
    assert.equal(await lang(german), 'de');
    assert.equal(await h1(german), 'Bestätigung in zwei Schritten');
    assert.equal(await german.textContent('label[for=code]'), 'Geben Sie den Code aus Ihrer Authenticator-App ein');
    assert.deepEqual(await checkPage(german, 'locale-mfa-challenge-de'), []);
    await german.fill('#code', authenticatorApp.generate({ timestamp: clock.now().getTime() }));
    await Promise.all([german.waitForURL((u) => u.href.startsWith(callback.url)), german.click('button[type=submit]')]);

    const english = await browserPage('de-DE');
    await english.goto(await authorizationUrl('secure', { ui_locales: 'en' }));
    assert.equal(await h1(english), 'Sign in');
    await signIn(english, 'klaus@secure.test', /\/mfa$/);
    assert.equal(await lang(english), 'en', 'ui_locales comes before the user’s locale');
    assert.equal(await h1(english), 'Two-step verification');
    assert.deepEqual(await checkPage(english, 'locale-mfa-challenge-en'), []);
  });

  for (const [locale, heading, allow] of [
    ['de', 'Zugriff erlauben?', 'Erlauben'],
    ['en', 'Allow access?', 'Allow'],
  ] as const) {
    it(`the consent page in ${locale}`, async () => {
      const page = await browserPage();
      await page.goto(await authorizationUrl('partner', { ui_locales: locale }));
      await signIn(page, 'ada@acme.test', /\/interaction\//);
      assert.equal(await lang(page), locale);
      assert.equal(await h1(page), heading);
      assert.equal(((await page.textContent('button[value=allow]')) ?? '').trim(), allow);
      assert.deepEqual(await checkPage(page, `locale-consent-${locale}`), []);
    });
  }

  for (const [locale, heading] of [
    ['de', 'Organisation auswählen'],
    ['en', 'Choose an organization'],
  ] as const) {
    it(`the organization picker in ${locale}`, async () => {
      const page = await browserPage();
      await page.goto(await authorizationUrl('orgs', { ui_locales: locale }));
      await signIn(page, 'member@acme.test', /\/interaction\//);
      assert.equal(await lang(page), locale);
      assert.equal(await h1(page), heading);
      assert.equal(await page.locator('button[name=organization]').count(), 2);
      assert.deepEqual(await checkPage(page, `locale-organization-${locale}`), []);
    });
  }

  for (const [locale, browserLocale, heading, expired] of [
    ['de', 'de-DE', 'Diese Anmeldeanfrage kann nicht abgeschlossen werden', 'Etwas ist schiefgelaufen'],
    ['en', 'en-US', 'This sign-in request cannot be completed', 'Something went wrong'],
  ] as const) {
    it(`the error pages in ${locale} (the browser's language)`, async () => {
      const page = await browserPage(browserLocale);
      const url = new URL(`${gh.issuer}/authorize`);
      url.search = new URLSearchParams({
        client_id: 'no-such-client',
        redirect_uri: callback.url,
        response_type: 'code',
        scope: 'openid',
      }).toString();
      const protocol = await page.goto(url.href);
      assert.equal(protocol?.status(), 400);
      assert.equal(await lang(page), locale);
      assert.equal(await h1(page), heading);
      assert.match((await page.textContent('main')) ?? '', /invalid_client/);
      assert.deepEqual(await checkPage(page, `locale-error-${locale}`), []);

      const stale = await page.goto(`${gh.issuer}/interaction/no-such-interaction`);
      assert.ok((stale?.status() ?? 0) >= 400);
      assert.equal(await lang(page), locale);
      assert.equal(await h1(page), expired);
      assert.deepEqual(await checkPage(page, `locale-error-interaction-${locale}`), []);
    });
  }
});
