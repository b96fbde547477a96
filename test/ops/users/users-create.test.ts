import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { a, admin, adminId, auditEvents, b, getUser, gh, members, plainMemberToken, roles, UNKNOWN_ID, usersServer } from './setup.js';

describe('Users API: /api/v1/users', () => {
  usersServer();

  const usersWithEmail = async (email: string) => {
    const response = await gh.request('GET', `/api/v1/users?email=${encodeURIComponent(email)}`, { token: admin });
    assert.equal(response.status, 200);
    return response.body.users as { id: string }[];
  };

  describe('POST /api/v1/users', () => {
    it('lets a system administrator create a homeless user: 201, active, no secret in the response, audited', async () => {
      const response = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: {
          email: 'nomad@example.test',
          password: PASSWORD,
          name: 'Nomad',
          username: 'nomad',
          locale: 'en-GB',
          app_metadata: { plan: 'pro' },
        },
      });
      assert.equal(response.status, 201);
      const user = response.body;
      assert.equal(user.email, 'nomad@example.test');
      assert.equal(user.username, 'nomad');
      assert.equal(user.name, 'Nomad');
      assert.equal(user.locale, 'en-GB');
      assert.equal(user.status, 'active');
      assert.equal(user.email_verified, false);
      assert.equal(user.home_tenant_id, null);
      assert.deepEqual(user.app_metadata, { plan: 'pro' });
      assert.deepEqual(user.user_metadata, {});
      assert.equal(user.last_login_at, null);
      assert.ok(!('password' in user) && !('password_hash' in user));
      assert.ok(!JSON.stringify(user).includes(PASSWORD));

      const session = await gh.signIn('nomad@example.test', PASSWORD);
      const orgs = await gh.request('GET', '/api/v1/organizations', { token: session });
      assert.deepEqual(orgs.body.organizations, [], 'a member of no tenant');

      const events = await auditEvents('iam.user.created', user.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, adminId);
      assert.equal(events[0]!.tenant_id, null);
      assert.equal(events[0]!.target_type, 'user');
      assert.deepEqual(events[0]!.details, { email: 'nomad@example.test', status: 'active' });
      assert.deepEqual(await auditEvents('iam.membership.created', user.id), []);
    });

    it('lets a system administrator home a user in a tenant: member there with the USER role by default, or with given roles', async () => {
      const plainId = await gh.createUser(admin, { email: 'homed@users-b.test', password: PASSWORD, tenant: b.tenantId });
      const plain = await getUser(plainId);
      assert.equal(plain.body.home_tenant_id, b.tenantId);
      const listed = await members(b.tenantId);
      assert.deepEqual(listed.find((m) => m.user_id === plainId)?.roles, [{ id: roles.USER, name: 'USER' }]);

      const bossId = await gh.createUser(admin, {
        email: 'boss@users-b.test',
        password: PASSWORD,
        tenant: b.tenantId,
        roles: [roles.TENANT_ADMIN],
      });
      const bosses = await members(b.tenantId);
      assert.deepEqual(bosses.find((m) => m.user_id === bossId)?.roles, [{ id: roles.TENANT_ADMIN, name: 'TENANT_ADMIN' }]);

      const membership = await auditEvents('iam.membership.created', plainId);
      assert.equal(membership.length, 1);
      assert.equal(membership[0]!.tenant_id, b.tenantId);
      const created = await auditEvents('iam.user.created', plainId);
      assert.equal(created[0]!.tenant_id, b.tenantId);
    });

    it('answers 404 for an unknown home tenant and writes nothing', async () => {
      const response = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'lost@example.test', tenant: UNKNOWN_ID },
      });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      assert.deepEqual(await usersWithEmail('lost@example.test'), []);
    });

    it('homes a tenant administrator’s new user in the own tenant, as a member with the USER role', async () => {
      const response = await gh.request('POST', '/api/v1/users', {
        token: a.token,
        body: { email: 'staff@users-a.test', password: PASSWORD },
      });
      assert.equal(response.status, 201);
      assert.equal(response.body.home_tenant_id, a.tenantId);
      const listed = await members(a.tenantId);
      assert.deepEqual(listed.find((m) => m.user_id === response.body.id)?.roles, [{ id: roles.USER, name: 'USER' }]);
      const session = await gh.signIn('staff@users-a.test', PASSWORD);
      const orgs = await gh.request('GET', '/api/v1/organizations', { token: session });
      assert.deepEqual(
        orgs.body.organizations.map((o: { id: string }) => o.id),
        [a.tenantId],
      );
      const events = await auditEvents('iam.user.created', response.body.id);
      assert.equal(events[0]!.actor_id, a.adminId);
      assert.equal(events[0]!.tenant_id, a.tenantId);
    });

    it('refuses a tenant administrator the ADMIN role for a new user (403 restricted_permission), writing no user', async () => {
      const response = await gh.request('POST', '/api/v1/users', {
        token: a.token,
        body: { email: 'wannabe@users-a.test', password: PASSWORD, roles: [roles.ADMIN] },
      });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'restricted_permission');
      assert.deepEqual(await usersWithEmail('wannabe@users-a.test'), [], 'no partial write');
    });

    it('answers 409 email_taken for an email in use in any case, with no partial write', async () => {
      await gh.createUser(admin, { email: 'dup@example.test', password: PASSWORD });
      for (const [token, email] of [
        [admin, 'dup@example.test'],
        [admin, 'Dup@Example.TEST'],
      ] as const) {
        const response = await gh.request('POST', '/api/v1/users', { token, body: { email, password: PASSWORD } });
        assert.equal(response.status, 409, email);
        assert.equal(response.body.error, 'email_taken');
      }
      // A tenant administrator, for whom an account outside the tenant does not exist, gets the answer of a
      // new address and its owner an invitation (decision 185); still no second account.
      const outside = await gh.request('POST', '/api/v1/users', {
        token: a.token,
        body: { email: 'DUP@example.test', password: PASSWORD },
      });
      assert.equal(outside.status, 201, JSON.stringify(outside.body));
      assert.equal((await usersWithEmail('dup@example.test')).length, 1);
      const aMembers = await gh.request('GET', '/api/v1/users?limit=200', { token: a.token });
      assert.ok(!aMembers.body.users.some((u: { email: string }) => u.email.toLowerCase() === 'dup@example.test'));
    });

    it('answers 409 username_taken for a username in use in any case', async () => {
      await gh.createUser(admin, { email: 'first-jdoe@example.test', username: 'jdoe' });
      for (const username of ['jdoe', 'JDoe']) {
        const response = await gh.request('POST', '/api/v1/users', {
          token: admin,
          body: { email: `${username}-2@example.test`, username },
        });
        assert.equal(response.status, 409, username);
        assert.equal(response.body.error, 'username_taken');
      }
      assert.deepEqual(await usersWithEmail('jdoe-2@example.test'), []);
    });

    it('answers 400 password_too_short below 10 characters (and password_too_long above 128), creating nothing', async () => {
      const short = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'short@example.test', password: '123456789' },
      });
      assert.equal(short.status, 400);
      assert.equal(short.body.error, 'password_too_short');
      const long = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'short@example.test', password: 'x'.repeat(129) },
      });
      assert.equal(long.status, 400);
      assert.equal(long.body.error, 'password_too_long');
      assert.deepEqual(await usersWithEmail('short@example.test'), []);
      const exactly10 = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'ten@example.test', password: 'k7#pq2!zr9' },
      });
      assert.equal(exactly10.status, 201);
    });

    it('creates a user without a password as pending, who cannot sign in (401 invalid_credentials)', async () => {
      const response = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'invited@example.test', name: 'Invited' },
      });
      assert.equal(response.status, 201);
      assert.equal(response.body.status, 'pending');
      const signIn = await gh.request('POST', '/api/v1/session', { body: { username: 'invited@example.test', password: PASSWORD } });
      assert.equal(signIn.status, 401);
      assert.equal(signIn.body.error, 'invalid_credentials');
    });

    it('rejects bad bodies with a code naming the problem', async () => {
      const cases: [unknown, string][] = [
        [{ password: PASSWORD }, 'missing_field'],
        [{ email: 'not-an-email' }, 'invalid_email'],
        [{ email: 'x@example.test', password_hash: '$argon2id$...' }, 'unknown_field'],
        [{ email: 'x@example.test', email_verified: 'yes' }, 'invalid_type'],
        [{ email: 'x@example.test', tenant: 'users-a' }, 'invalid_id'],
        [{ email: 'x@example.test', roles: ['USER'] }, 'invalid_id'],
        [{ email: 'x@example.test', status: 'banned' }, 'invalid_field'],
        [{ email: 'x@example.test', username: 'has@sign' }, 'invalid_field'],
      ];
      for (const [body, error] of cases) {
        const response = await gh.request('POST', '/api/v1/users', { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, error, JSON.stringify(body));
      }
      assert.deepEqual(await usersWithEmail('x@example.test'), []);
    });

    it('refuses a plain member (403 forbidden) and a caller without an access token (401)', async () => {
      const token = await plainMemberToken(a.tenantId, 'plain-creator@users-a.test');
      const forbidden = await gh.request('POST', '/api/v1/users', { token, body: { email: 'by-plain@users-a.test' } });
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.error, 'forbidden');
      const anonymous = await gh.request('POST', '/api/v1/users', { body: { email: 'by-anon@users-a.test' } });
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error, 'unauthorized');
      assert.deepEqual(await usersWithEmail('by-plain@users-a.test'), []);
      assert.deepEqual(await usersWithEmail('by-anon@users-a.test'), []);
    });
  });
});
