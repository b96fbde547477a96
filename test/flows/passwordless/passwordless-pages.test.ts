import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import { confirmFactor, enrolTotp } from '../../../src/authn/mfa/index.js';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { codeIn, type SmsReceiver, startSmsReceiver } from '../../helpers/sms.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

const CALLBACK = 'http://localhost:4000/callback';
const atCallback = (location: string) => location.startsWith(CALLBACK);
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

/** The form on the page that has a submit button `method=<method>` (the start page has one form per channel). */
function formWith(page: string, marker: string): { action: string; fields: Record<string, string> } {
  for (const match of page.matchAll(/<form[\s\S]*?<\/form>/g)) if (match[0].includes(marker)) return formOf(match[0]);
  throw new Error(`No form with ${marker}:\n${page.slice(0, 3000)}`);
}

/**
 * The hosted passwordless pages (issue 5, part 5), driven like a browser without
 * JavaScript: from the sign-in page of an OIDC authorization request to the callback.
 */
describe('passwordless sign-in: hosted pages', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let smtp: SmtpPeer;
  let sms: SmsReceiver;
  let acme: TenantAdmin;
  let config: client.Configuration;
  const PHONE = '+14155550111';

  before(async () => {
    smtp = await startSmtpPeer();
    sms = await startSmsReceiver();
    gh = await startListeningGatehouse({
      clock,
      config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@x.test>', smsWebhookUrl: sms.url },
    });
    acme = await gh.tenantWithAdmin('acme');
    for (const name of ['jane', 'lena', 'max', 'tim', 'sue']) {
      const id = await gh.createUser(acme.token, {
        email: `${name}@acme.test`,
        password: PASSWORD,
        ...(name === 'sue' && { phone: PHONE }),
      });
      // Only a system administrator vouches for a number (decision 181).
      if (name === 'sue') {
        const verified = await gh.request('PATCH', `/api/v1/users/${id}`, { token: await gh.adminToken(), body: { phone_verified: true } });
        assert.equal(verified.status, 200, JSON.stringify(verified.body));
      }
    }
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [CALLBACK] });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
    await sms.stop();
  });

  const setMethods = async (methods: string[]) => {
    const body = { passwordless: { methods } };
    assert.equal((await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token, body })).status, 200);
  };
  const mailTo = async (to: string) => {
    await deliverEmails(gh.ctx);
    return smtp.next(to);
  };

  /** Authorization request → sign-in page → "Sign in without a password" → the start page. */
  async function startPage(browser: Browser, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    }).href;
    const signIn = await browser.follow(url, atCallback);
    const html = await signIn.response.text();
    const link = /href="(\/passwordless\?interaction=[^"]+)"/.exec(html)?.[1];
    if (!link) return { verifier, url: signIn.url, page: html, status: 0 };
    const start = await browser.follow(new URL(link.replace(/&amp;/g, '&'), signIn.url).href);
    return { verifier, url: start.url, page: await start.response.text(), status: start.response.status };
  }

  /** Asks for a code or link on the start page; the page that follows. */
  async function ask(browser: Browser, start: { url: string; page: string }, method: string, login: string) {
    const { action, fields } = formWith(start.page, `value="${method}"`);
    const next = await browser.submit(start.url, action, { ...fields, login, method });
    return { url: next.url, page: await next.response.text(), status: next.response.status };
  }

  async function idToken(callbackUrl: string, verifier: string) {
    const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: verifier });
    return decodeJwt(tokens.id_token as string);
  }

  it('off: the sign-in page has no link, and the start page says it is not available (403)', async () => {
    const browser = new Browser();
    const start = await startPage(browser);
    assert.equal(start.status, 0, 'no "Sign in without a password" link');
    const uid = /\/interaction\/([\w-]+)/.exec(start.url)?.[1];
    const direct = await browser.fetch(`${gh.issuer}/interaction/${uid}/passwordless`);
    assert.equal(direct.status, 403);
    assert.match(await direct.text(), /does not offer sign-in without a password/);
  });

  it('emailed code: a wrong code says so, the right one signs in at the callback (amr email, one factor)', async () => {
    await setMethods(['email_code', 'email_link', 'sms_code']);
    const browser = new Browser();
    const start = await startPage(browser);
    assert.equal(start.status, 200);
    assert.match(start.page, /<label for="email-login">/);
    const sent = await ask(browser, start, 'email_code', 'jane@acme.test');
    assert.equal(sent.status, 200, sent.page);
    assert.match(sent.url, /\/passwordless\/flw_/);
    const code = codeIn((await mailTo('jane@acme.test')).text);
    const { action, fields } = formOf(sent.page);
    const wrong = await browser.submit(sent.url, action, { ...fields, code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrong.response.status, 401);
    assert.match(await wrong.response.text(), /role="alert"[^>]*>That code is not right/);
    const badCsrf = await browser.submit(sent.url, action, { csrf: 'forged', code });
    assert.equal(badCsrf.response.status, 403, 'CSRF');
    const done = await browser.submit(sent.url, action, { ...fields, code }, atCallback);
    assert.ok(atCallback(done.url), `ended at ${done.url}`);
    const claims = await idToken(done.url, start.verifier);
    assert.deepEqual(claims.amr, ['email']);
    assert.equal(claims.acr, undefined, 'an emailed code alone is not multi-factor');
  });

  it('speaks the language the browser asks for (German)', async () => {
    const browser = new Browser();
    const start = await startPage(browser);
    const german = await browser.fetch(start.url, { headers: { 'accept-language': 'de-DE,de;q=0.9' } });
    const text = await german.text();
    assert.match(text, /<html lang="de">/);
    assert.match(text, /<h1>Ohne Passwort anmelden<\/h1>/);
  });

  it('an application that asks for a fresh sign-in (prompt=login) gets one from the code, not the password page again', async () => {
    const browser = new Browser();
    const start = await startPage(browser, { prompt: 'login' });
    const sent = await ask(browser, start, 'email_code', 'jane@acme.test');
    const code = codeIn((await mailTo('jane@acme.test')).text);
    const { action, fields } = formOf(sent.page);
    const done = await browser.submit(sent.url, action, { ...fields, code }, atCallback);
    assert.ok(atCallback(done.url), `ended at ${done.url}`);
    assert.deepEqual((await idToken(done.url, start.verifier)).amr, ['email']);
  });

  it('an unknown account sees the same page and gets no email', async () => {
    const browser = new Browser();
    const start = await startPage(browser);
    const sent = await ask(browser, start, 'email_code', 'nobody@acme.test');
    assert.equal(sent.status, 200);
    assert.match(sent.page, /If an account matches/);
    await deliverEmails(gh.ctx);
    assert.equal(smtp.messages.filter((m) => m.to === 'nobody@acme.test').length, 0);
  });

  it('magic link: a button page (GET changes nothing), then signed in in the same browser, once', async () => {
    const browser = new Browser();
    const start = await startPage(browser);
    const sent = await ask(browser, start, 'email_link', 'lena@acme.test');
    assert.equal(sent.status, 200);
    const link = /(http:\/\/\S+\/passwordless\/link\?token=\S+)/.exec((await mailTo('lena@acme.test')).text)?.[1] as string;
    const scanner = await new Browser().fetch(link);
    assert.equal(scanner.status, 403, 'another browser (a mail scanner) is told to use the first one');
    assert.match(await scanner.text(), /only in the browser where you asked for it/);
    const token = decodeURIComponent(new URL(link).searchParams.get('token') as string);
    const api = await gh.request('POST', '/api/v1/flows/passwordless/link', { body: { token } });
    assert.equal(api.status, 403, 'nor through the API');
    assert.equal(api.body.error, 'link_wrong_browser');
    const page = await browser.fetch(link);
    assert.equal(page.status, 200);
    const { action, fields } = formOf(await page.text());
    const other = await new Browser().submit(link, action, fields);
    assert.equal(other.response.status, 403, 'the POST from another browser too');
    const done = await browser.submit(link, action, fields, atCallback);
    assert.ok(atCallback(done.url), `ended at ${done.url}`);
    assert.deepEqual((await idToken(done.url, start.verifier)).amr, ['email']);
    const reused = await browser.fetch(link);
    assert.equal(reused.status, 400);
    assert.match(await reused.text(), /not valid/);
  });

  it('texted code: to the phone on the account (amr sms)', async () => {
    const browser = new Browser();
    const start = await startPage(browser);
    assert.match(start.page, /<label for="sms-login">/);
    const sent = await ask(browser, start, 'sms_code', 'sue@acme.test');
    const text = await sms.next(PHONE);
    const { action, fields } = formOf(sent.page);
    const done = await browser.submit(sent.url, action, { ...fields, code: codeIn(text.body) }, atCallback);
    assert.ok(atCallback(done.url), `ended at ${done.url}`);
    assert.deepEqual((await idToken(done.url, start.verifier)).amr, ['sms']);
  });

  it('a user with an authenticator app still answers the second factor when the policy asks (amr email, otp, mfa)', async () => {
    const maxId = (await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'max@acme.test').executeTakeFirstOrThrow()).id;
    const actor = { type: 'user' as const, id: maxId, ip: null, userAgent: null };
    const enrolment = await enrolTotp(gh.ctx, actor, maxId);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), digits: 6, period: 30 });
    await confirmFactor(gh.ctx, actor, maxId, enrolment.factorId, { otp: totp.generate({ timestamp: clock.now().getTime() }) });
    offsetMs += 30_000;
    const browser = new Browser();
    const start = await startPage(browser);
    const sent = await ask(browser, start, 'email_code', 'max@acme.test');
    const code = codeIn((await mailTo('max@acme.test')).text);
    const { action, fields } = formOf(sent.page);
    const step = await browser.submit(sent.url, action, { ...fields, code }, atCallback);
    assert.match(step.url, /\/interaction\/[\w-]+\/mfa$/, 'the MFA step, not the callback');
    const mfaPage = await step.response.text();
    const otpForm = formWith(mfaPage, 'name="method" value="otp"');
    const done = await browser.submit(
      step.url,
      otpForm.action,
      { ...otpForm.fields, code: totp.generate({ timestamp: clock.now().getTime() }) },
      atCallback,
    );
    assert.ok(atCallback(done.url), `ended at ${done.url}`);
    const claims = await idToken(done.url, start.verifier);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['email', 'mfa', 'otp']);
  });

  it('the send limit shows a message (429) on the page, for an unknown account as for a known one', async () => {
    for (const login of ['tim@acme.test', 'ghost@acme.test']) {
      const browser = new Browser();
      let start = await startPage(browser);
      for (let i = 0; i < 5; i++) {
        assert.equal((await ask(browser, start, 'email_code', login)).status, 200);
        start = await startPage(browser);
      }
      const refused = await ask(browser, start, 'email_code', login);
      assert.equal(refused.status, 429);
      assert.match(refused.page, /role="alert"[^>]*>We have sent too many codes/);
    }
  });

  it('an expired flow shows a fresh start page saying so; an expired link says it expired', async () => {
    const browser = new Browser();
    const start = await startPage(browser);
    const sent = await ask(browser, start, 'email_code', 'jane@acme.test');
    const { action, fields } = formOf(sent.page);
    await ask(browser, await startPage(browser), 'email_link', 'jane@acme.test');
    const both = `${(await mailTo('jane@acme.test')).text}\n${(await mailTo('jane@acme.test')).text}`; // the code's and the link's
    const link = /(http:\/\/\S+\/passwordless\/link\?token=\S+)/.exec(both)?.[1] as string;
    offsetMs += 11 * 60_000;
    const expiredLink = await browser.fetch(link);
    assert.equal(expiredLink.status, 410);
    assert.match(await expiredLink.text(), /This link has expired/);
    const late = await browser.submit(sent.url, action, { ...fields, code: '123456' });
    assert.equal(late.response.status, 200);
    assert.match(late.url, /\/interaction\/[\w-]+\/passwordless\?expired=1$/);
    assert.match(await late.response.text(), /That took too long/);
  });
});
