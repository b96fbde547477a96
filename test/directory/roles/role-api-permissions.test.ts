import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { acme, admin, expectError, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';

interface Carried {
  api_id: string;
  api_identifier: string;
  value: string;
  description: string;
}

describe('API permissions of roles (/api/v1/roles/:id/api-permissions)', () => {
  let acmeApi: { id: string; identifier: string };
  let globexApi: { id: string; identifier: string };
  let systemRoles: Record<string, string>;

  const url = (roleId: string) => `/api/v1/roles/${roleId}/api-permissions`;
  const role = (token: string, name: string) => gh.created<{ id: string }>('/api/v1/roles', token, { name });
  const values = (permissions: Carried[]) => permissions.map((p) => `${p.api_identifier} ${p.value}`);

  twoTenantsServer();
  before(async () => {
    systemRoles = await gh.systemRoleIds();
    acmeApi = await gh.created('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:invoices',
      name: 'Invoices',
      permissions: [{ value: 'read:invoices', description: 'Read' }, { value: 'write:invoices' }],
    });
    globexApi = await gh.created('/api/v1/apis', globex.token, {
      identifier: 'urn:gatehouse:globex:api',
      name: 'Globex',
      permissions: [{ value: 'read:widgets' }],
    });
  });

  it('adds permissions of the own tenant’s API to a tenant role, idempotently, and lists them', async () => {
    const { id } = await role(acme.token, 'Billing');
    const added = await gh.request('POST', url(id), {
      token: acme.token,
      body: { permissions: [{ api_id: acmeApi.id, value: 'read:invoices' }] },
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual(added.body.permissions, [
      { api_id: acmeApi.id, api_identifier: acmeApi.identifier, value: 'read:invoices', description: 'Read' },
    ]);
    const again = await gh.request('POST', url(id), {
      token: acme.token,
      body: {
        permissions: [
          { api_id: acmeApi.id, value: 'read:invoices' },
          { api_id: acmeApi.id, value: 'write:invoices' },
          { api_id: acmeApi.id, value: 'write:invoices' },
        ],
      },
    });
    assert.equal(again.status, 200);
    assert.deepEqual(values(again.body.permissions), [`${acmeApi.identifier} read:invoices`, `${acmeApi.identifier} write:invoices`]);
    const listed = await gh.request('GET', url(id), { token: acme.token });
    assert.deepEqual(listed.body, again.body);
    const events = await gh.auditEvents(acme.token, { action: 'iam.role.modified', target: id });
    assert.equal(events.length, 2);
  });

  it('removes permissions with DELETE, ignoring ones the role does not carry', async () => {
    const { id } = await role(acme.token, 'Removing');
    await gh.request('POST', url(id), {
      token: acme.token,
      body: {
        permissions: [
          { api_id: acmeApi.id, value: 'read:invoices' },
          { api_id: acmeApi.id, value: 'write:invoices' },
        ],
      },
    });
    const removed = await gh.request('DELETE', url(id), {
      token: acme.token,
      body: {
        permissions: [
          { api_id: acmeApi.id, value: 'write:invoices' },
          { api_id: acmeApi.id, value: 'never:had' },
        ],
      },
    });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual(values(removed.body.permissions), [`${acmeApi.identifier} read:invoices`]);
    const [event] = await gh.auditEvents(acme.token, { action: 'iam.role.modified', target: id });
    assert.deepEqual(event?.details.api_permissions_removed, [{ api_id: acmeApi.id, value: 'write:invoices' }]);
  });

  it('refuses values the API does not define, and other tenants’ APIs, as 400 unknown_permission without a write', async () => {
    const { id } = await role(acme.token, 'Refused');
    const before = await gh.rowCount('role_api_permissions');
    for (const permission of [
      { api_id: acmeApi.id, value: 'fly:planes' },
      { api_id: globexApi.id, value: 'read:widgets' },
      { api_id: '00000000-0000-7000-8000-000000000000', value: 'read:invoices' },
    ]) {
      const body = await expectError(
        gh.request('POST', url(id), {
          token: acme.token,
          body: { permissions: [{ api_id: acmeApi.id, value: 'read:invoices' }, permission] },
        }),
        400,
        'unknown_permission',
      );
      assert.deepEqual(body.details.permissions, [permission]);
    }
    assert.equal(await gh.rowCount('role_api_permissions'), before);
  });

  it('keeps a tenant role to its own tenant’s APIs even for a system administrator (400 tenant_mismatch)', async () => {
    const { id } = await role(acme.token, 'Mismatch');
    await expectError(
      gh.request('POST', url(id), { token: admin, body: { permissions: [{ api_id: globexApi.id, value: 'read:widgets' }] } }),
      400,
      'tenant_mismatch',
    );
  });

  it('lets a global role carry any API’s permissions; a tenant administrator sees only those of the own tenant’s APIs', async () => {
    const { id } = await role(admin, 'Global auditor');
    const added = await gh.request('POST', url(id), {
      token: admin,
      body: {
        permissions: [
          { api_id: acmeApi.id, value: 'read:invoices' },
          { api_id: globexApi.id, value: 'read:widgets' },
        ],
      },
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body.permissions.length, 2);
    const seenByAcme = await gh.request('GET', url(id), { token: acme.token });
    assert.equal(seenByAcme.status, 200);
    assert.deepEqual(values(seenByAcme.body.permissions), [`${acmeApi.identifier} read:invoices`]);
    await expectError(
      gh.request('DELETE', url(id), { token: acme.token, body: { permissions: [{ api_id: acmeApi.id, value: 'read:invoices' }] } }),
      403,
      'forbidden',
    );
  });

  it('refuses to change system roles (403 system_resource)', async () => {
    await expectError(
      gh.request('POST', url(systemRoles.USER!), { token: admin, body: { permissions: [{ api_id: acmeApi.id, value: 'read:invoices' }] } }),
      403,
      'system_resource',
    );
  });

  it('answers 404 for another tenant’s role, whatever the method', async () => {
    const { id } = await role(acme.token, 'Hidden');
    const body = { permissions: [{ api_id: globexApi.id, value: 'read:widgets' }] };
    await expectError(gh.request('GET', url(id), { token: globex.token }), 404, 'not_found');
    await expectError(gh.request('POST', url(id), { token: globex.token, body }), 404, 'not_found');
    await expectError(gh.request('DELETE', url(id), { token: globex.token, body }), 404, 'not_found');
  });

  it('is guarded like role updates: tenant.roles.read may read, not change (403 forbidden)', async () => {
    const viewerRole = await gh.created<{ id: string }>('/api/v1/roles', acme.token, {
      name: 'Role viewer',
      permissions: ['tenant.roles.read'],
    });
    const email = 'viewer@acme.test';
    await gh.createUser(acme.token, { email, password: PASSWORD, roles: [viewerRole.id] });
    const token = await gh.tokenFor(await gh.signIn(email, PASSWORD), acme.tenantId);
    const { id } = await role(acme.token, 'Guarded');
    assert.equal((await gh.request('GET', url(id), { token })).status, 200);
    await expectError(
      gh.request('POST', url(id), { token, body: { permissions: [{ api_id: acmeApi.id, value: 'read:invoices' }] } }),
      403,
      'forbidden',
    );
  });

  it('validates the body: 400 codes, never 500', async () => {
    const { id } = await role(acme.token, 'Validated');
    const cases: Array<[unknown, string]> = [
      [{ permissions: [] }, 'invalid_field'],
      [{}, 'missing_field'],
      [{ permissions: [{ api_id: 'x', value: 'read:invoices' }] }, 'invalid_id'],
      [{ permissions: [{ api_id: acmeApi.id }] }, 'missing_field'],
      [{ permissions: [{ api_id: acmeApi.id, value: 'has space' }] }, 'invalid_field'],
      [{ permissions: [{ api_id: acmeApi.id, value: 'read:invoices', extra: 1 }] }, 'unknown_field'],
    ];
    for (const [body, code] of cases) await expectError(gh.request('POST', url(id), { token: acme.token, body }), 400, code);
  });

  it('drops a role’s permission when the API stops defining it or is deleted', async () => {
    const api = await gh.created<{ id: string }>('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:temporary',
      name: 'Temporary',
      permissions: [{ value: 'a' }, { value: 'b' }],
    });
    const { id } = await role(acme.token, 'Cascading');
    await gh.request('POST', url(id), {
      token: acme.token,
      body: {
        permissions: [
          { api_id: api.id, value: 'a' },
          { api_id: api.id, value: 'b' },
        ],
      },
    });
    await gh.request('PATCH', `/api/v1/apis/${api.id}`, {
      token: acme.token,
      body: { permissions: [{ value: 'a', description: 'kept' }] },
    });
    const kept = (await gh.request('GET', url(id), { token: acme.token })).body.permissions as Carried[];
    assert.deepEqual(
      kept.map((p) => [p.value, p.description]),
      [['a', 'kept']],
    );
    await gh.request('DELETE', `/api/v1/apis/${api.id}`, { token: acme.token });
    assert.deepEqual((await gh.request('GET', url(id), { token: acme.token })).body.permissions, []);
  });

  it('is documented in the OpenAPI document with request and response schemas', async () => {
    const doc = (await gh.request('GET', '/api/v1/openapi.json')).body;
    const path = doc.paths['/api/v1/roles/{id}/api-permissions'];
    for (const method of ['get', 'post', 'delete']) {
      assert.ok(path?.[method], method);
      assert.ok(path[method].responses['200'].content['application/json'].schema.properties.permissions, method);
    }
    for (const method of ['post', 'delete']) {
      const body = path[method].requestBody.content['application/json'].schema;
      assert.equal(body.additionalProperties, false);
      assert.equal(body.properties.permissions.items.properties.api_id.format, 'uuid');
    }
  });
});
