/**
 * Issue 14 part 1, written as attacks: acme's administrator against globex's connections
 * and against the system's. Another tenant's connection, or a system one, does not exist for
 * a tenant administrator (404); another tenant's application cannot be enabled (400); a
 * system connection is a system administrator's alone (403); no answer ever holds a secret.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { connectionById } from '../../../src/authn/federation/connections.js';
import { acme, admin, expectError, gh, globex, systemTenantId, twoTenantsServer } from '../../helpers/two-tenants.js';

const GLOBEX_SECRET = 'globex-client-secret-5e1b7d93';
const SYSTEM_SECRET = 'system-client-secret-a84c02f6';

describe('connections: the tenant boundary', () => {
  twoTenantsServer();
  let globexApp: { client_id: string };
  let acmeApp: { client_id: string };
  let globexConnection: { id: string };
  let systemConnection: { id: string };

  before(async () => {
    globexApp = await gh.created('/api/v1/applications', globex.token, {
      name: 'Globex',
      type: 'spa',
      redirect_uris: ['https://globex.test/cb'],
    });
    acmeApp = await gh.created('/api/v1/applications', acme.token, { name: 'Acme', type: 'spa', redirect_uris: ['https://acme.test/cb'] });
    globexConnection = await gh.created('/api/v1/connections', globex.token, {
      name: 'globex-sso',
      strategy: 'oidc',
      options: { issuer: 'https://login.globex.test', client_id: 'gh', client_secret: GLOBEX_SECRET },
      enabled_clients: [globexApp.client_id],
      domains: ['globex.test'],
    });
    systemConnection = await gh.created('/api/v1/connections', admin, {
      name: 'google',
      strategy: 'google-oauth2',
      options: { client_id: 'google-client', client_secret: SYSTEM_SECRET },
      enabled_clients: [globexApp.client_id, acmeApp.client_id],
    });
  });

  it('acme’s administrator cannot read, list, change or delete globex’s connection (404)', async () => {
    const path = `/api/v1/connections/${globexConnection.id}`;
    await expectError(gh.request('GET', path, { token: acme.token }), 404, 'not_found');
    await expectError(gh.request('PATCH', path, { token: acme.token, body: { enabled_clients: [acmeApp.client_id] } }), 404, 'not_found');
    await expectError(
      gh.request('PATCH', path, { token: acme.token, body: { options: { issuer: 'https://evil.test' } } }),
      404,
      'not_found',
    );
    await expectError(gh.request('DELETE', path, { token: acme.token }), 404, 'not_found');
    const list = await gh.request('GET', '/api/v1/connections', { token: acme.token });
    assert.equal(list.status, 200);
    assert.ok(!list.body.connections.some((c: { id: string }) => c.id === globexConnection.id || c.id === systemConnection.id));
    await expectError(gh.request('GET', `/api/v1/connections?tenant=${globex.tenantId}`, { token: acme.token }), 403, 'forbidden');
    const byName = await gh.request('GET', '/api/v1/connections?name=globex-sso', { token: acme.token });
    assert.deepEqual(byName.body.connections, []);
    const untouched = await connectionById(gh.ctx, globexConnection.id);
    assert.equal(untouched?.options.issuer, 'https://login.globex.test');
    assert.equal(untouched?.secrets.client_secret, GLOBEX_SECRET);
  });

  it('acme’s administrator cannot enable globex’s application on a connection (400 unknown_client)', async () => {
    const refused = await expectError(
      gh.request('POST', '/api/v1/connections', {
        token: acme.token,
        body: {
          name: 'acme-steals',
          strategy: 'github',
          options: { client_id: 'x', client_secret: 'y' },
          enabled_clients: [globexApp.client_id],
        },
      }),
      400,
      'unknown_client',
    );
    assert.deepEqual(refused.details.client_ids, [globexApp.client_id]);
    const own = await gh.created('/api/v1/connections', acme.token, {
      name: 'acme-own',
      strategy: 'github',
      options: { client_id: 'x', client_secret: 'y' },
      enabled_clients: [acmeApp.client_id],
    });
    await expectError(
      gh.request('PATCH', `/api/v1/connections/${own.id}`, {
        token: acme.token,
        body: { enabled_clients: [acmeApp.client_id, globexApp.client_id] },
      }),
      400,
      'unknown_client',
    );
    assert.deepEqual((await connectionById(gh.ctx, own.id))?.enabledClients, [acmeApp.client_id]);
  });

  it('acme’s administrator cannot create a system connection or one in globex (403)', async () => {
    const body = { name: 'acme-system', strategy: 'github', options: { client_id: 'x', client_secret: 'y' } };
    await expectError(gh.request('POST', '/api/v1/connections', { token: acme.token, body: { ...body, tenant: null } }), 403, 'forbidden');
    await expectError(
      gh.request('POST', '/api/v1/connections', { token: acme.token, body: { ...body, tenant: globex.tenantId } }),
      403,
      'forbidden',
    );
    await expectError(
      gh.request('POST', '/api/v1/connections', { token: acme.token, body: { ...body, tenant: systemTenantId } }),
      403,
      'forbidden',
    );
    assert.equal((await gh.request('GET', '/api/v1/connections?name=acme-system', { token: admin })).body.connections.length, 0);
  });

  it('acme’s administrator cannot see, change or delete a system connection (404), and nobody sees its secrets', async () => {
    const path = `/api/v1/connections/${systemConnection.id}`;
    await expectError(gh.request('GET', path, { token: acme.token }), 404, 'not_found');
    await expectError(gh.request('PATCH', path, { token: acme.token, body: { enabled_clients: [] } }), 404, 'not_found');
    await expectError(gh.request('DELETE', path, { token: acme.token }), 404, 'not_found');
    const read = await gh.request('GET', path, { token: admin });
    assert.equal(read.status, 200);
    assert.equal(read.body.tenant, null);
    assert.deepEqual(read.body.options, { client_id: 'google-client' });
    const everything = JSON.stringify([read.body, (await gh.request('GET', '/api/v1/connections', { token: admin })).body]);
    assert.ok(!everything.includes(SYSTEM_SECRET) && !everything.includes(GLOBEX_SECRET));
    assert.ok(!everything.includes('client_secret'));
  });

  it('a system administrator manages every tenant’s connection and may enable any tenant’s application on a system one', async () => {
    const patched = await gh.request('PATCH', `/api/v1/connections/${globexConnection.id}`, {
      token: admin,
      body: { display_name: 'Globex (checked)' },
    });
    assert.equal(patched.status, 200);
    const created = await gh.request('POST', '/api/v1/connections', {
      token: admin,
      body: {
        name: 'for-acme',
        strategy: 'github',
        tenant: acme.tenantId,
        options: { client_id: 'x', client_secret: 'y' },
        enabled_clients: [globexApp.client_id],
      },
    });
    assert.equal(created.status, 400, 'a tenant’s connection serves only that tenant’s applications, whoever configures it');
    assert.equal(created.body.error, 'unknown_client');
    const system = await gh.request('PATCH', `/api/v1/connections/${systemConnection.id}`, {
      token: admin,
      body: { enabled_clients: [globexApp.client_id] },
    });
    assert.equal(system.status, 200);
    assert.deepEqual(system.body.enabled_clients, [globexApp.client_id]);
  });

  it('a role mapping of acme’s connection names only acme’s roles (400 unknown_role)', async () => {
    await gh.created('/api/v1/roles', globex.token, { name: 'globex-ops', permissions: ['tenant.profile.read'] });
    await expectError(
      gh.request('POST', '/api/v1/connections', {
        token: acme.token,
        body: {
          name: 'acme-maps-globex',
          strategy: 'github',
          options: { client_id: 'x', client_secret: 'y' },
          mapping: [{ claim: 'org', value: 'globex', roles: ['globex-ops'] }],
        },
      }),
      400,
      'unknown_role',
    );
  });
});
