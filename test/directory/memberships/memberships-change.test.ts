import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type MemberBody, PASSWORD } from '../../helpers/gatehouse.js';
import {
  a,
  addMember,
  admin,
  adminId,
  auditEvents,
  b,
  bRole,
  editorRole,
  gh,
  listMembers,
  memberOf,
  membershipsServer,
  newUser,
  roles,
  systemTenantId,
  tokenClaims,
  UNKNOWN_ID,
} from './setup.js';

describe('Memberships API: /api/v1/tenants/:id/members', () => {
  membershipsServer();

  describe('PATCH /api/v1/tenants/:id/members/:userId', () => {
    it('replaces roles and direct permissions; the next token carries them; iam.membership.modified recorded', async () => {
      const user = await newUser('patched');
      await addMember(admin, a.tenantId, { userId: user.id, permissions: ['tenant.audit.read'] });
      const before = await tokenClaims(user.email, a.tenantId);
      assert.deepEqual(before.claims.roles, ['USER']);
      assert.deepEqual(before.claims.permissions, ['tenant.audit.read', 'tenant.profile.read']);

      const response = await gh.request<MemberBody>('PATCH', `/api/v1/tenants/${a.tenantId}/members/${user.id}`, {
        token: a.token,
        body: { roles: [editorRole], permissions: ['read:invoices'] },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.roles, [{ id: editorRole, name: 'editor' }]);
      assert.deepEqual(response.body.permissions, ['read:invoices']);
      assert.deepEqual(response.body.effective_permissions, ['read:invoices', 'tenant.account.read']);
      // `managed` is the caller's view (a homeless user is a system administrator's to manage): list with the same token.
      assert.deepEqual(
        (await listMembers(a.tenantId, a.token)).find((m) => m.user_id === user.id),
        response.body,
      );

      const next = await tokenClaims(user.email, a.tenantId);
      assert.deepEqual(next.claims.roles, ['editor']);
      assert.deepEqual(next.claims.permissions, ['read:invoices', 'tenant.account.read']);

      const events = await auditEvents('iam.membership.modified', user.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, a.adminId);
      assert.equal(events[0]!.tenant_id, a.tenantId);
      assert.deepEqual(events[0]!.details, { roles: ['editor'], permissions: ['read:invoices'] });
    });

    it('replaces only what the body names: roles alone keep the direct permissions, and the reverse', async () => {
      const user = await newUser('partial');
      await addMember(admin, a.tenantId, { userId: user.id, roles: [editorRole], permissions: ['read:invoices'] });
      const url = `/api/v1/tenants/${a.tenantId}/members/${user.id}`;
      const rolesOnly = await gh.request<MemberBody>('PATCH', url, { token: admin, body: { roles: [roles.USER] } });
      assert.deepEqual(rolesOnly.body.roles, [{ id: roles.USER, name: 'USER' }]);
      assert.deepEqual(rolesOnly.body.permissions, ['read:invoices']);
      const permissionsOnly = await gh.request<MemberBody>('PATCH', url, { token: admin, body: { permissions: [] } });
      assert.deepEqual(permissionsOnly.body.roles, [{ id: roles.USER, name: 'USER' }]);
      assert.deepEqual(permissionsOnly.body.permissions, []);
      assert.deepEqual(permissionsOnly.body.effective_permissions, ['tenant.profile.read']);
      const nothing = await gh.request<MemberBody>('PATCH', url, { token: admin, body: {} });
      assert.equal(nothing.status, 200);
      assert.deepEqual(nothing.body.effective_permissions, ['tenant.profile.read']);
    });

    it('takes effect at once on the admin API, even for an access token issued before', async () => {
      const user = await newUser('live');
      await addMember(admin, a.tenantId, { userId: user.id });
      const { token } = await tokenClaims(user.email, a.tenantId);
      const url = `/api/v1/tenants/${a.tenantId}/members/${user.id}`;
      assert.equal((await gh.request('GET', '/api/v1/users', { token })).status, 403);

      await gh.request('PATCH', url, { token: a.token, body: { permissions: ['tenant.account.read'] } });
      assert.equal((await gh.request('GET', '/api/v1/users', { token })).status, 200);

      await gh.request('PATCH', url, { token: a.token, body: { roles: [], permissions: [] } });
      const revoked = await gh.request('GET', '/api/v1/users', { token });
      assert.equal(revoked.status, 403);
      assert.equal(revoked.body.error, 'forbidden');
      const claims = (await tokenClaims(user.email, a.tenantId)).claims;
      assert.deepEqual(claims.roles, []);
      assert.deepEqual(claims.permissions, []);
    });

    it('refuses a tenant administrator the ADMIN role and restricted permissions (403 restricted_permission)', async () => {
      const user = await newUser('patch-escalate', a.tenantId);
      await addMember(a.token, a.tenantId, { userId: user.id });
      const url = `/api/v1/tenants/${a.tenantId}/members/${user.id}`;
      for (const body of [{ roles: [roles.ADMIN] }, { permissions: ['all'] }, { permissions: ['iam.key.rotate'] }]) {
        const response = await gh.request('PATCH', url, { token: a.token, body });
        assert.equal(response.status, 403, JSON.stringify(body));
        assert.equal(response.body.error, 'restricted_permission');
      }
      const member = await memberOf(a.tenantId, user.id);
      assert.deepEqual(member?.roles, [{ id: roles.USER, name: 'USER' }]);
      assert.deepEqual(member?.permissions, []);
      assert.deepEqual(await auditEvents('iam.membership.modified', user.id), []);
    });

    it('keeps a membership holding restricted permissions out of a tenant administrator’s reach', async () => {
      const user = await newUser('held');
      await addMember(admin, a.tenantId, { userId: user.id, permissions: ['iam.audit.read'] });
      const url = `/api/v1/tenants/${a.tenantId}/members/${user.id}`;
      const patch = await gh.request('PATCH', url, { token: a.token, body: { permissions: [] } });
      assert.equal(patch.status, 403);
      assert.equal(patch.body.error, 'restricted_permission');
      const del = await gh.request('DELETE', url, { token: a.token });
      assert.equal(del.status, 403);
      assert.equal(del.body.error, 'restricted_permission');
      assert.deepEqual((await memberOf(a.tenantId, user.id))?.permissions, ['iam.audit.read']);

      // A system administrator manages it.
      const bySystem = await gh.request<MemberBody>('PATCH', url, { token: admin, body: { permissions: [] } });
      assert.equal(bySystem.status, 200);
      assert.deepEqual(bySystem.body.permissions, []);
      assert.equal((await gh.request('PATCH', url, { token: a.token, body: { roles: [editorRole] } })).status, 200);
    });

    it('answers 404 for a user who is not a member, and 400 unknown_role / unknown_permission for bad grants', async () => {
      const outsider = await newUser('outsider');
      const notMember = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}/members/${outsider.id}`, {
        token: admin,
        body: { roles: [] },
      });
      assert.equal(notMember.status, 404);
      assert.equal(notMember.body.error, 'not_found');
      const unknownUser = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}/members/${UNKNOWN_ID}`, { token: admin, body: {} });
      assert.equal(unknownUser.status, 404);
      const unknownTenant = await gh.request('PATCH', `/api/v1/tenants/${UNKNOWN_ID}/members/${a.adminId}`, { token: admin, body: {} });
      assert.equal(unknownTenant.status, 404);

      const member = await newUser('bad-patch');
      await addMember(admin, a.tenantId, { userId: member.id });
      const url = `/api/v1/tenants/${a.tenantId}/members/${member.id}`;
      const badRole = await gh.request('PATCH', url, { token: a.token, body: { roles: [bRole] } });
      assert.equal(badRole.status, 400);
      assert.equal(badRole.body.error, 'unknown_role');
      const badPermission = await gh.request('PATCH', url, { token: a.token, body: { permissions: ['b:secret'] } });
      assert.equal(badPermission.status, 400);
      assert.equal(badPermission.body.error, 'unknown_permission');
      const badBody = await gh.request('PATCH', url, { token: a.token, body: { userId: member.id } });
      assert.equal(badBody.status, 400);
      assert.equal(badBody.body.error, 'unknown_field');
      assert.deepEqual((await memberOf(a.tenantId, member.id))?.roles, [{ id: roles.USER, name: 'USER' }]);
    });
  });

  describe('DELETE /api/v1/tenants/:id/members/:userId', () => {
    it('removes a member (204): no token for that organization any more (403 not_a_member), the user stays', async () => {
      const user = await newUser('removed');
      await addMember(admin, a.tenantId, { userId: user.id, roles: [editorRole] });
      const session = await gh.signIn(user.email, PASSWORD);
      const access = await gh.tokenFor(session, a.tenantId);
      assert.equal((await gh.request('GET', '/api/v1/users', { token: access })).status, 200);

      const response = await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${user.id}`, { token: a.token });
      assert.equal(response.status, 204);
      assert.equal(response.body, undefined);

      assert.equal(await memberOf(a.tenantId, user.id), undefined);
      const issued = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: a.tenantId } });
      assert.equal(issued.status, 403);
      assert.equal(issued.body.error, 'not_a_member');
      const stale = await gh.request('GET', '/api/v1/users', { token: access });
      assert.equal(stale.status, 401);
      assert.equal(stale.body.error, 'invalid_token');
      const orgs = await gh.request('GET', '/api/v1/organizations', { token: session });
      assert.deepEqual(orgs.body.organizations, []);
      assert.equal((await gh.request('GET', `/api/v1/users/${user.id}`, { token: admin })).status, 200, 'the user stays');
      const grants = await gh.ctx.db.selectFrom('membership_roles').select('role_id').where('user_id', '=', user.id).execute();
      assert.deepEqual(grants, []);

      const events = await auditEvents('iam.membership.deleted', user.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, a.adminId);
      assert.equal(events[0]!.tenant_id, a.tenantId);

      const again = await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${user.id}`, { token: a.token });
      assert.equal(again.status, 404);
      assert.equal(again.body.error, 'not_found');
      assert.equal((await auditEvents('iam.membership.deleted', user.id)).length, 1);
    });

    it('lets a member be added again after removal, with fresh grants', async () => {
      const user = await newUser('rejoin');
      await addMember(admin, a.tenantId, { userId: user.id, roles: [editorRole], permissions: ['read:invoices'] });
      await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${user.id}`, { token: admin });
      const back = await addMember(admin, a.tenantId, { userId: user.id });
      assert.equal(back.status, 201);
      assert.deepEqual(back.body.roles, [{ id: roles.USER, name: 'USER' }]);
      assert.deepEqual(back.body.permissions, []);
    });

    it('answers 404 for a non-member, an unknown user and an unknown tenant; 400 invalid_id for a malformed id', async () => {
      const outsider = await newUser('not-in');
      for (const url of [
        `/api/v1/tenants/${a.tenantId}/members/${outsider.id}`,
        `/api/v1/tenants/${a.tenantId}/members/${UNKNOWN_ID}`,
        `/api/v1/tenants/${UNKNOWN_ID}/members/${a.adminId}`,
      ]) {
        const response = await gh.request('DELETE', url, { token: admin });
        assert.equal(response.status, 404, url);
      }
      const malformed = await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/someone`, { token: admin });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_id');
    });

    it('refuses a plain member (403 forbidden)', async () => {
      const plain = await newUser('plain-remover');
      await addMember(admin, a.tenantId, { userId: plain.id });
      const { token } = await tokenClaims(plain.email, a.tenantId);
      const response = await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${a.adminId}`, { token });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      assert.ok(await memberOf(a.tenantId, a.adminId));
    });
  });

  describe('a tenant administrator on another tenant’s members', () => {
    it('gets 404 for every method on /tenants/B/members, and B’s memberships stay as they were', async () => {
      const bUser = await newUser('b-member');
      await addMember(admin, b.tenantId, { userId: bUser.id });
      const outsider = await newUser('b-candidate');
      const before = await listMembers(b.tenantId);

      const attempts: [string, string, unknown][] = [
        ['GET', `/api/v1/tenants/${b.tenantId}/members`, undefined],
        ['POST', `/api/v1/tenants/${b.tenantId}/members`, { userId: outsider.id }],
        ['PATCH', `/api/v1/tenants/${b.tenantId}/members/${bUser.id}`, { roles: [roles.TENANT_ADMIN] }],
        ['DELETE', `/api/v1/tenants/${b.tenantId}/members/${bUser.id}`, undefined],
        ['DELETE', `/api/v1/tenants/${b.tenantId}/members/${b.adminId}`, undefined],
        ['GET', `/api/v1/tenants/${systemTenantId}/members`, undefined],
        ['POST', `/api/v1/tenants/${systemTenantId}/members`, { userId: a.adminId }],
        ['DELETE', `/api/v1/tenants/${systemTenantId}/members/${adminId}`, undefined],
      ];
      for (const [method, url, body] of attempts) {
        const response = await gh.request(method as 'GET', url, { token: a.token, ...(body !== undefined && { body }) });
        assert.equal(response.status, 404, `${method} ${url}`);
        assert.equal(response.body.error, 'not_found', `${method} ${url}`);
      }
      assert.deepEqual(await listMembers(b.tenantId), before);
      assert.equal(await memberOf(systemTenantId, a.adminId), undefined);
      assert.ok(await memberOf(systemTenantId, adminId));
    });
  });
});
