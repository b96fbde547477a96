import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChallengeOffer } from '../../../src/authn/bot-defence/challenge.js';
import { sealDestination } from '../../../src/authn/mfa/factors.js';
import { parseConfig } from '../../../src/platform/config.js';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { solveAltcha } from './helpers.js';

const fromHtml = (value: string) =>
  value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The ALTCHA challenge a hosted page embeds in its widget's `challenge` attribute. */
function widgetChallenge(page: string): ChallengeOffer {
  const attribute = /<altcha-widget[^>]*\schallenge="([^"]*)"/.exec(page)?.[1];
  assert.ok(attribute, 'the page has the ALTCHA widget');
  return { provider: 'altcha', field: 'captcha', challenge: JSON.parse(fromHtml(attribute)), expires_in: 600 };
}

/**
 * Issue 16.5 on the hosted sign-in and recovery pages (without a browser; the browser test
 * is test/browser/botdefence.test.ts): the widget is in the form under a CSP that allows
 * our own script by nonce and our own worker, a form without a solution comes back 428
 * with a fresh challenge, and with altcha-lib's solution the sign-in goes on.
 */
describe('bot defence on the hosted sign-in and recovery pages', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let clientId: string;
  let admin: string;
  let systemTenantId: string;
  const redirectUri = 'http://localhost:4000/callback';

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    ({ client_id: clientId } = await gh.created('/api/v1/applications', admin, {
      name: 'Web app',
      type: 'web',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
    }));
    await gh.createUser(admin, { email: 'page@bots.test', password: PASSWORD });
    systemTenantId = (await gh.systemAdmin()).systemTenantId;
    const patched = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
      token: admin,
      body: { bot_defence: { mode: 'always', actions: ['signin', 'recovery'] } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
  });
  after(() => gh.stop());

  it('the sign-in page carries the widget under a nonce CSP; without a solution 428, with one the sign-in goes on', async () => {
    const browser = new Browser();
    const params = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid' });
    const opened = await browser.follow(`${gh.issuer}/authorize?${params}`);
    const csp = opened.response.headers.get('content-security-policy') ?? '';
    const page = await opened.response.text();
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.match(csp, /worker-src 'self'/);
    assert.doesNotMatch(csp, /https:\/\/(?!.*img-src)/, 'no third-party origin for ALTCHA');
    assert.match(page, new RegExp(`<script type="module" nonce="${nonce}" src="/assets/altcha/boot.js">`));
    assert.match(page, /<noscript>/);
    const form = formOf(page);

    const refused = await browser.submit(opened.url, form.action, { ...form.fields, username: 'page@bots.test', password: PASSWORD });
    assert.equal(refused.response.status, 428);
    const again = await refused.response.text();
    assert.match(again, /confirm that you are a person/);
    const offer = widgetChallenge(again);

    const captcha = await solveAltcha(offer);
    const passed = await browser.submit(
      refused.url,
      formOf(again).action,
      { ...formOf(again).fields, username: 'page@bots.test', password: PASSWORD, captcha },
      (location) => location.startsWith(redirectUri),
    );
    assert.ok(passed.url.startsWith(redirectUri), `signed in and sent back: ${passed.url}`);
  });

  it('the account’s own sign-in page asks too (the system tenant’s policy), and takes the solution', async () => {
    const browser = new Browser();
    const opened = await browser.follow(`${gh.issuer}/account/sign-in`);
    const page = await opened.response.text();
    widgetChallenge(page);
    const form = formOf(page);
    const refused = await browser.submit(opened.url, form.action, { ...form.fields, username: 'page@bots.test', password: PASSWORD });
    assert.equal(refused.response.status, 428);
    const again = await refused.response.text();
    const captcha = await solveAltcha(widgetChallenge(again));
    const passed = await browser.submit(refused.url, formOf(again).action, {
      ...formOf(again).fields,
      username: 'page@bots.test',
      password: PASSWORD,
      captcha,
    });
    assert.equal(passed.response.status, 200, 'signed in: the account page');
    assert.match(passed.url, /\/account/);
    assert.doesNotMatch(await passed.response.text(), /<altcha-widget/);
  });

  it('the MFA step’s “send a code” asks too: 428 with the widget, then the code goes out with the solution', async () => {
    // (The tokens of before: signing in for new ones would be asked a challenge now.)
    const patched = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
      token: admin,
      body: { bot_defence: { actions: ['mfa_send'] } },
    });
    assert.equal(patched.status, 200);
    const email = 'mfa-page@bots.test';
    const id = await gh.createUser(admin, { email, password: PASSWORD });
    const factorId = gh.ctx.ids.next();
    await gh.ctx.db
      .insertInto('mfa_factors')
      .values({ id: factorId, user_id: id, type: 'email', destination_sealed: sealDestination(gh.ctx, factorId, email), confirmed: true })
      .execute();
    const browser = new Browser();
    const params = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid' });
    const opened = await browser.follow(`${gh.issuer}/authorize?${params}`);
    const form = formOf(await opened.response.text());
    const step = await browser.submit(opened.url, form.action, { ...form.fields, username: email, password: PASSWORD });
    const page = await step.response.text();
    const send = /<form[^>]*action="([^"]*\/mfa\/send)"[^>]*>([\s\S]*?)<\/form>/.exec(page);
    assert.ok(send, 'the step offers to send a code');
    assert.match(send[2] as string, /<altcha-widget/, 'with the widget in its form');
    const sendForm = formOf(send[0]);
    const refused = await browser.submit(step.url, sendForm.action, sendForm.fields);
    assert.equal(refused.response.status, 428);
    const again = await refused.response.text();
    assert.match(again, /confirm that you are a person/);
    assert.equal((await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', email).execute()).length, 0, 'no code yet');
    const captcha = await solveAltcha(widgetChallenge(again));
    const againSend = formOf(/<form[^>]*action="[^"]*\/mfa\/send"[^>]*>[\s\S]*?<\/form>/.exec(again)?.[0] ?? '');
    const sent = await browser.submit(refused.url, againSend.action, { ...againSend.fields, captcha });
    assert.equal(sent.response.status, 200);
    assert.equal(
      (await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', email).execute()).length,
      1,
      'the code went out',
    );
    const restored = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
      token: admin,
      body: { bot_defence: { actions: ['signin', 'recovery'] } },
    });
    assert.equal(restored.status, 200);
  });

  it('the recovery page asks too, and serves the widget’s files itself', async () => {
    const browser = new Browser();
    const opened = await browser.follow(`${gh.issuer}/recovery`);
    const page = await opened.response.text();
    widgetChallenge(page);
    const form = formOf(page);
    const refused = await browser.submit(opened.url, form.action, { ...form.fields, email: 'page@bots.test' });
    assert.equal(refused.response.status, 428);
    for (const file of ['boot.js', 'altcha.js', 'pbkdf2.js']) {
      const asset = await fetch(`${gh.issuer}/assets/altcha/${file}`);
      assert.equal(asset.status, 200, file);
      assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/);
      assert.equal(asset.headers.get('x-content-type-options'), 'nosniff');
      await asset.arrayBuffer();
    }
    assert.equal((await fetch(`${gh.issuer}/assets/altcha/..%2fpackage.json`)).status, 404);
  });

  it('a CAPTCHA verify URL in the configuration must be an http(s) URL', () => {
    assert.throws(() => parseConfig({ turnstileVerifyUrl: 'not a url' }, false), /GATEHOUSE_TURNSTILE_VERIFY_URL/);
    assert.throws(() => parseConfig({ hcaptchaVerifyUrl: 'ftp://x.test/verify' }, false), /GATEHOUSE_HCAPTCHA_VERIFY_URL/);
    assert.equal(parseConfig({}, false).captchaVerifyUrls.recaptcha, 'https://www.google.com/recaptcha/api/siteverify');
  });
});
