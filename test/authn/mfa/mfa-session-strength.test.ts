import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

/**
 * A session that proved only the password (opened where MFA was off) cannot reach what a
 * second factor protects: the user's factors and recovery codes, the own password, or a
 * token for an organization that requires MFA (security review of issue 4).
 */
describe('a password-only session is not an MFA session', () => {
  let gh: TestGatehouse;
  let relaxed: TenantAdmin;
  let strict: TenantAdmin;
  let session: string;

  before(async () => {
    gh = await startGatehouse();
    relaxed = await gh.tenantWithAdmin('relaxed');
    strict = await gh.tenantWithAdmin('strict');
    const userId = await gh.createUser(relaxed.token, { email: 'pia@relaxed.test', password: PASSWORD });
    const joined = await gh.request('POST', `/api/v1/tenants/${strict.tenantId}/members`, {
      token: await gh.adminToken(),
      body: { userId },
    });
    assert.equal(joined.status, 201, JSON.stringify(joined.body));
    // Pia enrols an authenticator app while her home tenant's policy is optional.
    const enrolling = await gh.signIn('pia@relaxed.test', PASSWORD);
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: enrolling, body: {} });
    const totp = new TOTP({ secret: Secret.fromBase32(enrolment.body.secret) });
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: enrolling,
      body: { otp: totp.generate() },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    // The home tenant turns MFA off: the password alone now opens a session.
    await gh.request('PATCH', `/api/v1/tenants/${relaxed.tenantId}/policies`, { token: relaxed.token, body: { mfa: { policy: 'off' } } });
    await gh.request('PATCH', `/api/v1/tenants/${strict.tenantId}/policies`, {
      token: strict.token,
      body: { mfa: { policy: 'required' } },
    });
    session = await gh.signIn('pia@relaxed.test', PASSWORD);
  });
  after(() => gh.stop());

  it('cannot mint recovery codes, add or list-and-remove factors, or change the password', async () => {
    for (const [method, url, body] of [
      ['POST', '/api/v1/users/me/mfa/recovery-codes', {}],
      ['POST', '/api/v1/users/me/mfa/otp', {}],
      ['POST', '/api/v1/users/me/password', { current_password: PASSWORD, new_password: 'a-fresh-long-password' }],
    ] as const) {
      const response = await gh.request(method, url, { token: session, body });
      assert.equal(response.status, 403, `${url}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error, 'mfa_step_required');
    }
  });

  it('gets no token for an organization that requires MFA, but does for the own', async () => {
    const refused = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: 'strict' } });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'mfa_step_required');
    const own = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: 'relaxed' } });
    assert.equal(own.status, 200, JSON.stringify(own.body));
  });
});
