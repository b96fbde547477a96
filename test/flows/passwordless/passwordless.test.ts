import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as OTPAuth from 'otpauth';
import { confirmFactor, enrolTotp } from '../../../src/authn/mfa/index.js';
import { SENDS_PER_HOUR } from '../../../src/flows/passwordless/start.js';
import type { Clock } from '../../../src/platform/ids.js';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { codeIn, type SmsReceiver, startSmsReceiver } from '../../helpers/sms.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

/**
 * Passwordless sign-in through its API twin (issue 5, part 5): an emailed code, an emailed
 * link and a texted code, each switched on per tenant, single use, short-lived, counted by
 * the brute-force guard, and answering the same way whether or not an account exists.
 */
describe('passwordless sign-in: POST /api/v1/flows/passwordless', () => {
  let gh: TestGatehouse;
  let smtp: SmtpPeer;
  let sms: SmsReceiver;
  let acme: TenantAdmin;
  let clientId: string;
  let nowMs = Date.parse('2026-11-28T10:00:00Z');
  const clock: Clock = { now: () => new Date(nowMs) };
  const PHONE = '+14155550100';

  before(async () => {
    smtp = await startSmtpPeer();
    sms = await startSmsReceiver();
    gh = await startGatehouse({
      clock,
      config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@gatehouse.test>', smsWebhookUrl: sms.url },
    });
    acme = await gh.tenantWithAdmin('acme');
    clientId = (await gh.created('/api/v1/applications', acme.token, { name: 'Acme', type: 'spa', redirect_uris: ['http://localhost/cb'] }))
      .client_id;
    for (const name of ['jane', 'bob', 'carl', 'dave', 'erin', 'mia', 'fay', 'para']) {
      const id = await gh.createUser(acme.token, {
        email: `${name}@acme.test`,
        password: PASSWORD,
        ...(name === 'jane' && { phone: PHONE }),
      });
      // Only a system administrator vouches for a number (decision 181).
      if (name === 'jane') {
        const verified = await gh.request('PATCH', `/api/v1/users/${id}`, { token: await gh.adminToken(), body: { phone_verified: true } });
        assert.equal(verified.status, 200, JSON.stringify(verified.body));
      }
    }
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
    await sms.stop();
  });

  const setMethods = async (methods: string[]) => {
    const patched = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { passwordless: { methods } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
  };
  const start = (login: string, method = 'email_code') =>
    gh.request('POST', '/api/v1/flows/passwordless', { body: { client_id: clientId, method, email: login } });
  const submit = (flowId: string, code: string) => gh.request('POST', `/api/v1/flows/passwordless/${flowId}`, { body: { code } });
  const mailTo = async (to: string) => {
    await deliverEmails(gh.ctx);
    return smtp.next(to);
  };
  const emailsTo = async (to: string) => (await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', to).execute()).length;
  const tokenIn = (text: string) => decodeURIComponent(/\/passwordless\/link\?token=([^\s"&]+)/.exec(text)?.[1] ?? '');
  const auditOf = (action: string, userId: string) =>
    gh.ctx.db
      .selectFrom('audit_events')
      .select(['details', 'outcome'])
      .where('action', '=', action)
      .where('target_id', '=', userId)
      .orderBy('created_at', 'desc')
      .execute();
  const idOf = async (email: string) =>
    (await gh.ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;

  it('is off by default: every method answers 403 passwordless_disabled', async () => {
    for (const method of ['email_code', 'email_link', 'sms_code']) {
      const refused = await start('jane@acme.test', method);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'passwordless_disabled');
    }
    await setMethods(['email_code']);
    assert.equal((await start('jane@acme.test', 'email_link')).body.error, 'passwordless_disabled', 'only the methods the tenant allows');
  });

  it('emailed code: a session as POST /api/v1/session gives, amr email, once', async () => {
    await setMethods(['email_code', 'email_link', 'sms_code']);
    const started = await start('jane@acme.test');
    assert.equal(started.status, 202, JSON.stringify(started.body));
    assert.deepEqual(Object.keys(started.body).sort(), ['expires_at', 'id', 'kind', 'state']);
    const code = codeIn((await mailTo('jane@acme.test')).text);
    const signedIn = await submit(started.body.id, code);
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    const me = await gh.request('GET', '/api/v1/session', { token: signedIn.body.token });
    assert.equal(me.body.email, 'jane@acme.test');
    const [login] = await auditOf('iam.user.loginSucceeded', await idOf('jane@acme.test'));
    assert.deepEqual((login?.details as { amr?: string[] } | undefined)?.amr, ['email']);
    assert.equal((await auditOf('iam.passwordless.sent', await idOf('jane@acme.test'))).length, 1);
    const again = await submit(started.body.id, code);
    assert.equal(again.status, 409, 'a code works once');
    assert.ok(
      gh.logs.every((line) => !line.includes(code)),
      'the code is never logged',
    );
  });

  it('an unknown, a disabled or a foreign account gets the same answer and no message', async () => {
    const known = await start('jane@acme.test');
    await mailTo('jane@acme.test');
    const other = await gh.tenantWithAdmin('other');
    await gh.createUser(other.token, { email: 'olga@other.test', password: PASSWORD });
    const erin = await idOf('erin@acme.test');
    assert.equal((await gh.request('PATCH', `/api/v1/users/${erin}`, { token: acme.token, body: { status: 'disabled' } })).status, 200);
    for (const login of ['nobody@acme.test', 'erin@acme.test', 'olga@other.test']) {
      const answer = await start(login);
      assert.equal(answer.status, 202, login);
      assert.deepEqual(Object.keys(answer.body).sort(), Object.keys(known.body).sort());
      assert.equal(answer.body.state, known.body.state);
      assert.equal(await emailsTo(login), 0, `no email to ${login}`);
      assert.equal((await submit(answer.body.id, '000000')).body.error, 'invalid_code');
    }
  });

  it('emailed link: spent once through POST /flows/passwordless/link', async () => {
    const started = await start('jane@acme.test', 'email_link');
    assert.equal(started.status, 202);
    const mail = await mailTo('jane@acme.test');
    const token = tokenIn(mail.text);
    assert.ok(token.startsWith('ghf_'), mail.text);
    const signedIn = await gh.request('POST', '/api/v1/flows/passwordless/link', { body: { token } });
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    const reused = await gh.request('POST', '/api/v1/flows/passwordless/link', { body: { token } });
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'link_invalid');
  });

  it('texted code: goes to the phone on the account (the SMS webhook), amr sms', async () => {
    const started = await start('jane@acme.test', 'sms_code');
    assert.equal(started.status, 202);
    const text = await sms.next(PHONE);
    const signedIn = await submit(started.body.id, codeIn(text.body));
    assert.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
    const session = await gh.ctx.db.selectFrom('sessions').select('amr').where('id', '=', signedIn.body.id).executeTakeFirstOrThrow();
    assert.deepEqual(session.amr, ['sms'], 'one factor: no mfa');
    const before = sms.requests;
    assert.equal((await start('bob@acme.test', 'sms_code')).status, 202, 'no phone: the same answer');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sms.requests, before, 'and no text');
  });

  it('texted code: a phone number the user typed themselves is not a credential (unverified: no text)', async () => {
    const session = await gh.signIn('carl@acme.test', PASSWORD);
    const patched = await gh.request('PATCH', '/api/v1/users/me', { token: session, body: { phone: '+14155550177' } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.phone_verified, false);
    const before = sms.requests;
    assert.equal((await start('carl@acme.test', 'sms_code')).status, 202, 'the same answer');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sms.requests, before, 'and no text to a number anyone with the session could have set');
  });

  it('an expired code or link is refused (410)', async () => {
    const code = await start('fay@acme.test');
    const codeMail = await mailTo('fay@acme.test');
    const link = await start('fay@acme.test', 'email_link');
    const token = tokenIn((await mailTo('fay@acme.test')).text);
    nowMs += 11 * 60_000;
    const late = await submit(code.body.id, codeIn(codeMail.text));
    assert.equal(late.status, 410);
    assert.equal(late.body.error, 'flow_expired');
    const lateLink = await gh.request('POST', '/api/v1/flows/passwordless/link', { body: { token } });
    assert.equal(lateLink.status, 410);
    assert.equal(lateLink.body.error, 'link_expired');
    assert.equal((await gh.request('GET', `/api/v1/flows/passwordless/${link.body.id}`)).status, 410);
  });

  it('five wrong codes kill the code (and each is a loginFailed event)', async () => {
    const started = await start('bob@acme.test');
    const code = codeIn((await mailTo('bob@acme.test')).text);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) assert.equal((await submit(started.body.id, wrong)).status, 401);
    nowMs += 60_000; // past the guard's backoff, still inside the flow's 10 minutes
    const right = await submit(started.body.id, code);
    assert.equal(right.status, 401, JSON.stringify(right.body));
    assert.equal(right.body.error, 'invalid_code');
    const failed = await auditOf('iam.user.loginFailed', await idOf('bob@acme.test'));
    assert.ok(failed.filter((e) => (e.details as { reason?: string }).reason === 'invalid_code').length >= 5);
  });

  it('the brute-force guard counts codes across flows: a locked account is refused even the right code', async () => {
    const first = await start('carl@acme.test');
    const firstCode = codeIn((await mailTo('carl@acme.test')).text);
    for (let i = 0; i < 5; i++) await submit(first.body.id, firstCode === '000000' ? '111111' : '000000');
    const second = await start('carl@acme.test');
    const refused = await submit(second.body.id, codeIn((await mailTo('carl@acme.test')).text));
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'too_many_attempts');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
  });

  it('a user with a second factor gets mfa_required, then a session with amr email + otp (no pwd)', async () => {
    const miaId = await idOf('mia@acme.test');
    const actor = { type: 'user' as const, id: miaId, ip: null, userAgent: null };
    const enrolment = await enrolTotp(gh.ctx, actor, miaId);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), digits: 6, period: 30 });
    await confirmFactor(gh.ctx, actor, miaId, enrolment.factorId, { otp: totp.generate({ timestamp: nowMs }) });
    nowMs += 30_000;
    const started = await start('mia@acme.test');
    const answer = await submit(started.body.id, codeIn((await mailTo('mia@acme.test')).text));
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
    assert.equal(answer.body.error, 'mfa_required');
    const done = await gh.request('POST', '/api/v1/session/mfa', {
      body: { mfa_token: answer.body.mfa_token, otp: totp.generate({ timestamp: nowMs }) },
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const session = await gh.ctx.db.selectFrom('sessions').select('amr').where('id', '=', done.body.id).executeTakeFirstOrThrow();
    assert.deepEqual([...session.amr].sort(), ['email', 'mfa', 'otp']);
  });

  it(`at most ${SENDS_PER_HOUR} messages per account and hour, for unknown accounts too (429, Retry-After)`, async () => {
    for (const login of ['dave@acme.test', 'ghost@acme.test']) {
      for (let i = 0; i < SENDS_PER_HOUR; i++) assert.equal((await start(login)).status, 202);
      const refused = await start(login);
      assert.equal(refused.status, 429, login);
      assert.equal(refused.body.error, 'too_many_attempts');
      assert.ok(Number(refused.headers['retry-after']) > 0);
    }
    nowMs += 3_600_001;
    assert.equal((await start('dave@acme.test')).status, 202, 'an hour later');
  });

  it(`parallel starts cannot pass the cap: at most ${SENDS_PER_HOUR} messages (count and create under one lock)`, async () => {
    const email = 'para@acme.test';
    const answers = await Promise.all(Array.from({ length: 20 }, () => start(email)));
    assert.equal(answers.filter((a) => a.status === 202).length, SENDS_PER_HOUR);
    assert.ok(answers.every((a) => a.status === 202 || a.body.error === 'too_many_attempts'));
    assert.equal(await emailsTo(email), SENDS_PER_HOUR);
  });

  it('bad input is a 4xx with a code', async () => {
    const cases: [unknown, number][] = [
      [{ client_id: clientId, method: 'email_code' }, 400],
      [{ client_id: clientId, method: 'fax', email: 'jane@acme.test' }, 400],
      [{ client_id: 'nope', method: 'email_code', email: 'jane@acme.test' }, 400],
      [{ client_id: clientId, method: 'email_code', email: 'a@b.c', username: 'x' }, 400],
    ];
    for (const [body, status] of cases) assert.equal((await gh.request('POST', '/api/v1/flows/passwordless', { body })).status, status);
    assert.equal((await submit('flw_00000000000000000000000000000000', '123456')).status, 404);
    assert.equal((await submit('not-a-flow', '123456')).status, 400);
  });
});
