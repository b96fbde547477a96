import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { postToken } from '../../helpers/token-endpoint.js';

/** The admin API takes access tokens from OAuth as well as from the OIH flow. */
describe('the admin API with an OAuth access token', () => {
  let gh: TestGatehouse;
  let app: { client_id: string; client_secret: string };

  before(async () => {
    gh = await startGatehouse();
    app = await gh.created('/api/v1/applications', await gh.adminToken(), {
      name: 'Admin console',
      type: 'web',
      redirect_uris: ['https://console.example/callback'],
      grant_types: ['password', 'refresh_token'],
    });
  });
  after(() => gh.stop());

  async function passwordGrant(extra: Record<string, string> = {}) {
    const response = await postToken(gh, {
      grant_type: 'password',
      username: ADMIN_EMAIL,
      password: ADMIN_PASSWORD,
      client_id: app.client_id,
      client_secret: app.client_secret,
      audience: gh.ctx.config.issuer,
      scope: 'openid offline_access',
      ...extra,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as { access_token: string; refresh_token: string };
  }

  it('carries the tenant and the grant, and is accepted while the grant lives', async () => {
    const tokens = await passwordGrant();
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.aud, gh.ctx.config.issuer);
    assert.equal(claims.client_id, app.client_id);
    assert.equal(typeof claims.org_id, 'string');
    assert.equal(typeof claims.gid, 'string');
    assert.equal(claims.sid, undefined);
    const tenants = await gh.request('GET', '/api/v1/tenants', { token: tokens.access_token });
    assert.equal(tenants.status, 200);
  });

  it('stops working at once when its grant is revoked', async () => {
    const tokens = await passwordGrant();
    const revoke = await gh.app.inject({
      method: 'POST',
      url: '/oauth/revoke',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: tokens.refresh_token, client_id: app.client_id, client_secret: app.client_secret }).toString(),
    });
    assert.equal(revoke.statusCode, 200);
    const after = await gh.request('GET', '/api/v1/tenants', { token: tokens.access_token });
    assert.equal(after.status, 401);
    assert.equal(after.body.error, 'invalid_token');
  });

  it('refuses a token for another audience', async () => {
    const api = await gh.created('/api/v1/apis', await gh.adminToken(), { identifier: 'https://invoices.example', name: 'Invoices' });
    assert.ok(api.id);
    const tokens = await passwordGrant({ audience: 'https://invoices.example' });
    const response = await gh.request('GET', '/api/v1/tenants', { token: tokens.access_token });
    assert.equal(response.status, 401);
  });
});
