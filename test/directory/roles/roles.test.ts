import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, walkPages } from '../../helpers/gatehouse.js';
import { acme, admin, gh, globex } from '../../helpers/two-tenants.js';
import { createRole, MISSING_ID, memberWithRoles, type RoleBody, rolesServer, systemRoles } from './setup.js';

describe('roles API (/api/v1/roles)', () => {
  rolesServer();

  const roleCount = () => gh.rowCount('roles');

  describe('GET /api/v1/roles', () => {
    it('pages with limit and cursor: every item once, in the same order as one whole page', async () => {
      const whole = (await gh.request('GET', '/api/v1/roles', { token: admin })).body.roles.map((item: { id: string }) => item.id);
      assert.ok(whole.length >= 3, 'more than one page of 2');
      assert.deepEqual(await walkPages(gh, admin, '/api/v1/roles', 'roles', 2), whole);
      const bad = await gh.request('GET', '/api/v1/roles?cursor=not-a-cursor', { token: admin });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_cursor');
    });

    it('shows a tenant administrator the global roles and the own tenant’s roles, never another tenant’s', async () => {
      const own = await createRole(acme.token, { name: 'Acme Viewer', permissions: ['tenant.account.read'] });
      const foreign = await createRole(globex.token, { name: 'Globex Viewer', permissions: ['tenant.account.read'] });

      const list = await gh.request('GET', '/api/v1/roles', { token: acme.token });
      assert.equal(list.status, 200);
      const roles = list.body.roles as RoleBody[];
      const ids = roles.map((r) => r.id);
      for (const name of ['ADMIN', 'TENANT_ADMIN', 'USER'] as const) assert.ok(ids.includes(systemRoles[name].id), name);
      assert.ok(ids.includes(own.id));
      assert.ok(!ids.includes(foreign.id), 'globex role is not listed to acme');
      for (const role of roles) assert.ok(role.tenant_id === null || role.tenant_id === acme.tenantId, role.name);
    });

    it('marks the seeded global roles as system roles with their permissions', async () => {
      assert.deepEqual(
        (['ADMIN', 'TENANT_ADMIN', 'USER'] as const).map((n) => [systemRoles[n].is_system, systemRoles[n].permissions]),
        [
          [true, ['all']],
          [true, ['tenant.all']],
          [true, ['tenant.profile.read']],
        ],
      );
    });

    it('shows a system administrator every tenant’s roles, and ?tenant= narrows to global + that tenant', async () => {
      const acmeRole = await createRole(acme.token, { name: 'Acme Listed' });
      const globexRole = await createRole(globex.token, { name: 'Globex Listed' });

      const all = (await gh.request('GET', '/api/v1/roles', { token: admin })).body.roles as RoleBody[];
      assert.ok(all.some((r) => r.id === acmeRole.id));
      assert.ok(all.some((r) => r.id === globexRole.id));

      const filtered = await gh.request('GET', `/api/v1/roles?tenant=${globex.tenantId}`, { token: admin });
      assert.equal(filtered.status, 200);
      const roles = filtered.body.roles as RoleBody[];
      assert.ok(roles.some((r) => r.id === globexRole.id));
      assert.ok(roles.some((r) => r.id === systemRoles.USER.id));
      assert.ok(!roles.some((r) => r.id === acmeRole.id));
      for (const role of roles) assert.ok(role.tenant_id === null || role.tenant_id === globex.tenantId);
    });

    it('refuses ?tenant= naming another tenant to a tenant administrator (403 forbidden), as /users and /audit-events do', async () => {
      await createRole(globex.token, { name: 'Globex Hidden' });
      const list = await gh.request('GET', `/api/v1/roles?tenant=${globex.tenantId}`, { token: acme.token });
      assert.equal(list.status, 403);
      assert.equal(list.body.error, 'forbidden');
      const own = await gh.request('GET', `/api/v1/roles?tenant=${acme.tenantId}`, { token: acme.token });
      assert.equal(own.status, 200);
      for (const role of own.body.roles as RoleBody[]) assert.ok(role.tenant_id === null || role.tenant_id === acme.tenantId);
    });

    it('answers 401 unauthorized without a token and 401 invalid_token for a session token', async () => {
      const none = await gh.request('GET', '/api/v1/roles');
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      const session = await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      const withSession = await gh.request('GET', '/api/v1/roles', { token: session });
      assert.equal(withSession.status, 401);
      assert.equal(withSession.body.error, 'invalid_token');
    });

    it('answers 403 forbidden to a member without tenant.roles.read (USER role only)', async () => {
      const member = await memberWithRoles(acme.token, acme.tenantId, [systemRoles.USER.id]);
      const list = await gh.request('GET', '/api/v1/roles', { token: member.token });
      assert.equal(list.status, 403);
      assert.equal(list.body.error, 'forbidden');
    });

    it('rejects a ?tenant= that is not an id (400 invalid_id) and unknown query fields (400 unknown_field)', async () => {
      const bad = await gh.request('GET', '/api/v1/roles?tenant=acme', { token: admin });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_id');
      const unknown = await gh.request('GET', '/api/v1/roles?color=red', { token: admin });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error, 'unknown_field');
    });
  });

  describe('POST /api/v1/roles', () => {
    it('lets a tenant administrator create a tenant role with common and custom permissions (201, tenant_id = own tenant)', async () => {
      const custom = await gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key: 'acme.invoices.read' } });
      assert.equal(custom.status, 201);
      const globalCustom = await gh.request('POST', '/api/v1/permission', { token: admin, body: { key: 'reports.view' } });
      assert.equal(globalCustom.status, 201);

      const response = await gh.request('POST', '/api/v1/roles', {
        token: acme.token,
        body: {
          name: 'Accountant',
          description: 'Reads invoices',
          permissions: ['tenant.account.read', 'acme.invoices.read', 'reports.view', 'tenant.account.read'],
        },
      });
      assert.equal(response.status, 201);
      const role = response.body as RoleBody;
      assert.equal(role.tenant_id, acme.tenantId);
      assert.equal(role.name, 'Accountant');
      assert.equal(role.description, 'Reads invoices');
      assert.equal(role.is_system, false);
      assert.deepEqual([...role.permissions].sort(), ['acme.invoices.read', 'reports.view', 'tenant.account.read'], 'duplicates collapse');
      assert.ok(Date.parse(role.created_at) > 0);

      const read = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.deepEqual(read.body, role);
    });

    it('creates a role without permissions and description as an empty role', async () => {
      const role = await createRole(acme.token, { name: 'Empty' });
      assert.deepEqual(role.permissions, []);
      assert.equal(role.description, '');
    });

    for (const permission of ['all', 'iam.account.read', 'iam.tenant.create']) {
      it(`refuses a tenant role carrying the restricted permission "${permission}" (403 restricted_permission, no row)`, async () => {
        const before = await roleCount();
        const response = await gh.request('POST', '/api/v1/roles', {
          token: acme.token,
          body: { name: `Sneaky ${permission}`, permissions: ['tenant.account.read', permission] },
        });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'restricted_permission');
        assert.equal(await roleCount(), before);
      });
    }

    for (const name of ['ADMIN', 'admin', 'Tenant_Admin', 'USER', ' user ']) {
      it(`refuses the system role name ${JSON.stringify(name)} (403 restricted_role_name)`, async () => {
        const response = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name } });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'restricted_role_name');
      });
    }

    it('refuses a system role name for a global role too, even from a system administrator', async () => {
      const response = await gh.request('POST', '/api/v1/roles', { token: admin, body: { name: 'tenant_admin' } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'restricted_role_name');
    });

    it('answers 400 unknown_permission for a permission key that does not exist, naming it', async () => {
      const response = await gh.request('POST', '/api/v1/roles', {
        token: acme.token,
        body: { name: 'Typo', permissions: ['tenant.account.read', 'no.such.permission'] },
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'unknown_permission');
      assert.deepEqual(response.body.details.permissions, ['no.such.permission']);
    });

    it('answers 409 role_name_taken for a duplicate name in the same tenant (any case), but allows it in another tenant', async () => {
      await createRole(acme.token, { name: 'Auditor' });
      const duplicate = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name: 'Auditor' } });
      assert.equal(duplicate.status, 409);
      assert.equal(duplicate.body.error, 'role_name_taken');
      const otherCase = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name: 'AUDITOR' } });
      assert.equal(otherCase.status, 409);
      assert.equal(otherCase.body.error, 'role_name_taken');

      const elsewhere = await createRole(globex.token, { name: 'Auditor' });
      assert.equal(elsewhere.tenant_id, globex.tenantId);
    });

    it('never creates a role in another tenant when a tenant administrator names one with `tenant`', async () => {
      const response = await gh.request('POST', '/api/v1/roles', {
        token: acme.token,
        body: { name: 'Smuggled', tenant: globex.tenantId },
      });
      if (response.status === 201) assert.equal(response.body.tenant_id, acme.tenantId);
      else assert.ok(response.status >= 400 && response.status < 500, String(response.status));
      const inGlobex = await gh.ctx.db
        .selectFrom('roles')
        .select('id')
        .where('tenant_id', '=', globex.tenantId)
        .where('name', '=', 'Smuggled')
        .execute();
      assert.deepEqual(inGlobex, []);
    });

    it('lets a system administrator create a global role (tenant_id null) that may carry restricted permissions', async () => {
      const role = await createRole(admin, { name: 'Auditors', permissions: ['iam.audit.read', 'iam.account.read'] });
      assert.equal(role.tenant_id, null);
      assert.equal(role.is_system, false);
      assert.deepEqual(role.permissions, ['iam.audit.read', 'iam.account.read']);
      const seen = await gh.request('GET', '/api/v1/roles', { token: globex.token });
      assert.ok(
        seen.body.roles.some((r: RoleBody) => r.id === role.id),
        'a global role is visible in every tenant',
      );
    });

    it('lets a system administrator create a tenant role with `tenant`, visible in that tenant only', async () => {
      const role = await createRole(admin, { name: 'Support', tenant: globex.tenantId, permissions: ['tenant.membership.read'] });
      assert.equal(role.tenant_id, globex.tenantId);
      const inGlobex = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: globex.token });
      assert.equal(inGlobex.status, 200);
      const inAcme = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.equal(inAcme.status, 404);
    });

    it('refuses restricted permissions in a tenant role even from a system administrator (403 restricted_permission)', async () => {
      const response = await gh.request('POST', '/api/v1/roles', {
        token: admin,
        body: { name: 'Overreach', tenant: acme.tenantId, permissions: ['iam.account.read'] },
      });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'restricted_permission');
    });

    it('answers 404 not_found when a system administrator names a tenant that does not exist', async () => {
      const response = await gh.request('POST', '/api/v1/roles', { token: admin, body: { name: 'Orphan', tenant: MISSING_ID } });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
    });

    it('validates the body: missing name, unknown field, wrong type, empty name', async () => {
      const cases: [unknown, string][] = [
        [{ permissions: [] }, 'missing_field'],
        [{ name: 'X', color: 'red' }, 'unknown_field'],
        [{ name: 'X', permissions: 'tenant.account.read' }, 'invalid_type'],
        [{ name: 42 }, 'invalid_type'],
        [{ name: '' }, 'invalid_field'],
        [{ name: 'X', tenant: 'acme' }, 'invalid_id'],
      ];
      for (const [body, code] of cases) {
        const response = await gh.request('POST', '/api/v1/roles', { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, code, JSON.stringify(body));
      }
      const malformed = await gh.request('POST', '/api/v1/roles', { token: admin, body: '{"name":' });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'malformed_json');
    });

    it('lets a member whose only (custom) role carries tenant.roles.read list and read roles, but not create, change or delete them', async () => {
      const readerRole = await createRole(acme.token, { name: 'Role Reader', permissions: ['tenant.roles.read'] });
      const target = await createRole(acme.token, { name: 'Reader Target' });
      const reader = await memberWithRoles(acme.token, acme.tenantId, [readerRole.id]);

      const list = await gh.request('GET', '/api/v1/roles', { token: reader.token });
      assert.equal(list.status, 200);
      assert.ok(list.body.roles.some((r: RoleBody) => r.id === target.id));
      const read = await gh.request('GET', `/api/v1/roles/${target.id}`, { token: reader.token });
      assert.equal(read.status, 200);

      const create = await gh.request('POST', '/api/v1/roles', { token: reader.token, body: { name: 'Mine' } });
      assert.equal(create.status, 403);
      assert.equal(create.body.error, 'forbidden');
      const patch = await gh.request('PATCH', `/api/v1/roles/${target.id}`, { token: reader.token, body: { name: 'Changed' } });
      assert.equal(patch.status, 403);
      assert.equal(patch.body.error, 'forbidden');
      const remove = await gh.request('DELETE', `/api/v1/roles/${target.id}`, { token: reader.token });
      assert.equal(remove.status, 403);
      assert.equal(remove.body.error, 'forbidden');
    });
  });
});
