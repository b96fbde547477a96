import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sealDestination } from '../../../src/authn/mfa/factors.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { solveAltcha } from './helpers.js';

type Send = (captcha?: string) => Promise<{ status: number; body: any }>;

/** The 428 flow of one API twin: refused without a solution (with the challenge), then accepted with altcha-lib's solution. */
async function challenged(send: Send, accepted: number): Promise<{ status: number; body: any }> {
  const refused = await send();
  assert.equal(refused.status, 428, JSON.stringify(refused.body));
  const details = refused.body.details;
  assert.equal(refused.body.error, 'challenge_required');
  assert.equal(details.field, 'captcha');
  assert.equal(details.challenge.provider, 'altcha');
  const answer = await send(await solveAltcha(details.challenge));
  assert.equal(answer.status, accepted, JSON.stringify(answer.body));
  return answer;
}

/**
 * Issue 16.5: with a policy of `always`, every guarded API twin answers 428
 * challenge_required with the challenge until the solution comes in `captcha`: sign-in
 * (OIH POST /api/v1/session, the system tenant's policy), passwordless start, recovery
 * start, and MFA code sends (Auth0's /mfa/challenge). The sign-up twin: altcha.test.ts.
 */
describe('bot defence: 428 challenge_required on each API twin (mode always)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let clientId: string;
  let systemTenantId: string;

  before(async () => {
    gh = await startGatehouse();
    const system = await gh.systemAdmin();
    admin = system.token;
    systemTenantId = system.systemTenantId;
    acme = await gh.tenantWithAdmin('acme');
    clientId = (
      await gh.created('/api/v1/applications', acme.token, { name: 'Portal', type: 'web', redirect_uris: ['http://localhost:4000/cb'] })
    ).client_id;
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    for (const [tenant, body] of [
      [acme.tenantId, { passwordless: { methods: ['email_code'] }, bot_defence: { mode: 'always' } }],
      [systemTenantId, { bot_defence: { mode: 'always' } }],
    ] as const) {
      const patched = await gh.request('PATCH', `/api/v1/tenants/${tenant}/policies`, { token: admin, body });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
    }
  });
  after(() => gh?.stop());

  it('POST /api/v1/session', async () => {
    const signedIn = await challenged(
      (captcha) =>
        gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD, ...(captcha && { captcha }) } }),
      200,
    );
    assert.ok(signedIn.body.token);
  });

  it('POST /api/v1/flows/passwordless', async () => {
    await challenged(
      (captcha) =>
        gh.request('POST', '/api/v1/flows/passwordless', {
          body: { client_id: clientId, method: 'email_code', email: 'jane@acme.test', ...(captcha && { captcha }) },
        }),
      202,
    );
  });

  it('POST /api/v1/flows/recovery', async () => {
    await challenged(
      (captcha) =>
        gh.request('POST', '/api/v1/flows/recovery', {
          body: { email: 'jane@acme.test', client_id: clientId, ...(captcha && { captcha }) },
        }),
      202,
    );
    const noClient = await gh.request('POST', '/api/v1/flows/recovery', { body: { email: 'jane@acme.test' } });
    assert.equal(noClient.status, 428, 'without an application the system tenant’s policy applies');
  });

  it('POST /mfa/challenge (an email code send) keeps its 428 and the challenge in Auth0’s error shape', async () => {
    const email = 'mfa@system.test';
    const id = await gh.createUser(admin, { email, password: PASSWORD });
    const factorId = gh.ctx.ids.next();
    await gh.ctx.db
      .insertInto('mfa_factors')
      .values({ id: factorId, user_id: id, type: 'email', destination_sealed: sealDestination(gh.ctx, factorId, email), confirmed: true })
      .execute();
    const signIn = await challenged(
      (captcha) => gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD, ...(captcha && { captcha }) } }),
      401,
    );
    const mfaToken = signIn.body.mfa_token as string;
    const sent = await challenged(
      (captcha) =>
        gh.request('POST', '/mfa/challenge', { body: { mfa_token: mfaToken, challenge_type: 'oob', ...(captcha && { captcha }) } }),
      200,
    );
    assert.equal(sent.body.challenge_type, 'oob');
    assert.equal(
      (await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', email).execute()).length,
      1,
      'one code, after the solution',
    );
  });

  it("Auth0's /dbconnections/signup, /dbconnections/change_password and /passwordless/start ask as their twins do", async () => {
    const signupPolicy = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: admin,
      body: { signup: { enabled: true } },
    });
    assert.equal(signupPolicy.status, 200, JSON.stringify(signupPolicy.body));
    const connection = 'Username-Password-Authentication';
    await challenged(
      (captcha) =>
        gh.request('POST', '/dbconnections/signup', {
          body: { client_id: clientId, connection, email: 'new@acme.test', password: 'a-long-new-password-1', ...(captcha && { captcha }) },
        }),
      200,
    );
    await challenged(async (captcha) => {
      // Auth0 answers this one with a sentence, not JSON.
      const answer = await gh.app.inject({
        method: 'POST',
        url: '/dbconnections/change_password',
        payload: { client_id: clientId, connection, email: 'jane@acme.test', ...(captcha && { captcha }) },
      });
      const json = String(answer.headers['content-type']).startsWith('application/json');
      return { status: answer.statusCode, body: json ? answer.json() : answer.body };
    }, 200);
    const spa = await gh.created('/api/v1/applications', acme.token, {
      name: 'SPA',
      type: 'spa',
      redirect_uris: ['http://localhost:4000/spa'],
    });
    await challenged(
      (captcha) =>
        gh.request('POST', '/passwordless/start', {
          body: { client_id: spa.client_id, connection: 'email', email: 'jane@acme.test', send: 'code', ...(captcha && { captcha }) },
        }),
      200,
    );
  });

  it('policies: the provider secret is sealed at rest and never returned; verify_url and provider settings are checked', async () => {
    const path = `/api/v1/tenants/${acme.tenantId}/policies`;
    const missing = await gh.request('PATCH', path, { token: acme.token, body: { bot_defence: { provider: 'turnstile' } } });
    assert.equal(missing.status, 400, 'a third-party provider needs its site key and secret');
    assert.equal(missing.body.details.field, 'bot_defence.site_key');
    const badUrl = await gh.request('PATCH', path, { token: acme.token, body: { bot_defence: { verify_url: 'ftp://x.test/verify' } } });
    assert.equal(badUrl.status, 400);
    assert.equal(badUrl.body.details.field, 'bot_defence.verify_url');
    const badNetwork = await gh.request('PATCH', path, { token: acme.token, body: { bot_defence: { risky_networks: ['10.0.0.0/99'] } } });
    assert.equal(badNetwork.status, 400);
    const set = await gh.request('PATCH', path, {
      token: acme.token,
      body: { bot_defence: { provider: 'turnstile', site_key: '1x00000000000000000000AA', secret: 'turnstile-secret-value' } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.bot_defence.secret_set, true);
    assert.equal(set.body.bot_defence.secret, undefined);
    const read = await gh.request('GET', path, { token: acme.token });
    assert.doesNotMatch(JSON.stringify(read.body), /turnstile-secret-value/);
    assert.equal(read.body.bot_defence.secret_set, true);
    const row = await gh.ctx.db.selectFrom('tenants').select('policies').where('id', '=', acme.tenantId).executeTakeFirstOrThrow();
    assert.doesNotMatch(JSON.stringify(row.policies), /turnstile-secret-value/, 'sealed at rest');
    const audit = await gh.auditEvents(admin, { action: 'iam.tenant.modified' });
    assert.doesNotMatch(JSON.stringify(audit), /turnstile-secret-value/, 'not in the audit trail');
    assert.ok(!gh.logs.some((line) => line.includes('turnstile-secret-value')), 'not in the logs');
    const foreign = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
      token: acme.token,
      body: { bot_defence: { mode: 'off' } },
    });
    assert.ok(foreign.status === 403 || foreign.status === 404, 'a tenant administrator cannot switch off another tenant’s defence');
  });
});
