import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/** RFC 7662 for the JWT access tokens of APIs (docs/architecture.md#tokens: verify locally, or by introspection). */
describe('POST /oauth/introspect with JWT access tokens', () => {
  let gh: TestGatehouse;
  let machine: { id: string; client_id: string; client_secret: string };
  let web: { client_id: string; client_secret: string };
  let stranger: { client_id: string; client_secret: string };
  let userId: string;

  const form = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    gh.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams(fields).toString(),
    });

  const introspect = (token: string, client: { client_id: string; client_secret: string }) =>
    form(
      '/oauth/introspect',
      { token },
      { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
    );

  before(async () => {
    gh = await startGatehouse();
    const admin = await gh.adminToken();
    const acme = await gh.tenantWithAdmin('acme');
    const other = await gh.tenantWithAdmin('other');
    const api = await gh.created('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:invoices',
      name: 'Invoices',
      permissions: [{ value: 'read:invoices' }],
    });
    machine = await gh.created('/api/v1/applications', acme.token, { name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${machine.id}/grants`, acme.token, { api_id: api.id, permissions: ['read:invoices'] });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.acme.test/callback'],
      grant_types: ['password', 'refresh_token'],
    });
    stranger = await gh.created('/api/v1/applications', other.token, { name: 'Elsewhere', type: 'm2m' });
    userId = await gh.createUser(acme.token, { email: 'reader@acme.test', password: PASSWORD });
    assert.ok(admin);
  });
  after(() => gh.stop());

  async function machineToken() {
    const response = await form('/oauth/token', {
      grant_type: 'client_credentials',
      audience: 'urn:gatehouse:acme:invoices',
      client_id: machine.client_id,
      client_secret: machine.client_secret,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().access_token as string;
  }

  async function userTokens() {
    const response = await form('/oauth/token', {
      grant_type: 'password',
      username: 'reader@acme.test',
      password: PASSWORD,
      audience: 'urn:gatehouse:acme:invoices',
      scope: 'openid offline_access',
      client_id: web.client_id,
      client_secret: web.client_secret,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as { access_token: string; refresh_token: string };
  }

  it('answers active with the claims for the client that owns the token', async () => {
    const response = await introspect(await machineToken(), machine);
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.active, true);
    assert.equal(body.client_id, machine.client_id);
    assert.equal(body.aud, 'urn:gatehouse:acme:invoices');
    assert.equal(body.scope, 'read:invoices');
    assert.equal(body.token_type, 'Bearer');
  });

  it('lets a confidential client of the same tenant introspect, and no other tenant', async () => {
    const token = await machineToken();
    assert.equal((await introspect(token, web)).json().active, true);
    assert.deepEqual((await introspect(token, stranger)).json(), { active: false });
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const response = await introspect(await machineToken(), { ...machine, client_secret: 'wrong' });
    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error, 'invalid_client');
  });

  it('says inactive for a tampered token', async () => {
    const token = await machineToken();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'admin' })).toString('base64url')}.${signature}`;
    assert.deepEqual((await introspect(forged, machine)).json(), { active: false });
  });

  it('says inactive once the refresh token of the grant is revoked', async () => {
    const tokens = await userTokens();
    assert.equal((await introspect(tokens.access_token, web)).json().active, true);
    const revoked = await form('/oauth/revoke', {
      token: tokens.refresh_token,
      client_id: web.client_id,
      client_secret: web.client_secret,
    });
    assert.equal(revoked.statusCode, 200);
    assert.deepEqual((await introspect(tokens.access_token, web)).json(), { active: false });
  });

  it('says inactive at once for a disabled user', async () => {
    const tokens = await userTokens();
    assert.equal((await introspect(tokens.access_token, web)).json().sub, userId);
    const disabled = await gh.request('PATCH', `/api/v1/users/${userId}`, { token: await gh.adminToken(), body: { status: 'disabled' } });
    assert.equal(disabled.status, 200);
    assert.deepEqual((await introspect(tokens.access_token, web)).json(), { active: false });
  });
});
