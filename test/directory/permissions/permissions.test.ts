import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMON_PERMISSIONS, RESTRICTED_PERMISSIONS } from '../../../src/directory/permissions/catalog.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse, walkPages } from '../../helpers/gatehouse.js';

interface PermissionBody {
  id: string;
  key: string;
  description: string;
  tenant_id: string | null;
  is_system: boolean;
  restricted: boolean;
  created_at: string;
  updated_at: string;
}

const MISSING_ID = '00000000-0000-7000-8000-000000000000';

describe('permissions API (/api/v1/permission, /api/v1/permissions)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  let userRoleId: string;
  let counter = 0;

  const createPermission = (token: string, body: Record<string, unknown>, path = '/api/v1/permission') =>
    gh.created<PermissionBody>(path, token, body);

  const listPermissions = async (token: string): Promise<PermissionBody[]> => {
    const response = await gh.request('GET', '/api/v1/permissions', { token });
    assert.equal(response.status, 200);
    return response.body.permissions;
  };

  const createRole = (token: string, body: Record<string, unknown>) =>
    gh.created<{ id: string; tenant_id: string | null; permissions: string[] }>('/api/v1/roles', token, body);

  const member = async (tenantId: string, userId: string) => {
    const found = (await gh.members(admin, tenantId)).find((m) => m.user_id === userId);
    assert.ok(found, 'the user is a member');
    return found;
  };

  /** A user homed in the tenant of `tenantAdminToken`, holding `roles`, with `permissions` granted directly. */
  const memberWith = async (tenantAdminToken: string, tenantId: string, roles: string[], permissions: string[]) => {
    const userId = await gh.createUser(tenantAdminToken, { email: `perm${++counter}@permissions.test`, password: PASSWORD, roles });
    const patch = await gh.request('PATCH', `/api/v1/tenants/${tenantId}/members/${userId}`, {
      token: tenantAdminToken,
      body: { permissions },
    });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    return userId;
  };

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    userRoleId = (await gh.systemRoleIds()).USER!;
  });
  after(() => gh.stop());

  describe('GET /api/v1/permissions', () => {
    it('pages with limit and cursor: every item once, in the same order as one whole page', async () => {
      const whole = (await gh.request('GET', '/api/v1/permissions', { token: admin })).body.permissions.map(
        (item: { id: string }) => item.id,
      );
      assert.ok(whole.length >= 3, 'more than one page of 2');
      assert.deepEqual(await walkPages(gh, admin, '/api/v1/permissions', 'permissions', 2), whole);
      const bad = await gh.request('GET', '/api/v1/permissions?cursor=not-a-cursor', { token: admin });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_cursor');
    });

    it('lists every system permission with is_system, and restricted set for `all` and iam.* only', async () => {
      const permissions = await listPermissions(acme.token);
      const system = permissions.filter((p) => p.is_system);
      assert.deepEqual(
        system.map((p) => p.key).sort(),
        [...Object.keys(RESTRICTED_PERMISSIONS), ...Object.keys(COMMON_PERMISSIONS)].sort(),
      );
      const byKey = new Map(system.map((p) => [p.key, p]));
      assert.equal(byKey.get('all')?.restricted, true);
      assert.equal(byKey.get('iam.account.read')?.restricted, true);
      assert.equal(byKey.get('iam.tenant.create')?.restricted, true);
      assert.equal(byKey.get('tenant.all')?.restricted, false);
      assert.equal(byKey.get('tenant.roles.read')?.restricted, false);
      for (const p of system) {
        assert.equal(p.restricted, p.key === 'all' || p.key.startsWith('iam.'), p.key);
        assert.equal(p.tenant_id, null, p.key);
        assert.ok(p.description.length > 0, p.key);
      }
    });

    it('shows a tenant administrator global custom permissions and the own tenant’s, never another tenant’s', async () => {
      const global = await createPermission(admin, { key: 'list.global' });
      const own = await createPermission(acme.token, { key: 'list.acme' });
      const foreign = await createPermission(globex.token, { key: 'list.globex' });

      const permissions = await listPermissions(acme.token);
      const ids = permissions.map((p) => p.id);
      assert.ok(ids.includes(global.id));
      assert.ok(ids.includes(own.id));
      assert.ok(!ids.includes(foreign.id));
      for (const p of permissions) assert.ok(p.tenant_id === null || p.tenant_id === acme.tenantId, p.key);
    });

    it('shows a system administrator the custom permissions of every tenant', async () => {
      const own = await createPermission(acme.token, { key: 'everywhere.acme' });
      const foreign = await createPermission(globex.token, { key: 'everywhere.globex' });
      const ids = (await listPermissions(admin)).map((p) => p.id);
      assert.ok(ids.includes(own.id));
      assert.ok(ids.includes(foreign.id));
    });

    it('answers 403 forbidden to a member without tenant.permissions.read and 401 without a token', async () => {
      await gh.createUser(acme.token, { email: 'plain@permissions.test', password: PASSWORD });
      const token = await gh.tokenFor(await gh.signIn('plain@permissions.test', PASSWORD), acme.tenantId);
      const denied = await gh.request('GET', '/api/v1/permissions', { token });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error, 'forbidden');
      const anonymous = await gh.request('GET', '/api/v1/permissions');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error, 'unauthorized');
    });
  });

  describe('POST /api/v1/permission (and /permissions)', () => {
    it('lets a system administrator create a global custom permission (tenant_id null), visible in every tenant', async () => {
      const created = await createPermission(admin, { key: 'read:invoices', description: 'Read invoices' });
      assert.equal(created.key, 'read:invoices');
      assert.equal(created.description, 'Read invoices');
      assert.equal(created.tenant_id, null);
      assert.equal(created.is_system, false);
      assert.equal(created.restricted, false);
      for (const token of [acme.token, globex.token]) {
        assert.ok((await listPermissions(token)).some((p) => p.id === created.id));
      }
    });

    it('lets a system administrator create a tenant-only permission with `tenant`', async () => {
      const created = await createPermission(admin, { key: 'globex.only', tenant: globex.tenantId });
      assert.equal(created.tenant_id, globex.tenantId);
      assert.ok((await listPermissions(globex.token)).some((p) => p.id === created.id));
      assert.ok(!(await listPermissions(acme.token)).some((p) => p.id === created.id));
    });

    it('lets a tenant administrator create a permission visible only in the own tenant', async () => {
      const created = await createPermission(acme.token, { key: 'acme.widgets.write', description: 'Write widgets' });
      assert.equal(created.tenant_id, acme.tenantId);
      assert.equal(created.is_system, false);
      assert.ok((await listPermissions(acme.token)).some((p) => p.id === created.id));
      assert.ok(!(await listPermissions(globex.token)).some((p) => p.id === created.id));
      const foreignRead = await gh.request('GET', `/api/v1/permission/${created.id}`, { token: globex.token });
      assert.equal(foreignRead.status, 404);
    });

    it('accepts the plural alias POST /api/v1/permissions', async () => {
      const created = await createPermission(acme.token, { key: 'acme.plural' }, '/api/v1/permissions');
      assert.equal(created.tenant_id, acme.tenantId);
    });

    for (const key of ['all', 'iam.x', 'iam.account.read', 'tenant.x', 'tenant.all']) {
      it(`refuses the reserved key "${key}" (400 reserved_permission), from a system or tenant administrator`, async () => {
        for (const token of [admin, acme.token]) {
          const response = await gh.request('POST', '/api/v1/permission', { token, body: { key } });
          assert.equal(response.status, 400);
          assert.equal(response.body.error, 'reserved_permission');
        }
      });
    }

    it('answers 409 permission_taken for a duplicate global key and a duplicate key in one tenant', async () => {
      await createPermission(admin, { key: 'dup.global' });
      const global = await gh.request('POST', '/api/v1/permission', { token: admin, body: { key: 'dup.global' } });
      assert.equal(global.status, 409);
      assert.equal(global.body.error, 'permission_taken');

      await createPermission(acme.token, { key: 'dup.tenant' });
      const tenant = await gh.request('POST', '/api/v1/permissions', { token: acme.token, body: { key: 'dup.tenant' } });
      assert.equal(tenant.status, 409);
      assert.equal(tenant.body.error, 'permission_taken');
    });

    it('answers 409 permission_taken for a tenant key equal to a global custom key, and for a system key', async () => {
      await createPermission(admin, { key: 'shadowed.key' });
      const shadow = await gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key: 'shadowed.key' } });
      assert.equal(shadow.status, 409);
      assert.equal(shadow.body.error, 'permission_taken');
      const bySystem = await gh.request('POST', '/api/v1/permission', {
        token: admin,
        body: { key: 'shadowed.key', tenant: globex.tenantId },
      });
      assert.equal(bySystem.status, 409);
      assert.equal(bySystem.body.error, 'permission_taken');
    });

    it('allows the same tenant key in two tenants, but not a global key that a tenant already uses', async () => {
      const inAcme = await createPermission(acme.token, { key: 'shared.key' });
      const inGlobex = await createPermission(globex.token, { key: 'shared.key' });
      assert.notEqual(inAcme.id, inGlobex.id);
      const global = await gh.request('POST', '/api/v1/permission', { token: admin, body: { key: 'shared.key' } });
      assert.equal(global.status, 409);
      assert.equal(global.body.error, 'permission_taken');
    });

    it('answers 404 not_found when a system administrator names a tenant that does not exist', async () => {
      const response = await gh.request('POST', '/api/v1/permission', { token: admin, body: { key: 'orphan.key', tenant: MISSING_ID } });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
    });

    it('never creates a permission in another tenant when a tenant administrator names one with `tenant`', async () => {
      const response = await gh.request('POST', '/api/v1/permission', {
        token: acme.token,
        body: { key: 'smuggled.key', tenant: globex.tenantId },
      });
      if (response.status === 201) assert.equal(response.body.tenant_id, acme.tenantId);
      else assert.ok(response.status >= 400 && response.status < 500, String(response.status));
      assert.ok(!(await listPermissions(globex.token)).some((p) => p.key === 'smuggled.key'));
    });

    it('validates the body: missing key, unknown field, wrong type, key with spaces', async () => {
      const cases: [unknown, string][] = [
        [{ description: 'no key' }, 'missing_field'],
        [{ key: 'ok.key', restricted: true }, 'unknown_field'],
        [{ key: 'ok.key', is_system: true }, 'unknown_field'],
        [{ key: 7 }, 'invalid_type'],
        [{ key: 'has space' }, 'invalid_field'],
        [{ key: '' }, 'invalid_field'],
      ];
      for (const [body, code] of cases) {
        const response = await gh.request('POST', '/api/v1/permission', { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, code, JSON.stringify(body));
      }
    });

    it('answers 403 forbidden to a member without tenant.permissions.create', async () => {
      const role = await createRole(acme.token, { name: 'Permission Reader', permissions: ['tenant.permissions.read'] });
      await gh.createUser(acme.token, { email: 'reader@permissions.test', password: PASSWORD, roles: [role.id] });
      const token = await gh.tokenFor(await gh.signIn('reader@permissions.test', PASSWORD), acme.tenantId);
      assert.equal((await gh.request('GET', '/api/v1/permissions', { token })).status, 200);
      const response = await gh.request('POST', '/api/v1/permission', { token, body: { key: 'reader.made' } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
    });
  });

  describe('GET /api/v1/permission/:id (and /permissions/:id)', () => {
    it('reads a system permission, a global custom one and the own tenant’s', async () => {
      const all = await listPermissions(acme.token);
      const system = all.find((p) => p.key === 'tenant.account.read')!;
      const global = await createPermission(admin, { key: 'readable.global' });
      const own = await createPermission(acme.token, { key: 'readable.acme' });
      for (const permission of [system, global, own]) {
        const singular = await gh.request('GET', `/api/v1/permission/${permission.id}`, { token: acme.token });
        assert.equal(singular.status, 200);
        assert.deepEqual(singular.body, permission);
        const plural = await gh.request('GET', `/api/v1/permissions/${permission.id}`, { token: acme.token });
        assert.deepEqual(plural.body, permission);
      }
    });

    it('answers 404 not_found for another tenant’s permission and for one that does not exist', async () => {
      const foreign = await createPermission(globex.token, { key: 'hidden.globex' });
      const response = await gh.request('GET', `/api/v1/permission/${foreign.id}`, { token: acme.token });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      const missing = await gh.request('GET', `/api/v1/permission/${MISSING_ID}`, { token: acme.token });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'not_found');
      const bySystem = await gh.request('GET', `/api/v1/permission/${foreign.id}`, { token: admin });
      assert.equal(bySystem.status, 200);
    });

    it('answers 400 invalid_id for an id that is not a uuid', async () => {
      const response = await gh.request('GET', '/api/v1/permission/tenant.all', { token: acme.token });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'invalid_id');
    });
  });

  describe('PATCH /api/v1/permission/:id (and /permissions/:id)', () => {
    it('changes the description of the own tenant’s permission, and a system administrator of a global one', async () => {
      const own = await createPermission(acme.token, { key: 'describe.acme' });
      const response = await gh.request('PATCH', `/api/v1/permission/${own.id}`, {
        token: acme.token,
        body: { description: 'Now described' },
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.description, 'Now described');
      assert.equal(response.body.key, 'describe.acme');

      const global = await createPermission(admin, { key: 'describe.global' });
      const plural = await gh.request('PATCH', `/api/v1/permissions/${global.id}`, { token: admin, body: { description: 'Global text' } });
      assert.equal(plural.status, 200);
      assert.equal((await gh.request('GET', `/api/v1/permission/${global.id}`, { token: acme.token })).body.description, 'Global text');
    });

    it('refuses to change a system permission (403 system_resource), for a system administrator too', async () => {
      const system = (await listPermissions(admin)).find((p) => p.key === 'tenant.roles.read')!;
      for (const token of [admin, acme.token]) {
        const response = await gh.request('PATCH', `/api/v1/permission/${system.id}`, { token, body: { description: 'changed' } });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'system_resource');
      }
      assert.equal((await gh.request('GET', `/api/v1/permission/${system.id}`, { token: admin })).body.description, system.description);
    });

    it('refuses a tenant administrator changing a global custom permission (403 forbidden)', async () => {
      const global = await createPermission(admin, { key: 'locked.global', description: 'original' });
      const response = await gh.request('PATCH', `/api/v1/permission/${global.id}`, {
        token: acme.token,
        body: { description: 'hijacked' },
      });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      assert.equal((await gh.request('GET', `/api/v1/permission/${global.id}`, { token: admin })).body.description, 'original');
    });

    it('answers 404 not_found for another tenant’s permission', async () => {
      const foreign = await createPermission(globex.token, { key: 'patch.globex', description: 'original' });
      const response = await gh.request('PATCH', `/api/v1/permission/${foreign.id}`, { token: acme.token, body: { description: 'x' } });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      assert.equal((await gh.request('GET', `/api/v1/permission/${foreign.id}`, { token: globex.token })).body.description, 'original');
    });

    it('refuses to change the key (400 unknown_field) or a description of the wrong type (400 invalid_type)', async () => {
      const own = await createPermission(acme.token, { key: 'fixed.key' });
      const key = await gh.request('PATCH', `/api/v1/permission/${own.id}`, { token: acme.token, body: { key: 'other.key' } });
      assert.equal(key.status, 400);
      assert.equal(key.body.error, 'unknown_field');
      const type = await gh.request('PATCH', `/api/v1/permission/${own.id}`, { token: acme.token, body: { description: 5 } });
      assert.equal(type.status, 400);
      assert.equal(type.body.error, 'invalid_type');
    });
  });

  describe('DELETE /api/v1/permission/:id (and /permissions/:id)', () => {
    it('deletes a global custom permission from every role and every direct grant, then answers 404', async () => {
      const permission = await createPermission(admin, { key: 'reports.export' });
      const acmeRole = await createRole(acme.token, { name: 'Exporter', permissions: ['tenant.account.read', 'reports.export'] });
      const globexRole = await createRole(globex.token, { name: 'Exporter', permissions: ['reports.export'] });
      const globalRole = await createRole(admin, { name: 'Global Exporter', permissions: ['reports.export', 'tenant.audit.read'] });
      const userId = await memberWith(acme.token, acme.tenantId, [acmeRole.id], ['reports.export', 'tenant.profile.read']);
      assert.ok((await member(acme.tenantId, userId)).effective_permissions.includes('reports.export'));

      const response = await gh.request('DELETE', `/api/v1/permission/${permission.id}`, { token: admin });
      assert.equal(response.status, 204);
      assert.equal(response.body, undefined);

      const read = async (id: string) => (await gh.request('GET', `/api/v1/roles/${id}`, { token: admin })).body.permissions;
      assert.deepEqual(await read(acmeRole.id), ['tenant.account.read']);
      assert.deepEqual(await read(globexRole.id), []);
      assert.deepEqual(await read(globalRole.id), ['tenant.audit.read']);
      const after = await member(acme.tenantId, userId);
      assert.deepEqual(after.permissions, ['tenant.profile.read']);
      assert.ok(!after.effective_permissions.includes('reports.export'));

      const gone = await gh.request('GET', `/api/v1/permission/${permission.id}`, { token: admin });
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error, 'not_found');
      const again = await gh.request('DELETE', `/api/v1/permission/${permission.id}`, { token: admin });
      assert.equal(again.status, 404);
      assert.ok(!(await listPermissions(admin)).some((p) => p.id === permission.id));
    });

    it('deletes a tenant’s permission from that tenant’s roles and grants only, not from another tenant’s same key', async () => {
      const own = await createPermission(acme.token, { key: 'twin.key' });
      await createPermission(globex.token, { key: 'twin.key' });
      const acmeRole = await createRole(acme.token, { name: 'Twin', permissions: ['twin.key'] });
      const globexRole = await createRole(globex.token, { name: 'Twin', permissions: ['twin.key'] });
      const acmeUser = await memberWith(acme.token, acme.tenantId, [userRoleId], ['twin.key']);
      const globexUser = await memberWith(globex.token, globex.tenantId, [userRoleId], ['twin.key']);

      const response = await gh.request('DELETE', `/api/v1/permissions/${own.id}`, { token: acme.token });
      assert.equal(response.status, 204);

      assert.deepEqual((await gh.request('GET', `/api/v1/roles/${acmeRole.id}`, { token: acme.token })).body.permissions, []);
      assert.deepEqual((await gh.request('GET', `/api/v1/roles/${globexRole.id}`, { token: globex.token })).body.permissions, ['twin.key']);
      assert.deepEqual((await member(acme.tenantId, acmeUser)).permissions, []);
      assert.deepEqual((await member(globex.tenantId, globexUser)).permissions, ['twin.key']);
    });

    it('refuses to delete a system permission (403 system_resource), for a system administrator too', async () => {
      const system = (await listPermissions(admin)).find((p) => p.key === 'tenant.account.read')!;
      for (const token of [admin, acme.token]) {
        const response = await gh.request('DELETE', `/api/v1/permission/${system.id}`, { token });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'system_resource');
      }
      assert.equal((await gh.request('GET', `/api/v1/permission/${system.id}`, { token: admin })).status, 200);
    });

    it('refuses a tenant administrator deleting a global custom permission (403 forbidden)', async () => {
      const global = await createPermission(admin, { key: 'undeletable.global' });
      const response = await gh.request('DELETE', `/api/v1/permission/${global.id}`, { token: acme.token });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      assert.equal((await gh.request('GET', `/api/v1/permission/${global.id}`, { token: acme.token })).status, 200);
    });

    it('answers 404 not_found for another tenant’s permission and leaves it in place', async () => {
      const foreign = await createPermission(globex.token, { key: 'survivor.globex' });
      const response = await gh.request('DELETE', `/api/v1/permission/${foreign.id}`, { token: acme.token });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      assert.equal((await gh.request('GET', `/api/v1/permission/${foreign.id}`, { token: globex.token })).status, 200);
    });
  });

  describe('custom permissions in roles and grants', () => {
    it('lets a tenant put its own custom permission and global custom ones into its roles', async () => {
      await createPermission(acme.token, { key: 'acme.ledger.read' });
      await createPermission(admin, { key: 'global.ledger.read' });
      const role = await createRole(acme.token, { name: 'Ledger', permissions: ['acme.ledger.read', 'global.ledger.read'] });
      assert.deepEqual(role.permissions, ['acme.ledger.read', 'global.ledger.read']);
    });

    it('answers 400 unknown_permission for another tenant’s custom permission in a role or a direct grant', async () => {
      await createPermission(globex.token, { key: 'globex.secret.read' });
      const role = await gh.request('POST', '/api/v1/roles', {
        token: acme.token,
        body: { name: 'Thief', permissions: ['globex.secret.read'] },
      });
      assert.equal(role.status, 400);
      assert.equal(role.body.error, 'unknown_permission');
      assert.deepEqual(role.body.details.permissions, ['globex.secret.read']);

      const bySystem = await gh.request('POST', '/api/v1/roles', {
        token: admin,
        body: { name: 'Cross', tenant: acme.tenantId, permissions: ['globex.secret.read'] },
      });
      assert.equal(bySystem.status, 400);
      assert.equal(bySystem.body.error, 'unknown_permission');

      const userId = await gh.createUser(acme.token, { email: 'grant@permissions.test', password: PASSWORD });
      const grant = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/members/${userId}`, {
        token: acme.token,
        body: { permissions: ['globex.secret.read'] },
      });
      assert.equal(grant.status, 400);
      assert.equal(grant.body.error, 'unknown_permission');
    });

    it('keeps a tenant-only permission out of global roles (400 unknown_permission)', async () => {
      await createPermission(acme.token, { key: 'acme.internal' });
      const response = await gh.request('POST', '/api/v1/roles', {
        token: admin,
        body: { name: 'Global Internal', permissions: ['acme.internal'] },
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'unknown_permission');
    });

    it('lets a member use a custom permission granted by role: it appears in their token', async () => {
      await createPermission(acme.token, { key: 'acme.reports.read' });
      const role = await createRole(acme.token, { name: 'Report Reader', permissions: ['acme.reports.read'] });
      await gh.createUser(acme.token, { email: 'reports@permissions.test', password: PASSWORD, roles: [role.id] });
      const session = await gh.signIn('reports@permissions.test', PASSWORD);
      const token = await gh.tokenFor(session, acme.tenantId);
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
      assert.deepEqual(payload.permissions, ['acme.reports.read']);
      assert.deepEqual(payload.roles, ['Report Reader']);
    });
  });
});
