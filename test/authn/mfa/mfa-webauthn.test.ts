import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { passkeyAuthenticationOptions, verifyPasskeyAuthentication } from '../../../src/authn/mfa/index.js';
import { ISSUER, PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { SoftAuthenticator } from '../../helpers/webauthn.js';

/**
 * The server side of passkeys (@simplewebauthn/server) without a browser: a software
 * authenticator signs as the specification says. Chromium's virtual authenticator drives
 * the hosted pages in the browser tests.
 */
describe('passkeys (WebAuthn): options, registration, assertion, refusals', () => {
  let gh: TestGatehouse;
  let session: string;
  let userId: string;
  const authenticator = new SoftAuthenticator('gatehouse.test', ISSUER);

  before(async () => {
    gh = await startGatehouse();
    userId = await gh.createUser(await gh.adminToken(), { email: 'pat@example.test', password: PASSWORD });
    session = await gh.signIn('pat@example.test', PASSWORD);
  });
  after(() => gh.stop());

  const options = async () => {
    const response = await gh.request('POST', '/api/v1/users/me/mfa/webauthn/options', { token: session });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };

  it('registration options name the issuer as relying party and carry a fresh challenge', async () => {
    const one = await options();
    assert.equal(one.rp.id, 'gatehouse.test');
    assert.equal(one.user.name, 'pat@example.test');
    assert.equal(one.attestation, 'none');
    assert.match(one.challenge, /^[A-Za-z0-9_-]{20,}$/);
    assert.notEqual((await options()).challenge, one.challenge);
  });

  it('a registration answering a stored challenge becomes a confirmed factor; the same answer again is refused', async () => {
    const response = authenticator.register(await options());
    const created = await gh.request('POST', '/api/v1/users/me/mfa/webauthn', { token: session, body: { response, name: 'Laptop' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.factor.type, 'webauthn');
    assert.equal(created.body.factor.confirmed, true);
    assert.equal(created.body.factor.name, 'Laptop');
    const replay = await gh.request('POST', '/api/v1/users/me/mfa/webauthn', { token: session, body: { response } });
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_webauthn_response');
    // A second registration of the same credential is excluded by the next options.
    assert.deepEqual(
      (await options()).excludeCredentials.map((c: { id: string }) => c.id),
      [authenticator.id],
    );
  });

  it('forged registrations are refused with a stable error: unknown challenge, wrong origin, garbage', async () => {
    const unknown = authenticator.register({ challenge: 'bm90LWEtc3RvcmVkLWNoYWxsZW5nZQ' });
    const wrongOrigin = authenticator.register(await options(), { origin: 'https://evil.test' });
    for (const response of [unknown, wrongOrigin, { id: 'x', response: { clientDataJSON: '!!!' } }, {}]) {
      const refused = await gh.request('POST', '/api/v1/users/me/mfa/webauthn', { token: session, body: { response } });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'invalid_webauthn_response');
    }
  });

  it('an assertion answers a stored challenge once; a replay and a forged signature fail and are audited', async () => {
    const challenge = await passkeyAuthenticationOptions(gh.ctx, userId);
    assert.deepEqual(
      challenge.allowCredentials?.map((c) => c.id),
      [authenticator.id],
    );
    const assertion = authenticator.authenticate(challenge) as AuthenticationResponseJSON;
    const result = await verifyPasskeyAuthentication(gh.ctx, userId, assertion, '203.0.113.7');
    assert.deepEqual(result.amr, ['hwk']);
    await assert.rejects(verifyPasskeyAuthentication(gh.ctx, userId, assertion, '203.0.113.7'), { code: 'invalid_webauthn_response' });

    const forged = authenticator.authenticate(await passkeyAuthenticationOptions(gh.ctx, userId)) as AuthenticationResponseJSON;
    const signature = Buffer.from(forged.response.signature, 'base64url');
    signature.writeUInt8(signature.readUInt8(signature.length - 1) ^ 0xff, signature.length - 1);
    forged.response.signature = signature.toString('base64url');
    await assert.rejects(verifyPasskeyAuthentication(gh.ctx, userId, forged, null), { code: 'invalid_webauthn_response' });
    // Another user's challenge does not serve this user.
    const otherId = await gh.createUser(await gh.adminToken(), { email: 'quinn@example.test', password: PASSWORD });
    const theirs = authenticator.authenticate(await passkeyAuthenticationOptions(gh.ctx, otherId)) as AuthenticationResponseJSON;
    await assert.rejects(verifyPasskeyAuthentication(gh.ctx, userId, theirs, null), { code: 'invalid_webauthn_response' });
    const failures = await gh.ctx.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'iam.mfa.challengeFailed')
      .where('target_id', '=', userId)
      .execute();
    assert.equal(failures.filter((f) => (f.details as { method: string }).method === 'webauthn').length, 3);
  });
});
