import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser } from '../../helpers/oidc.js';
import { acme, apiSignup, CALLBACK, clientId, codeIn, gh, mailTo, signupServer, tokenIn, userRow } from './setup.js';

let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

/** Issue 5, part 2: self-registration and email verification, through the API and the hosted pages. */
describe('self-registration and email verification', () => {
  signupServer(clock);

  it('refuses sign-up where the tenant or the application does not allow it (403 signup_disabled)', async () => {
    const closed = await gh.tenantWithAdmin('closed');
    const closedApp = await gh.created('/api/v1/applications', closed.token, { name: 'Closed', type: 'web', redirect_uris: [CALLBACK] });
    const byTenant = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: closedApp.client_id } });
    assert.equal(byTenant.status, 403);
    assert.equal(byTenant.body.error, 'signup_disabled');

    const noSignup = await gh.created('/api/v1/applications', acme.token, {
      name: 'Internal',
      type: 'web',
      redirect_uris: [CALLBACK],
      signup_enabled: false,
    });
    assert.equal(noSignup.signup_enabled, false);
    const byApp = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: noSignup.client_id } });
    assert.equal(byApp.status, 403);
    assert.equal(byApp.body.error, 'signup_disabled');

    // The page: no link on the sign-in page, and the sign-up page shows a message, not a form.
    const internal = await client.discovery(new URL(gh.issuer), noSignup.client_id, noSignup.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const browser = new Browser();
    const url = client.buildAuthorizationUrl(internal, { redirect_uri: CALLBACK, scope: 'openid', state: 's' }).href;
    const signIn = await browser.follow(url);
    const uid = /\/interaction\/([\w-]+)$/.exec(signIn.url)?.[1] as string;
    assert.doesNotMatch(await signIn.response.text(), /Create an account/);
    const page = await browser.fetch(`${gh.issuer}/signup?interaction=${uid}`);
    assert.equal(page.status, 403);
    const html = await page.text();
    assert.match(html, /signup_disabled/);
    assert.doesNotMatch(html, /<form/);

    // Switched on through the applications API.
    const on = await gh.request('PATCH', `/api/v1/applications/${noSignup.id}`, { token: acme.token, body: { signup_enabled: true } });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal(on.body.signup_enabled, true);
  });

  it('signs up through the API, refuses the unverified user, verifies by code, then signs in with the default role in the app’s tenant', async () => {
    const submitted = await apiSignup('ada@example.com', { family_name: 'Lovelace' });
    assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
    assert.equal(submitted.body.state, 'verify_email');
    assert.equal(submitted.body.verification_flow.kind, 'verification');
    const user = await userRow('ada@example.com');
    assert.ok(user);
    assert.equal(user.email_verified, false);
    assert.equal(user.home_tenant_id, acme.tenantId);
    assert.equal(user.family_name, 'Lovelace');

    // Unverified: the right password is refused with email_not_verified; a wrong one stays a plain 401.
    const refused = await gh.request('POST', '/api/v1/session', { body: { username: 'ada@example.com', password: PASSWORD } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'email_not_verified');
    assert.equal(refused.body.details.resend, '/api/v1/flows/verification');
    const wrong = await gh.request('POST', '/api/v1/session', { body: { username: 'ada@example.com', password: 'not-the-password' } });
    assert.equal(wrong.status, 401);
    const passwordApp = await gh.created('/api/v1/applications', acme.token, { name: 'Password', type: 'web', grant_types: ['password'] });
    const grant = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'ada@example.com',
        password: PASSWORD,
        client_id: passwordApp.client_id,
        client_secret: passwordApp.client_secret,
      }),
    });
    assert.equal(grant.status, 400);
    assert.equal(((await grant.json()) as { error: string }).error, 'invalid_grant');

    const mail = await mailTo('ada@example.com');
    assert.match(mail.subject, /Verify your email address/);
    const code = codeIn(mail.text);
    assert.match(code, /^\d{6}$/);
    const flowId = submitted.body.verification_flow.id;
    const bad = await gh.request('POST', `/api/v1/flows/verification/${flowId}`, {
      body: { code: code === '000000' ? '111111' : '000000' },
    });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, 'invalid_code');
    const ok = await gh.request('POST', `/api/v1/flows/verification/${flowId}`, { body: { code } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.state, 'verified');
    const reused = await gh.request('POST', `/api/v1/flows/verification/${flowId}`, { body: { code } });
    assert.equal(reused.body.error, 'invalid_code', 'a code works once');
    assert.equal((await userRow('ada@example.com'))?.email_verified, true);

    const session = await gh.signIn('ada@example.com', PASSWORD);
    const claims = decodeJwt(await gh.tokenFor(session, acme.tenantId));
    assert.equal(claims.org_id, acme.tenantId);
    assert.deepEqual(claims.roles, ['USER']);

    const events = await gh.auditEvents(acme.token, { target: user.id, limit: '50' });
    const actions = events.map((e) => e.action);
    for (const action of ['iam.user.created', 'iam.user.signedUp', 'iam.membership.created', 'iam.user.emailVerified']) {
      assert.ok(actions.includes(action as never), `${action} in ${actions.join(', ')}`);
    }
  });

  it('verifies by link once; a reused, forged or expired link is refused', async () => {
    await apiSignup('grace@example.com');
    const token = tokenIn((await mailTo('grace@example.com')).text);
    assert.match(token, /^ghf/);
    const forged = await gh.request('POST', '/api/v1/flows/verification/link', { body: { token: `${token}x` } });
    assert.equal(forged.status, 400);
    assert.equal(forged.body.error, 'link_invalid');
    const ok = await gh.request('POST', '/api/v1/flows/verification/link', { body: { token } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await userRow('grace@example.com'))?.email_verified, true);
    const reused = await gh.request('POST', '/api/v1/flows/verification/link', { body: { token } });
    assert.equal(reused.body.error, 'link_invalid');

    const late = await apiSignup('late@example.com');
    const lateMail = await mailTo('late@example.com');
    offsetMs += 25 * 3600_000;
    try {
      const expired = await gh.request('POST', '/api/v1/flows/verification/link', { body: { token: tokenIn(lateMail.text) } });
      assert.equal(expired.status, 410);
      assert.equal(expired.body.error, 'link_expired');
      const expiredCode = await gh.request('POST', `/api/v1/flows/verification/${late.body.verification_flow.id}`, {
        body: { code: codeIn(lateMail.text) },
      });
      assert.equal(expiredCode.body.error, 'invalid_code');
    } finally {
      offsetMs -= 25 * 3600_000;
    }
    assert.equal((await userRow('late@example.com'))?.email_verified, false);
  });

  it('answers a taken address like a new one, creates no user, and sends the owner a notice', async () => {
    const before = await gh.rowCount('users');
    const taken = await apiSignup('ADA@example.com');
    assert.equal(taken.status, 200, JSON.stringify(taken.body));
    assert.deepEqual(Object.keys(taken.body).sort(), ['email', 'expires_at', 'id', 'kind', 'state', 'verification_flow']);
    assert.equal(taken.body.state, 'verify_email');
    assert.deepEqual(Object.keys(taken.body.verification_flow).sort(), ['email', 'expires_at', 'id', 'kind', 'state']);
    assert.equal(await gh.rowCount('users'), before, 'no user created');
    const notice = await mailTo('ada@example.com');
    assert.match(notice.subject, /tried to sign up/);
    assert.match(notice.text, /reset it/);
    const guessed = await gh.request('POST', `/api/v1/flows/verification/${taken.body.verification_flow.id}`, { body: { code: '123456' } });
    assert.equal(guessed.body.error, 'invalid_code');
  });

  const emailsTo = async (to: string) => (await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', to).execute()).length;

  it('parallel sign-ups with a taken address cannot pass the notice cap (count and create under one lock)', async () => {
    const owner = 'parallel-owner@example.com';
    await gh.createUser(acme.token, { email: owner, password: PASSWORD });
    const answers = await Promise.all(Array.from({ length: 12 }, () => apiSignup(owner)));
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(await emailsTo(owner), 3, 'three notices an hour, not twelve');
  });

  it('parallel verification resends cannot pass the five-an-hour cap', async () => {
    const email = 'parallel-resend@example.com';
    await apiSignup(email);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => gh.request('POST', '/api/v1/flows/verification', { body: { email } })),
    );
    assert.ok(answers.every((a) => a.status === 202));
    assert.equal(await emailsTo(email), 5, 'the sign-up’s email and four resends');
  });

  it('checks the email, the required profile fields and the password policy', async () => {
    const cases: [Record<string, string>, string, string?][] = [
      [{ email: 'not-an-email' }, 'invalid_email'],
      [{ given_name: '' }, 'missing_field', 'given_name'],
      [{ password: 'short' }, 'password_too_short'],
      [{ password: 'password123' }, 'password_too_common'],
    ];
    for (const [extra, code, field] of cases) {
      const started = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: clientId } });
      assert.deepEqual(started.body.fields, [
        { name: 'given_name', required: true },
        { name: 'family_name', required: false },
      ]);
      const response = await gh.request('POST', `/api/v1/flows/registration/${started.body.id}`, {
        body: { email: 'policy@example.com', password: PASSWORD, given_name: 'Pat', ...extra },
      });
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.equal(response.body.error, code);
      if (field) assert.equal(response.body.details.field, field);
    }
    assert.equal(await userRow('policy@example.com'), undefined);
  });

  it('lets an unverified user sign in when the tenant allows it; admin-created users are never stopped', async () => {
    await apiSignup('maybe@example.com');
    await mailTo('maybe@example.com'); // taken here, so the resend test reads the newer email
    const refused = await gh.request('POST', '/api/v1/session', { body: { username: 'maybe@example.com', password: PASSWORD } });
    assert.equal(refused.body.error, 'email_not_verified');
    await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { signup: { allow_unverified_sign_in: true } },
    });
    try {
      await gh.signIn('maybe@example.com', PASSWORD);
    } finally {
      await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
        token: acme.token,
        body: { signup: { allow_unverified_sign_in: false } },
      });
    }
    await gh.createUser(acme.token, { email: 'staff@example.com', password: PASSWORD });
    await gh.signIn('staff@example.com', PASSWORD);
  });

  it('resends verification emails: the same answer for any address; an administrator of the home tenant may resend', async () => {
    const known = await gh.request('POST', '/api/v1/flows/verification', { body: { email: 'maybe@example.com' } });
    const unknown = await gh.request('POST', '/api/v1/flows/verification', { body: { email: 'nobody@example.com' } });
    assert.equal(known.status, 202);
    assert.equal(unknown.status, 202);
    assert.deepEqual(Object.keys(known.body.verification_flow).sort(), Object.keys(unknown.body.verification_flow).sort());
    const code = codeIn((await mailTo('maybe@example.com')).text);
    const ok = await gh.request('POST', `/api/v1/flows/verification/${known.body.verification_flow.id}`, { body: { code } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));

    await apiSignup('resend@example.com');
    await mailTo('resend@example.com');
    const id = (await userRow('resend@example.com'))?.id as string;
    const other = await gh.tenantWithAdmin('other');
    const outsider = await gh.request('POST', `/api/v1/users/${id}/verification-email`, { token: other.token });
    assert.equal(outsider.status, 404);
    const sent = await gh.request('POST', `/api/v1/users/${id}/verification-email`, { token: acme.token });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const mail = await mailTo('resend@example.com');
    assert.equal((await gh.request('POST', '/api/v1/flows/verification/link', { body: { token: tokenIn(mail.text) } })).status, 200);
    const again = await gh.request('POST', `/api/v1/users/${id}/verification-email`, { token: acme.token });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'already_verified');
  });

  it('answers an expired registration flow with a fresh one', async () => {
    const started = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: clientId } });
    offsetMs += 61 * 60_000;
    try {
      const expired = await gh.request('POST', `/api/v1/flows/registration/${started.body.id}`, {
        body: { email: 'slow@example.com', password: PASSWORD, given_name: 'Slow' },
      });
      assert.equal(expired.status, 410);
      assert.equal(expired.body.error, 'flow_expired');
      const fresh = expired.body.details.new_flow;
      assert.equal(fresh.state, 'form');
      assert.notEqual(fresh.id, started.body.id);
      const ok = await gh.request('POST', `/api/v1/flows/registration/${fresh.id}`, {
        body: { email: 'slow@example.com', password: PASSWORD, given_name: 'Slow' },
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    } finally {
      offsetMs -= 61 * 60_000;
    }
  });
});
