import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ADMIN_EMAIL, PASSWORD } from '../../helpers/gatehouse.js';
import { a, admin, adminId, auditEvents, b, getUser, gh, plainMemberToken, roles, signInStatus, UNKNOWN_ID, usersServer } from './setup.js';

const NEW_PASSWORD = 'another-long-password';

describe('Users API: /api/v1/users', () => {
  usersServer();

  describe('GET /api/v1/users', () => {
    let listTenant: string;
    let ids: Record<string, string>;

    before(async () => {
      const tenant = await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'users-list', name: 'List' } });
      listTenant = tenant.body.id;
      ids = {
        alice: await gh.createUser(admin, { email: 'alice@list.test', name: 'Alice Liddell', password: PASSWORD, tenant: listTenant }),
        bob: await gh.createUser(admin, {
          email: 'bob@list.test',
          name: 'Bob Builder',
          username: 'bobby_tables',
          password: PASSWORD,
          tenant: listTenant,
        }),
        carol: await gh.createUser(admin, {
          email: 'carol@list.test',
          name: 'Carol',
          password: PASSWORD,
          status: 'disabled',
          tenant: listTenant,
        }),
        dave: await gh.createUser(admin, { email: 'dave@list.test', name: 'Dave', tenant: listTenant }),
        erin: await gh.createUser(admin, { email: 'Erin@List.test', name: 'Erin Alison', password: PASSWORD, tenant: listTenant }),
      };
    });

    const listIds = async (query: string, token = admin) => {
      const response = await gh.request('GET', `/api/v1/users?${query}`, { token });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.users.map((u: { id: string }) => u.id) as string[];
    };
    const sorted = (values: string[]) => [...values].sort();

    it('lists every user for a system administrator, homeless ones included', async () => {
      const all = await listIds('limit=200');
      for (const id of Object.values(ids)) assert.ok(all.includes(id));
      assert.ok(all.includes(adminId));
      assert.ok(all.includes(a.adminId) && all.includes(b.adminId));
    });

    it('filters by tenant (its members), by status, by email (any case) and by q (email, name, username; wildcards literal)', async () => {
      assert.deepEqual(await listIds(`tenant=${listTenant}`), sorted(Object.values(ids)));
      assert.deepEqual(await listIds(`tenant=${listTenant}&status=disabled`), [ids.carol]);
      assert.deepEqual(await listIds(`tenant=${listTenant}&status=pending`), [ids.dave]);
      assert.deepEqual(await listIds(`tenant=${listTenant}&status=active`), sorted([ids.alice!, ids.bob!, ids.erin!]));
      assert.deepEqual(await listIds('email=ALICE@LIST.TEST'), [ids.alice]);
      assert.deepEqual(await listIds('email=erin@list.test'), [ids.erin]);
      assert.deepEqual(await listIds('email=nobody@list.test'), []);
      assert.deepEqual(await listIds(`tenant=${listTenant}&q=ali`), sorted([ids.alice!, ids.erin!]), 'name, any case');
      assert.deepEqual(await listIds('q=bobby_tables'), [ids.bob], 'username');
      assert.deepEqual(await listIds(`tenant=${listTenant}&q=${encodeURIComponent('@list.')}`), sorted(Object.values(ids)), 'email');
      assert.deepEqual(await listIds(`q=${encodeURIComponent('%')}`), [], '% is no wildcard');
      assert.deepEqual(await listIds(`tenant=${listTenant}&q=${encodeURIComponent('b_b')}`), [], '_ is no wildcard');
      assert.deepEqual(await listIds(`tenant=${UNKNOWN_ID}`), []);
    });

    it('filters by the start of the email address (any case; % and _ literal; a tenant administrator sees only members)', async () => {
      assert.deepEqual(await listIds('email_prefix=ERIN@'), [ids.erin]);
      assert.deepEqual(await listIds(`tenant=${listTenant}&email_prefix=${encodeURIComponent('a')}`), [ids.alice]);
      assert.deepEqual(await listIds('email_prefix=list.test'), [], 'the start, not anywhere in the address');
      assert.deepEqual(await listIds(`email_prefix=${encodeURIComponent('%')}`), [], '% is no wildcard');
      assert.deepEqual(await listIds(`email_prefix=${encodeURIComponent('_lice')}`), [], '_ is no wildcard');
      assert.deepEqual(await listIds(`email_prefix=${encodeURIComponent('alice@list.')}`), [ids.alice]);
      const outsider = await listIds('email_prefix=alice@', a.token);
      assert.deepEqual(outsider, [], "another tenant's administrator does not find a member of this one");
    });

    it('walks the users page by page with ?limit=2&cursor=, without duplicates or omissions', async () => {
      const expected = sorted(Object.values(ids));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/api/v1/users?tenant=${listTenant}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await gh.request('GET', url, { token: admin });
        assert.equal(page.status, 200);
        assert.ok(page.body.users.length > 0 && page.body.users.length <= 2);
        seen.push(...page.body.users.map((u: { id: string }) => u.id));
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, expected);

      const whole = await listIds('limit=200');
      const walked: string[] = [];
      cursor = null;
      do {
        const page: { body: { users: { id: string }[]; next_cursor: string | null } } = await gh.request(
          'GET',
          `/api/v1/users?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
          { token: admin },
        );
        walked.push(...page.body.users.map((u: { id: string }) => u.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      assert.deepEqual(walked, whole);
    });

    it('answers 400 for an invalid cursor, status, tenant id or unknown query parameter', async () => {
      const cursor = await gh.request('GET', '/api/v1/users?cursor=bogus', { token: admin });
      assert.equal(cursor.status, 400);
      assert.equal(cursor.body.error, 'invalid_cursor');
      const status = await gh.request('GET', '/api/v1/users?status=banned', { token: admin });
      assert.equal(status.status, 400);
      const tenant = await gh.request('GET', '/api/v1/users?tenant=users-a', { token: admin });
      assert.equal(tenant.status, 400);
      assert.equal(tenant.body.error, 'invalid_id');
      const unknown = await gh.request('GET', '/api/v1/users?role=admin', { token: admin });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error, 'unknown_field');
    });

    it('shows a tenant administrator only the own tenant’s members; ?tenant= of another tenant → 403 forbidden', async () => {
      const bUser = await gh.createUser(b.token, { email: 'only-b@users-b.test', password: PASSWORD });
      const own = await listIds('limit=200', a.token);
      assert.deepEqual(own, await listIds(`tenant=${a.tenantId}&limit=200`), 'exactly the members of A');
      assert.ok(own.includes(a.adminId));
      assert.ok(!own.includes(bUser), 'a user of B is absent');
      assert.ok(!own.includes(b.adminId));
      assert.ok(!own.includes(adminId));
      assert.ok(!own.some((id) => Object.values(ids).includes(id)));
      assert.deepEqual(await listIds('email=only-b@users-b.test', a.token), [], 'not even by email');
      assert.deepEqual(await listIds('q=users-b', a.token), []);
      assert.deepEqual(await listIds(`tenant=${a.tenantId}`, a.token), sorted(own).slice(0, 50));

      const other = await gh.request('GET', `/api/v1/users?tenant=${b.tenantId}`, { token: a.token });
      assert.equal(other.status, 403);
      assert.equal(other.body.error, 'forbidden');
    });
  });

  describe('GET /api/v1/users/:id', () => {
    it('lets a system administrator read any user, without credentials in the response', async () => {
      const response = await getUser(b.adminId);
      assert.equal(response.status, 200);
      assert.equal(response.body.id, b.adminId);
      assert.equal(response.body.email, b.adminEmail);
      assert.equal(response.body.home_tenant_id, b.tenantId);
      assert.ok(response.body.last_login_at, 'signed in once');
      assert.ok(!('password_hash' in response.body));
    });

    it('answers 404 for an unknown user and 400 invalid_id for a malformed id', async () => {
      const unknown = await getUser(UNKNOWN_ID);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'not_found');
      const malformed = await gh.request('GET', '/api/v1/users/me2', { token: admin });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_id');
    });

    it('lets a tenant administrator read the own members but answers 404 for a user of another tenant', async () => {
      const aUser = await gh.createUser(a.token, { email: 'visible@users-a.test' });
      const own = await gh.request('GET', `/api/v1/users/${aUser}`, { token: a.token });
      assert.equal(own.status, 200);
      assert.equal(own.body.email, 'visible@users-a.test');
      for (const id of [b.adminId, adminId]) {
        const other = await gh.request('GET', `/api/v1/users/${id}`, { token: a.token });
        assert.equal(other.status, 404);
        assert.equal(other.body.error, 'not_found');
      }
    });
  });

  describe('PATCH /api/v1/users/:id', () => {
    it('changes profile fields and metadata, and records iam.user.modified with the field names', async () => {
      const id = await gh.createUser(admin, { email: 'profile@example.test', password: PASSWORD });
      const patch = {
        given_name: 'Pat',
        family_name: 'Profile',
        name: 'Pat Profile',
        username: 'pat',
        phone: '+49 30 123456',
        picture: 'https://example.test/pat.png',
        locale: 'de-DE',
        email_verified: true,
        user_metadata: { theme: 'dark' },
        app_metadata: { plan: 'enterprise' },
      };
      const response = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: patch });
      assert.equal(response.status, 200);
      for (const [key, value] of Object.entries(patch)) assert.deepEqual(response.body[key], value, key);
      assert.deepEqual((await getUser(id)).body, response.body);

      const cleared = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { phone: null, username: null } });
      assert.equal(cleared.body.phone, null);
      assert.equal(cleared.body.username, null);
      assert.equal(cleared.body.name, 'Pat Profile', 'untouched fields stay');

      const events = await auditEvents('iam.user.modified', id);
      assert.equal(events.length, 2);
      assert.equal(events[1]!.actor_id, adminId);
      assert.deepEqual((events[1]!.details.fields as string[]).sort(), Object.keys(patch).sort());
      assert.deepEqual(events[0]!.details, { fields: ['phone', 'username'] });
    });

    it('changes the email: the new one signs in, the old one no longer; an email in use (any case) → 409 email_taken', async () => {
      const id = await gh.createUser(admin, { email: 'old-address@example.test', password: PASSWORD });
      const response = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { email: 'new-address@example.test' } });
      assert.equal(response.status, 200);
      assert.equal(response.body.email, 'new-address@example.test');
      assert.equal(await signInStatus('new-address@example.test', PASSWORD), 200);
      assert.equal(await signInStatus('old-address@example.test', PASSWORD), 401);

      const taken = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { email: ADMIN_EMAIL.toUpperCase() } });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error, 'email_taken');
      assert.equal((await getUser(id)).body.email, 'new-address@example.test');

      await gh.createUser(admin, { email: 'holder@example.test', username: 'holder' });
      const username = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { username: 'HOLDER' } });
      assert.equal(username.status, 409);
      assert.equal(username.body.error, 'username_taken');
    });

    it('disables and re-enables a user: disabled → 403 account_disabled on sign-in, active → signs in again', async () => {
      const id = await gh.createUser(admin, { email: 'toggle@example.test', password: PASSWORD });
      const disabled = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { status: 'disabled' } });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.status, 'disabled');
      const refused = await gh.request('POST', '/api/v1/session', { body: { username: 'toggle@example.test', password: PASSWORD } });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error, 'account_disabled');
      const enabled = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { status: 'active' } });
      assert.equal(enabled.body.status, 'active');
      assert.equal(await signInStatus('toggle@example.test', PASSWORD), 200);
    });

    it('changes the password: the new one signs in, the old one fails, and existing sessions are revoked', async () => {
      const id = await gh.createUser(admin, { email: 'rotate@example.test', password: PASSWORD, tenant: a.tenantId });
      const oldSession = await gh.signIn('rotate@example.test', PASSWORD);
      const oldAccess = await gh.tokenFor(oldSession, a.tenantId);
      assert.equal((await gh.request('GET', '/api/v1/session', { token: oldSession })).status, 200);

      const response = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { password: NEW_PASSWORD } });
      assert.equal(response.status, 200);
      assert.ok(!JSON.stringify(response.body).includes(NEW_PASSWORD));

      const stale = await gh.request('GET', '/api/v1/session', { token: oldSession });
      assert.equal(stale.status, 401);
      const staleAccess = await gh.request('GET', `/api/v1/tenants/${a.tenantId}`, { token: oldAccess });
      assert.equal(staleAccess.status, 401);
      assert.equal(staleAccess.body.error, 'invalid_token');
      const oldPassword = await gh.request('POST', '/api/v1/session', { body: { username: 'rotate@example.test', password: PASSWORD } });
      assert.equal(oldPassword.status, 401);
      assert.equal(oldPassword.body.error, 'invalid_credentials');
      assert.equal(await signInStatus('rotate@example.test', NEW_PASSWORD), 200);

      const events = await auditEvents('iam.user.modified', id);
      assert.deepEqual(events[0]!.details, { fields: ['password'] });
      assert.ok(!JSON.stringify(events).includes(NEW_PASSWORD), 'no secret in the audit trail');
    });

    it('refuses a short password (400 password_too_short), keeping the old password and sessions', async () => {
      const id = await gh.createUser(admin, { email: 'keep@example.test', password: PASSWORD });
      const session = await gh.signIn('keep@example.test', PASSWORD);
      const response = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { password: 'short', name: 'Changed' } });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'password_too_short');
      assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 200);
      assert.equal(await signInStatus('keep@example.test', PASSWORD), 200);
      assert.equal((await getUser(id)).body.name, null, 'no partial write');
    });

    it('answers 404 for an unknown user and 400 for fields a user does not have or may not be patched', async () => {
      const unknown = await gh.request('PATCH', `/api/v1/users/${UNKNOWN_ID}`, { token: admin, body: { name: 'Ghost' } });
      assert.equal(unknown.status, 404);
      for (const body of [{ home_tenant_id: a.tenantId }, { roles: [roles.ADMIN] }, { tenant: a.tenantId }, { password_hash: 'x' }]) {
        const response = await gh.request('PATCH', `/api/v1/users/${b.adminId}`, { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, 'unknown_field');
      }
      const email = await gh.request('PATCH', `/api/v1/users/${b.adminId}`, { token: admin, body: { email: 'nope' } });
      assert.equal(email.body.error, 'invalid_email');
    });

    it('lets a tenant administrator change a user homed in the own tenant (password, email, status)', async () => {
      const id = await gh.createUser(a.token, { email: 'managed@users-a.test', password: PASSWORD });
      const response = await gh.request('PATCH', `/api/v1/users/${id}`, {
        token: a.token,
        body: { email: 'managed2@users-a.test', password: NEW_PASSWORD, name: 'Managed' },
      });
      // Decision 188: in tenant scope the new address confirms first (202); the other fields apply at once.
      assert.equal(response.status, 202);
      assert.equal(response.body.email, 'managed@users-a.test');
      assert.equal(response.body.name, 'Managed');
      assert.equal(await signInStatus('managed@users-a.test', NEW_PASSWORD), 200);
      assert.equal(await signInStatus('managed2@users-a.test', NEW_PASSWORD), 401);
      const disabled = await gh.request('PATCH', `/api/v1/users/${id}`, { token: a.token, body: { status: 'disabled' } });
      assert.equal(disabled.status, 200);
      assert.equal(await signInStatus('managed@users-a.test', NEW_PASSWORD), 403);
      const events = await auditEvents('iam.user.modified', id);
      assert.equal(events.length, 2);
      assert.ok(events.every((e) => e.actor_id === a.adminId && e.tenant_id === a.tenantId));
    });

    it('answers a tenant administrator 404 for a user of another tenant, who stays unchanged', async () => {
      for (const body of [{ name: 'Hijacked' }, { password: NEW_PASSWORD }, { status: 'disabled' }]) {
        const response = await gh.request('PATCH', `/api/v1/users/${b.adminId}`, { token: a.token, body });
        assert.equal(response.status, 404, JSON.stringify(body));
        assert.equal(response.body.error, 'not_found');
      }
      const user = await getUser(b.adminId);
      assert.equal(user.body.name, null);
      assert.equal(user.body.status, 'active');
      assert.equal(await signInStatus(b.adminEmail, PASSWORD), 200);
    });

    it('refuses a plain member (403 forbidden)', async () => {
      const token = await plainMemberToken(a.tenantId, 'plain-patcher@users-a.test');
      const response = await gh.request('PATCH', `/api/v1/users/${a.adminId}`, { token, body: { status: 'disabled' } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      assert.equal((await getUser(a.adminId)).body.status, 'active');
    });
  });

  describe('GET, PATCH /api/v1/users/me', () => {
    it('returns the signed-in user for a session token; refuses an access token (401 invalid_token) and no credentials (401)', async () => {
      const session = await gh.signIn(a.adminEmail, PASSWORD);
      const bySession = await gh.request('GET', '/api/v1/users/me', { token: session });
      assert.equal(bySession.status, 200);
      assert.equal(bySession.body.id, a.adminId);
      const byAccess = await gh.request('GET', '/api/v1/users/me', { token: a.token });
      assert.equal(byAccess.status, 401);
      assert.equal(byAccess.body.error, 'invalid_token');
      const anonymous = await gh.request('GET', '/api/v1/users/me');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error, 'unauthorized');
    });

    it('lets users change their own profile but not email, status, password or app_metadata', async () => {
      const id = await gh.createUser(admin, { email: 'self@example.test', password: PASSWORD });
      const session = await gh.signIn('self@example.test', PASSWORD);
      const response = await gh.request('PATCH', '/api/v1/users/me', {
        token: session,
        body: { name: 'Me Myself', user_metadata: { a: 1 } },
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.name, 'Me Myself');
      assert.deepEqual(response.body.user_metadata, { a: 1 });
      for (const body of [
        { email: 'other@example.test' },
        { status: 'active' },
        { password: NEW_PASSWORD },
        { app_metadata: { plan: 'free' } },
      ]) {
        const refused = await gh.request('PATCH', '/api/v1/users/me', { token: session, body });
        assert.equal(refused.status, 400, JSON.stringify(body));
        assert.equal(refused.body.error, 'unknown_field');
      }
      const events = await auditEvents('iam.user.modified', id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, id);
    });
  });
});
