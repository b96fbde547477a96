import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

/**
 * docs/security.md#v4-access-control, first invariant: a tenant administrator never reads or changes anything of
 * another tenant. One walk over every resource, from A's administrator towards B.
 */
describe('tenant isolation: the administrator of A against tenant B', () => {
  let gh: TestGatehouse;
  let a: TenantAdmin;
  let b: TenantAdmin;
  let bUserId: string;
  let bRoleId: string;
  let bPermissionId: string;

  before(async () => {
    gh = await startGatehouse();
    a = await gh.tenantWithAdmin('alpha');
    b = await gh.tenantWithAdmin('beta');
    bUserId = await gh.createUser(b.token, { email: 'bob@beta.test', password: PASSWORD });
    bRoleId = (await gh.request('POST', '/api/v1/roles', { token: b.token, body: { name: 'beta-role' } })).body.id;
    bPermissionId = (await gh.request('POST', '/api/v1/permission', { token: b.token, body: { key: 'beta:secret' } })).body.id;
  });
  after(() => gh.stop());

  const expectStatus = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, status: number, body?: unknown) => {
    const response = await gh.request(method, url, { token: a.token, ...(body !== undefined && { body }) });
    assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}`);
    return response;
  };

  it('cannot see B’s tenant, users, members, roles, permissions or audit events in any list', async () => {
    const tenants = (await expectStatus('GET', '/api/v1/tenants', 200)).body.tenants;
    assert.deepEqual(
      tenants.map((t: { id: string }) => t.id),
      [a.tenantId],
    );
    const users = JSON.stringify((await expectStatus('GET', '/api/v1/users?limit=200', 200)).body);
    assert.ok(!users.includes(bUserId) && !users.includes(b.adminId));
    const roles = JSON.stringify((await expectStatus('GET', '/api/v1/roles', 200)).body);
    assert.ok(!roles.includes(bRoleId));
    const permissions = JSON.stringify((await expectStatus('GET', '/api/v1/permissions', 200)).body);
    assert.ok(!permissions.includes(bPermissionId) && !permissions.includes('beta:secret'));
    const events = (await expectStatus('GET', '/api/v1/audit-events?limit=200', 200)).body.events;
    assert.ok(events.length > 0);
    for (const event of events) assert.equal(event.tenant_id, a.tenantId);
  });

  it('cannot filter lists by B (403 forbidden)', async () => {
    for (const path of ['users', 'roles', 'audit-events']) {
      assert.equal((await expectStatus('GET', `/api/v1/${path}?tenant=${b.tenantId}`, 403)).body.error, 'forbidden');
    }
  });

  it('cannot read, change or delete B’s records (404: they do not exist for A)', async () => {
    await expectStatus('GET', `/api/v1/tenants/${b.tenantId}`, 404);
    await expectStatus('PATCH', `/api/v1/tenants/${b.tenantId}`, 404, { name: 'Pwned' });
    await expectStatus('GET', `/api/v1/users/${bUserId}`, 404);
    await expectStatus('PATCH', `/api/v1/users/${bUserId}`, 404, { password: 'another-long-password' });
    await expectStatus('DELETE', `/api/v1/users/${bUserId}`, 404);
    await expectStatus('GET', `/api/v1/tenants/${b.tenantId}/members`, 404);
    await expectStatus('POST', `/api/v1/tenants/${b.tenantId}/members`, 404, { userId: a.adminId });
    await expectStatus('PATCH', `/api/v1/tenants/${b.tenantId}/members/${bUserId}`, 404, { roles: [] });
    await expectStatus('DELETE', `/api/v1/tenants/${b.tenantId}/members/${bUserId}`, 404);
    await expectStatus('GET', `/api/v1/roles/${bRoleId}`, 404);
    await expectStatus('PATCH', `/api/v1/roles/${bRoleId}`, 404, { name: 'pwned' });
    await expectStatus('DELETE', `/api/v1/roles/${bRoleId}`, 404);
    await expectStatus('GET', `/api/v1/permission/${bPermissionId}`, 404);
    await expectStatus('PATCH', `/api/v1/permission/${bPermissionId}`, 404, { description: 'pwned' });
    await expectStatus('DELETE', `/api/v1/permission/${bPermissionId}`, 404);
  });

  it('cannot create records in B by naming it (403 forbidden), and nothing is written', async () => {
    const count = () => gh.rowCount('users');
    const users = await count();
    await expectStatus('POST', '/api/v1/users', 403, { email: 'mole@beta.test', password: PASSWORD, tenant: b.tenantId });
    assert.equal(await count(), users);
    await expectStatus('POST', '/api/v1/roles', 403, { name: 'mole', tenant: b.tenantId });
    await expectStatus('POST', '/api/v1/permission', 403, { key: 'mole:key', tenant: b.tenantId });
    const roles = await gh.ctx.db.selectFrom('roles').select('name').where('tenant_id', '=', b.tenantId).execute();
    assert.deepEqual(
      roles.map((r) => r.name),
      ['beta-role'],
    );
  });

  it('cannot use a token for B at all: A’s administrator is not a member there', async () => {
    const session = await gh.signIn(a.adminEmail, PASSWORD);
    const token = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: b.tenantId } });
    assert.equal(token.status, 403);
    assert.equal(token.body.error, 'not_a_member');
  });

  it('left every B record as it was', async () => {
    const user = await gh.ctx.db.selectFrom('users').selectAll().where('id', '=', bUserId).executeTakeFirstOrThrow();
    assert.equal(user.status, 'active');
    assert.equal(await gh.signIn('bob@beta.test', PASSWORD).then(() => true), true);
    const tenant = await gh.ctx.db.selectFrom('tenants').selectAll().where('id', '=', b.tenantId).executeTakeFirstOrThrow();
    assert.equal(tenant.name, 'BETA');
    const members = await gh.ctx.db.selectFrom('memberships').select('user_id').where('tenant_id', '=', b.tenantId).execute();
    assert.equal(members.length, 2);
  });
});
