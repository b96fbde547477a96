import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuthApiError, AuthenticationClient } from 'auth0';
import { decodeJwt } from 'jose';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { type SmsReceiver, codeIn as smsCodeIn, startSmsReceiver } from '../../helpers/sms.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';
import { startTlsGatehouse } from '../../helpers/tls-gatehouse.js';

const API = 'urn:gatehouse:acme:things';
const DB = 'Username-Password-Authentication';
const PHONE = '+14155550123';

/**
 * Auth0's Node SDK (`auth0`, its AuthenticationClient) against Gatehouse, with only the
 * domain, client id and secret changed (issue 17.1): the SDK builds every URL as
 * `https://${domain}` and checks the ID token's `iss` against `https://${domain}/`, so the
 * Gatehouse here is served over TLS (a certificate this process trusts) with Auth0's form
 * of issuer. Emails go to a real SMTP peer, texts to a stand-in SMS gateway.
 */
describe('auth0 (Node SDK) AuthenticationClient against Gatehouse', () => {
  let gh: TestGatehouse & { issuer: string; domain: string };
  let smtp: SmtpPeer;
  let sms: SmsReceiver;
  let acme: TenantAdmin;
  let auth: AuthenticationClient;
  let app: { client_id: string; client_secret: string };

  before(async () => {
    smtp = await startSmtpPeer();
    sms = await startSmsReceiver();
    gh = await startTlsGatehouse({ config: { smtpUrl: smtp.url, smtpFrom: 'Acme <no-reply@acme.test>', smsWebhookUrl: sms.url } });
    acme = await gh.tenantWithAdmin('acme');
    const policies = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { signup: { enabled: true }, passwordless: { methods: ['email_code', 'sms_code'] } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
    await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Acme API', permissions: [{ value: 'read:things' }] });
    app = await gh.created('/api/v1/applications', acme.token, {
      name: 'Acme backend',
      type: 'web',
      redirect_uris: ['http://localhost:4000/callback'],
      grant_types: [
        'authorization_code',
        'refresh_token',
        'password',
        'http://auth0.com/oauth/grant-type/password-realm',
        'http://auth0.com/oauth/grant-type/passwordless/otp',
      ],
    });
    const jane = await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD, phone: PHONE });
    // Only a system administrator vouches for a number (decision 181).
    const verified = await gh.request('PATCH', `/api/v1/users/${jane}`, { token: await gh.adminToken(), body: { phone_verified: true } });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    // What the Auth0 quick start writes, with Gatehouse's domain and the application's credentials.
    auth = new AuthenticationClient({ domain: gh.domain, clientId: app.client_id, clientSecret: app.client_secret });
  });
  after(async () => {
    await gh?.stop();
    await smtp?.stop();
    await sms?.stop();
  });

  /** The next email to `to` whose text matches (earlier ones, e.g. the notice of a sign-up with a taken address, are passed over). */
  const mailTo = async (to: string, matching = /./) => {
    await deliverEmails(gh.ctx);
    for (;;) {
      const mail = await smtp.next(to);
      if (matching.test(mail.text)) return mail;
    }
  };
  const CODE = /\b\d{6}\b/;
  const grantTypeOf = async (jti: string) => {
    const row = await gh.ctx.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'iam.token.created')
      .orderBy('created_at', 'desc')
      .execute();
    return row.map((r) => r.details as { jti?: string; grant_type?: string }).find((d) => d.jti === jti)?.grant_type;
  };
  const introspect = async (token: string) => {
    const response = await fetch(`${gh.issuer}/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: app.client_id, client_secret: app.client_secret }),
    });
    return (await response.json()) as { active: boolean };
  };

  it('password grant: tokens for the API, an ID token the SDK validates (iss with its trailing slash), a refresh token', async () => {
    const { data } = await auth.oauth.passwordGrant({
      username: 'jane@acme.test',
      password: PASSWORD,
      audience: API,
      scope: 'openid profile email offline_access read:things',
    });
    const access = decodeJwt(data.access_token);
    assert.deepEqual(access.aud, [API, `${gh.issuer}/userinfo`], 'openid asked: /userinfo is the second audience');
    assert.equal(access.iss, `${gh.issuer}/`);
    assert.ok(data.id_token && data.refresh_token);
    assert.equal(decodeJwt(data.id_token).email, 'jane@acme.test');
    assert.equal(await grantTypeOf(access.jti as string), 'password');
  });

  it('password-realm grant: the realm Username-Password-Authentication is Gatehouse’s own passwords', async () => {
    const { data } = await auth.oauth.passwordGrant({
      username: 'jane@acme.test',
      password: PASSWORD,
      realm: DB,
      audience: API,
      scope: 'openid',
    });
    const access = decodeJwt(data.access_token);
    assert.equal(await grantTypeOf(access.jti as string), 'http://auth0.com/oauth/grant-type/password-realm');
    await assert.rejects(
      auth.oauth.passwordGrant({ username: 'jane@acme.test', password: 'wrong-password-x', realm: DB }),
      (error: AuthApiError) => error instanceof AuthApiError && error.error === 'invalid_grant' && error.statusCode === 400,
    );
    await assert.rejects(
      auth.oauth.passwordGrant({ username: 'jane@acme.test', password: PASSWORD, realm: 'some-other-connection' }),
      (error: AuthApiError) => error.error === 'invalid_request',
    );
  });

  it('refresh, then revoke the refresh token (a JSON body): it no longer refreshes', async () => {
    const { data } = await auth.oauth.passwordGrant({ username: 'jane@acme.test', password: PASSWORD, scope: 'openid offline_access' });
    const refreshed = await auth.oauth.refreshTokenGrant({ refresh_token: data.refresh_token as string });
    assert.ok(refreshed.data.access_token);
    const next = refreshed.data.refresh_token as string;
    assert.ok(next && next !== data.refresh_token, 'rotated');
    await auth.oauth.revokeRefreshToken({ token: next });
    await assert.rejects(auth.oauth.refreshTokenGrant({ refresh_token: next }), (error: AuthApiError) => error.error === 'invalid_grant');
  });

  it('revoking an API access token (JSON body): introspection answers active:false from then on', async () => {
    const { data } = await auth.oauth.passwordGrant({
      username: 'jane@acme.test',
      password: PASSWORD,
      audience: API,
      scope: 'read:things',
    });
    assert.equal((await introspect(data.access_token)).active, true);
    await auth.oauth.revokeRefreshToken({ token: data.access_token });
    assert.equal((await introspect(data.access_token)).active, false);
    const listed = await gh.ctx.db
      .selectFrom('revoked_access_tokens')
      .selectAll()
      .where('jti', '=', decodeJwt(data.access_token).jti as string)
      .executeTakeFirst();
    assert.equal(listed?.expires_at.getTime(), (decodeJwt(data.access_token).exp as number) * 1000, 'listed until it expires');
  });

  it('sign-up through /dbconnections/signup: the verification email, then a sign-in once verified', async () => {
    const { data } = await auth.database.signUp({ email: 'newbie@acme.test', password: 'a-brand-new-passphrase', connection: DB });
    assert.equal(data.email, 'newbie@acme.test');
    assert.equal(data.email_verified, false);
    const mail = await mailTo('newbie@acme.test');
    assert.match(mail.text, /\/verify\?token=/);
    const user = await gh.ctx.db
      .selectFrom('users')
      .select(['id', 'email_verified'])
      .where('email', '=', 'newbie@acme.test')
      .executeTakeFirst();
    assert.equal(user?.email_verified, false);
    // The tenant's password policy holds here too.
    await assert.rejects(
      auth.database.signUp({ email: 'weak@acme.test', password: 'password', connection: DB }),
      (error: AuthApiError) => error.error === 'invalid_password' && error.statusCode === 400,
    );
    // An address that has an account answers as a new one, and its owner is told instead.
    const again = await auth.database.signUp({ email: 'jane@acme.test', password: 'another-long-passphrase', connection: DB });
    assert.equal(again.data.email, 'jane@acme.test');
  });

  it('change password through /dbconnections/change_password: the reset email', async () => {
    const { data } = await auth.database.changePassword({ email: 'jane@acme.test', connection: DB });
    assert.equal(data, "We've just sent you an email to reset your password.");
    await mailTo('jane@acme.test', /recovery\/reset\?token=/);
    const unknown = await auth.database.changePassword({ email: 'nobody@acme.test', connection: DB });
    assert.equal(unknown.data, data, 'the same answer for an address without an account');
  });

  it('passwordless by email: /passwordless/start sends a code, the OTP grant spends it once', async () => {
    await auth.passwordless.sendEmail({ email: 'jane@acme.test', send: 'code' });
    const mail = await mailTo('jane@acme.test', CODE);
    const code = /\b(\d{6})\b/.exec(mail.text)?.[1] as string;
    assert.ok(code, mail.text);
    const { data } = await auth.passwordless.loginWithEmail({ email: 'jane@acme.test', code, audience: API, scope: 'openid email' });
    const access = decodeJwt(data.access_token);
    assert.equal(decodeJwt(data.id_token as string).email, 'jane@acme.test');
    assert.deepEqual(access.amr, ['email']);
    await assert.rejects(
      auth.passwordless.loginWithEmail({ email: 'jane@acme.test', code }),
      (error: AuthApiError) => error.error === 'invalid_grant',
      'a code works once',
    );
  });

  it('passwordless by SMS: the code goes to the verified phone, the OTP grant with realm sms', async () => {
    await auth.passwordless.sendSMS({ phone_number: PHONE });
    const text = await sms.next(PHONE);
    const { data } = await auth.passwordless.loginWithSMS({
      phone_number: PHONE,
      code: smsCodeIn(text.body),
      audience: API,
      scope: 'openid',
    });
    assert.deepEqual(decodeJwt(data.access_token).amr, ['sms']);
    assert.equal(decodeJwt(data.id_token as string).sub, decodeJwt(data.access_token).sub);
  });

  it('a wrong passwordless code is invalid_grant; the flow dies after five', async () => {
    await auth.passwordless.sendEmail({ email: 'jane@acme.test', send: 'code' });
    const mail = await mailTo('jane@acme.test', CODE);
    const code = /\b(\d{6})\b/.exec(mail.text)?.[1] as string;
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      await assert.rejects(auth.passwordless.loginWithEmail({ email: 'jane@acme.test', code: wrong }), (error: AuthApiError) =>
        ['invalid_grant', 'too_many_attempts'].includes(error.error),
      );
    }
    await assert.rejects(
      auth.passwordless.loginWithEmail({ email: 'jane@acme.test', code }),
      'the right code is dead after five wrong ones',
    );
  });
});
