import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf } from '../../helpers/oidc.js';
import { acme, apiSignup, CALLBACK, clientId, clientSecret, codeIn, gh, mailTo, signupServer, tokenIn, userRow } from './setup.js';

const atCallback = (location: string) => location.startsWith(CALLBACK);
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

/** Issue 5, part 2: self-registration and email verification, through the API and the hosted pages. */
describe('self-registration and email verification', () => {
  let config: client.Configuration;

  signupServer(clock);
  before(async () => {
    config = await client.discovery(new URL(gh.issuer), clientId, clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });

  describe('hosted pages', () => {
    /** An authorization request's sign-in page, then its "Create an account" link, then the sign-up form. */
    async function openSignup(browser: Browser) {
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid email',
        state: 'signup-state',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }).href;
      const signIn = await browser.follow(url);
      const link = /href="(\/signup\?interaction=[^"]+)"/.exec(await signIn.response.text())?.[1];
      assert.ok(link, 'the sign-in page links to sign-up');
      const form = await browser.follow(new URL(link.replace(/&amp;/g, '&'), gh.issuer).href);
      assert.equal(form.response.status, 200);
      return { verifier, url: form.url, page: await form.response.text(), signInUrl: signIn.url };
    }

    const fill = (fields: Record<string, string>, email: string) => ({ ...fields, email, password: PASSWORD, given_name: 'Lin' });

    it('signs up on the page, verifies by code, and lands back at the application signed in', async () => {
      const browser = new Browser();
      const { verifier, url, page } = await openSignup(browser);
      assert.match(page, /<label for="email">/);
      assert.match(page, /<label for="given_name">First name <small>\(required\)<\/small>/);
      assert.match(page, /<label for="family_name">Last name <small>\(optional\)<\/small>/);
      const { action, fields } = formOf(page);

      const noCsrf = await browser.submit(url, action, { email: 'lin@example.com', password: PASSWORD, given_name: 'Lin' });
      assert.equal(noCsrf.response.status, 403);
      assert.match(await noCsrf.response.text(), /csrf_failed/);
      const stranger = await new Browser().submit(url, action, fill(fields, 'lin@example.com'));
      assert.equal(stranger.response.status, 403, 'another browser cannot submit this flow');

      const weak = await browser.submit(url, action, { ...fill(fields, 'lin@example.com'), password: 'short' });
      assert.equal(weak.response.status, 400);
      const weakPage = await weak.response.text();
      assert.match(weakPage, /role="alert" id="form-error">The password is too short/);
      assert.match(weakPage, /id="password"[^>]*aria-describedby="password-hint form-error"/);
      assert.match(weakPage, /value="lin@example.com"/, 'what was typed is kept, except the password');

      const check = await browser.submit(url, action, fill(fields, 'lin@example.com'));
      assert.equal(check.response.status, 200);
      assert.match(check.url, /\/verify\/flw_/);
      const checkPage = await check.response.text();
      assert.match(checkPage, /Check your email/);

      const code = codeIn((await mailTo('lin@example.com')).text);
      const codeForm = formOf(checkPage);
      const wrong = await browser.submit(check.url, codeForm.action, { ...codeForm.fields, code: code === '000000' ? '111111' : '000000' });
      assert.equal(wrong.response.status, 401);
      assert.match(await wrong.response.text(), /That code is not right/);
      const back = await browser.submit(check.url, codeForm.action, { ...codeForm.fields, code }, atCallback);
      assert.ok(atCallback(back.url), back.url);
      const tokens = await client.authorizationCodeGrant(config, new URL(back.url), {
        pkceCodeVerifier: verifier,
        expectedState: 'signup-state',
      });
      assert.equal(tokens.claims()?.email, 'lin@example.com');
      assert.equal(tokens.claims()?.email_verified, true);
      assert.equal(tokens.claims()?.sub, (await userRow('lin@example.com'))?.id);
    });

    it('verifies by link with a confirmation button (a mail scanner’s GET changes nothing) and signs in the same browser', async () => {
      const browser = new Browser();
      const { url, page } = await openSignup(browser);
      const { action, fields } = formOf(page);
      await browser.submit(url, action, fill(fields, 'kim@example.com'));
      const token = tokenIn((await mailTo('kim@example.com')).text);

      const scanner = await new Browser().fetch(`${gh.issuer}/verify?token=${encodeURIComponent(token)}`);
      assert.equal(scanner.status, 200);
      const confirm = await scanner.text();
      assert.match(confirm, /Confirm your email address/);
      assert.equal((await userRow('kim@example.com'))?.email_verified, false, 'following the link changes nothing');

      const linkForm = formOf(confirm);
      const back = await browser.submit(`${gh.issuer}/verify`, linkForm.action, linkForm.fields, atCallback);
      assert.ok(atCallback(back.url), back.url);
      assert.equal((await userRow('kim@example.com'))?.email_verified, true);
      const reused = await browser.fetch(`${gh.issuer}/verify?token=${encodeURIComponent(token)}`);
      assert.equal(reused.status, 400);
      assert.match(await reused.text(), /link_invalid/);
      assert.ok(
        gh.logs.every((line) => !line.includes(token)),
        'the link token is never logged',
      );
    });

    it('speaks the browser’s language (German)', async () => {
      const browser = new Browser();
      const de = { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' } };
      const signIn = await browser.follow(
        client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', state: 's' }).href,
      );
      const uid = /\/interaction\/([\w-]+)$/.exec(signIn.url)?.[1] as string;
      const started = await browser.fetch(`${gh.issuer}/signup?interaction=${uid}`, de);
      assert.equal(started.status, 303);
      const german = await browser.fetch(new URL(started.headers.get('location') as string, gh.issuer).href, de);
      const page = await german.text();
      assert.match(page, /<html lang="de">/);
      assert.match(page, /<h1>Konto erstellen<\/h1>/);
      assert.match(page, /Vorname <small>\(Pflichtfeld\)<\/small>/);
    });

    it('never signs in a browser by a resent email’s code: an attacker who signs up with an unverified account’s address gets no session', async () => {
      await gh.createUser(acme.token, { email: 'victim@example.com', password: PASSWORD });
      const attacker = new Browser();
      const { url, page } = await openSignup(attacker);
      const { action, fields } = formOf(page);
      const check = await attacker.submit(url, action, fill(fields, 'victim@example.com'));
      const resend = /action="(\/verify\/flw_\w+\/resend)"/.exec(await check.response.text())?.[1];
      assert.ok(resend, 'the check page offers a resend');
      const resent = await attacker.submit(check.url, resend, formOf(await (await attacker.fetch(check.url)).text()).fields);
      assert.match(resent.url, /\/verify\/flw_/);
      const resentPage = await resent.response.text();
      const mails = [await mailTo('victim@example.com'), await mailTo('victim@example.com')]; // the notice and the code, in any order
      const code = mails.map((mail) => codeIn(mail.text)).find(Boolean) as string;
      assert.ok(code, 'the victim got a verification code');
      const codeForm = formOf(resentPage);
      const done = await attacker.submit(resent.url, codeForm.action, { ...codeForm.fields, code }, atCallback);
      assert.ok(!atCallback(done.url), 'not back at the application');
      assert.doesNotMatch(done.url, /\/finish\?flow=/, 'and not on the way there');
      const me = await attacker.fetch(`${gh.issuer}/api/v1/users/me`);
      assert.equal(me.status, 401, 'the attacker’s browser holds no session');
    });

    it('answers a taken username the same for a new address and a taken one', async () => {
      const usernames = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
        token: acme.token,
        body: { signup: { profile_fields: ['given_name', 'family_name', 'username'] } },
      });
      assert.equal(usernames.status, 200);
      try {
        await gh.createUser(acme.token, { email: 'holder@example.com', password: PASSWORD, username: 'holder' });
        const fresh = await apiSignup('nobody-yet@example.com', { username: 'holder' });
        const taken = await apiSignup('holder@example.com', { username: 'holder' });
        assert.equal(fresh.status, 409);
        assert.equal(taken.status, fresh.status, 'a taken address answers like a new one');
        assert.equal(taken.body.error, fresh.body.error);
      } finally {
        await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
          token: acme.token,
          body: { signup: { profile_fields: ['given_name', 'family_name'] } },
        });
      }
    });

    it('shows a taken address the same “check your email” page', async () => {
      const browser = new Browser();
      const { url, page } = await openSignup(browser);
      const { action, fields } = formOf(page);
      const check = await browser.submit(url, action, fill(fields, 'lin@example.com'));
      assert.equal(check.response.status, 200);
      assert.match(await check.response.text(), /Check your email/);
      assert.match((await mailTo('lin@example.com')).subject, /tried to sign up/);
    });

    it('refuses an unverified user on the sign-in page with a page that sends a new email', async () => {
      const browser = new Browser();
      const { url, page, signInUrl } = await openSignup(browser);
      const { action, fields } = formOf(page);
      await browser.submit(url, action, fill(fields, 'noor@example.com'));
      await mailTo('noor@example.com');

      const signIn = await browser.follow(signInUrl);
      const form = formOf(await signIn.response.text());
      const refused = await browser.submit(signIn.url, form.action, { ...form.fields, username: 'noor@example.com', password: PASSWORD });
      assert.equal(refused.response.status, 403);
      const refusedPage = await refused.response.text();
      assert.match(refusedPage, /Verify your email address/);
      const resend = formOf(refusedPage);
      const check = await browser.submit(refused.url, resend.action, resend.fields);
      assert.equal(check.response.status, 200);
      assert.match(await check.response.text(), /We have sent you a new email/);
      assert.match((await mailTo('noor@example.com')).subject, /Verify your email address/);
    });

    it('leads a new user to the MFA step after verification when the tenant requires MFA', async () => {
      await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token, body: { mfa: { policy: 'required' } } });
      try {
        const browser = new Browser();
        const { url, page } = await openSignup(browser);
        const { action, fields } = formOf(page);
        const check = await browser.submit(url, action, fill(fields, 'mfa-new@example.com'));
        const code = codeIn((await mailTo('mfa-new@example.com')).text);
        const codeForm = formOf(await check.response.text());
        const next = await browser.submit(check.url, codeForm.action, { ...codeForm.fields, code }, atCallback);
        assert.match(next.url, /\/interaction\/[\w-]+\/mfa$/, 'the second factor is still due');
        assert.equal(next.response.status, 200);
      } finally {
        await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
          token: acme.token,
          body: { mfa: { policy: 'optional' } },
        });
      }
    });

    it('replaces an expired sign-up form with a fresh one', async () => {
      const browser = new Browser();
      const { url, page } = await openSignup(browser);
      const { action, fields } = formOf(page);
      offsetMs += 61 * 60_000;
      try {
        const fresh = await browser.submit(url, action, fill(fields, 'late-page@example.com'));
        assert.equal(fresh.response.status, 200);
        const freshPage = await fresh.response.text();
        assert.match(freshPage, /That took too long/);
        assert.notEqual(formOf(freshPage).action, action);
      } finally {
        offsetMs -= 61 * 60_000;
      }
      assert.equal(await userRow('late-page@example.com'), undefined);
    });
  });
});
