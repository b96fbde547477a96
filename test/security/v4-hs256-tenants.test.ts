/**
 * ASVS V4 (access control), issue 12 item 7: HS256 tokens must not cross tenants. Tenant
 * B's administrator holds the shared secret of B's HS256 API, so B can sign any claims
 * with it; such a token must never pass as one of tenant A's applications at A's
 * introspection. An HS256 token is active only when its API, its client and the
 * introspecting client share a tenant and (a machine token) the client's grant for that
 * API still exists, or (a user token) the user's grant with that client lives.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import { createVerifier, InvalidTokenError } from '../../packages/sdk/src/index.js';
import { ISSUER, PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';

interface App {
  id: string;
  client_id: string;
  client_secret: string;
}

describe('V4: an HS256 token signed by another tenant (or without a grant) is not active', () => {
  let gh: TestGatehouse;
  let a: TenantAdmin;
  let b: TenantAdmin;
  let aMachine: App;
  let aWeb: App;
  let aApi: { id: string };
  let aHsApi: { id: string; signing_secret: string };
  let bHsApi: { id: string; signing_secret: string };
  let aUserId: string;

  const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    gh.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams(fields).toString(),
    });
  const introspect = async (token: string, caller: App) =>
    (
      await form(
        '/oauth/introspect',
        { token },
        { authorization: `Basic ${Buffer.from(`${caller.client_id}:${caller.client_secret}`).toString('base64')}` },
      )
    ).json();

  /** What a holder of an HS256 API's secret can sign: any claims, for that API's audience. */
  const forge = (secret: string, audience: string, claims: Record<string, unknown>) =>
    new SignJWT({ scope: 'read:orders write:orders', ...claims })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(secret));

  before(async () => {
    gh = await startGatehouse();
    a = await gh.tenantWithAdmin('tenant-a');
    b = await gh.tenantWithAdmin('tenant-b');
    aApi = await gh.created('/api/v1/apis', a.token, {
      identifier: 'urn:gatehouse:tenant-a:orders',
      name: 'Orders',
      permissions: [{ value: 'read:orders' }, { value: 'write:orders' }],
    });
    aHsApi = await gh.created('/api/v1/apis', a.token, {
      identifier: 'urn:gatehouse:tenant-a:ledger',
      name: 'Ledger',
      signing_alg: 'HS256',
      permissions: [{ value: 'read:ledger' }],
    });
    bHsApi = await gh.created('/api/v1/apis', b.token, {
      identifier: 'urn:gatehouse:tenant-b:evil',
      name: 'Evil',
      signing_alg: 'HS256',
      permissions: [{ value: 'read:orders' }, { value: 'write:orders' }],
    });
    aMachine = await gh.created('/api/v1/applications', a.token, { name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${aMachine.id}/grants`, a.token, { api_id: aApi.id, permissions: ['read:orders'] });
    aWeb = await gh.created('/api/v1/applications', a.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.a.test/callback'],
      grant_types: ['password', 'refresh_token'],
    });
    aUserId = await gh.createUser(a.token, { email: 'reader@a.test', password: PASSWORD });
  });
  after(() => gh.stop());

  it("B's HS256 secret signs a machine token naming A's client: A's introspection says inactive", async () => {
    const forged = await forge(bHsApi.signing_secret, 'urn:gatehouse:tenant-b:evil', {
      sub: aMachine.client_id,
      client_id: aMachine.client_id,
    });
    // The caller is A's own client (the token's client), then another confidential client of A.
    assert.deepEqual(await introspect(forged, aMachine), { active: false });
    assert.deepEqual(await introspect(forged, aWeb), { active: false });
  });

  it("B's HS256 secret signs a user token naming A's user, client and a live grant: inactive", async () => {
    const issued = await form('/oauth/token', {
      grant_type: 'password',
      username: 'reader@a.test',
      password: PASSWORD,
      audience: 'urn:gatehouse:tenant-a:orders',
      scope: 'openid',
      client_id: aWeb.client_id,
      client_secret: aWeb.client_secret,
    });
    assert.equal(issued.statusCode, 200, issued.body);
    const real = issued.json().access_token as string;
    assert.equal((await introspect(real, aWeb)).active, true, 'the real token is active');
    const { gid } = decodeJwt(real) as { gid: string };
    const forged = await forge(bHsApi.signing_secret, 'urn:gatehouse:tenant-b:evil', {
      sub: aUserId,
      client_id: aWeb.client_id,
      gid,
      org_id: a.tenantId,
      permissions: ['write:orders'],
    });
    assert.deepEqual(await introspect(forged, aWeb), { active: false });
  });

  it("an HS256 machine token of A's own API is active only while the client's grant for that API exists", async () => {
    // Gatehouse's own token, through a grant: active.
    await gh.created(`/api/v1/applications/${aMachine.id}/grants`, a.token, { api_id: aHsApi.id, permissions: ['read:ledger'] });
    const issued = await form('/oauth/token', {
      grant_type: 'client_credentials',
      audience: 'urn:gatehouse:tenant-a:ledger',
      client_id: aMachine.client_id,
      client_secret: aMachine.client_secret,
    });
    assert.equal(issued.statusCode, 200, issued.body);
    const token = issued.json().access_token as string;
    assert.equal((await introspect(token, aMachine)).active, true);
    // A client that never had a grant for the API: a token signed with its secret is not active.
    const other = await gh.created<App>('/api/v1/applications', a.token, { name: 'Batch', type: 'm2m' });
    const ungranted = await forge(aHsApi.signing_secret, 'urn:gatehouse:tenant-a:ledger', {
      sub: other.client_id,
      client_id: other.client_id,
    });
    assert.deepEqual(await introspect(ungranted, other), { active: false });
    // The grant revoked: the token it got is not active any more.
    const revoked = await gh.request('DELETE', `/api/v1/applications/${aMachine.id}/grants/${aHsApi.id}`, { token: a.token });
    assert.equal(revoked.status, 204);
    assert.deepEqual(await introspect(token, aMachine), { active: false });
  });

  it('the SDK binds an HS256 token to the one API whose secret it holds', async () => {
    const verifier = createVerifier({ issuer: ISSUER, audience: 'urn:gatehouse:tenant-a:ledger', secret: aHsApi.signing_secret });
    // B names A's API as the audience, but can only sign with B's own secret.
    const forged = await forge(bHsApi.signing_secret, 'urn:gatehouse:tenant-a:ledger', {
      sub: aMachine.client_id,
      client_id: aMachine.client_id,
    });
    await assert.rejects(
      verifier.verify(forged),
      (error: unknown) => error instanceof InvalidTokenError && error.reason === 'bad_signature',
    );
    // A token of B's API (signed right, with B's secret) is not one for A's API either.
    const bOwn = await forge(bHsApi.signing_secret, 'urn:gatehouse:tenant-b:evil', {
      sub: aMachine.client_id,
      client_id: aMachine.client_id,
    });
    await assert.rejects(verifier.verify(bOwn), InvalidTokenError);
    // A secret is one API's: a verifier with a secret takes exactly one audience.
    assert.throws(
      () =>
        createVerifier({
          issuer: ISSUER,
          audience: ['urn:gatehouse:tenant-a:ledger', 'urn:gatehouse:tenant-b:evil'],
          secret: aHsApi.signing_secret,
        }),
      /one audience/,
    );
  });
});
