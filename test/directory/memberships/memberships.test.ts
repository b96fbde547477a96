import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemberBody } from '../../helpers/gatehouse.js';
import {
  a,
  addMember,
  admin,
  auditEvents,
  b,
  bRole,
  counter,
  editorRole,
  gh,
  listMembers,
  memberOf,
  membershipsServer,
  newUser,
  roles,
  tokenClaims,
  UNKNOWN_ID,
} from './setup.js';

describe('Memberships API: /api/v1/tenants/:id/members', () => {
  membershipsServer();

  describe('GET /api/v1/tenants/:id/members', () => {
    it('lists the members of a tenant with their roles, direct and effective permissions', async () => {
      const members = await listMembers(a.tenantId);
      const tenantAdmin = members.find((m) => m.user_id === a.adminId);
      assert.ok(tenantAdmin);
      assert.equal(tenantAdmin.tenant_id, a.tenantId);
      assert.equal(tenantAdmin.email, a.adminEmail);
      assert.equal(tenantAdmin.status, 'active');
      assert.deepEqual(tenantAdmin.roles, [{ id: roles.TENANT_ADMIN, name: 'TENANT_ADMIN' }]);
      assert.deepEqual(tenantAdmin.permissions, []);
      assert.deepEqual(tenantAdmin.effective_permissions, ['tenant.all']);
      assert.ok(Date.parse(tenantAdmin.created_at));
      assert.ok(!members.some((m) => m.user_id === b.adminId), 'only members of this tenant');
    });

    it('walks the members page by page with ?limit=2&cursor=, without duplicates or omissions', async () => {
      const tenant = await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'members-paged', name: 'Paged' } });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const user = await newUser('paged');
        assert.equal((await addMember(admin, tenant.body.id, { userId: user.id })).status, 201);
        ids.push(user.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/api/v1/tenants/${tenant.body.id}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await gh.request('GET', url, { token: admin });
        assert.equal(page.status, 200);
        assert.ok(page.body.members.length > 0 && page.body.members.length <= 2);
        seen.push(...page.body.members.map((m: MemberBody) => m.user_id));
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids.sort());

      const invalid = await gh.request('GET', `/api/v1/tenants/${tenant.body.id}/members?cursor=nope`, { token: admin });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.error, 'invalid_cursor');
    });

    it('answers 404 for an unknown tenant and 400 invalid_id for a malformed one', async () => {
      const unknown = await gh.request('GET', `/api/v1/tenants/${UNKNOWN_ID}/members`, { token: admin });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'not_found');
      const malformed = await gh.request('GET', '/api/v1/tenants/members-a/members', { token: admin });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_id');
    });

    it('lets a tenant administrator list the own members, but refuses a plain member (403 forbidden)', async () => {
      const own = await gh.request('GET', `/api/v1/tenants/${a.tenantId}/members`, { token: a.token });
      assert.equal(own.status, 200);
      assert.ok(own.body.members.some((m: MemberBody) => m.user_id === a.adminId));
      const plain = await newUser('plain-reader');
      await addMember(admin, a.tenantId, { userId: plain.id });
      const { token } = await tokenClaims(plain.email, a.tenantId);
      const refused = await gh.request('GET', `/api/v1/tenants/${a.tenantId}/members`, { token });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error, 'forbidden');
    });
  });

  describe('POST /api/v1/tenants/:id/members', () => {
    it('adds a user with the USER role by default (201), and records iam.membership.created', async () => {
      const user = await newUser('default', a.tenantId);
      const response = await addMember(a.token, a.tenantId, { userId: user.id });
      assert.equal(response.status, 201);
      const { created_at, ...member } = response.body;
      assert.ok(Date.parse(created_at));
      assert.deepEqual(member, {
        user_id: user.id,
        tenant_id: a.tenantId,
        email: user.email,
        name: `default ${counter}`,
        status: 'active',
        roles: [{ id: roles.USER, name: 'USER' }],
        permissions: [],
        groups: [],
        effective_permissions: ['tenant.profile.read'],
        permission_sources: [{ permission: 'tenant.profile.read', from: ['role:USER'] }],
        home_tenant: 'this',
        managed: true,
      });
      assert.deepEqual(await memberOf(a.tenantId, user.id), response.body);

      const { claims } = await tokenClaims(user.email, a.tenantId);
      assert.deepEqual(claims.roles, ['USER']);
      assert.deepEqual(claims.permissions, ['tenant.profile.read']);

      const events = await auditEvents('iam.membership.created', user.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, a.adminId);
      assert.equal(events[0]!.tenant_id, a.tenantId);
      assert.equal(events[0]!.target_type, 'user');
      assert.deepEqual(events[0]!.details, { roles: ['USER'], permissions: [] });
    });

    it('adds a user with given roles and direct permissions; effective permissions are their union', async () => {
      const user = await newUser('granted', a.tenantId);
      const response = await addMember(a.token, a.tenantId, {
        userId: user.id,
        roles: [editorRole, roles.USER],
        permissions: ['read:invoices', 'tenant.audit.read', 'read:invoices'],
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      assert.deepEqual(
        response.body.roles.map((r: { name: string }) => r.name),
        ['USER', 'editor'].sort(),
      );
      assert.deepEqual(response.body.permissions, ['read:invoices', 'tenant.audit.read']);
      assert.deepEqual(response.body.effective_permissions, [
        'read:invoices',
        'tenant.account.read',
        'tenant.audit.read',
        'tenant.profile.read',
      ]);

      const { token, claims } = await tokenClaims(user.email, a.tenantId);
      assert.deepEqual([...(claims.roles as string[])].sort(), ['USER', 'editor']);
      assert.deepEqual(claims.permissions, response.body.effective_permissions);
      // The role's permission works on the admin API: tenant.account.read lists users.
      assert.equal((await gh.request('GET', '/api/v1/users', { token })).status, 200);
      assert.equal((await gh.request('GET', '/api/v1/audit-events', { token })).status, 200);
    });

    it('adds a member with no roles when roles is empty: only the direct permissions remain', async () => {
      const user = await newUser('roleless');
      const response = await addMember(admin, a.tenantId, { userId: user.id, roles: [], permissions: ['read:invoices'] });
      assert.equal(response.status, 201);
      assert.deepEqual(response.body.roles, []);
      assert.deepEqual(response.body.effective_permissions, ['read:invoices']);
    });

    it('answers 409 already_member and leaves the membership as it was', async () => {
      const user = await newUser('twice');
      await addMember(admin, a.tenantId, { userId: user.id, roles: [editorRole] });
      const again = await addMember(admin, a.tenantId, { userId: user.id, roles: [roles.TENANT_ADMIN] });
      assert.equal(again.status, 409);
      assert.equal(again.body.error, 'already_member');
      assert.deepEqual((await memberOf(a.tenantId, user.id))?.roles, [{ id: editorRole, name: 'editor' }]);
      assert.equal((await auditEvents('iam.membership.created', user.id)).length, 1);
    });

    it('answers 404 for an unknown user or tenant', async () => {
      const user = await addMember(admin, a.tenantId, { userId: UNKNOWN_ID });
      assert.equal(user.status, 404);
      assert.equal(user.body.error, 'not_found');
      const real = await newUser('no-tenant');
      const tenant = await addMember(admin, UNKNOWN_ID, { userId: real.id });
      assert.equal(tenant.status, 404);
      assert.equal(tenant.body.error, 'not_found');
    });

    it('answers 400 unknown_role for a role of another tenant or no role at all, writing nothing', async () => {
      const user = await newUser('bad-role', a.tenantId);
      for (const roleId of [bRole, UNKNOWN_ID]) {
        for (const token of [admin, a.token]) {
          const response = await addMember(token, a.tenantId, { userId: user.id, roles: [roles.USER, roleId] });
          assert.equal(response.status, 400);
          assert.equal(response.body.error, 'unknown_role');
          assert.deepEqual(response.body.details.roles, [roleId]);
        }
      }
      assert.equal(await memberOf(a.tenantId, user.id), undefined, 'no partial write');
    });

    it('answers 400 unknown_permission for a key that does not exist or belongs to another tenant', async () => {
      const user = await newUser('bad-permission', b.tenantId);
      for (const key of ['b:secret', 'write:nothing']) {
        const response = await addMember(admin, a.tenantId, { userId: user.id, permissions: [key] });
        assert.equal(response.status, 400, key);
        assert.equal(response.body.error, 'unknown_permission');
      }
      assert.equal(await memberOf(a.tenantId, user.id), undefined);
      // In B, where it lives, the tenant permission is grantable.
      const inB = await addMember(b.token, b.tenantId, { userId: user.id, permissions: ['b:secret'] });
      assert.equal(inB.status, 201);
    });

    it('refuses a tenant administrator the ADMIN role and `all` / `iam.*` permissions (403 restricted_permission)', async () => {
      const user = await newUser('escalate', a.tenantId);
      const attempts = [
        { roles: [roles.ADMIN] },
        { permissions: ['all'] },
        { permissions: ['iam.account.update'] },
        { permissions: ['tenant.account.read', 'iam.tenant.create'] },
      ];
      for (const attempt of attempts) {
        const response = await addMember(a.token, a.tenantId, { userId: user.id, ...attempt });
        assert.equal(response.status, 403, JSON.stringify(attempt));
        assert.equal(response.body.error, 'restricted_permission');
      }
      assert.equal(await memberOf(a.tenantId, user.id), undefined, 'no membership written');
      // The common TENANT_ADMIN role is the tenant administrator's to give.
      const coAdmin = await addMember(a.token, a.tenantId, { userId: user.id, roles: [roles.TENANT_ADMIN] });
      assert.equal(coAdmin.status, 201);
    });

    it('lets a system administrator grant restricted permissions in a tenant', async () => {
      const user = await newUser('privileged');
      const response = await addMember(admin, a.tenantId, { userId: user.id, permissions: ['iam.audit.read'] });
      assert.equal(response.status, 201);
      assert.deepEqual(response.body.permissions, ['iam.audit.read']);
    });

    it('rejects bad bodies with a code naming the problem', async () => {
      const user = await newUser('bad-body');
      const cases: [unknown, string][] = [
        [{}, 'missing_field'],
        [{ userId: 'alice' }, 'invalid_id'],
        [{ userId: user.id, roles: roles.USER }, 'invalid_type'],
        [{ userId: user.id, roles: ['USER'] }, 'invalid_id'],
        [{ userId: user.id, permissions: [''] }, 'invalid_field'],
        [{ userId: user.id, tenant: a.tenantId }, 'unknown_field'],
        [{ user_id: user.id }, 'missing_field'],
      ];
      for (const [body, error] of cases) {
        const response = await gh.request('POST', `/api/v1/tenants/${a.tenantId}/members`, { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, error, JSON.stringify(body));
      }
      assert.equal(await memberOf(a.tenantId, user.id), undefined);
    });
  });
});
