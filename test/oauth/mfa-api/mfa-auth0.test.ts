import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import type { Clock } from '../../../src/platform/ids.js';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { freePort } from '../../helpers/oidc.js';
import { codeIn, type SmsReceiver, startSmsReceiver } from '../../helpers/sms.js';

const MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob';
const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
const MFA_RECOVERY = 'http://auth0.com/oauth/grant-type/mfa-recovery-code';
const MULTI_FACTOR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

/**
 * The article's "Login flow with MFA" (section 2.1.1, steps 1–4b), sent as written there
 * with only the base URL changed, against a tenant whose administrator requires MFA. SMS
 * codes arrive at a real HTTP receiver standing in for the SMS gateway's webhook.
 */
describe('the article’s Auth0 MFA flow against Gatehouse', () => {
  let gh: TestGatehouse;
  let base: string;
  let sms: SmsReceiver;
  let app: { client_id: string; client_secret: string };
  let other: { client_id: string; client_secret: string };
  let nowMs = Date.now();
  const clock: Clock = { now: () => new Date(nowMs) };
  const jane = 'jane@acme.test';
  const phone = '+14155550109';

  const post = async (path: string, body: Record<string, string>, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const json = async (method: string, path: string, body?: unknown, mfaToken?: string) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(mfaToken && { authorization: `Bearer ${mfaToken}` }), 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  /** Step 1: the password grant, as the article sends it. */
  const step1 = (username = jane, client = app) =>
    post('/oauth/token', {
      grant_type: 'password',
      username,
      password: PASSWORD,
      client_id: client.client_id,
      client_secret: client.client_secret,
      audience: 'https://example.com',
      scope: 'openid email',
    });
  /** Steps 3b/4b: the token request with the server's code and the user's code. */
  const oobGrant = (mfaToken: string, oobCode: string, bindingCode: string) =>
    post(
      '/oauth/token',
      {
        grant_type: MFA_OOB,
        client_id: app.client_id,
        client_secret: app.client_secret,
        mfa_token: mfaToken,
        oob_code: oobCode,
        binding_code: bindingCode,
      },
      { authorization: `Bearer ${mfaToken}` },
    );
  const otpGrant = (mfaToken: string, otp: string, client = app) =>
    post('/oauth/token', {
      grant_type: MFA_OTP,
      client_id: client.client_id,
      client_secret: client.client_secret,
      mfa_token: mfaToken,
      otp,
    });

  before(async () => {
    sms = await startSmsReceiver();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    gh = await startGatehouse({ issuer: base, clock, config: { smsWebhookUrl: sms.url } });
    await gh.app.listen({ port, host: '127.0.0.1' });
    const acme = await gh.tenantWithAdmin('acme');
    const policies = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { mfa: { policy: 'required' } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
    // An identifier outside the tenant's namespace is a system administrator's to give (decision 197).
    await gh.created('/api/v1/apis', await gh.adminToken(), { identifier: 'https://example.com', name: 'Example', tenant: acme.tenantId });
    // The article's screenshot 1: the password and MFA grant types checked.
    const grants = ['password', MFA_OOB, MFA_OTP, MFA_RECOVERY];
    app = await gh.created('/api/v1/applications', acme.token, { name: 'Article app', type: 'web', grant_types: grants });
    other = await gh.created('/api/v1/applications', acme.token, { name: 'Other app', type: 'web', grant_types: grants });
    for (const email of [jane, 'otto@acme.test', 'rita@acme.test']) await gh.createUser(acme.token, { email, password: PASSWORD });
  });
  after(async () => {
    await gh.stop();
    await sms.stop();
  });

  let recoveryCodes: string[] = [];

  it('MFA enabled, no authenticator yet: steps 1, 2, 3 (associate SMS), 3a (the SMS) and 3b give the JWT', async () => {
    const one = await step1();
    assert.equal(one.status, 403);
    assert.equal(one.body.error, 'mfa_required');
    assert.equal(one.body.error_description, 'Multifactor authentication required');
    const mfaToken = one.body.mfa_token as string;
    assert.match(mfaToken, /^ghmfa_/);

    const two = await json('GET', '/mfa/authenticators', undefined, mfaToken);
    assert.equal(two.status, 200);
    assert.deepEqual(two.body, []);

    const three = await json(
      'POST',
      '/mfa/associate',
      { authenticator_types: ['oob'], oob_channels: ['sms'], phone_number: phone },
      mfaToken,
    );
    assert.equal(three.status, 200, JSON.stringify(three.body));
    assert.equal(three.body.authenticator_type, 'oob');
    assert.equal(three.body.binding_method, 'prompt');
    assert.equal(three.body.oob_channel, 'sms');
    assert.equal(typeof three.body.oob_code, 'string');
    assert.equal(three.body.recovery_codes.length, 10);
    recoveryCodes = three.body.recovery_codes;

    const text = await sms.next(phone);
    assert.match(text.body, /ACME/);
    const tokens = await oobGrant(mfaToken, three.body.oob_code, codeIn(text.body));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.equal(tokens.body.token_type, 'Bearer');
    assert.equal(tokens.body.expires_in, 600);
    const access = decodeJwt(tokens.body.access_token);
    // Asked with openid, the API's token names /userinfo second (as Auth0's).
    assert.equal([access.aud].flat()[0], 'https://example.com');
    assert.deepEqual(access.amr, ['pwd', 'sms', 'mfa']);
    assert.equal(access.acr, MULTI_FACTOR);
    const id = decodeJwt(tokens.body.id_token);
    assert.equal(id.email, jane);
    assert.deepEqual(id.amr, ['pwd', 'sms', 'mfa']);
    assert.equal(id.acr, MULTI_FACTOR);

    // The mfa_token works once.
    const again = await oobGrant(mfaToken, three.body.oob_code, codeIn(text.body));
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
  });

  it('MFA enabled and associated: step 3 answers "already enrolled", step 4 sends a challenge, 4b gives the JWT', async () => {
    const { body } = await step1();
    const mfaToken = body.mfa_token as string;
    const list = await json('GET', '/mfa/authenticators', undefined, mfaToken);
    assert.equal(list.status, 200);
    const smsAuthenticator = list.body.find((a: { authenticator_type: string }) => a.authenticator_type === 'oob');
    assert.match(smsAuthenticator.id, /^sms\|/);
    assert.equal(smsAuthenticator.active, true);
    assert.equal(smsAuthenticator.oob_channel, 'sms');
    assert.equal(smsAuthenticator.name, '••••••••••09', 'the number is masked');
    assert.ok(list.body.some((a: { authenticator_type: string }) => a.authenticator_type === 'recovery-code'));

    const three = await json(
      'POST',
      '/mfa/associate',
      { authenticator_types: ['oob'], oob_channels: ['sms'], phone_number: phone },
      mfaToken,
    );
    assert.equal(three.status, 403);
    assert.deepEqual(three.body, { error: 'access_denied', error_description: 'User is already enrolled.' });

    // Step 4 exactly as the article: JSON body, no Authorization header.
    const four = await json('POST', '/mfa/challenge', {
      client_id: app.client_id,
      client_secret: app.client_secret,
      challenge_type: 'oob',
      authenticator_id: smsAuthenticator.id,
      mfa_token: mfaToken,
    });
    assert.equal(four.status, 200, JSON.stringify(four.body));
    assert.equal(four.body.challenge_type, 'oob');
    assert.equal(four.body.binding_method, 'prompt');
    const code = codeIn((await sms.next(phone)).body);

    const wrong = await oobGrant(mfaToken, four.body.oob_code, code === '000000' ? '111111' : '000000');
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body, { error: 'invalid_grant', error_description: 'Invalid binding_code.' });
    const tokens = await oobGrant(mfaToken, four.body.oob_code, code);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
    // The oob_code is spent with its answer.
    const { body: next } = await step1();
    const replay = await oobGrant(next.mfa_token, four.body.oob_code, code);
    assert.deepEqual(replay.body, { error: 'invalid_grant', error_description: 'Invalid binding_code.' });
  });

  it('the challenge names its client: another client, a wrong secret or no client is refused', async () => {
    const { body } = await step1();
    const challenge = (client_id: string | undefined, client_secret: string | undefined) =>
      json('POST', '/mfa/challenge', { client_id, client_secret, challenge_type: 'oob', mfa_token: body.mfa_token });
    assert.equal((await challenge(other.client_id, other.client_secret)).body.error, 'invalid_token');
    assert.equal((await challenge(app.client_id, 'ghcs_wrong')).body.error, 'invalid_client');
    assert.equal((await challenge(undefined, undefined)).body.error, 'invalid_token');
    assert.equal(sms.messages.filter((m) => m.to === phone).length, 2, 'no code was sent for a refused challenge');
  });

  it('mfa-recovery-code: a recovery code works once, and the answer carries a new one that works', async () => {
    const first = await step1();
    const used = recoveryCodes[0] as string;
    const tokens = await post('/oauth/token', {
      grant_type: MFA_RECOVERY,
      client_id: app.client_id,
      client_secret: app.client_secret,
      mfa_token: first.body.mfa_token,
      recovery_code: used,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
    assert.match(tokens.body.recovery_code, /^[0-9A-Z]{24}$/);

    const second = await step1();
    const reused = await post('/oauth/token', {
      grant_type: MFA_RECOVERY,
      client_id: app.client_id,
      client_secret: app.client_secret,
      mfa_token: second.body.mfa_token,
      recovery_code: used,
    });
    assert.deepEqual(reused.body, { error: 'invalid_grant', error_description: 'MFA Authorization rejected.' });
    const fresh = await post('/oauth/token', {
      grant_type: MFA_RECOVERY,
      client_id: app.client_id,
      client_secret: app.client_secret,
      mfa_token: second.body.mfa_token,
      recovery_code: tokens.body.recovery_code.toLowerCase(),
    });
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  });

  it('mfa-otp: an authenticator app (otpauth) associates, answers, and a code is not accepted twice', async () => {
    const one = await step1('otto@acme.test');
    const three = await json('POST', '/mfa/associate', { authenticator_types: ['otp'] }, one.body.mfa_token);
    assert.equal(three.status, 200, JSON.stringify(three.body));
    assert.equal(three.body.authenticator_type, 'otp');
    assert.match(three.body.barcode_uri, /^otpauth:\/\/totp\/ACME:otto%40acme\.test\?/);
    assert.equal(three.body.recovery_codes.length, 10);
    const app2 = new TOTP({ secret: Secret.fromBase32(three.body.secret), algorithm: 'SHA1', digits: 6, period: 30 });
    const code = app2.generate({ timestamp: nowMs });
    const tokens = await otpGrant(one.body.mfa_token, code);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.deepEqual(decodeJwt(tokens.body.access_token).amr, ['pwd', 'otp', 'mfa']);

    const two = await step1('otto@acme.test');
    const challenge = await json('POST', '/mfa/challenge', {
      client_id: app.client_id,
      client_secret: app.client_secret,
      challenge_type: 'otp',
      mfa_token: two.body.mfa_token,
    });
    assert.deepEqual(challenge.body, { challenge_type: 'otp' });
    const replay = await otpGrant(two.body.mfa_token, code);
    assert.deepEqual(replay.body, { error: 'invalid_grant', error_description: 'Invalid otp_code.' });
    nowMs += 30_000;
    const later = await otpGrant(two.body.mfa_token, app2.generate({ timestamp: nowMs }));
    assert.equal(later.status, 200, JSON.stringify(later.body));
  });

  it('mfa_token: bound to its client, malformed and unknown ones refused, expired after 5 minutes', async () => {
    const one = await step1('otto@acme.test');
    const token = one.body.mfa_token as string;
    const otherClient = await otpGrant(token, '123456', other);
    assert.equal(otherClient.body.error, 'invalid_grant');
    assert.equal((await otpGrant('not-a-token', '123456')).body.error, 'invalid_grant');
    assert.equal((await otpGrant(`ghmfa_${'A'.repeat(43)}`, '123456')).body.error, 'invalid_grant');
    assert.equal((await json('GET', '/mfa/authenticators', undefined, 'garbage')).status, 401);
    nowMs += 5 * 60_000 + 1;
    const expired = await otpGrant(token, '123456');
    assert.deepEqual(expired.body, { error: 'expired_token', error_description: 'mfa_token is expired' });
    assert.equal((await json('GET', '/mfa/authenticators', undefined, token)).body.error, 'expired_token');
  });

  it('an SMS gateway that fails is tried twice, then the caller gets 502 and may ask again', async () => {
    const one = await step1('rita@acme.test');
    sms.failWith = 503;
    const before = sms.requests;
    const associate = () =>
      json(
        'POST',
        '/mfa/associate',
        { authenticator_types: ['oob'], oob_channels: ['sms'], phone_number: '+14155550177' },
        one.body.mfa_token,
      );
    const failed = await associate();
    assert.equal(failed.status, 502);
    assert.equal(failed.body.error, 'server_error');
    assert.equal(sms.requests - before, 2);
    sms.failWith = undefined;
    const retried = await associate();
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    const tokens = await oobGrant(one.body.mfa_token, retried.body.oob_code, codeIn((await sms.next('+14155550177')).body));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(
      gh.logs.every((line) => !line.includes('4155550177')),
      'no phone number in the logs',
    );
  });

  it('an application without the MFA grants cannot finish, and a user of a tenant without MFA gets the JWT at step 1', async () => {
    const admin = await gh.adminToken();
    await gh.created('/api/v1/apis', admin, { identifier: 'https://plain.example.com', name: 'Plain' });
    const plain = await gh.created('/api/v1/applications', admin, { name: 'Plain', type: 'web', grant_types: ['password'] });
    const direct = await post('/oauth/token', {
      grant_type: 'password',
      username: 'admin@gatehouse.test',
      password: 'admin-password-for-tests',
      client_id: plain.client_id,
      client_secret: plain.client_secret,
      audience: 'https://plain.example.com',
    });
    assert.equal(direct.status, 200, JSON.stringify(direct.body));
    assert.deepEqual(decodeJwt(direct.body.access_token).amr, ['pwd']);
    assert.equal(decodeJwt(direct.body.access_token).acr, undefined);
    const refused = await gh.request('POST', '/api/v1/applications', {
      token: admin,
      body: { name: 'MFA only', type: 'web', grant_types: [MFA_OTP] },
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'grant_not_allowed');
  });
});
