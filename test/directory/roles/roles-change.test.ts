import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acme, admin, gh, globex } from '../../helpers/two-tenants.js';
import { createRole, MISSING_ID, memberWithRoles, rolesServer, systemRoles } from './setup.js';

describe('roles API (/api/v1/roles)', () => {
  rolesServer();

  const memberRoles = async (tenantId: string, userId: string) => {
    const member = (await gh.members(admin, tenantId)).find((m) => m.user_id === userId);
    assert.ok(member, 'the user is a member');
    return member;
  };

  describe('GET /api/v1/roles/:id', () => {
    it('reads the own tenant’s role and any global role', async () => {
      const own = await createRole(acme.token, { name: 'Readable' });
      const read = await gh.request('GET', `/api/v1/roles/${own.id}`, { token: acme.token });
      assert.equal(read.status, 200);
      assert.equal(read.body.name, 'Readable');

      const global = await gh.request('GET', `/api/v1/roles/${systemRoles.TENANT_ADMIN.id}`, { token: acme.token });
      assert.equal(global.status, 200);
      assert.equal(global.body.name, 'TENANT_ADMIN');
      assert.equal(global.body.tenant_id, null);
      assert.equal(global.body.is_system, true);
    });

    it('answers 404 not_found for another tenant’s role, as for a role that does not exist', async () => {
      const foreign = await createRole(globex.token, { name: 'Secret Globex' });
      const response = await gh.request('GET', `/api/v1/roles/${foreign.id}`, { token: acme.token });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      const missing = await gh.request('GET', `/api/v1/roles/${MISSING_ID}`, { token: acme.token });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'not_found');
    });

    it('lets a system administrator read any tenant’s role', async () => {
      const foreign = await createRole(globex.token, { name: 'Admin Readable' });
      const response = await gh.request('GET', `/api/v1/roles/${foreign.id}`, { token: admin });
      assert.equal(response.status, 200);
      assert.equal(response.body.tenant_id, globex.tenantId);
    });

    it('answers 400 invalid_id for an id that is not a uuid', async () => {
      const response = await gh.request('GET', '/api/v1/roles/not-a-uuid', { token: acme.token });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'invalid_id');
    });
  });

  describe('PATCH /api/v1/roles/:id', () => {
    it('renames a role and replaces its permissions and description', async () => {
      const role = await createRole(acme.token, { name: 'Draft', permissions: ['tenant.account.read'] });
      const response = await gh.request('PATCH', `/api/v1/roles/${role.id}`, {
        token: acme.token,
        body: { name: 'Final', description: 'Now final', permissions: ['tenant.membership.read', 'tenant.roles.read'] },
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.id, role.id);
      assert.equal(response.body.name, 'Final');
      assert.equal(response.body.description, 'Now final');
      assert.deepEqual(response.body.permissions, ['tenant.membership.read', 'tenant.roles.read']);
      assert.equal(response.body.tenant_id, acme.tenantId);
      assert.ok(Date.parse(response.body.updated_at) >= Date.parse(role.updated_at));

      const read = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.deepEqual(read.body, response.body);
    });

    it('leaves fields that are not sent unchanged', async () => {
      const role = await createRole(acme.token, { name: 'Keep', description: 'kept', permissions: ['tenant.audit.read'] });
      const response = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { name: 'Kept' } });
      assert.equal(response.status, 200);
      assert.equal(response.body.description, 'kept');
      assert.deepEqual(response.body.permissions, ['tenant.audit.read']);
    });

    it('applies changed permissions at once to members holding the role (their existing access token)', async () => {
      const role = await createRole(acme.token, { name: 'Growing', permissions: ['tenant.roles.read'] });
      const member = await memberWithRoles(acme.token, acme.tenantId, [role.id]);
      const before = await gh.request('POST', '/api/v1/roles', { token: member.token, body: { name: 'By Member' } });
      assert.equal(before.status, 403);

      const patch = await gh.request('PATCH', `/api/v1/roles/${role.id}`, {
        token: acme.token,
        body: { permissions: ['tenant.roles.read', 'tenant.roles.create'] },
      });
      assert.equal(patch.status, 200);
      const afterPatch = await gh.request('POST', '/api/v1/roles', { token: member.token, body: { name: 'By Member' } });
      assert.equal(afterPatch.status, 201);
      assert.equal(afterPatch.body.tenant_id, acme.tenantId);
    });

    it('refuses a restricted permission (403 restricted_permission) and leaves the role as it was', async () => {
      const role = await createRole(acme.token, { name: 'Stable', permissions: ['tenant.account.read'] });
      const response = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { permissions: ['all'] } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'restricted_permission');
      const read = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.deepEqual(read.body.permissions, ['tenant.account.read']);
    });

    it('refuses renaming to a system role name (403 restricted_role_name) or a taken name (409 role_name_taken)', async () => {
      await createRole(acme.token, { name: 'Taken Name' });
      const role = await createRole(acme.token, { name: 'Renamable' });
      const system = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { name: 'Admin' } });
      assert.equal(system.status, 403);
      assert.equal(system.body.error, 'restricted_role_name');
      const taken = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { name: 'taken name' } });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error, 'role_name_taken');
      const read = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.equal(read.body.name, 'Renamable');
    });

    it('answers 400 unknown_permission for an unknown key in the new permissions', async () => {
      const role = await createRole(acme.token, { name: 'Patch Unknown' });
      const response = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { permissions: ['nope.nope'] } });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'unknown_permission');
    });

    it('refuses to change a system role (403 system_resource), for a system administrator too', async () => {
      for (const token of [admin, acme.token]) {
        const response = await gh.request('PATCH', `/api/v1/roles/${systemRoles.TENANT_ADMIN.id}`, {
          token,
          body: { permissions: ['tenant.all', 'tenant.account.read'] },
        });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'system_resource');
      }
      const read = await gh.request('GET', `/api/v1/roles/${systemRoles.TENANT_ADMIN.id}`, { token: admin });
      assert.deepEqual(read.body.permissions, ['tenant.all']);
    });

    it('refuses a tenant administrator changing a global role (403 forbidden); a system administrator may', async () => {
      const global = await createRole(admin, { name: 'Global Editable', permissions: ['tenant.account.read'] });
      const byTenant = await gh.request('PATCH', `/api/v1/roles/${global.id}`, { token: acme.token, body: { description: 'hijacked' } });
      assert.equal(byTenant.status, 403);
      assert.equal(byTenant.body.error, 'forbidden');

      const bySystem = await gh.request('PATCH', `/api/v1/roles/${global.id}`, {
        token: admin,
        body: { description: 'edited', permissions: ['tenant.account.read', 'iam.account.read'] },
      });
      assert.equal(bySystem.status, 200);
      assert.equal(bySystem.body.description, 'edited');
      assert.deepEqual(bySystem.body.permissions, ['tenant.account.read', 'iam.account.read']);
    });

    it('answers 404 not_found for another tenant’s role and leaves it unchanged', async () => {
      const foreign = await createRole(globex.token, { name: 'Globex Untouched' });
      const response = await gh.request('PATCH', `/api/v1/roles/${foreign.id}`, { token: acme.token, body: { name: 'Pwned' } });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      const read = await gh.request('GET', `/api/v1/roles/${foreign.id}`, { token: globex.token });
      assert.equal(read.body.name, 'Globex Untouched');
    });

    it('lets a system administrator change a tenant role', async () => {
      const role = await createRole(globex.token, { name: 'Globex Editable' });
      const response = await gh.request('PATCH', `/api/v1/roles/${role.id}`, {
        token: admin,
        body: { permissions: ['tenant.profile.read'] },
      });
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.permissions, ['tenant.profile.read']);
      assert.equal(response.body.tenant_id, globex.tenantId);
    });

    it('validates the body: unknown field (tenant cannot be changed), wrong type, and a missing role', async () => {
      const role = await createRole(acme.token, { name: 'Validated' });
      const unknown = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { tenant: globex.tenantId } });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error, 'unknown_field');
      const wrongType = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { permissions: [1] } });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.body.error, 'invalid_type');
      const missing = await gh.request('PATCH', `/api/v1/roles/${MISSING_ID}`, { token: acme.token, body: { name: 'Ghost' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'not_found');
    });
  });

  describe('DELETE /api/v1/roles/:id', () => {
    it('deletes a tenant role (204): it is gone, and members holding it lose it and its permissions at once', async () => {
      const role = await createRole(acme.token, { name: 'Doomed', permissions: ['tenant.roles.read'] });
      const member = await memberWithRoles(acme.token, acme.tenantId, [role.id, systemRoles.USER.id]);
      assert.equal((await gh.request('GET', '/api/v1/roles', { token: member.token })).status, 200);

      const response = await gh.request('DELETE', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.equal(response.status, 204);
      assert.equal(response.body, undefined);

      const read = await gh.request('GET', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.equal(read.status, 404);
      const held = await memberRoles(acme.tenantId, member.userId);
      assert.deepEqual(
        held.roles.map((r) => r.name),
        ['USER'],
      );
      assert.ok(!held.effective_permissions.includes('tenant.roles.read'));
      const denied = await gh.request('GET', '/api/v1/roles', { token: member.token });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error, 'forbidden');

      const again = await gh.request('DELETE', `/api/v1/roles/${role.id}`, { token: acme.token });
      assert.equal(again.status, 404);
      assert.equal(again.body.error, 'not_found');
    });

    it('refuses to delete a system role (403 system_resource), for a system administrator too', async () => {
      for (const token of [admin, acme.token]) {
        const response = await gh.request('DELETE', `/api/v1/roles/${systemRoles.USER.id}`, { token });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'system_resource');
      }
      assert.equal((await gh.request('GET', `/api/v1/roles/${systemRoles.USER.id}`, { token: admin })).status, 200);
    });

    it('refuses a tenant administrator deleting a global role (403 forbidden); a system administrator may (204)', async () => {
      const global = await createRole(admin, { name: 'Global Deletable' });
      const byTenant = await gh.request('DELETE', `/api/v1/roles/${global.id}`, { token: acme.token });
      assert.equal(byTenant.status, 403);
      assert.equal(byTenant.body.error, 'forbidden');
      const bySystem = await gh.request('DELETE', `/api/v1/roles/${global.id}`, { token: admin });
      assert.equal(bySystem.status, 204);
      assert.equal((await gh.request('GET', `/api/v1/roles/${global.id}`, { token: admin })).status, 404);
    });

    it('answers 404 not_found for another tenant’s role and leaves it in place', async () => {
      const foreign = await createRole(globex.token, { name: 'Globex Survivor' });
      const response = await gh.request('DELETE', `/api/v1/roles/${foreign.id}`, { token: acme.token });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      assert.equal((await gh.request('GET', `/api/v1/roles/${foreign.id}`, { token: globex.token })).status, 200);
    });

    it('lets a system administrator delete a tenant role', async () => {
      const role = await createRole(globex.token, { name: 'Globex Removable' });
      const response = await gh.request('DELETE', `/api/v1/roles/${role.id}`, { token: admin });
      assert.equal(response.status, 204);
      assert.equal((await gh.request('GET', `/api/v1/roles/${role.id}`, { token: globex.token })).status, 404);
    });

    it('answers 400 invalid_id for an id that is not a uuid', async () => {
      const response = await gh.request('DELETE', '/api/v1/roles/123', { token: acme.token });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'invalid_id');
    });
  });
});
