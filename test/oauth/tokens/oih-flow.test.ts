import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { ADMIN_EMAIL, ADMIN_PASSWORD, ISSUER, PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

describe('OIH flow: session → organizations → JWT verified through JWKS', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.stop());

  it('walks the three stages to a JWT that jose verifies against /.well-known/jwks.json', async () => {
    const { tenantId } = await gh.tenantWithAdmin('acme');
    const admin = await gh.adminToken();
    const userId = await gh.createUser(admin, { email: 'jane@acme.test', password: PASSWORD, name: 'Jane', tenant: tenantId });

    const session = await gh.request('POST', '/api/v1/session', { body: { username: 'jane@acme.test', password: PASSWORD } });
    assert.equal(session.status, 200);
    assert.match(session.body.token, /^ghs_/);
    assert.ok(Date.parse(session.body.expires_at) > Date.now());

    const orgs = await gh.request('GET', '/api/v1/organizations', { token: session.body.token });
    assert.equal(orgs.status, 200);
    assert.deepEqual(orgs.body.organizations, [{ id: tenantId, slug: 'acme', name: 'ACME', roles: ['USER'] }]);

    const issued = await gh.request('POST', '/api/v1/token', { token: session.body.token, body: { organization: tenantId } });
    assert.equal(issued.status, 200);
    assert.equal(issued.body.token_type, 'Bearer');
    assert.equal(issued.body.expires_in, 600);

    const jwks = await gh.request('GET', '/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    for (const key of jwks.body.keys) assert.equal(key.d, undefined, 'no private member in the JWKS');
    const { payload, protectedHeader } = await jwtVerify(issued.body.token, createLocalJWKSet(jwks.body), {
      issuer: ISSUER,
      audience: ISSUER,
      algorithms: ['RS256'],
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.ok(jwks.body.keys.some((k: { kid: string }) => k.kid === decodeProtectedHeader(issued.body.token).kid));
    assert.equal(payload.sub, userId);
    assert.equal(payload.org_id, tenantId);
    assert.equal(payload.org_name, 'ACME');
    assert.deepEqual(payload.roles, ['USER']);
    assert.deepEqual(payload.permissions, ['tenant.profile.read']);
    assert.equal(payload.email, 'jane@acme.test');
    assert.equal(payload.name, 'Jane');
    for (const claim of ['iat', 'exp', 'jti']) assert.ok(payload[claim], claim);
  });

  it('accepts the organization by slug, and the session cookie instead of the bearer token', async () => {
    const login = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD },
    });
    const cookie = login.cookies.find((c) => c.name === 'gatehouse_session');
    assert.ok(cookie?.httpOnly);
    assert.equal(cookie?.sameSite, 'Lax');
    const token = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/token',
      cookies: { gatehouse_session: cookie.value },
      payload: { organization: 'system' },
    });
    assert.equal(token.statusCode, 200);
  });

  it('answers 400 missing_organization and 403 not_a_member', async () => {
    const session = await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const missing = await gh.request('POST', '/api/v1/token', { token: session, body: {} });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'missing_organization');
    const noBody = await gh.request('POST', '/api/v1/token', { token: session });
    assert.equal(noBody.body.error, 'missing_organization');
    const other = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: 'acme' } });
    assert.equal(other.status, 403);
    assert.equal(other.body.error, 'not_a_member');
    const unknown = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: 'no-such-org' } });
    assert.equal(unknown.body.error, 'not_a_member');
  });
});
