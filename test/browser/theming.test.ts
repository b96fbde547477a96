import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { checkPage, launchChromium, screenshot, startCallbackServer } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';

/**
 * A tenant's theme on the hosted pages in Chromium (issue 15, part 5): its colours in light
 * and dark, at 1280 and 390 px wide, each page screenshotted and checked with axe-core;
 * the card never touches the edges of a phone; the show-password toggle runs under the
 * pages' real CSP (allowed by its hash alone).
 */
describe('hosted pages with a tenant theme, in Chromium', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let chromium: Browser;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let authorizeUrl: string;

  before(async () => {
    gh = await startListeningGatehouse({ hostname: 'localhost' });
    callback = await startCallbackServer();
    const admin = await gh.adminToken();
    const acme = await gh.tenantWithAdmin('acme');
    const saved = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}`, {
      token: admin,
      body: {
        branding: {
          display_name: 'Acme',
          primary_color: '#0b5d3b',
          background_color: '#eef3ee',
          link_color: '#0b5d3b',
          corner_radius: 12,
          theme: 'auto',
          texts: { en: { 'signin.title': 'Sign in to Acme' } },
        },
      },
    });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD, given_name: 'Jane' });
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [callback.url] });
    const config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    authorizeUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: callback.url,
      scope: 'openid email',
      state: client.randomState(),
    }).href;
    chromium = await launchChromium();
  });
  after(async () => {
    await chromium?.close();
    await callback?.stop();
    await gh?.stop();
  });

  const layouts = [
    { width: 1280, height: 800, scheme: 'light' },
    { width: 1280, height: 800, scheme: 'dark' },
    { width: 390, height: 844, scheme: 'light' },
    { width: 390, height: 844, scheme: 'dark' },
  ] as const;

  /** What a layout shows: no sideways scrolling, the card clear of the edges, the palette of its scheme. */
  async function checkLayout(page: Page, name: string, layout: (typeof layouts)[number]) {
    const box = await page.evaluate(() => {
      const { document, window, getComputedStyle } = globalThis as any;
      const main = document.querySelector('main')?.getBoundingClientRect();
      return {
        scroll: (document.scrollingElement?.scrollWidth ?? 0) as number,
        inner: window.innerWidth as number,
        left: (main?.left ?? -1) as number,
        right: (main ? window.innerWidth - main.right : -1) as number,
        background: getComputedStyle(document.body).backgroundColor as string,
      };
    });
    assert.ok(box.scroll <= box.inner, `${name}: no sideways scrolling (${box.scroll} > ${box.inner})`);
    assert.ok(box.left >= 8 && box.right >= 8, `${name}: the card is clear of the edges (${box.left}, ${box.right})`);
    assert.equal(box.background, layout.scheme === 'dark' ? 'rgb(17, 19, 21)' : 'rgb(238, 243, 238)', name);
    assert.deepEqual(await checkPage(page, `${name}-${layout.width}-${layout.scheme}`), []);
  }

  async function contextFor(layout: (typeof layouts)[number], bypassCSP: boolean): Promise<BrowserContext> {
    return chromium.newContext({ viewport: { width: layout.width, height: layout.height }, colorScheme: layout.scheme, bypassCSP });
  }

  for (const layout of layouts) {
    it(`draws the sign-in, recovery and account pages at ${layout.width} px, ${layout.scheme}`, async () => {
      // axe-core is injected as a script, which the pages' CSP (rightly) refuses.
      const context = await contextFor(layout, true);
      try {
        const page = await context.newPage();
        await page.goto(authorizeUrl);
        assert.equal(await page.textContent('h1'), 'Sign in to Acme');
        await checkLayout(page, 'theme-sign-in', layout);
        await page.click('a[href*="recovery"]');
        await page.waitForSelector('h1');
        await checkLayout(page, 'theme-recovery', layout);
        await page.goto(`${gh.issuer}/account/sign-in`);
        await page.fill('#username', 'jane@acme.test');
        await page.fill('#password', PASSWORD);
        await Promise.all([page.waitForURL(/\/account$/), page.click('button[type=submit]')]);
        await checkLayout(page, 'theme-account-profile', layout);
        await page.goto(`${gh.issuer}/account/sessions`);
        await checkLayout(page, 'theme-account-sessions', layout);
        const nav = await page.locator('nav[aria-label] ul').boundingBox();
        const title = await page.locator('h1').boundingBox();
        assert.ok(nav && title);
        if (layout.width === 1280) assert.ok(nav.x + nav.width <= title.x, 'the navigation stands beside the section');
        else assert.ok(nav.y + nav.height <= title.y, 'the navigation stands above the section');
      } finally {
        await context.close();
      }
    });
  }

  it('shows and hides the password under the real CSP (the toggle runs by its hash)', async () => {
    const context = await contextFor(layouts[0], false);
    try {
      const page = await context.newPage();
      const blocked: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy/.test(message.text())) blocked.push(message.text());
      });
      await page.goto(authorizeUrl);
      await page.fill('#password', 'typed-secret');
      const toggle = page.getByRole('button', { name: 'Show password' });
      await toggle.click();
      assert.equal(await page.getAttribute('#password', 'type'), 'text');
      assert.equal(await page.getAttribute('button.reveal', 'aria-pressed'), 'true');
      await page.getByRole('button', { name: 'Hide password' }).click();
      assert.equal(await page.getAttribute('#password', 'type'), 'password');
      assert.deepEqual(blocked, []);
    } finally {
      await context.close();
    }
  });

  it('renders the API reference (Swagger UI) and the front page under their CSPs, with no refusal', async () => {
    const context = await contextFor(layouts[0], false);
    try {
      const page = await context.newPage();
      const blocked: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused/.test(message.text())) blocked.push(message.text());
      });
      await page.goto(`${gh.issuer}/`);
      await Promise.all([page.waitForURL(/\/api\/v1\/docs/), page.click('a[href="/api/v1/docs"]')]);
      await page.waitForSelector('.swagger-ui .info .title', { timeout: 30_000 });
      assert.match((await page.textContent('.swagger-ui .info .title')) ?? '', /Gatehouse API/);
      // Swagger UI draws the tags one after another: the admin API's users list comes in time.
      // Swagger UI draws the operations as they scroll into view: scroll until the users list shows.
      await page.waitForSelector('[data-path="/api/v1/session"]');
      for (let i = 0; i < 60 && (await page.locator('[data-path="/api/v1/users"]').count()) === 0; i++) {
        await page.mouse.wheel(0, 2000);
        await page.waitForTimeout(200);
      }
      assert.ok((await page.locator('[data-path="/api/v1/users"]').count()) > 0, 'the admin API is listed');
      await screenshot(page, 'api-reference-1280-light');
      assert.deepEqual(blocked, []);
    } finally {
      await context.close();
    }
  });
});
