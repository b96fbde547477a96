import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

const NEW_PASSWORD = 'another-long-password';

describe('Users API: /api/v1/users', () => {
  let gh: TestGatehouse;
  let admin: string;
  let adminId: string;
  let systemTenantId: string;
  let roles: Record<string, string>;

  before(async () => {
    gh = await startGatehouse();
    ({ token: admin, id: adminId, systemTenantId } = await gh.systemAdmin());
    roles = await gh.systemRoleIds();
  });
  after(() => gh.stop());

  /** The events with this action about this target, as the system administrator sees them. */
  const auditEvents = (action: string, target: string) => gh.auditEvents(admin, { action, target });

  const signInStatus = async (username: string, password: string) =>
    (await gh.request('POST', '/api/v1/session', { body: { username, password } })).status;

  const getUser = async (id: string) => gh.request('GET', `/api/v1/users/${id}`, { token: admin });

  describe('the home-tenant rule (the OIH cross-tenant update bug)', () => {
    let ha: TenantAdmin;
    let hb: TenantAdmin;
    let u: string;

    before(async () => {
      ha = await gh.tenantWithAdmin('home-a');
      hb = await gh.tenantWithAdmin('home-b');
      u = await gh.createUser(hb.token, { email: 'u@home-b.test', password: PASSWORD, name: 'U' });
      const added = await gh.request('POST', `/api/v1/tenants/${ha.tenantId}/members`, { token: admin, body: { userId: u } });
      assert.equal(added.status, 201);
    });

    it('lets the administrator of a tenant the user merely belongs to see the user', async () => {
      const read = await gh.request('GET', `/api/v1/users/${u}`, { token: ha.token });
      assert.equal(read.status, 200);
      assert.equal(read.body.home_tenant_id, hb.tenantId);
      const listed = await gh.request('GET', '/api/v1/users', { token: ha.token });
      assert.ok(listed.body.users.some((x: { id: string }) => x.id === u));
    });

    it('refuses that administrator the password, email, status and profile (403 not_home_tenant); the password still works', async () => {
      const session = await gh.signIn('u@home-b.test', PASSWORD);
      for (const body of [
        { password: 'attacker-chosen-password' },
        { email: 'attacker@home-a.test' },
        { status: 'disabled' },
        { name: 'Owned' },
      ]) {
        const response = await gh.request('PATCH', `/api/v1/users/${u}`, { token: ha.token, body });
        assert.equal(response.status, 403, JSON.stringify(body));
        assert.equal(response.body.error, 'not_home_tenant');
      }
      assert.equal(await signInStatus('u@home-b.test', PASSWORD), 200);
      assert.equal(await signInStatus('u@home-b.test', 'attacker-chosen-password'), 401);
      assert.equal(await signInStatus('attacker@home-a.test', 'attacker-chosen-password'), 401);
      assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 200, 'sessions not revoked');
      const user = await getUser(u);
      assert.equal(user.body.email, 'u@home-b.test');
      assert.equal(user.body.status, 'active');
      assert.equal(user.body.name, 'U');
      assert.deepEqual(await auditEvents('iam.user.modified', u), []);
    });

    it('refuses that administrator the deletion (403 not_home_tenant)', async () => {
      const response = await gh.request('DELETE', `/api/v1/users/${u}`, { token: ha.token });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'not_home_tenant');
      assert.equal((await getUser(u)).status, 200);
    });

    it('treats a homeless user who is a member of the tenant the same way (403 not_home_tenant)', async () => {
      const homeless = await gh.createUser(admin, { email: 'homeless@example.test', password: PASSWORD });
      await gh.request('POST', `/api/v1/tenants/${ha.tenantId}/members`, { token: admin, body: { userId: homeless } });
      const patch = await gh.request('PATCH', `/api/v1/users/${homeless}`, {
        token: ha.token,
        body: { password: 'attacker-chosen-password' },
      });
      assert.equal(patch.status, 403);
      assert.equal(patch.body.error, 'not_home_tenant');
      const del = await gh.request('DELETE', `/api/v1/users/${homeless}`, { token: ha.token });
      assert.equal(del.body.error, 'not_home_tenant');
      assert.equal(await signInStatus('homeless@example.test', PASSWORD), 200);
    });

    it('lets the administrator of the home tenant change the user only once it administers every tenant of theirs (decision 180)', async () => {
      // A member of A too, whose administrators B's does not outrank there: out of B's reach as well (issue 12, item 1).
      const refused = await gh.request('PATCH', `/api/v1/users/${u}`, { token: hb.token, body: { password: NEW_PASSWORD } });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error, 'member_elsewhere');
      assert.equal(await signInStatus('u@home-b.test', PASSWORD), 200);
      assert.equal((await gh.request('DELETE', `/api/v1/tenants/${ha.tenantId}/members/${u}`, { token: admin })).status, 204);
      const response = await gh.request('PATCH', `/api/v1/users/${u}`, {
        token: hb.token,
        body: { name: 'U Renamed', password: NEW_PASSWORD },
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.name, 'U Renamed');
      assert.equal(await signInStatus('u@home-b.test', NEW_PASSWORD), 200);
    });

    it('never lets a tenant administrator change a system administrator, even one homed in their tenant (403 forbidden)', async () => {
      const id = await gh.createUser(ha.token, { email: 'promoted@home-a.test', password: PASSWORD });
      const promoted = await gh.request('POST', `/api/v1/tenants/${systemTenantId}/members`, {
        token: admin,
        body: { userId: id, roles: [roles.ADMIN] },
      });
      assert.equal(promoted.status, 201);
      for (const body of [
        { password: 'attacker-chosen-password' },
        { status: 'disabled' },
        { email: 'x@home-a.test' },
        { name: 'Demoted' },
      ]) {
        const response = await gh.request('PATCH', `/api/v1/users/${id}`, { token: ha.token, body });
        assert.equal(response.status, 403, JSON.stringify(body));
        assert.equal(response.body.error, 'forbidden');
      }
      const del = await gh.request('DELETE', `/api/v1/users/${id}`, { token: ha.token });
      assert.equal(del.status, 403);
      assert.equal(del.body.error, 'forbidden');
      assert.equal(await signInStatus('promoted@home-a.test', PASSWORD), 200);
      assert.equal((await getUser(id)).body.status, 'active');

      // The first system administrator, added to the tenant as a member, is out of reach too.
      await gh.request('POST', `/api/v1/tenants/${ha.tenantId}/members`, { token: admin, body: { userId: adminId } });
      assert.equal((await gh.request('GET', `/api/v1/users/${adminId}`, { token: ha.token })).status, 200);
      const patchAdmin = await gh.request('PATCH', `/api/v1/users/${adminId}`, {
        token: ha.token,
        body: { password: 'attacker-chosen-password' },
      });
      assert.equal(patchAdmin.status, 403);
      assert.equal(await signInStatus(ADMIN_EMAIL, ADMIN_PASSWORD), 200);
    });
  });
});
