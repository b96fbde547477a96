import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { a, admin, adminId, auditEvents, b, getUser, gh, members, signInStatus, UNKNOWN_ID, usersServer } from './setup.js';

describe('Users API: /api/v1/users', () => {
  usersServer();

  describe('DELETE /api/v1/users/:id', () => {
    it('deletes a user (204): then 404, sessions and memberships gone, iam.user.deleted recorded', async () => {
      const id = await gh.createUser(admin, { email: 'leaving@example.test', password: PASSWORD, tenant: b.tenantId });
      const session = await gh.signIn('leaving@example.test', PASSWORD);
      const response = await gh.request('DELETE', `/api/v1/users/${id}`, { token: admin });
      assert.equal(response.status, 204);
      assert.equal(response.body, undefined);
      assert.equal((await getUser(id)).status, 404);
      assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 401);
      assert.ok(!(await members(b.tenantId)).some((m) => m.user_id === id));
      assert.equal(await signInStatus('leaving@example.test', PASSWORD), 401);

      const again = await gh.request('DELETE', `/api/v1/users/${id}`, { token: admin });
      assert.equal(again.status, 404);
      const events = await auditEvents('iam.user.deleted', id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, adminId);
      assert.equal(events[0]!.tenant_id, b.tenantId);
      assert.deepEqual(events[0]!.details, { email: 'leaving@example.test' });
    });

    it('refuses to delete the own account (403 forbidden), for system and tenant administrators alike', async () => {
      const self = await gh.request('DELETE', `/api/v1/users/${adminId}`, { token: admin });
      assert.equal(self.status, 403);
      assert.equal(self.body.error, 'forbidden');
      const tenantSelf = await gh.request('DELETE', `/api/v1/users/${a.adminId}`, { token: a.token });
      assert.equal(tenantSelf.status, 403);
      assert.equal(tenantSelf.body.error, 'forbidden');
      assert.equal((await getUser(adminId)).status, 200);
      assert.equal((await getUser(a.adminId)).status, 200);
    });

    it('lets a tenant administrator delete a user homed in the own tenant, and answers 404 for another tenant’s', async () => {
      const own = await gh.createUser(a.token, { email: 'fired@users-a.test' });
      assert.equal((await gh.request('DELETE', `/api/v1/users/${own}`, { token: a.token })).status, 204);
      assert.equal((await getUser(own)).status, 404);
      const events = await auditEvents('iam.user.deleted', own);
      assert.equal(events[0]!.actor_id, a.adminId);

      const other = await gh.request('DELETE', `/api/v1/users/${b.adminId}`, { token: a.token });
      assert.equal(other.status, 404);
      assert.equal(other.body.error, 'not_found');
      assert.equal((await getUser(b.adminId)).status, 200);
    });

    it('answers 404 for an unknown user and 400 invalid_id for a malformed id', async () => {
      assert.equal((await gh.request('DELETE', `/api/v1/users/${UNKNOWN_ID}`, { token: admin })).status, 404);
      const malformed = await gh.request('DELETE', '/api/v1/users/not-an-id', { token: admin });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_id');
    });
  });

  describe('disabling a user', () => {
    it('ends their session token and their access token at once', async () => {
      const victim = await gh.tenantWithAdmin('disabled-co');
      const session = await gh.signIn(victim.adminEmail, PASSWORD);
      const access = await gh.tokenFor(session, victim.tenantId);
      assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 200);
      assert.equal((await gh.request('GET', '/api/v1/users', { token: access })).status, 200);
      assert.equal((await gh.request('GET', '/api/v1/users', { token: victim.token })).status, 200);

      const response = await gh.request('PATCH', `/api/v1/users/${victim.adminId}`, { token: admin, body: { status: 'disabled' } });
      assert.equal(response.status, 200);

      const sessionAfter = await gh.request('GET', '/api/v1/session', { token: session });
      assert.equal(sessionAfter.status, 401);
      for (const token of [access, victim.token]) {
        const after = await gh.request('GET', '/api/v1/users', { token });
        assert.equal(after.status, 401);
        assert.equal(after.body.error, 'invalid_token');
      }
      const issue = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: victim.tenantId } });
      assert.equal(issue.status, 401);
      const orgs = await gh.request('GET', '/api/v1/organizations', { token: session });
      assert.equal(orgs.status, 401);

      // Re-enabling does not bring the old sessions back.
      await gh.request('PATCH', `/api/v1/users/${victim.adminId}`, { token: admin, body: { status: 'active' } });
      assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 401);
      assert.equal((await gh.request('GET', '/api/v1/users', { token: access })).status, 401);
      assert.equal(await signInStatus(victim.adminEmail, PASSWORD), 200);
    });
  });
});
