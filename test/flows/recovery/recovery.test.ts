/**
 * Issue 5, part 4: account recovery. Forgot password by an emailed link (single use, 15
 * minutes, no enumeration, at most five emails an hour), the administrator-triggered reset
 * (home-tenant rule), and what a reset ends: every session and refresh token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

const NEW_PASSWORD = 'a-fresh-password-after-reset';
const API = 'urn:gatehouse:acme:invoices';

describe('account recovery', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let smtp: SmtpPeer;
  let acme: TenantAdmin;
  let other: TenantAdmin;
  let web: { client_id: string; client_secret: string };
  let offsetMs = 0;
  let counter = 0;

  before(async () => {
    smtp = await startSmtpPeer();
    gh = await startListeningGatehouse({
      clock: { now: () => new Date(Date.now() + offsetMs) },
      config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@gatehouse.test>' },
    });
    acme = await gh.tenantWithAdmin('acme');
    other = await gh.tenantWithAdmin('other');
    await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Invoices', permissions: [{ value: 'read:invoices' }] });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.acme.test/callback'],
      grant_types: ['password', 'refresh_token'],
    });
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
  });

  const newUser = async () => {
    const email = `user${++counter}@acme.test`;
    const id = await gh.createUser(acme.token, { email, password: PASSWORD });
    return { id, email };
  };
  /** Sends what is queued and takes the next email to `to` from the real SMTP peer. */
  const mailTo = async (to: string) => {
    await deliverEmails(gh.ctx);
    return smtp.next(to, 5_000);
  };
  const tokenIn = (text: string, path: string) => {
    const match = new RegExp(`${path.replace('/', '\\/')}\\?token=([\\w.%-]+)`).exec(text);
    assert.ok(match, `a ${path} link in:\n${text}`);
    return decodeURIComponent(match[1] as string);
  };
  const forgot = (email: string) => gh.request('POST', '/api/v1/flows/recovery', { body: { email } });
  const reset = (token: string, password = NEW_PASSWORD) =>
    gh.request('POST', '/api/v1/flows/recovery/reset', { body: { token, password } });
  const oauth = (fields: Record<string, string>) =>
    gh.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...fields, client_id: web.client_id, client_secret: web.client_secret }).toString(),
    });

  it('hosted forgot password: the same answer, an email with a link, a form, the new password, signed in', async () => {
    const { email } = await newUser();
    const browser = new Browser();
    const form = await browser.fetch(`${gh.issuer}/recovery`);
    assert.equal(form.status, 200);
    const page = await form.text();
    assert.match(page, /<label for="email">/);
    const { action, fields } = formOf(page);
    const sent = await browser.submit(`${gh.issuer}/recovery`, action, { ...fields, email });
    assert.equal(sent.response.status, 200);
    const sentPage = await sent.response.text();
    assert.match(sentPage, /If an account exists for/);

    const mail = await mailTo(email);
    assert.match(mail.subject, /reset your password/);
    const token = tokenIn(mail.text, '/recovery/reset');
    // Opening the link spends nothing (mail scanners open links): twice, the same form.
    const link = `${gh.issuer}/recovery/reset?token=${encodeURIComponent(token)}`;
    assert.equal((await browser.fetch(link)).status, 200);
    const resetPage = await browser.fetch(link);
    const resetForm = formOf(await resetPage.text());
    const done = await browser.fetch(new URL(resetForm.action, link).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...resetForm.fields, password: NEW_PASSWORD }),
    });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/account');
    assert.ok(
      done.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=')),
      'signed in',
    );
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } })).status, 401);
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: NEW_PASSWORD } })).status, 200);
  });

  it('an unknown address gets the same answer and no email (no enumeration)', async () => {
    const known = await newUser();
    const unknown = 'nobody@acme.test';
    const a = await forgot(known.email);
    const b = await forgot(unknown);
    assert.equal(a.status, 202);
    assert.deepEqual(a, { ...b, headers: a.headers });
    await mailTo(known.email);
    await deliverEmails(gh.ctx);
    await assert.rejects(smtp.next(unknown, 500), /No email/, 'nothing is sent to an unknown address');
    // The hosted page too: the same words for both, only the address typed differs.
    const pages = await Promise.all(
      [known.email, unknown].map(async (email) => {
        const browser = new Browser();
        const page = await (await browser.fetch(`${gh.issuer}/recovery`)).text();
        const { action, fields } = formOf(page);
        const sent = await browser.submit(`${gh.issuer}/recovery`, action, { ...fields, email });
        return { status: sent.response.status, text: (await sent.response.text()).replace(email, 'EMAIL') };
      }),
    );
    assert.deepEqual(pages[0], pages[1]);
  });

  it('speaks the browser’s language (German)', async () => {
    const page = await fetch(`${gh.issuer}/recovery`, { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' } });
    const text = await page.text();
    assert.match(text, /<html lang="de">/);
    assert.match(text, /<h1>Passwort zurücksetzen<\/h1>/);
    assert.match(text, /Zurück zur Anmeldung/);
  });

  it('refuses forms without their CSRF token', async () => {
    const browser = new Browser();
    const page = await (await browser.fetch(`${gh.issuer}/recovery`)).text();
    const { action, fields } = formOf(page);
    const forged = await browser.submit(`${gh.issuer}/recovery`, action, { csrf: 'forged', email: 'x@acme.test' });
    assert.equal(forged.response.status, 403);
    const notAnEmail = await browser.submit(`${gh.issuer}/recovery`, action, { ...fields, email: 'not an email' });
    assert.equal(notAnEmail.response.status, 400);
    assert.match(await notAnEmail.response.text(), /role="alert" id="form-error">Enter an email address/);
    const { email } = await newUser();
    await forgot(email);
    const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
    const posted = await browser.submit(`${gh.issuer}/recovery/reset`, '/recovery/reset', {
      token,
      csrf: 'forged',
      password: NEW_PASSWORD,
    });
    assert.equal(posted.response.status, 403);
    assert.equal((await reset(token)).status, 204, 'the refused form spent nothing');
  });

  it('a link works once; a forged one never', async () => {
    const { email } = await newUser();
    await forgot(email);
    const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
    const inspected = await gh.request('POST', '/api/v1/flows/recovery/inspect', { body: { token } });
    assert.equal(inspected.status, 200);
    assert.equal(inspected.body.email, email, 'inspecting spends nothing');
    assert.equal((await reset(token)).status, 204);
    assert.equal((await gh.request('POST', '/api/v1/flows/recovery/inspect', { body: { token } })).body.error, 'link_invalid');
    const again = await reset(token, 'yet-another-password-1');
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'link_invalid');
    const forged = await reset('ghf_forged-token-value');
    assert.equal(forged.body.error, 'link_invalid');
    const page = await fetch(`${gh.issuer}/recovery/reset?token=${encodeURIComponent(token)}`);
    assert.equal(page.status, 400);
    assert.match(await page.text(), /not valid/);
  });

  it('a link expires after 15 minutes', async () => {
    const { email } = await newUser();
    await forgot(email);
    const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
    offsetMs = 16 * 60_000;
    try {
      const page = await fetch(`${gh.issuer}/recovery/reset?token=${encodeURIComponent(token)}`);
      assert.equal(page.status, 410);
      assert.match(await page.text(), /expired/);
      const expired = await reset(token);
      assert.equal(expired.status, 410);
      assert.equal(expired.body.error, 'link_expired');
    } finally {
      offsetMs = 0;
    }
  });

  it('a newer request voids the older link', async () => {
    const { email } = await newUser();
    await forgot(email);
    const first = tokenIn((await mailTo(email)).text, '/recovery/reset');
    await forgot(email);
    const second = tokenIn((await mailTo(email)).text, '/recovery/reset');
    assert.equal((await reset(first)).body.error, 'link_invalid');
    assert.equal((await reset(second)).status, 204);
  });

  it('sends at most five emails an hour to one address, answering the same', async () => {
    const { email } = await newUser();
    for (let i = 0; i < 6; i++) assert.equal((await forgot(email)).status, 202);
    for (let i = 0; i < 5; i++) await mailTo(email);
    await deliverEmails(gh.ctx);
    await assert.rejects(smtp.next(email, 500), /No email/, 'no sixth email');
  });

  it('parallel requests cannot pass the five-an-hour cap (count and create under one lock)', async () => {
    const { id, email } = await newUser();
    const answers = await Promise.all(Array.from({ length: 20 }, () => forgot(email)));
    assert.ok(answers.every((a) => a.status === 202));
    const flows = await gh.ctx.db
      .selectFrom('flows')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('kind', '=', 'recovery')
      .where('user_id', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(Number(flows.n), 5, 'five links, not twenty');
    for (let i = 0; i < 5; i++) await mailTo(email);
    await deliverEmails(gh.ctx);
    await assert.rejects(smtp.next(email, 500), /No email/, 'no sixth email');
  });

  it('the reset form is bound to the browser that opened the link: its token without that browser’s cookie is refused', async () => {
    const { email } = await newUser();
    await forgot(email);
    const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
    const link = `${gh.issuer}/recovery/reset?token=${encodeURIComponent(token)}`;
    // The link's holder (an attacker with their own reset link) gets a valid form for their own browser only.
    const attacker = new Browser();
    const form = formOf(await (await attacker.fetch(link)).text());
    const post = (cookie?: string) =>
      fetch(new URL(form.action, link), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie && { cookie }) },
        body: new URLSearchParams({ ...form.fields, password: NEW_PASSWORD }),
      });
    assert.equal((await post()).status, 403, 'the right token without the browser cookie');
    const victim = new Browser();
    await victim.fetch(`${gh.issuer}/recovery`); // the victim's browser has a binding cookie of its own
    const crossSite = await victim.submit(link, form.action, { ...form.fields, password: NEW_PASSWORD });
    assert.equal(crossSite.response.status, 403, 'another browser’s cookie');
    assert.ok(!crossSite.response.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=')));
    const done = await attacker.fetch(new URL(form.action, link).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...form.fields, password: NEW_PASSWORD }),
    });
    assert.equal(done.status, 303, 'the browser that opened the link');
  });

  it('a reset ends every session and refresh token of the user, and the password lockout', async () => {
    const { id, email } = await newUser();
    const session = await gh.signIn(email, PASSWORD);
    const tokens = await oauth({
      grant_type: 'password',
      username: email,
      password: PASSWORD,
      audience: API,
      scope: 'openid offline_access',
    });
    assert.equal(tokens.statusCode, 200, tokens.body);
    const { refresh_token } = tokens.json() as { refresh_token: string };
    // Failed attempts pile up against the old password.
    for (let i = 0; i < 3; i++) await gh.request('POST', '/api/v1/session', { body: { username: email, password: 'wrong-password-x' } });
    const failures = async () =>
      (await gh.request('GET', `/api/v1/users/${id}/lockout`, { token: acme.token })).body.attempts.find(
        (a: { kind: string }) => a.kind === 'password',
      )?.failures ?? 0;
    assert.equal(await failures(), 3);
    await forgot(email);
    assert.equal((await reset(tokenIn((await mailTo(email)).text, '/recovery/reset'))).status, 204);
    assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 401, 'the session ended');
    const refreshed = await oauth({ grant_type: 'refresh_token', refresh_token });
    assert.equal(refreshed.statusCode, 400);
    assert.equal(refreshed.json().error, 'invalid_grant', 'the refresh token fails');
    assert.equal(await failures(), 0, 'the failures counted against the old password are gone');
    const [event] = await gh.auditEvents(acme.token, { action: 'iam.user.passwordReset', target: id });
    assert.ok(event, 'audited');
    assert.equal(event.details.sessions_ended, 1);
  });

  it('a user with a second factor is not signed in by a reset link: sign in again with the factor', async () => {
    const { email } = await newUser();
    const enrolling = await gh.signIn(email, PASSWORD);
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: enrolling, body: {} });
    const totp = new TOTP({ secret: Secret.fromBase32(enrolment.body.secret) });
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: enrolling,
      body: { otp: totp.generate() },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    await forgot(email);
    const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
    const browser = new Browser();
    const link = `${gh.issuer}/recovery/reset?token=${encodeURIComponent(token)}`;
    const { action, fields } = formOf(await (await browser.fetch(link)).text());
    const done = await browser.fetch(new URL(action, link).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...fields, password: NEW_PASSWORD }),
    });
    assert.equal(done.status, 200);
    assert.match(await done.text(), /second factor/);
    assert.equal(
      done.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=')),
      false,
      'no session',
    );
    const signIn = await gh.request('POST', '/api/v1/session', { body: { username: email, password: NEW_PASSWORD } });
    assert.equal(signIn.body.error, 'mfa_required', 'the new password still needs the factor');
  });

  it('a refused new password shows the form again with the reason, spending nothing', async () => {
    const { email } = await newUser();
    await forgot(email);
    const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
    const browser = new Browser();
    const link = `${gh.issuer}/recovery/reset?token=${encodeURIComponent(token)}`;
    const { action, fields } = formOf(await (await browser.fetch(link)).text());
    const short = await browser.submit(link, action, { ...fields, password: 'short' });
    assert.equal(short.response.status, 400);
    const text = await short.response.text();
    assert.match(text, /role="alert" id="form-error">The password is too short/);
    assert.match(text, /aria-describedby="form-error"/);
    assert.equal((await reset(token)).status, 204);
  });

  it('a reset clears a required password change, and the password history applies to it', async () => {
    const email = `temp${++counter}@acme.test`;
    await gh.createUser(acme.token, { email, password: PASSWORD, temporary: true });
    assert.equal(
      (await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } })).body.error,
      'password_change_required',
    );
    const policy = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { password: { history: 3 } },
    });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    try {
      await forgot(email);
      const token = tokenIn((await mailTo(email)).text, '/recovery/reset');
      const reused = await reset(token, PASSWORD);
      assert.equal(reused.body.error, 'password_reused');
      assert.equal((await reset(token)).status, 204, 'the refused password spent nothing');
      assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password: NEW_PASSWORD } })).status, 200);
    } finally {
      await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token, body: { password: { history: 0 } } });
    }
  });

  it('administrator-triggered reset: the administrator of every tenant of the user sends the link; another tenant’s may not', async () => {
    const { id, email } = await newUser();
    const joined = await gh.request('POST', `/api/v1/tenants/${other.tenantId}/members`, {
      token: await gh.adminToken(),
      body: { userId: id },
    });
    assert.equal(joined.status, 201, JSON.stringify(joined.body));
    const foreign = await gh.request('POST', `/api/v1/users/${id}/password-reset`, { token: other.token, body: {} });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.body.error, 'not_home_tenant');
    // While the user is also a member of the other tenant, the home tenant's administrator may not either (decision 180).
    const shared = await gh.request('POST', `/api/v1/users/${id}/password-reset`, { token: acme.token, body: {} });
    assert.equal(shared.body.error, 'member_elsewhere');
    const left = await gh.request('DELETE', `/api/v1/tenants/${other.tenantId}/members/${id}`, { token: await gh.adminToken() });
    assert.equal(left.status, 204);
    const session = await gh.signIn(email, PASSWORD);
    const sent = await gh.request('POST', `/api/v1/users/${id}/password-reset`, { token: acme.token, body: { revoke_sessions: true } });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 401, 'revoke_sessions ended the session');
    const mail = await mailTo(email);
    assert.match(mail.text, /An administrator asked you/);
    assert.equal((await reset(tokenIn(mail.text, '/recovery/reset'))).status, 204);
    const events = await gh.auditEvents(acme.token, { action: 'iam.user.passwordResetRequested', target: id });
    assert.equal(events[0]?.details.by, 'administrator');
  });
});
