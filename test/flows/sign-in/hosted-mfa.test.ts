import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import { ACR_MULTI_FACTOR, confirmFactor, enrolTotp } from '../../../src/authn/mfa/index.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const atCallback = (location: string) => location.startsWith(CALLBACK);

/**
 * A clock the test moves to the start of the next TOTP step between sign-ins (a code is
 * accepted once per step), so a test has the step's whole 30 seconds, however slow the machine.
 */
let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };
const nextTimeStep = () => {
  offsetMs += 30_000 - ((Date.now() + offsetMs) % 30_000) + 50;
};

/** What an authenticator app shows for this secret now (by the server's clock). */
const totpCode = (secret: string) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({
    timestamp: clock.now().getTime(),
  });

/** A form on the page whose hidden `method` field is `method`. */
function formWith(page: string, method: string): { action: string; fields: Record<string, string> } {
  for (const match of page.matchAll(/<form[\s\S]*?<\/form>/g)) {
    if (match[0].includes(`name="method" value="${method}"`)) return formOf(match[0]);
  }
  throw new Error(`No ${method} form on the page:\n${page.slice(0, 3000)}`);
}

describe('MFA in the hosted sign-in', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let acme: TenantAdmin;
  let config: client.Configuration;
  let secret: string;
  let recoveryCodes: string[];

  before(async () => {
    gh = await startListeningGatehouse({ clock });
    acme = await gh.tenantWithAdmin('acme');
    // The tenant administrator requires MFA for the whole tenant.
    const patched = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { mfa: { policy: 'required' } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [CALLBACK] });
    config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });
  after(() => gh.stop());

  /** Authorization request → sign-in page → password: where the browser lands after the password. */
  async function afterPassword(browser: Browser, email: string, extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    }).href;
    const start = await browser.follow(url, atCallback);
    if (atCallback(start.url)) return { verifier, ...start, page: '' };
    const signIn = await start.response.text();
    const { action, fields } = formOf(signIn);
    const next = await browser.submit(start.url, action, { ...fields, username: email, password: PASSWORD }, atCallback);
    return { verifier, ...next, page: atCallback(next.url) ? '' : await next.response.text() };
  }

  async function idTokenOf(callbackUrl: string, verifier: string) {
    const tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: verifier });
    return decodeJwt(tokens.id_token as string);
  }

  it('makes a user without a factor enrol TOTP before the sign-in finishes, and shows the recovery codes once', async () => {
    const browser = new Browser();
    const { url, page, response, verifier } = await afterPassword(browser, 'jane@acme.test');
    assert.equal(response.status, 200);
    assert.match(url, /\/interaction\/[\w-]+\/mfa$/);
    assert.match(page, /Set up two-step verification/);
    assert.match(page, /<img class="qr" src="data:image\/png;base64,/);
    secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(page)?.[1] as string;
    assert.ok(secret, 'the secret is shown as text');
    // No session yet: the password alone opened nothing.
    assert.equal((await browser.fetch(`${gh.issuer}/api/v1/session`)).status, 401);

    const enrol = formWith(page, 'enrol');
    const wrong = await browser.submit(url, enrol.action, { ...enrol.fields, code: '000000' });
    assert.equal(wrong.response.status, 401);
    const wrongPage = await wrong.response.text();
    assert.match(wrongPage, /That code is not right/);
    assert.equal(/<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(wrongPage)?.[1], secret, 'the same factor is shown again');

    const right = await browser.submit(url, enrol.action, { ...enrol.fields, code: totpCode(secret) });
    assert.equal(right.response.status, 200);
    const codesPage = await right.response.text();
    recoveryCodes = [...codesPage.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1] as string);
    assert.equal(recoveryCodes.length, 10);
    const done = formWith(codesPage, 'continue');
    const back = await browser.submit(right.url, done.action, done.fields, atCallback);
    assert.ok(atCallback(back.url), back.url);
    const claims = await idTokenOf(back.url, verifier);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(claims.acr, ACR_MULTI_FACTOR);
  });

  it('asks for the code at the next sign-in, refuses a wrong one, and accepts the app’s code', async () => {
    nextTimeStep();
    const browser = new Browser();
    const { url, page } = await afterPassword(browser, 'jane@acme.test');
    assert.match(page, /Enter the code from your authenticator app/);
    assert.match(page, /<input type="text" id="code" name="code"/);
    assert.match(page, /Use a recovery code instead/);
    const otp = formWith(page, 'otp');
    const wrong = await browser.submit(url, otp.action, { ...otp.fields, code: '123456' });
    assert.equal(wrong.response.status, 401);
    assert.match(await wrong.response.text(), /That code is not right/);
    const right = await browser.submit(url, otp.action, { ...otp.fields, code: totpCode(secret) }, atCallback);
    assert.ok(atCallback(right.url), right.url);
  });

  it('refuses a replayed code within its time step', async () => {
    nextTimeStep();
    const code = totpCode(secret);
    const first = new Browser();
    const signedIn = await afterPassword(first, 'jane@acme.test');
    const used = formWith(signedIn.page, 'otp');
    const accepted = await first.submit(signedIn.url, used.action, { ...used.fields, code }, atCallback);
    assert.ok(atCallback(accepted.url), accepted.url);
    const browser = new Browser();
    const { url, page } = await afterPassword(browser, 'jane@acme.test');
    const otp = formWith(page, 'otp');
    const replay = await browser.submit(url, otp.action, { ...otp.fields, code });
    assert.equal(replay.response.status, 401);
  });

  it('accepts a recovery code once, and shows the one that replaces it', async () => {
    const code = recoveryCodes[0] as string;
    const browser = new Browser();
    const { url } = await afterPassword(browser, 'jane@acme.test');
    const recoveryPage = await browser.fetch(`${url}?method=recovery`);
    const form = formWith(await recoveryPage.text(), 'recovery');
    const used = await browser.submit(url, form.action, { ...form.fields, code });
    assert.equal(used.response.status, 200);
    const replacement = await used.response.text();
    assert.match(replacement, /Your new recovery code/);
    const done = formWith(replacement, 'continue');
    assert.ok(atCallback((await browser.submit(used.url, done.action, done.fields, atCallback)).url));

    const again = new Browser();
    const second = await afterPassword(again, 'jane@acme.test');
    const form2 = formWith(await (await again.fetch(`${second.url}?method=recovery`)).text(), 'recovery');
    const refused = await again.submit(second.url, form2.action, { ...form2.fields, code });
    assert.equal(refused.response.status, 401);
  });

  it('cannot be skipped: the finish step without a proved factor is refused, and no session exists', async () => {
    const browser = new Browser();
    const { url, page } = await afterPassword(browser, 'jane@acme.test');
    const { fields } = formWith(page, 'otp');
    const skipped = await browser.submit(url, `${url}/continue`, fields);
    assert.equal(skipped.response.status, 403);
    assert.match(await skipped.response.text(), /mfa_step_required/);
    // Resuming the interaction shows the password form again, never the application.
    const resumed = await browser.follow(url.replace(/\/mfa$/, ''), atCallback);
    assert.ok(!atCallback(resumed.url));
    assert.match(await resumed.response.text(), /name="password"/);
    assert.equal((await browser.fetch(`${gh.issuer}/api/v1/session`)).status, 401);
  });

  it('refuses an MFA form without its CSRF token', async () => {
    const browser = new Browser();
    const { url, page } = await afterPassword(browser, 'jane@acme.test');
    const otp = formWith(page, 'otp');
    const forged = await browser.submit(url, otp.action, { ...otp.fields, csrf: 'forged', code: '123456' });
    assert.equal(forged.response.status, 403);
    assert.match(await forged.response.text(), /csrf_failed/);
  });

  it('counts wrong codes as failed attempts: after five in a row the account waits (429, Retry-After)', async () => {
    nextTimeStep();
    const browser = new Browser();
    const { url, page } = await afterPassword(browser, 'jane@acme.test');
    const otp = formWith(page, 'otp');
    // Earlier tests left a failure or two in a row; within five wrong codes the account is locked.
    const statuses: number[] = [];
    for (let i = 0; i < 5 && statuses.at(-1) !== 429; i++) {
      statuses.push((await browser.submit(url, otp.action, { ...otp.fields, code: `00000${i}` })).response.status);
    }
    assert.equal(statuses.at(-1), 429, JSON.stringify(statuses));
    assert.ok(statuses.slice(0, -1).every((status) => status === 401));
    // Locked now: even the right code is refused, without being checked.
    const locked = await browser.submit(url, otp.action, { ...otp.fields, code: totpCode(secret) });
    assert.equal(locked.response.status, 429);
    assert.ok(Number(locked.response.headers.get('retry-after')) >= 1);
    assert.match(await locked.response.text(), /Too many attempts/);
    offsetMs += 3600_000;
  });

  describe('step-up and the application policy', () => {
    let beta: TenantAdmin;
    let betaConfig: client.Configuration;
    let bobSecret: string;

    before(async () => {
      beta = await gh.tenantWithAdmin('beta');
      await gh.request('PATCH', `/api/v1/tenants/${beta.tenantId}/policies`, { token: beta.token, body: { mfa: { policy: 'off' } } });
      const bobId = await gh.createUser(beta.token, { email: 'bob@beta.test', password: PASSWORD });
      // Bob has an authenticator app, but his tenant does not ask for it.
      const actor = { type: 'user' as const, id: bobId, ip: null, userAgent: null };
      const enrolment = await enrolTotp(gh.ctx, actor, bobId);
      bobSecret = enrolment.secret;
      await confirmFactor(gh.ctx, actor, bobId, enrolment.factorId, { otp: totpCode(bobSecret) });
      nextTimeStep();
      const app = await gh.created('/api/v1/applications', beta.token, { name: 'Beta', type: 'web', redirect_uris: [CALLBACK] });
      betaConfig = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
    });

    it('challenges a password-only session when the application asks with acr_values, then not again', async () => {
      const browser = new Browser();
      const saved = config;
      config = betaConfig;
      try {
        const first = await afterPassword(browser, 'bob@beta.test');
        assert.ok(atCallback(first.url), 'policy off: the password alone signs in');
        const plain = await idTokenOf(first.url, first.verifier);
        assert.deepEqual(plain.amr, ['pwd']);
        assert.equal(plain.acr, undefined);

        // Step-up: the same browser, still signed in, is asked for the code (not the password).
        const stepUp = await afterPassword(browser, 'bob@beta.test', { acr_values: ACR_MULTI_FACTOR });
        assert.match(stepUp.url, /\/mfa$/);
        assert.doesNotMatch(stepUp.page, /name="password"/);
        const otp = formWith(stepUp.page, 'otp');
        const done = await browser.submit(stepUp.url, otp.action, { ...otp.fields, code: totpCode(bobSecret) }, atCallback);
        assert.ok(atCallback(done.url), done.url);
        const strong = await idTokenOf(done.url, stepUp.verifier);
        assert.equal(strong.acr, ACR_MULTI_FACTOR);
        assert.ok((strong.amr as string[]).includes('mfa'));

        // The session now did MFA: another step-up request goes straight through.
        const again = await afterPassword(browser, 'bob@beta.test', { acr_values: ACR_MULTI_FACTOR });
        assert.ok(atCallback(again.url), again.url);
        assert.equal((await idTokenOf(again.url, again.verifier)).acr, ACR_MULTI_FACTOR);
      } finally {
        config = saved;
      }
    });

    it('applies an application’s stricter policy (mfa_policy on the admin API)', async () => {
      await gh.createUser(beta.token, { email: 'carol@beta.test', password: PASSWORD });
      const app = await gh.created('/api/v1/applications', beta.token, {
        name: 'Beta Payroll',
        type: 'web',
        redirect_uris: [CALLBACK],
        mfa_policy: 'optional',
      });
      assert.equal(app.mfa_policy, 'optional');
      const patched = await gh.request('PATCH', `/api/v1/applications/${app.id}`, { token: beta.token, body: { mfa_policy: 'required' } });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.mfa_policy, 'required');
      const invalid = await gh.request('PATCH', `/api/v1/applications/${app.id}`, { token: beta.token, body: { mfa_policy: 'always' } });
      assert.equal(invalid.status, 400);
      // The password grant follows the application's policy too: Auth0's mfa_required.
      await gh.request('PATCH', `/api/v1/applications/${app.id}`, {
        token: beta.token,
        body: { grant_types: ['authorization_code', 'refresh_token', 'password'] },
      });
      const grant = await fetch(`${gh.issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          username: 'carol@beta.test',
          password: PASSWORD,
          client_id: app.client_id,
          client_secret: app.client_secret,
          scope: 'openid',
        }),
      });
      assert.equal(grant.status, 403);
      assert.equal(((await grant.json()) as { error: string }).error, 'mfa_required');
      const saved = config;
      config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      try {
        const { url, page } = await afterPassword(new Browser(), 'carol@beta.test');
        assert.match(url, /\/mfa$/);
        assert.match(page, /Set up two-step verification/);
      } finally {
        config = saved;
      }
    });
  });
});

describe('a factor proved after signing in, in the hosted sign-in', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  before(async () => {
    gh = await startListeningGatehouse();
  });
  after(() => gh.stop());

  it('a factor proved after signing in (account API) counts at the next authorization: the code carries it and is accepted', async () => {
    const zeta = await gh.tenantWithAdmin('zeta');
    await gh.createUser(zeta.token, { email: 'zoe@zeta.test', password: PASSWORD });
    const app = await gh.created('/api/v1/applications', zeta.token, { name: 'Zeta Portal', type: 'web', redirect_uris: [CALLBACK] });
    const config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const browser = new Browser();
    const authorize = async (verifier: string) =>
      browser.follow(
        client.buildAuthorizationUrl(config, {
          redirect_uri: CALLBACK,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        }).href,
        atCallback,
      );
    const start = await authorize(client.randomPKCECodeVerifier());
    const { action, fields } = formOf(await start.response.text());
    const first = await browser.submit(start.url, action, { ...fields, username: 'zoe@zeta.test', password: PASSWORD }, atCallback);
    assert.ok(atCallback(first.url), 'MFA optional, no factor: the password is enough');
    // The same browser's Gatehouse session enrols and confirms a factor: the session now holds `mfa`.
    const json = { 'content-type': 'application/json' };
    const enrolled = (await (
      await browser.fetch(`${gh.issuer}/api/v1/users/me/mfa/otp`, { method: 'POST', headers: json, body: '{}' })
    ).json()) as {
      id: string;
      secret: string;
    };
    const otp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolled.secret), digits: 6, period: 30 }).generate();
    const confirmed = await browser.fetch(`${gh.issuer}/api/v1/users/me/mfa/${enrolled.id}/confirm`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ otp }),
    });
    assert.equal(confirmed.status, 200);
    // The engine's session still says `pwd`: the next authorization raises it before a code is issued.
    const verifier = client.randomPKCECodeVerifier();
    const again = await authorize(verifier);
    assert.ok(atCallback(again.url), again.url);
    const tokens = await client.authorizationCodeGrant(config, new URL(again.url), { pkceCodeVerifier: verifier });
    assert.ok((decodeJwt(tokens.id_token as string).amr as string[]).includes('mfa'));
  });
});
