import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { mfaClaims, mfaNeed } from '../../../src/authn/mfa/index.js';
import type { Clock } from '../../../src/platform/ids.js';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { codeIn } from '../../helpers/sms.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

/**
 * MFA through Gatehouse's own API: users enrol and remove factors with their session,
 * POST /api/v1/session answers mfa_required and POST /api/v1/session/mfa finishes it,
 * administrators list and reset factors. Email codes arrive at a real SMTP server; TOTP
 * codes are computed by the otpauth library as an authenticator app would, on the
 * server's injected clock.
 */
describe('MFA: factors, POST /api/v1/session with a second factor, administration', () => {
  let gh: TestGatehouse;
  let smtp: SmtpPeer;
  let acme: TenantAdmin;
  let nowMs = Date.now();
  const clock: Clock = { now: () => new Date(nowMs) };
  const seen = { secrets: [] as string[], codes: [] as string[], tokens: [] as string[] };

  const signIn = (username: string, password = PASSWORD) => gh.request('POST', '/api/v1/session', { body: { username, password } });
  const finish = (body: Record<string, string>) => gh.request('POST', '/api/v1/session/mfa', { body });
  const totpOf = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });
  const nextCode = (totp: TOTP) => {
    nowMs += 30_000; // an authenticator app shows a new code every 30 seconds
    return totp.generate({ timestamp: nowMs });
  };
  /** A user signed in (before any factor), with a confirmed TOTP factor; returns its app and recovery codes. */
  async function withTotp(email: string) {
    const session = await gh.signIn(email, PASSWORD);
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: session, body: { name: 'Phone' } });
    assert.equal(enrolment.status, 201, JSON.stringify(enrolment.body));
    seen.secrets.push(enrolment.body.secret);
    const totp = totpOf(enrolment.body.secret);
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: session,
      body: { otp: totp.generate({ timestamp: nowMs }) },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    seen.codes.push(...(confirmed.body.recovery_codes ?? []));
    return { session, totp, factorId: enrolment.body.id as string, enrolment: enrolment.body, confirmed: confirmed.body };
  }

  before(async () => {
    smtp = await startSmtpPeer();
    gh = await startGatehouse({ clock, config: { smtpUrl: smtp.url } });
    acme = await gh.tenantWithAdmin('acme');
    for (const name of ['tina', 'eve', 'sam', 'rob', 'ned', 'amy', 'liz']) {
      await gh.createUser(acme.token, { email: `${name}@acme.test`, password: PASSWORD });
    }
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
  });

  it('TOTP: enrolment shows the otpauth URI and a QR code; the first confirmed factor returns 10 recovery codes', async () => {
    const { enrolment, confirmed, session } = await withTotp('tina@acme.test');
    assert.match(
      enrolment.otpauth_uri,
      /^otpauth:\/\/totp\/ACME:tina%40acme\.test\?issuer=ACME&secret=[A-Z2-7]+&algorithm=SHA1&digits=6&period=30$/,
    );
    assert.match(enrolment.qr_code, /^data:image\/png;base64,/);
    assert.match(enrolment.secret, /^[A-Z2-7]{32}$/);
    assert.equal(confirmed.factor.confirmed, true);
    assert.equal(confirmed.recovery_codes.length, 10);
    const list = await gh.request('GET', '/api/v1/users/me/mfa', { token: session });
    assert.deepEqual(
      list.body.factors.map((f: { type: string }) => f.type),
      ['otp', 'recovery-code'],
    );
    assert.equal(JSON.stringify(list.body).includes(enrolment.secret), false, 'the secret is never shown again');
  });

  it('POST /session answers 401 mfa_required without a session; /session/mfa with the code opens it, with amr in the audit event', async () => {
    const { totp } = await withTotp('eve@acme.test');
    const sessionsBefore = await gh.rowCount('sessions');
    const first = await signIn('eve@acme.test');
    assert.equal(first.status, 401);
    assert.equal(first.body.error, 'mfa_required');
    assert.match(first.body.mfa_token, /^ghmfa_/);
    assert.equal(first.body.details, undefined);
    assert.equal(first.headers['set-cookie'], undefined);
    assert.equal(await gh.rowCount('sessions'), sessionsBefore, 'no session before the second factor');
    seen.tokens.push(first.body.mfa_token);

    const opened = await finish({ mfa_token: first.body.mfa_token, otp: nextCode(totp) });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.match(String(opened.headers['set-cookie']), /gatehouse_session=/);
    assert.equal((await gh.request('GET', '/api/v1/session', { token: opened.body.token })).body.email, 'eve@acme.test');
    const events = await gh.auditEvents(await gh.adminToken(), { action: 'iam.user.loginSucceeded' });
    const event = events.find((e) => e.details.session_id === opened.body.id);
    assert.deepEqual(event?.details.amr, ['pwd', 'otp', 'mfa']);
    // The mfa_token works once.
    const again = await finish({ mfa_token: first.body.mfa_token, otp: nextCode(totp) });
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_mfa_token');
  });

  it('wrong, replayed, malformed and missing answers are refused with stable errors; failures are audited', async () => {
    const { totp } = await withTotp('sam@acme.test');
    const { body } = await signIn('sam@acme.test');
    const token = body.mfa_token;
    const code = nextCode(totp);
    const wrong = code === '000000' ? '000001' : '000000';
    for (const answer of [
      { otp: wrong },
      { otp: 'abc' },
      { otp: '1234567' },
      { recovery_code: 'NOT-A-CODE' },
      { oob_code: 'x', binding_code: '123456' },
    ] as Record<string, string>[]) {
      const refused = await finish({ mfa_token: token, ...answer });
      assert.equal(refused.status, 401, JSON.stringify(answer));
      assert.equal(refused.body.error, 'invalid_code');
    }
    assert.equal((await finish({ mfa_token: token })).body.error, 'invalid_request');
    assert.equal((await finish({ mfa_token: token, oob_code: 'x' })).body.error, 'missing_field');
    assert.equal((await finish({ mfa_token: token, otp: code, recovery_code: 'x' })).body.error, 'invalid_request');
    assert.equal((await finish({ mfa_token: 'ghmfa_unknown', otp: code })).body.error, 'invalid_mfa_token');
    assert.equal((await finish({ mfa_token: token, otp: code, extra: 'x' } as never)).body.error, 'unknown_field');
    const ok = await finish({ mfa_token: token, otp: code });
    assert.equal(ok.status, 200);
    // The same code again, within its 30-second window: a replay.
    const replay = await finish({ mfa_token: (await signIn('sam@acme.test')).body.mfa_token, otp: code });
    assert.equal(replay.body.error, 'invalid_code');
    const failures = await gh.auditEvents(await gh.adminToken(), { action: 'iam.mfa.challengeFailed' });
    assert.ok(failures.length >= 6, `${failures.length} failures audited`);
    assert.ok(failures.every((f) => f.outcome === 'failure'));
  });

  it('wrong codes count against the account (kind mfa): after 5, even the right code waits for the backoff', async () => {
    const { totp } = await withTotp('liz@acme.test');
    const { body } = await signIn('liz@acme.test');
    const right = nextCode(totp);
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 0; i < 5; i++) assert.equal((await finish({ mfa_token: body.mfa_token, otp: wrong })).body.error, 'invalid_code');
    const locked = await finish({ mfa_token: body.mfa_token, otp: right });
    assert.equal(locked.status, 429);
    assert.equal(locked.body.error, 'too_many_attempts');
    assert.equal(locked.headers['retry-after'], '1');
    nowMs += 1_000;
    const ok = await finish({ mfa_token: body.mfa_token, otp: right });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('recovery codes work once each; the answer carries a new one; an expired mfa_token is refused', async () => {
    const { confirmed } = await withTotp('rob@acme.test');
    const code = confirmed.recovery_codes[3];
    const opened = await finish({ mfa_token: (await signIn('rob@acme.test')).body.mfa_token, recovery_code: code });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.match(opened.body.recovery_code, /^[0-9A-Z]{24}$/);
    seen.codes.push(opened.body.recovery_code);
    const reused = await finish({ mfa_token: (await signIn('rob@acme.test')).body.mfa_token, recovery_code: code });
    assert.equal(reused.body.error, 'invalid_code');
    const fresh = await finish({ mfa_token: (await signIn('rob@acme.test')).body.mfa_token, recovery_code: opened.body.recovery_code });
    assert.equal(fresh.status, 200);

    const late = (await signIn('rob@acme.test')).body.mfa_token;
    nowMs += 5 * 60_000 + 1;
    const expired = await finish({ mfa_token: late, recovery_code: confirmed.recovery_codes[4] });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error, 'mfa_token_expired');
  });

  it('email codes: enrolment and sign-in codes arrive by SMTP; the session mfa_token challenges through /mfa/challenge', async () => {
    const session = await gh.signIn('ned@acme.test', PASSWORD);
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/email', { token: session });
    assert.equal(enrolment.status, 201, JSON.stringify(enrolment.body));
    await deliverEmails(gh.ctx);
    const mail = await smtp.next('ned@acme.test');
    assert.equal(mail.subject, 'Your ACME verification code');
    const code = codeIn(mail.text);
    seen.codes.push(code);
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: session,
      body: { oob_code: enrolment.body.oob_code, binding_code: code },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal(confirmed.body.factor.destination, 'n•••@acme.test');

    const { body } = await signIn('ned@acme.test');
    const challenge = await gh.request('POST', '/mfa/challenge', { body: { mfa_token: body.mfa_token, challenge_type: 'oob' } });
    assert.equal(challenge.status, 200, JSON.stringify(challenge.body));
    await deliverEmails(gh.ctx);
    const signInCode = codeIn((await smtp.next('ned@acme.test')).text);
    const opened = await finish({ mfa_token: body.mfa_token, oob_code: challenge.body.oob_code, binding_code: signInCode });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    assert.ok(
      gh.logs.every((line) => !line.includes(signInCode) && !line.includes(code)),
      'no code in the logs',
    );
  });

  it('SMS codes without a webhook go to the development SMS outbox; phone numbers are checked', async () => {
    const session = await gh.signIn('amy@acme.test', PASSWORD);
    const bad = await gh.request('POST', '/api/v1/users/me/mfa/sms', { token: session, body: { phone_number: '0123' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_phone_number');
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/sms', { token: session, body: { phone_number: '+44 7700 900123' } });
    assert.equal(enrolment.status, 201, JSON.stringify(enrolment.body));
    const outbox = await gh.request('GET', '/api/v1/dev/sms', { token: await gh.adminToken() });
    assert.equal(outbox.status, 200, JSON.stringify(outbox.body));
    const [message] = outbox.body.messages.filter((m: { to: string }) => m.to === '+447700900123');
    assert.match(message.body, /is your ACME verification code/);
    seen.codes.push(codeIn(message.body));
    assert.ok(gh.logs.some((line) => line.includes('development SMS outbox')));
    assert.ok(
      gh.logs.every((line) => !line.includes(codeIn(message.body)) && !line.includes('7700900123')),
      'neither code nor number in the logs',
    );
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: session,
      body: { oob_code: enrolment.body.oob_code, binding_code: codeIn(message.body) },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal(confirmed.body.factor.destination, '•••••••••••23');
    assert.equal((await gh.request('GET', '/api/v1/dev/sms', { token: acme.token })).status, 403, 'system administrators only');
  });

  it('MFA secrets are not readable in the database rows: no seed, code, phone number or token in plaintext', async () => {
    const tables = ['mfa_factors', 'mfa_recovery_codes', 'mfa_oob_challenges', 'mfa_tokens', 'sms_outbox', 'emails'] as const;
    let dump = '';
    for (const table of tables) {
      const rows = await gh.ctx.db.selectFrom(table).selectAll().execute();
      assert.ok(rows.length > 0, `${table} has rows`);
      dump += JSON.stringify(rows, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
    }
    // (The email queue keeps its recipients readable, as for every message; its bodies are sealed.)
    const needles = [...seen.secrets, ...seen.codes, ...seen.tokens, '7700900123', 'n•••@acme.test'];
    for (const needle of needles) assert.equal(dump.includes(needle), false, `${needle} in plaintext`);
    // A seed is readable only through the master key, with the factor's id as context.
    assert.match(dump, /"secret_sealed":"v1\./);
  });

  it('policy: off challenges nobody, required makes users enrol (through /mfa/associate) and keeps the last factor', async () => {
    const patch = (mfa: Record<string, unknown>) =>
      gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token, body: { mfa } });
    assert.equal((await patch({ policy: 'off' })).status, 200);
    assert.equal((await signIn('eve@acme.test')).status, 200, 'off: a password is enough');
    const eve = await gh.ctx.db.selectFrom('users').selectAll().where('email', '=', 'eve@acme.test').executeTakeFirstOrThrow();
    assert.equal(
      await mfaNeed(gh.ctx, eve, { application: { tenantId: acme.tenantId, mfaPolicy: 'optional' } }),
      'challenge',
      'an application may be stricter',
    );
    assert.deepEqual(mfaClaims(['pwd']), { amr: ['pwd'] });

    assert.equal((await patch({ policy: 'required', factors: ['otp', 'email'] })).status, 200);
    const admin = await signIn(acme.adminEmail);
    assert.equal(admin.status, 401);
    assert.deepEqual(admin.body.details, { enrolment_required: true });
    const associate = await gh.request('POST', '/mfa/associate', { token: admin.body.mfa_token, body: { authenticator_types: ['otp'] } });
    assert.equal(associate.status, 200, JSON.stringify(associate.body));
    const totp = totpOf(associate.body.secret);
    const opened = await finish({ mfa_token: admin.body.mfa_token, otp: nextCode(totp) });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const session = opened.body.token;
    const factors = (await gh.request('GET', '/api/v1/users/me/mfa', { token: session })).body.factors;
    const otp = factors.find((f: { type: string }) => f.type === 'otp');
    assert.equal(otp.confirmed, true);

    const sms = await gh.request('POST', '/api/v1/users/me/mfa/sms', { token: session, body: { phone_number: '+14155550100' } });
    assert.equal(sms.body.error, 'factor_not_allowed');
    const last = await gh.request('DELETE', `/api/v1/users/me/mfa/${otp.id}`, { token: session });
    assert.equal(last.status, 409);
    assert.equal(last.body.error, 'last_factor');
    const second = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: session, body: {} });
    await gh.request('POST', `/api/v1/users/me/mfa/${second.body.id}/confirm`, {
      token: session,
      body: { otp: totpOf(second.body.secret).generate({ timestamp: nowMs }) },
    });
    assert.equal((await gh.request('DELETE', `/api/v1/users/me/mfa/${otp.id}`, { token: session })).status, 204);
    const codes = await gh.request('POST', '/api/v1/users/me/mfa/recovery-codes', { token: session });
    assert.equal(codes.body.recovery_codes.length, 10);
    assert.equal((await patch({ policy: 'optional', factors: ['otp', 'email', 'sms', 'webauthn'] })).status, 200);
  });

  it('administrators list a user’s factors and reset them (home-tenant rule); another tenant’s cannot', async () => {
    const tina = await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'tina@acme.test').executeTakeFirstOrThrow();
    const list = await gh.request('GET', `/api/v1/users/${tina.id}/mfa`, { token: acme.token });
    assert.equal(list.status, 200);
    assert.equal(list.body.factors[0].type, 'otp');
    const globex = await gh.tenantWithAdmin('globex');
    assert.equal((await gh.request('GET', `/api/v1/users/${tina.id}/mfa`, { token: globex.token })).status, 404);
    assert.equal((await gh.request('DELETE', `/api/v1/users/${tina.id}/mfa`, { token: globex.token })).status, 404);
    const otherFactor = list.body.factors[0].id;
    assert.equal((await gh.request('DELETE', `/api/v1/users/${tina.id}/mfa/${otherFactor}`, { token: globex.token })).status, 404);
    const reset = await gh.request('DELETE', `/api/v1/users/${tina.id}/mfa`, { token: acme.token });
    assert.equal(reset.status, 204);
    assert.deepEqual((await gh.request('GET', `/api/v1/users/${tina.id}/mfa`, { token: acme.token })).body.factors, []);
    assert.equal((await signIn('tina@acme.test')).status, 200, 'optional policy, no factor: the password is enough again');
    const events = await gh.auditEvents(acme.token, { action: 'iam.mfa.reset' });
    assert.equal(events[0]?.target_id, tina.id);
  });
});
