import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const atCallback = (location: string) => location.startsWith(CALLBACK);

describe('hosted sign-in pages', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let admin: string;
  let config: client.Configuration;
  let tenant: { tenantId: string; token: string };

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    tenant = await gh.tenantWithAdmin('acme');
    await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}`, {
      token: admin,
      body: {
        name: 'Acme Corp',
        branding: { display_name: 'Acme Sign-In', logo_url: 'https://cdn.acme.test/logo.png', primary_color: '#aa3300' },
      },
    });
    const app = await gh.created('/api/v1/applications', admin, {
      name: 'Acme <Portal>',
      type: 'web',
      tenant: tenant.tenantId,
      redirect_uris: [CALLBACK],
    });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  after(() => gh.stop());

  const authorizeUrl = () =>
    client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email', state: client.randomState() }).href;

  async function openSignIn(browser: Browser) {
    const { response, url } = await browser.follow(authorizeUrl());
    return { response, url, page: await response.text() };
  }

  it('renders a form with username and password, the tenant branding, and protective headers', async () => {
    const { response, url, page } = await openSignIn(new Browser());
    assert.equal(response.status, 200);
    assert.match(url, /\/interaction\/[\w-]+$/);
    assert.match(page, /<input type="text" id="username" name="username"/);
    assert.match(page, /<input type="password" id="password" name="password"/);
    assert.match(page, /<label for="username">/);
    assert.match(page, /Acme Sign-In/);
    assert.match(page, /src="https:\/\/cdn\.acme\.test\/logo\.png"/);
    assert.match(page, /--primary: #aa3300/);
    // The application's name is escaped, never markup.
    assert.match(page, /Acme &lt;Portal&gt;/);
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(response.headers.get('cache-control'), 'no-store');
  });

  it("draws the tenant's theme as data: colours, font, radius, images, dark mode, its own words; one inline script, by hash", async () => {
    const theme = {
      display_name: 'Acme Sign-In',
      logo_url: 'https://cdn.acme.test/logo.png',
      favicon_url: 'https://cdn.acme.test/favicon.ico',
      background_image_url: 'https://cdn.acme.test/bg.jpg',
      primary_color: '#aa3300',
      background_color: '#fafaf0',
      text_color: '#202020',
      link_color: '#0b6e4f',
      font: 'Inter',
      corner_radius: 14,
      theme: 'auto',
      texts: { en: { 'signin.title': 'Welcome to <Acme>' }, de: { 'signin.title': 'Willkommen bei Acme' } },
    };
    const saved = await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}`, { token: admin, body: { branding: theme } });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    try {
      const { response, page } = await openSignIn(new Browser());
      for (const part of ['--bg: #fafaf0', '--text: #202020', '--link: #0b6e4f', '--radius: 14px', '--font: "Inter", system-ui']) {
        assert.ok(page.includes(part), part);
      }
      assert.match(page, /--bg-image: url\("https:\/\/cdn\.acme\.test\/bg\.jpg"\)/);
      assert.match(page, /@media \(prefers-color-scheme: dark\)/);
      assert.match(page, /<link rel="icon" href="https:\/\/cdn\.acme\.test\/favicon\.ico">/);
      // The tenant's words replace the catalog's, escaped like any text.
      assert.match(page, /<h1>Welcome to &lt;Acme&gt;<\/h1>/);
      assert.doesNotMatch(page, /<Acme>/);
      // The show-password script is the one inline script, allowed by its hash alone.
      const csp = response.headers.get('content-security-policy') ?? '';
      const script = /<script>([^<]*)<\/script>/.exec(page)?.[1] ?? '';
      assert.ok(script.includes('input[type=password]'), 'the reveal script is on a page with a password field');
      const hash = (await import('node:crypto')).createHash('sha256').update(script).digest('base64');
      assert.match(csp, new RegExp(`script-src 'sha256-${hash.replace(/[+/=]/g, (c) => `\\${c}`)}'$`));
      assert.doesNotMatch(csp, /unsafe-inline'[^;]*script|script-src[^;]*unsafe/);
      const german = await new Browser().follow(`${authorizeUrl()}&ui_locales=de`);
      assert.match(await german.response.text(), /<h1>Willkommen bei Acme<\/h1>/);
    } finally {
      await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}`, {
        token: admin,
        body: { branding: { display_name: 'Acme Sign-In', logo_url: 'https://cdn.acme.test/logo.png', primary_color: '#aa3300' } },
      });
    }
  });

  it('does not draw an image stored before https was required (it would show broken under the CSP)', async () => {
    await gh.ctx.db
      .updateTable('tenants')
      .set({
        branding: JSON.stringify({
          display_name: 'Old Acme',
          logo_url: 'http://cdn.acme.test/logo.png',
          background_image_url: 'https://x.test/a");}',
        }),
      })
      .where('id', '=', tenant.tenantId)
      .execute();
    try {
      const { page } = await openSignIn(new Browser());
      assert.doesNotMatch(page, /http:\/\/cdn\.acme\.test/);
      assert.doesNotMatch(page, /x\.test/);
      assert.match(page, /<strong>Old Acme<\/strong>/);
    } finally {
      await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}`, {
        token: admin,
        body: { branding: { display_name: 'Acme Sign-In', logo_url: 'https://cdn.acme.test/logo.png', primary_color: '#aa3300' } },
      });
    }
  });

  it('refuses a sign-in form without its CSRF token', async () => {
    const browser = new Browser();
    const { url, page } = await openSignIn(browser);
    const { action, fields } = formOf(page);
    const forged = await browser.submit(url, action, { ...fields, csrf: 'forged', username: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(forged.response.status, 403);
    assert.match(await forged.response.text(), /csrf_failed/);
    const missing = await browser.submit(url, action, { username: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(missing.response.status, 403);
  });

  it('refuses a form posted from another browser (the interaction is bound to its cookie)', async () => {
    const { url, page } = await openSignIn(new Browser());
    const { action, fields } = formOf(page);
    const stranger = await new Browser().submit(url, action, { ...fields, username: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(stranger.response.status, 400);
    assert.match(await stranger.response.text(), /interaction_expired/);
    assert.equal(stranger.response.headers.get('location'), null);
  });

  it('answers a wrong password with the form again, the same for an unknown user, escaping what was typed', async () => {
    const browser = new Browser();
    const { url, page } = await openSignIn(browser);
    const { action, fields } = formOf(page);
    const wrong = await browser.submit(url, action, { ...fields, username: ADMIN_EMAIL, password: 'not-the-password' });
    const unknown = await browser.submit(url, action, { ...fields, username: '"><script>alert(1)</script>', password: 'whatever-else' });
    assert.equal(wrong.response.status, 401);
    assert.equal(unknown.response.status, 401);
    const wrongPage = await wrong.response.text();
    const unknownPage = await unknown.response.text();
    assert.match(wrongPage, /Wrong username or password/);
    assert.match(unknownPage, /Wrong username or password/);
    assert.doesNotMatch(unknownPage, /<script>alert/);
    assert.match(unknownPage, /&quot;&gt;&lt;script&gt;/);
  });

  it('signs in, sets an HttpOnly SameSite=Lax session cookie, and returns to the application with a code', async () => {
    await gh.createUser(tenant.token, { email: 'member@acme.test', password: PASSWORD });
    const browser = new Browser();
    const { url, page } = await openSignIn(browser);
    const { action, fields } = formOf(page);
    const raw = await fetch(new URL(action, url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: '' },
      body: new URLSearchParams({ ...fields, username: 'member@acme.test', password: PASSWORD }),
    });
    // Without the interaction cookie the form is refused; with it (the browser), it works.
    assert.equal(raw.status, 400);
    const signedIn = await browser.fetch(new URL(action, url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, username: 'member@acme.test', password: PASSWORD }),
    });
    assert.equal(signedIn.status, 303);
    const back = await browser.follow(new URL(signedIn.headers.get('location') as string, url).href, atCallback);
    assert.match(back.url, /[?&]code=/);
    const sessionCookie = signedIn.headers.getSetCookie().find((c) => c.startsWith('gatehouse_session='));
    assert.ok(sessionCookie, 'the sign-in sets the Gatehouse session cookie');
    assert.match(sessionCookie, /HttpOnly/i);
    assert.match(sessionCookie, /SameSite=Lax/i);
  });

  it('refuses a user who is not a member of the application’s tenant (even a system administrator)', async () => {
    const browser = new Browser();
    const { url, page } = await openSignIn(browser);
    const { action, fields } = formOf(page);
    const outsider = await browser.submit(url, action, { ...fields, username: ADMIN_EMAIL, password: ADMIN_PASSWORD }, atCallback);
    assert.equal(outsider.response.status, 403);
    assert.match(await outsider.response.text(), /not a member of the organization this application belongs to/);
    assert.doesNotMatch(outsider.url, /code=/);
  });

  it('one sign-in: a session from POST /api/v1/session needs no password on the hosted page, and ends with it', async () => {
    const userId = await gh.createUser(tenant.token, { email: 'one-sign-in@acme.test', password: PASSWORD });
    assert.ok(userId);
    const browser = new Browser();
    const session = await browser.fetch(`${gh.issuer}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'one-sign-in@acme.test', password: PASSWORD }),
    });
    assert.equal(session.status, 200);
    const first = await browser.follow(authorizeUrl(), atCallback);
    assert.match(first.url, /[?&]code=/, 'no sign-in form: straight back with a code');

    const signOut = await browser.fetch(`${gh.issuer}/api/v1/session`, { method: 'DELETE' });
    assert.equal(signOut.status, 204);
    const again = await browser.follow(authorizeUrl(), atCallback);
    assert.equal(again.response.status, 200);
    assert.match(await again.response.text(), /name="password"/, 'signed out of the API session: the form again');
  });

  it('shows an error page and never redirects for an unknown client or an unregistered redirect URI', async () => {
    const unknownClient = await fetch(
      `${gh.issuer}/authorize?client_id=nope&response_type=code&redirect_uri=${encodeURIComponent(CALLBACK)}&scope=openid`,
      {
        redirect: 'manual',
      },
    );
    assert.equal(unknownClient.status, 400);
    assert.equal(unknownClient.headers.get('location'), null);
    assert.match(await unknownClient.text(), /invalid_client/);

    const evil = new URL(authorizeUrl());
    evil.searchParams.set('redirect_uri', 'https://evil.example/steal');
    const badRedirect = await fetch(evil, { redirect: 'manual' });
    assert.equal(badRedirect.status, 400);
    assert.equal(badRedirect.headers.get('location'), null);
    const page = await badRedirect.text();
    assert.match(page, /redirect_uri/);
    assert.match(page, /Acme Sign-In/, 'the error page carries the application tenant branding');
  });

  it('answers an unknown or expired interaction with an error page', async () => {
    const response = await fetch(`${gh.issuer}/interaction/does-not-exist`);
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await response.text(), /interaction_expired/);
  });
});
