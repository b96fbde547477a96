/**
 * Groups as an attacker uses them (decision 362): a tenant administrator, also a member of
 * a second tenant, tries to reach the other tenant's groups, to put an outsider in its own
 * group, to give its group another tenant's role or a restricted one, and a narrow
 * administrator tries to climb through a group past the rules of direct role assignment.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { importBody } from '../helpers/transfer.js';

describe('V4 groups: tenant boundaries and least privilege through groups', () => {
  let gh: TestGatehouse;
  let admin: string;
  let roles: Record<string, string>;
  let a: TenantAdmin;
  let b: TenantAdmin;
  let bGroup: string;
  let bRole: string;
  let aGroup: string;
  /** Administrator of A and plain member of B: the attacker with two tenants. */
  let mallory: { id: string; email: string; tokenA: string; tokenB: string };

  const groups = (tenantId: string) => `/api/v1/tenants/${tenantId}/groups`;
  const token = async (email: string, tenantId: string) => gh.tokenFor(await gh.signIn(email, PASSWORD), tenantId);

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    roles = await gh.systemRoleIds();
    a = await gh.tenantWithAdmin('grp-a');
    b = await gh.tenantWithAdmin('grp-b');
    bRole = (await gh.created('/api/v1/roles', b.token, { name: 'b-auditor', permissions: ['tenant.audit.read'] })).id;
    bGroup = (await gh.created(groups(b.tenantId), b.token, { name: 'B Team', roles: [bRole] })).id;
    aGroup = (await gh.created(groups(a.tenantId), a.token, { name: 'A Team' })).id;
    const email = 'mallory@grp-a.test';
    const id = await gh.createUser(admin, { email, password: PASSWORD, tenant: a.tenantId, roles: [roles.TENANT_ADMIN] });
    const joined = await gh.request('POST', `/api/v1/tenants/${b.tenantId}/members`, { token: admin, body: { userId: id } });
    assert.equal(joined.status, 201, JSON.stringify(joined.body));
    mallory = { id, email, tokenA: await token(email, a.tenantId), tokenB: await token(email, b.tenantId) };
  });
  after(() => gh.stop());

  it('an administrator of A, also a member of B, gets 404 for every group route of B and changes nothing', async () => {
    const attempts: [string, string, unknown?][] = [
      ['GET', groups(b.tenantId)],
      ['POST', groups(b.tenantId), { name: 'Planted' }],
      ['GET', `${groups(b.tenantId)}/${bGroup}`],
      ['PATCH', `${groups(b.tenantId)}/${bGroup}`, { name: 'Renamed' }],
      ['DELETE', `${groups(b.tenantId)}/${bGroup}`],
      ['GET', `${groups(b.tenantId)}/${bGroup}/members`],
      ['POST', `${groups(b.tenantId)}/${bGroup}/members`, { users: [mallory.id] }],
      ['DELETE', `${groups(b.tenantId)}/${bGroup}/members/${b.adminId}`],
      ['GET', `${groups(b.tenantId)}/${bGroup}/roles`],
      ['POST', `${groups(b.tenantId)}/${bGroup}/roles`, { roles: [bRole] }],
      ['DELETE', `${groups(b.tenantId)}/${bGroup}/roles/${bRole}`],
      // B's group named under A's own tenant path: as unknown as a missing one.
      ['GET', `${groups(a.tenantId)}/${bGroup}`],
      ['PATCH', `${groups(a.tenantId)}/${bGroup}`, { name: 'Renamed' }],
      ['DELETE', `${groups(a.tenantId)}/${bGroup}`],
      ['POST', `${groups(a.tenantId)}/${bGroup}/members`, { users: [mallory.id] }],
      ['POST', `${groups(a.tenantId)}/${bGroup}/roles`, { roles: [bRole] }],
    ];
    for (const [method, url, body] of attempts) {
      const response = await gh.request(method as 'GET', url, { token: mallory.tokenA, ...(body !== undefined && { body }) });
      assert.equal(response.status, 404, `${method} ${url}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error, 'not_found');
    }
    // With the token of B, where Mallory is a plain member: no group permission at all.
    const asMember = await gh.request('POST', `${groups(b.tenantId)}/${bGroup}/members`, {
      token: mallory.tokenB,
      body: { users: [mallory.id] },
    });
    assert.equal(asMember.status, 403);
    const group = await gh.request('GET', `${groups(b.tenantId)}/${bGroup}`, { token: b.token });
    assert.equal(group.body.name, 'B Team');
    assert.deepEqual(group.body.roles, [{ id: bRole, name: 'b-auditor' }]);
    assert.deepEqual((await gh.request('GET', `${groups(b.tenantId)}/${bGroup}/members`, { token: b.token })).body.members, []);
    assert.equal((await gh.request('GET', groups(b.tenantId), { token: b.token })).body.groups.length, 1);
  });

  it('cannot put a user who is not a member of the tenant in its group (404, as an unknown id), nor give it another tenant’s role', async () => {
    const outsider = await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/members`, {
      token: mallory.tokenA,
      body: { users: [b.adminId] },
    });
    assert.equal(outsider.status, 404);
    assert.equal(outsider.body.error, 'not_found');
    const unknown = await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/members`, {
      token: mallory.tokenA,
      body: { users: ['0190f5a0-0000-7000-8000-000000000000'] },
    });
    assert.equal(unknown.status, outsider.status);
    assert.equal(unknown.body.message, outsider.body.message, 'an outsider is answered as an unknown id');
    const foreignRole = await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/roles`, {
      token: mallory.tokenA,
      body: { roles: [bRole] },
    });
    assert.equal(foreignRole.status, 400);
    assert.equal(foreignRole.body.error, 'unknown_role');
    const atCreation = await gh.request('POST', groups(a.tenantId), { token: mallory.tokenA, body: { name: 'Sneaky', roles: [bRole] } });
    assert.equal(atCreation.body.error, 'unknown_role');
    assert.deepEqual((await gh.request('GET', `${groups(a.tenantId)}/${aGroup}/roles`, { token: a.token })).body.roles, []);
    // Mallory's own group membership in A grants nothing in B.
    const aAuditor = (await gh.created('/api/v1/roles', a.token, { name: 'a-auditor', permissions: ['tenant.audit.read'] })).id;
    await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/roles`, { token: a.token, body: { roles: [aAuditor] } });
    assert.equal(
      (await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/members`, { token: a.token, body: { users: [mallory.id] } })).status,
      204,
    );
    const inB = decodeJwt(await token(mallory.email, b.tenantId));
    assert.deepEqual(inB.roles, ['USER']);
    assert.equal((await gh.request('GET', `/api/v1/audit-events?tenant=${b.tenantId}`, { token: mallory.tokenB })).status, 403);
  });

  it('a group never carries a restricted role in a tenant, and a restricted permission through a group counts only in the system tenant', async () => {
    const restricted = await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/roles`, {
      token: a.token,
      body: { roles: [roles.ADMIN] },
    });
    assert.equal(restricted.status, 403);
    assert.equal(restricted.body.error, 'restricted_permission');
    // A system administrator may give a tenant's group ADMIN: `all` outside the system tenant acts as tenant.all, never iam.*.
    const given = await gh.request('POST', `${groups(a.tenantId)}/${aGroup}/roles`, { token: admin, body: { roles: [roles.ADMIN] } });
    assert.equal(given.status, 204);
    const t = await token(mallory.email, a.tenantId);
    assert.equal((await gh.request('GET', '/api/v1/tenants', { token: t })).body.tenants.length, 1, 'no system reach');
    assert.equal((await gh.request('GET', `${groups(b.tenantId)}`, { token: t })).status, 404);
    await gh.request('DELETE', `${groups(a.tenantId)}/${aGroup}/roles/${roles.ADMIN}`, { token: admin });
  });

  it('a narrow administrator cannot climb through a group: no role it lacks, no group or member above it, no API permission it lacks', async () => {
    // Nora holds tenant.groups.* and tenant.membership.read only, through a group herself.
    const groupAdmin = (
      await gh.created('/api/v1/roles', a.token, { name: 'group-admin', permissions: ['tenant.groups.read', 'tenant.groups.write'] })
    ).id;
    const wide = (await gh.created('/api/v1/roles', a.token, { name: 'wide', permissions: ['tenant.account.update'] })).id;
    const email = 'nora@grp-a.test';
    const nora = await gh.createUser(a.token, { email, password: PASSWORD });
    const managers = await gh.created(groups(a.tenantId), a.token, { name: 'Group managers', roles: [groupAdmin] });
    await gh.request('POST', `${groups(a.tenantId)}/${managers.id}/members`, { token: a.token, body: { users: [nora] } });
    const t = await token(email, a.tenantId);
    const own = await gh.created(groups(a.tenantId), t, { name: 'Nora’s' });

    // 1. a role carrying a permission she lacks: as for a direct assignment, 403 forbidden
    const lacking = await gh.request('POST', `${groups(a.tenantId)}/${own.id}/roles`, { token: t, body: { roles: [wide] } });
    assert.equal(lacking.status, 403);
    assert.equal(lacking.body.error, 'forbidden');
    assert.deepEqual(lacking.body.details.permissions, ['tenant.account.update']);
    assert.equal(
      (await gh.request('POST', groups(a.tenantId), { token: t, body: { name: 'X', roles: [roles.TENANT_ADMIN] } })).status,
      403,
    );

    // 2. a group whose roles (or members) are above her: she can neither join it, rename it, empty it nor delete it
    const admins = await gh.created(groups(a.tenantId), a.token, { name: 'Admins', roles: [roles.TENANT_ADMIN] });
    const path = `${groups(a.tenantId)}/${admins.id}`;
    for (const [method, url, body] of [
      ['POST', `${path}/members`, { users: [nora] }],
      ['PATCH', path, { name: 'Group managers 2' }],
      ['DELETE', `${path}/roles/${roles.TENANT_ADMIN}`, undefined],
      ['DELETE', path, undefined],
    ] as const) {
      const response = await gh.request(method, url, { token: t, ...(body && { body }) });
      assert.equal(response.status, 403, `${method} ${url}: ${JSON.stringify(response.body)}`);
    }
    assert.deepEqual(decodeJwt(await token(email, a.tenantId)).roles, ['USER', 'group-admin']);

    // 3. a member above her: not added to her group, not removed from one
    const addAdmin = await gh.request('POST', `${groups(a.tenantId)}/${own.id}/members`, { token: t, body: { users: [a.adminId] } });
    assert.equal(addAdmin.status, 403);
    await gh.request('POST', `${groups(a.tenantId)}/${managers.id}/members`, { token: a.token, body: { users: [a.adminId] } });
    const removeAdmin = await gh.request('DELETE', `${groups(a.tenantId)}/${managers.id}/members/${a.adminId}`, { token: t });
    assert.equal(removeAdmin.status, 403);

    // 4. an API permission a group's role carries and she lacks: she cannot join (or add anyone to) that group
    const api = await gh.created('/api/v1/apis', a.token, {
      identifier: 'urn:gatehouse:grp-a:ledger',
      name: 'Ledger',
      permissions: [{ value: 'read:ledger' }],
    });
    const ledger = (await gh.created('/api/v1/roles', a.token, { name: 'ledger-reader', permissions: [] })).id;
    await gh.request('POST', `/api/v1/roles/${ledger}/api-permissions`, {
      token: a.token,
      body: { permissions: [{ api_id: api.id, value: 'read:ledger' }] },
    });
    const readers = await gh.created(groups(a.tenantId), a.token, { name: 'Ledger readers', roles: [ledger] });
    const join = await gh.request('POST', `${groups(a.tenantId)}/${readers.id}/members`, { token: t, body: { users: [nora] } });
    assert.equal(join.status, 403);
    assert.deepEqual(join.body.details.api_permissions, [{ api_id: api.id, value: 'read:ledger' }]);
    const direct = await gh.request('POST', `${groups(a.tenantId)}/${own.id}/roles`, { token: t, body: { roles: [ledger] } });
    assert.equal(direct.status, 403, 'nor give her own group that role');
  });
  it('a system administrator through a group is one everywhere: out of a narrow operator’s export and out of a tenant administrator’s reach', async () => {
    const system = (await gh.systemAdmin()).systemTenantId;
    const exporter = await gh.created('/api/v1/roles', admin, { name: 'EXPORTER', permissions: ['iam.account.export'] });
    await gh.createUser(admin, { email: 'exporter@grp.test', password: PASSWORD, tenant: system, roles: [exporter.id] });
    const operator = await token('exporter@grp.test', system);
    // Root: in the system tenant, ADMIN only through the group "Operators"; homed in A.
    const rootId = await gh.createUser(admin, { email: 'root@grp-a.test', password: PASSWORD, tenant: a.tenantId });
    const joined = await gh.request('POST', `/api/v1/tenants/${system}/members`, { token: admin, body: { userId: rootId } });
    assert.equal(joined.status, 201);
    const operators = await gh.created(groups(system), admin, { name: 'Operators', roles: [roles.ADMIN] });
    await gh.request('POST', `${groups(system)}/${operators.id}/members`, { token: admin, body: { users: [rootId] } });
    const rootToken = await token('root@grp-a.test', system);
    assert.equal((await gh.request('GET', '/api/v1/tenants', { token: rootToken })).status, 200, 'a system administrator by group');

    const file = await gh.app.inject({
      method: 'GET',
      url: '/api/v1/users/export',
      headers: { authorization: `Bearer ${operator}`, 'x-export-passphrase': 'correct horse battery staple' },
    });
    assert.equal(file.statusCode, 200, file.body);
    const emails = file.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).email);
    assert.ok(!emails.includes('root@grp-a.test'), 'left out as a direct ADMIN is');
    // A's administrator manages accounts homed in A, but not this one.
    const reset = await gh.request('PATCH', `/api/v1/users/${rootId}`, { token: a.token, body: { name: 'Taken over' } });
    assert.equal(reset.status, 403, JSON.stringify(reset.body));
  });
  it('an import sets groups only within the rules: a group of the tenant, whose roles the importer could assign; never one’s own', async () => {
    const auditors = await gh.created('/api/v1/roles', a.token, { name: 'imp-auditor', permissions: ['tenant.audit.read'] });
    const g = await gh.created(groups(a.tenantId), a.token, { name: 'Imported auditors', roles: [auditors.id] });
    const line = (email: string, names: string[]) =>
      `${JSON.stringify({ email, gatehouse: { tenants: [{ tenant: a.tenantId, groups: names }] } })}\n`;
    const ok = await importBody(gh, a.token, line('imp-1@grp-a.test', ['imported AUDITORS']));
    assert.deepEqual([ok.status, ok.body.created, ok.body.failed], [200, 1, 0], JSON.stringify(ok.body));
    const members = await gh.request('GET', `${groups(a.tenantId)}/${g.id}/members`, { token: a.token });
    assert.deepEqual(
      members.body.members.map((m: { email: string }) => m.email),
      ['imp-1@grp-a.test'],
    );
    const unknown = await importBody(gh, a.token, line('imp-2@grp-a.test', ['No such group']));
    assert.equal(unknown.body.errors[0]?.error, 'unknown_group');
    // Nora-like importer: may create accounts, lacks tenant.audit.read.
    const creator = await gh.created('/api/v1/roles', a.token, {
      name: 'imp-creator',
      permissions: ['tenant.account.create', 'tenant.profile.read'],
    });
    await gh.createUser(a.token, { email: 'creator@grp-a.test', password: PASSWORD, roles: [creator.id] });
    const creatorToken = await token('creator@grp-a.test', a.tenantId);
    const control = await importBody(gh, creatorToken, line('imp-4@grp-a.test', []));
    assert.deepEqual([control.body.created, control.body.failed], [1, 0], JSON.stringify(control.body));
    const narrow = await importBody(gh, creatorToken, line('imp-3@grp-a.test', ['Imported auditors']));
    assert.equal(narrow.body.failed, 1, JSON.stringify(narrow.body));
    assert.equal(narrow.body.errors[0]?.error, 'forbidden');
    // The tenant administrator cannot change their own groups by import.
    const own = await importBody(gh, a.token, line(a.adminEmail, ['Imported auditors']));
    assert.equal(own.body.errors[0]?.error, 'forbidden', JSON.stringify(own.body));
  });
});
