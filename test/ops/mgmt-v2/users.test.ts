import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { acme, admin, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';
import { expectAuth0Error, machineWithAdminGrant } from './helpers.js';

describe('Management API v2: users', () => {
  twoTenantsServer();

  test('a machine application granted the admin API gets a token for {issuer}/api/v2/ and lists its tenant’s users', async () => {
    const machine = await machineWithAdminGrant(gh, acme.token, ['tenant.account.read']);
    const claims = decodeJwt(machine.token);
    assert.equal(claims.sub, machine.client_id);
    assert.equal(claims.gty, 'client-credentials');
    assert.equal(claims.org_id, acme.tenantId);
    const { status, body } = await gh.request('GET', '/api/v2/users', { token: machine.token });
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(Array.isArray(body));
    assert.ok(body.some((u: any) => u.email === acme.adminEmail));
    assert.ok(!body.some((u: any) => u.email === globex.adminEmail));
  });

  test('creates, reads, searches, updates (metadata merged shallowly, null deletes) and deletes a user', async () => {
    const created = await gh.request('POST', '/api/v2/users', {
      token: acme.token,
      body: {
        connection: 'Username-Password-Authentication',
        email: 'jane.doe@acme.test',
        password: 'a-long-test-password-1',
        name: 'Jane Doe',
        user_metadata: { theme: 'dark', lang: 'en' },
        app_metadata: { plan: 'gold' },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.user_id;
    assert.equal(created.body.email, 'jane.doe@acme.test');
    assert.equal(created.body.blocked, false);
    assert.deepEqual(created.body.identities[0], {
      connection: 'Username-Password-Authentication',
      provider: 'auth0',
      user_id: id,
      isSocial: false,
    });
    assert.equal(created.body.password, undefined);

    for (const q of [
      'email:"jane.doe@acme.test"',
      'email:jane.doe@acme.test',
      'name:*ane*',
      'name:jane*',
      'name:"jane doe"',
      'jane',
      'email:jane* AND name:*Do*',
    ]) {
      const found = await gh.request('GET', `/api/v2/users?q=${encodeURIComponent(q)}&search_engine=v3`, { token: acme.token });
      assert.equal(found.status, 200, `${q}: ${JSON.stringify(found.body)}`);
      assert.deepEqual(
        found.body.map((u: any) => u.user_id),
        [id],
        q,
      );
    }
    for (const q of ['email:a OR name:b', '(name:x)', 'name:*oe', 'email_verified:true', 'name:[a TO b]']) {
      await expectAuth0Error(gh.request('GET', `/api/v2/users?q=${encodeURIComponent(q)}`, { token: acme.token }), 400);
    }

    const byEmail = await gh.request('GET', `/api/v2/users-by-email?email=${encodeURIComponent('Jane.Doe@ACME.test')}`, {
      token: acme.token,
    });
    assert.deepEqual(
      byEmail.body.map((u: any) => u.user_id),
      [id],
    );
    const notTheirs = await gh.request('GET', `/api/v2/users-by-email?email=${encodeURIComponent('jane.doe@acme.test')}`, {
      token: globex.token,
    });
    assert.deepEqual(notTheirs.body, []);
    const byPrefix = await gh.request('GET', `/api/v2/users/auth0|${id}`, { token: acme.token });
    assert.equal(byPrefix.status, 200);
    assert.equal(byPrefix.body.user_id, id);

    const patched = await gh.request('PATCH', `/api/v2/users/${id}`, {
      token: acme.token,
      body: { user_metadata: { lang: null, size: 'L' }, app_metadata: { plan: 'silver' }, blocked: true, given_name: 'Jane' },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body.user_metadata, { theme: 'dark', size: 'L' });
    assert.deepEqual(patched.body.app_metadata, { plan: 'silver' });
    assert.equal(patched.body.blocked, true);
    assert.equal(patched.body.given_name, 'Jane');

    const deleted = await gh.request('DELETE', `/api/v2/users/${id}`, { token: acme.token });
    assert.equal(deleted.status, 204);
    await expectAuth0Error(gh.request('GET', `/api/v2/users/${id}`, { token: acme.token }), 404, 'inexistent_user');
  });

  test('errors are Auth0’s: a bad body is invalid_body, an unknown id inexistent_user, no token 401, a missing permission insufficient_scope', async () => {
    const bad = await expectAuth0Error(
      gh.request('POST', '/api/v2/users', {
        token: acme.token,
        body: { connection: 'Username-Password-Authentication', email: 'x@acme.test', nickname: 'x' },
      }),
      400,
      'invalid_body',
    );
    assert.match(bad.message, /^Payload validation error/);
    await expectAuth0Error(gh.request('GET', '/api/v2/users/not-an-id', { token: acme.token }), 404, 'inexistent_user');
    await expectAuth0Error(gh.request('GET', '/api/v2/users'), 401, 'invalid_token');
    const reader = await machineWithAdminGrant(gh, acme.token, ['tenant.account.read'], 'Reader');
    await expectAuth0Error(
      gh.request('POST', '/api/v2/users', {
        token: reader.token,
        body: { connection: 'Username-Password-Authentication', email: 'y@acme.test' },
      }),
      403,
      'insufficient_scope',
    );
    await expectAuth0Error(gh.request('GET', '/api/v2/nothing-here', { token: acme.token }), 404, 'operation_not_supported');
    await expectAuth0Error(
      gh.request('POST', '/api/v2/users', { token: acme.token, body: { connection: 'google-oauth2', email: 'z@acme.test' } }),
      400,
    );
  });

  test('metadata: merged shallowly within the 16 KB bound of every writer, null empties an object', async () => {
    const id = await gh.createUser(acme.token, {
      email: 'meta@acme.test',
      password: 'a-long-test-password-1',
      user_metadata: { a: 'x'.repeat(9000) },
    });
    const body = await expectAuth0Error(
      gh.request('PATCH', `/api/v2/users/${id}`, { token: acme.token, body: { user_metadata: { b: 'y'.repeat(9000) } } }),
      400,
      'metadata_too_large',
    );
    assert.match(body.message, /user_metadata/);
    const replaced = await gh.request('PATCH', `/api/v2/users/${id}`, {
      token: acme.token,
      body: { user_metadata: { a: null, b: 'y'.repeat(9000) } },
    });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.deepEqual(Object.keys(replaced.body.user_metadata), ['b']);
    const cleared = await gh.request('PATCH', `/api/v2/users/${id}`, {
      token: acme.token,
      body: { user_metadata: null, app_metadata: { tier: 1 } },
    });
    assert.deepEqual(cleared.body.user_metadata, {});
    assert.deepEqual(cleared.body.app_metadata, { tier: 1 });
    await expectAuth0Error(
      gh.request('POST', '/api/v2/users', {
        token: acme.token,
        body: { connection: 'Username-Password-Authentication', email: 'big@acme.test', app_metadata: { big: 'z'.repeat(17000) } },
      }),
      400,
      'metadata_too_large',
    );
  });

  test('pagination: page, per_page and include_totals', async () => {
    for (let i = 0; i < 5; i++) await gh.createUser(acme.token, { email: `page${i}@acme.test`, password: 'a-long-test-password-1' });
    const all = await gh.request('GET', '/api/v2/users?q=page&per_page=100', { token: acme.token });
    assert.equal(all.body.length, 5);
    const second = await gh.request('GET', '/api/v2/users?q=page&per_page=2&page=1&include_totals=true', { token: acme.token });
    assert.equal(second.status, 200);
    assert.deepEqual(
      { start: second.body.start, limit: second.body.limit, length: second.body.length, total: second.body.total },
      { start: 2, limit: 2, length: 2, total: 5 },
    );
    assert.deepEqual(
      second.body.users.map((u: any) => u.user_id),
      all.body.slice(2, 4).map((u: any) => u.user_id),
    );
    const last = await gh.request('GET', '/api/v2/users?q=page&per_page=2&page=2', { token: acme.token });
    assert.equal(last.body.length, 1);
    await expectAuth0Error(gh.request('GET', '/api/v2/users?per_page=101', { token: acme.token }), 400, 'invalid_query_string');
    await expectAuth0Error(gh.request('GET', '/api/v2/users?per_page=100&page=10', { token: acme.token }), 400);
  });

  test('a user’s roles, permissions and organizations', async () => {
    const id = await gh.createUser(acme.token, { email: 'roles@acme.test', password: 'a-long-test-password-1' });
    const role = await gh.request('POST', '/api/v2/roles', { token: acme.token, body: { name: 'Support', description: 'Helps' } });
    assert.equal(role.status, 200, JSON.stringify(role.body));
    const added = await gh.request('POST', `/api/v2/roles/${role.body.id}/permissions`, {
      token: acme.token,
      body: { permissions: [{ resource_server_identifier: `${gh.ctx.config.issuer}/api/v2/`, permission_name: 'tenant.account.read' }] },
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const assign = await gh.request('POST', `/api/v2/users/${id}/roles`, { token: acme.token, body: { roles: [role.body.id] } });
    assert.equal(assign.status, 204, JSON.stringify(assign.body));
    const roles = await gh.request('GET', `/api/v2/users/${id}/roles`, { token: acme.token });
    assert.deepEqual(roles.body.map((r: any) => r.name).sort(), ['Support', 'USER']);
    const permissions = await gh.request('GET', `/api/v2/users/${id}/permissions`, { token: acme.token });
    assert.ok(
      permissions.body.some(
        (p: any) => p.permission_name === 'tenant.account.read' && p.resource_server_identifier === `${gh.ctx.config.issuer}/api/v2/`,
      ),
    );
    const holders = await gh.request('GET', `/api/v2/roles/${role.body.id}/users`, { token: acme.token });
    assert.deepEqual(
      holders.body.map((u: any) => u.user_id),
      [id],
    );
    const orgs = await gh.request('GET', `/api/v2/users/${id}/organizations`, { token: acme.token });
    assert.deepEqual(
      orgs.body.map((o: any) => o.name),
      ['acme'],
    );
    const removed = await gh.request('DELETE', `/api/v2/users/${id}/roles`, { token: acme.token, body: { roles: [role.body.id] } });
    assert.equal(removed.status, 204);
    const after = await gh.request('GET', `/api/v2/users/${id}/roles`, { token: acme.token });
    assert.deepEqual(
      after.body.map((r: any) => r.name),
      ['USER'],
    );
  });

  test('the system administrator sees every tenant’s users through v2', async () => {
    const { body } = await gh.request('GET', `/api/v2/users?q=${encodeURIComponent(`email:"${globex.adminEmail}"`)}`, { token: admin });
    assert.equal(body.length, 1);
  });
});
