import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, type Response, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/**
 * Bad input (issue 2, "Bad input"; docs/api.md#errors): every malformed request is a 4xx
 * whose code names the problem, in the one error shape, never a 500 or a stack trace,
 * and it leaves no partial write behind.
 */
describe('bad input: 4xx with a code that names the problem, no partial write', () => {
  let gh: TestGatehouse;
  let admin: string;
  let tenantId: string;
  let userId: string;
  let userRoleId: string;

  before(async () => {
    gh = await startGatehouse();
    ({ tenantId } = await gh.tenantWithAdmin('badinput'));
    admin = await gh.adminToken();
    userId = await gh.createUser(admin, { email: 'existing@badinput.test', password: PASSWORD, tenant: tenantId });
    userRoleId = (await gh.systemRoleIds()).USER!;
  });
  after(() => gh.stop());

  /** Row counts of every table a write could touch. */
  async function counts() {
    const tables = [
      'users',
      'audit_events',
      'event_outbox',
      'tenants',
      'memberships',
      'membership_roles',
      'roles',
      'permissions',
      'sessions',
    ] as const;
    const result: Record<string, number> = {};
    for (const table of tables) result[table] = await gh.rowCount(table);
    return result;
  }

  /** Runs the request and asserts that no table changed size. */
  async function withoutWrites<T>(request: () => Promise<T>): Promise<T> {
    const before = await counts();
    const result = await request();
    assert.deepEqual(await counts(), before, 'a rejected request leaves no row behind');
    return result;
  }

  /** The one error shape: exactly error, message and maybe details; no stack trace. */
  function assertError(response: Response, status: number, code: string) {
    assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status} ${JSON.stringify(response.body)}`);
    assert.equal(typeof response.body, 'object');
    const keys = Object.keys(response.body).sort();
    assert.ok(
      JSON.stringify(keys) === '["error","message"]' || JSON.stringify(keys) === '["details","error","message"]',
      `error body keys: ${keys.join(', ')}`,
    );
    assert.equal(response.body.error, code);
    assert.equal(typeof response.body.message, 'string');
    assert.ok(response.body.message.length > 0);
    const text = JSON.stringify(response.body);
    assert.doesNotMatch(text, /\bat .+\.(ts|js):\d+/, 'no stack frame in the response');
    assert.doesNotMatch(text, /"stack"/);
    assert.match(String(response.headers['content-type']), /^application\/json/);
  }

  const raw = (method: 'POST' | 'PATCH', url: string, payload: string, contentType = 'application/json', token = admin) =>
    gh.app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}`, 'content-type': contentType } }).then((r) => ({
      status: r.statusCode,
      body: r.body ? JSON.parse(r.body) : undefined,
      headers: r.headers,
    }));

  describe('malformed JSON → 400 malformed_json', () => {
    for (const [method, path] of [
      ['POST', '/api/v1/users'],
      ['POST', '/api/v1/session'],
      ['PATCH', '/api/v1/tenants/:tenant'],
      ['POST', '/api/v1/tenants'],
      ['POST', '/api/v1/roles'],
      ['POST', '/api/v1/token'],
    ] as const) {
      it(`${method} ${path} with a truncated JSON body answers 400 malformed_json and writes nothing`, async () => {
        const url = path.replace(':tenant', tenantId);
        // POST /token takes the session token; every other route here an access token.
        const token = path === '/api/v1/token' ? await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD) : admin;
        const response = await withoutWrites(() => raw(method, url, '{"email": "a@b.test", ', 'application/json', token));
        assertError(response, 400, 'malformed_json');
      });
    }

    it('POST /api/v1/session with an empty JSON body answers 400 malformed_json, not a failed sign-in', async () => {
      const response = await withoutWrites(() => raw('POST', '/api/v1/session', ''));
      assertError(response, 400, 'malformed_json');
    });
  });

  describe('wrong types → 400 invalid_type (JSON bodies are not coerced)', () => {
    it('POST /api/v1/users with email: 123 answers invalid_type naming email', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', { token: admin, body: { email: 123, password: PASSWORD } }),
      );
      assertError(response, 400, 'invalid_type');
      assert.equal(response.body.details.field, 'email');
    });

    it('POST /api/v1/users with email_verified: "true" is not coerced to a boolean', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', { token: admin, body: { email: 'coerce@badinput.test', email_verified: 'true' } }),
      );
      assertError(response, 400, 'invalid_type');
      assert.equal(response.body.details.field, 'email_verified');
      assert.equal(
        await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'coerce@badinput.test').executeTakeFirst(),
        undefined,
      );
    });

    it('POST /api/v1/session with "remember-me": "yes" answers invalid_type and records no sign-in', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD, 'remember-me': 'yes' } }),
      );
      assertError(response, 400, 'invalid_type');
      assert.equal(response.body.details.field, 'remember-me');
    });

    it('POST /api/v1/session with a numeric password answers invalid_type', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL, password: 1234567890 } }),
      );
      assertError(response, 400, 'invalid_type');
      assert.equal(response.body.details.field, 'password');
    });

    it('PATCH /api/v1/tenants/:id with name: 5 answers invalid_type and leaves the tenant unchanged', async () => {
      const response = await withoutWrites(() => gh.request('PATCH', `/api/v1/tenants/${tenantId}`, { token: admin, body: { name: 5 } }));
      assertError(response, 400, 'invalid_type');
      assert.equal(response.body.details.field, 'name');
      const tenant = await gh.ctx.db.selectFrom('tenants').select('name').where('id', '=', tenantId).executeTakeFirstOrThrow();
      assert.equal(tenant.name, 'BADINPUT');
    });

    it('a JSON array or null where an object is expected answers invalid_type', async () => {
      assertError(await withoutWrites(() => raw('POST', '/api/v1/users', '[]')), 400, 'invalid_type');
      assertError(await withoutWrites(() => raw('POST', '/api/v1/users', 'null')), 400, 'invalid_type');
      assertError(await withoutWrites(() => raw('PATCH', `/api/v1/tenants/${tenantId}`, '"suspended"')), 400, 'invalid_type');
    });

    it('roles given as a string instead of a list answers invalid_type', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', {
          token: admin,
          body: { email: 'rolestring@badinput.test', roles: userRoleId, tenant: tenantId },
        }),
      );
      assertError(response, 400, 'invalid_type');
      assert.equal(response.body.details.field, 'roles');
    });
  });

  describe('unknown fields → 400 unknown_field naming the field', () => {
    it('POST /api/v1/users with isAdmin answers unknown_field, details.field "isAdmin"', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', { token: admin, body: { email: 'unknown@badinput.test', isAdmin: true } }),
      );
      assertError(response, 400, 'unknown_field');
      assert.equal(response.body.details.field, 'isAdmin');
      assert.match(response.body.message, /isAdmin/);
    });

    it('POST /api/v1/session with an extra field answers unknown_field', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD, tenant: 'system' } }),
      );
      assertError(response, 400, 'unknown_field');
      assert.equal(response.body.details.field, 'tenant');
    });

    it('PATCH /api/v1/tenants/:id with is_system answers unknown_field', async () => {
      const response = await withoutWrites(() =>
        gh.request('PATCH', `/api/v1/tenants/${tenantId}`, { token: admin, body: { is_system: true } }),
      );
      assertError(response, 400, 'unknown_field');
      assert.equal(response.body.details.field, 'is_system');
      const tenant = await gh.ctx.db.selectFrom('tenants').select('is_system').where('id', '=', tenantId).executeTakeFirstOrThrow();
      assert.equal(tenant.is_system, false);
    });

    it('an unknown field inside a nested object is named by its path (branding.evil)', async () => {
      const response = await withoutWrites(() =>
        gh.request('PATCH', `/api/v1/tenants/${tenantId}`, { token: admin, body: { branding: { evil: 'x' } } }),
      );
      assertError(response, 400, 'unknown_field');
      assert.equal(response.body.details.field, 'branding.evil');
    });

    it('PATCH /api/v1/users/:id with password_hash answers unknown_field (the hash cannot be set from outside)', async () => {
      const response = await withoutWrites(() =>
        gh.request('PATCH', `/api/v1/users/${userId}`, { token: admin, body: { password_hash: '$argon2id$v=19$forged' } }),
      );
      assertError(response, 400, 'unknown_field');
      assert.equal(response.body.details.field, 'password_hash');
    });

    it('an unknown query parameter answers unknown_field', async () => {
      const response = await gh.request('GET', '/api/v1/users?role=ADMIN', { token: admin });
      assertError(response, 400, 'unknown_field');
      assert.equal(response.body.details.field, 'role');
    });
  });

  describe('missing required fields → 400 missing_field', () => {
    it('POST /api/v1/users without email answers missing_field naming email', async () => {
      const response = await withoutWrites(() => gh.request('POST', '/api/v1/users', { token: admin, body: { password: PASSWORD } }));
      assertError(response, 400, 'missing_field');
      assert.equal(response.body.details.field, 'email');
    });

    it('POST /api/v1/session without password answers missing_field and records no failed sign-in', async () => {
      const response = await withoutWrites(() => gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL } }));
      assertError(response, 400, 'missing_field');
      assert.equal(response.body.details.field, 'password');
    });

    it('POST /api/v1/tenants without name answers missing_field', async () => {
      const response = await withoutWrites(() => gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'no-name' } }));
      assertError(response, 400, 'missing_field');
      assert.equal(response.body.details.field, 'name');
    });

    it('POST /api/v1/tenants/:id/members without userId answers missing_field', async () => {
      const response = await withoutWrites(() => gh.request('POST', `/api/v1/tenants/${tenantId}/members`, { token: admin, body: {} }));
      assertError(response, 400, 'missing_field');
      assert.equal(response.body.details.field, 'userId');
    });
  });

  describe('invalid emails → 400 invalid_email', () => {
    for (const email of ['not-an-email', 'a@', '@b.test', 'a b@c.test', '']) {
      it(`POST /api/v1/users with email ${JSON.stringify(email)} answers invalid_email`, async () => {
        const response = await withoutWrites(() =>
          gh.request('POST', '/api/v1/users', { token: admin, body: { email, password: PASSWORD } }),
        );
        assertError(response, 400, 'invalid_email');
        assert.equal(response.body.details.field, 'email');
      });
    }

    it('PATCH /api/v1/users/:id with an invalid email answers invalid_email and keeps the old email', async () => {
      const response = await withoutWrites(() => gh.request('PATCH', `/api/v1/users/${userId}`, { token: admin, body: { email: 'nope' } }));
      assertError(response, 400, 'invalid_email');
      const user = await gh.ctx.db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirstOrThrow();
      assert.equal(user.email, 'existing@badinput.test');
    });
  });

  describe('ids that are not ids → 400 invalid_id', () => {
    for (const [method, path, body] of [
      ['GET', '/api/v1/users/123', undefined],
      ['PATCH', '/api/v1/users/not-a-uuid', { name: 'x' }],
      ['DELETE', '/api/v1/users/1%27%20or%201=1', undefined],
      ['GET', '/api/v1/tenants/acme', undefined],
      ['PATCH', '/api/v1/tenants/abc', { name: 'x' }],
      ['DELETE', '/api/v1/roles/xyz', undefined],
      ['GET', '/api/v1/permission/42', undefined],
      ['GET', '/api/v1/tenants/abc/members', undefined],
      ['PATCH', '/api/v1/tenants/:tenant/members/not-a-user', { roles: [] }],
    ] as const) {
      it(`${method} ${path} answers 400 invalid_id`, async () => {
        const url = path.replace(':tenant', tenantId);
        const response = await withoutWrites(() => gh.request(method, url, { token: admin, ...(body && { body }) }));
        assertError(response, 400, 'invalid_id');
      });
    }

    it('a role id in the body that is not a uuid answers invalid_id naming its position', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', { token: admin, body: { email: 'badrole@badinput.test', tenant: tenantId, roles: ['USER'] } }),
      );
      assertError(response, 400, 'invalid_id');
      assert.equal(response.body.details.field, 'roles.0');
    });

    it('a tenant filter that is not a uuid answers invalid_id', async () => {
      assertError(await gh.request('GET', '/api/v1/users?tenant=acme', { token: admin }), 400, 'invalid_id');
    });
  });

  describe('missing ids → 404 or 405, never 500', () => {
    for (const [method, path] of [
      ['PATCH', '/api/v1/users/'],
      ['DELETE', '/api/v1/users/'],
      ['PATCH', '/api/v1/tenants/'],
      ['DELETE', '/api/v1/tenants/'],
      ['DELETE', '/api/v1/roles/'],
      ['PATCH', '/api/v1/permission/'],
      ['DELETE', '/api/v1/tenants/:tenant/members/'],
    ] as const) {
      it(`${method} ${path} answers 404 not_found or 405 and writes nothing`, async () => {
        const url = path.replace(':tenant', tenantId);
        const response = await withoutWrites(() =>
          gh.request(method, url, { token: admin, ...(method === 'PATCH' && { body: { name: 'x' } }) }),
        );
        assert.ok([404, 405].includes(response.status), `${method} ${url}: ${response.status} ${JSON.stringify(response.body)}`);
        assertError(response, response.status, response.status === 404 ? 'not_found' : 'method_not_allowed');
      });
    }

    it('an empty id between two path segments (/tenants//members) answers 400 invalid_id', async () => {
      const response = await withoutWrites(() => gh.request('POST', '/api/v1/tenants//members', { token: admin, body: { userId } }));
      assertError(response, 400, 'invalid_id');
      assert.equal(response.body.details.field, 'id');
    });

    it('a well-formed id that names nothing answers 404 not_found', async () => {
      const nobody = '0190a000-0000-7000-8000-000000000000';
      assertError(await gh.request('GET', `/api/v1/users/${nobody}`, { token: admin }), 404, 'not_found');
      assertError(
        await withoutWrites(() => gh.request('PATCH', `/api/v1/tenants/${nobody}`, { token: admin, body: { name: 'x' } })),
        404,
        'not_found',
      );
      assertError(await withoutWrites(() => gh.request('DELETE', `/api/v1/users/${nobody}`, { token: admin })), 404, 'not_found');
    });
  });

  describe('oversize and non-JSON bodies', () => {
    it('a body over 1 MiB answers 413 payload_too_large and writes nothing', async () => {
      const body = JSON.stringify({ email: 'huge@badinput.test', password: PASSWORD, name: 'x'.repeat(1024 * 1024 + 16) });
      const response = await withoutWrites(() => raw('POST', '/api/v1/users', body));
      assertError(response, 413, 'payload_too_large');
      const session = await withoutWrites(() =>
        raw('POST', '/api/v1/session', JSON.stringify({ username: ADMIN_EMAIL, password: 'p'.repeat(1024 * 1024 + 1) })),
      );
      assertError(session, 413, 'payload_too_large');
    });

    it('a body just under 1 MiB is read and judged by the schema (400, not 413)', async () => {
      const body = JSON.stringify({ email: 'big@badinput.test', name: 'x'.repeat(1024 * 1024 - 100) });
      assert.ok(Buffer.byteLength(body) < 1024 * 1024);
      const response = await withoutWrites(() => raw('POST', '/api/v1/users', body));
      assertError(response, 400, 'invalid_field');
      assert.equal(response.body.details.field, 'name');
    });

    it('a text/plain body answers 415 unsupported_media_type', async () => {
      const response = await withoutWrites(() =>
        raw('POST', '/api/v1/users', JSON.stringify({ email: 'plain@badinput.test', password: PASSWORD }), 'text/plain'),
      );
      assertError(response, 415, 'unsupported_media_type');
      const session = await withoutWrites(() =>
        raw('POST', '/api/v1/session', JSON.stringify({ username: ADMIN_EMAIL, password: ADMIN_PASSWORD }), 'text/plain'),
      );
      assertError(session, 415, 'unsupported_media_type');
    });

    it('a form-encoded body answers 415 unsupported_media_type', async () => {
      const response = await withoutWrites(() =>
        raw(
          'POST',
          '/api/v1/session',
          `username=${encodeURIComponent(ADMIN_EMAIL)}&password=${ADMIN_PASSWORD}`,
          'application/x-www-form-urlencoded',
        ),
      );
      assertError(response, 415, 'unsupported_media_type');
    });
  });

  describe('conflicts and references', () => {
    it('a duplicate email answers 409 email_taken, also with other letter case, and writes nothing', async () => {
      for (const email of ['existing@badinput.test', 'EXISTING@BadInput.test']) {
        const response = await withoutWrites(() =>
          gh.request('POST', '/api/v1/users', { token: admin, body: { email, password: PASSWORD, tenant: tenantId } }),
        );
        assertError(response, 409, 'email_taken');
      }
    });

    it('changing an email to one that is taken answers 409 email_taken and keeps the old email', async () => {
      const other = await gh.createUser(admin, { email: 'other@badinput.test' });
      const response = await withoutWrites(() =>
        gh.request('PATCH', `/api/v1/users/${other}`, { token: admin, body: { email: 'Existing@badinput.test' } }),
      );
      assertError(response, 409, 'email_taken');
      const user = await gh.ctx.db.selectFrom('users').select('email').where('id', '=', other).executeTakeFirstOrThrow();
      assert.equal(user.email, 'other@badinput.test');
    });

    it('a user created with a role that does not exist answers 400 unknown_role and no user row is left (rollback)', async () => {
      const missingRole = '0190a000-0000-7000-8000-0000000000ff';
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', {
          token: admin,
          body: { email: 'rollback@badinput.test', password: PASSWORD, tenant: tenantId, roles: [userRoleId, missingRole] },
        }),
      );
      assertError(response, 400, 'unknown_role');
      assert.equal(
        await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'rollback@badinput.test').executeTakeFirst(),
        undefined,
      );
      // The email is free: the same request with a real role succeeds.
      const created = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'rollback@badinput.test', password: PASSWORD, tenant: tenantId, roles: [userRoleId] },
      });
      assert.equal(created.status, 201);
    });

    it('a user created in a tenant that does not exist answers 404 not_found and no user row is left', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', {
          token: admin,
          body: { email: 'notenant@badinput.test', tenant: '0190a000-0000-7000-8000-0000000000aa' },
        }),
      );
      assertError(response, 404, 'not_found');
    });

    it('a password that is too short answers 400 password_too_short and creates no user', async () => {
      const response = await withoutWrites(() =>
        gh.request('POST', '/api/v1/users', { token: admin, body: { email: 'short@badinput.test', password: 'short' } }),
      );
      assertError(response, 400, 'password_too_short');
    });
  });

  describe('routes and query strings', () => {
    it('an unknown route answers 404 not_found in the error shape', async () => {
      for (const [method, url] of [
        ['GET', '/api/v1/nope'],
        ['POST', '/api/v3/users'],
        ['GET', '/nope'],
        ['PUT', '/api/v1/users'],
      ] as const) {
        const response = await gh.request(method, url, { token: admin });
        assertError(response, 404, 'not_found');
      }
    });

    it('a limit that is not a number, or out of range, answers 400 and a forged cursor 400 invalid_cursor', async () => {
      assertError(await gh.request('GET', '/api/v1/users?limit=abc', { token: admin }), 400, 'invalid_type');
      const zero = await gh.request('GET', '/api/v1/users?limit=0', { token: admin });
      assertError(zero, 400, 'invalid_field');
      assert.equal(zero.body.details.field, 'limit');
      assertError(await gh.request('GET', '/api/v1/users?limit=100000', { token: admin }), 400, 'invalid_field');
      assertError(await gh.request('GET', '/api/v1/users?cursor=not-a-cursor', { token: admin }), 400, 'invalid_cursor');
      assertError(await gh.request('GET', '/api/v1/audit-events?from=yesterday', { token: admin }), 400, 'invalid_field');
    });
  });

  describe('no route answers 500 to a garbage body', () => {
    const garbage: Array<[string, string, string]> = [
      ['malformed', '{', 'application/json'],
      ['array', '[1,2]', 'application/json'],
      ['number', '42', 'application/json'],
      ['null', 'null', 'application/json'],
      ['unknown field', '{"__proto__":{"admin":true},"x":1}', 'application/json'],
      ['text', 'hello', 'text/plain'],
    ];
    const routes: Array<['POST' | 'PATCH', string]> = [
      ['POST', '/api/v1/session'],
      ['POST', '/api/v1/token'],
      ['POST', '/api/v1/tokens/introspect'],
      ['POST', '/api/v1/tenants'],
      ['PATCH', '/api/v1/tenants/:tenant'],
      ['POST', '/api/v1/tenants/:tenant/members'],
      ['PATCH', '/api/v1/tenants/:tenant/members/:user'],
      ['POST', '/api/v1/users'],
      ['PATCH', '/api/v1/users/:user'],
      ['PATCH', '/api/v1/users/me'],
      ['POST', '/api/v1/roles'],
      ['PATCH', '/api/v1/roles/:role'],
      ['POST', '/api/v1/permission'],
      ['PATCH', '/api/v1/permission/:role'],
    ];
    for (const [method, path] of routes) {
      it(`${method} ${path}: malformed, non-object and non-JSON bodies each answer a 4xx error, writing nothing`, async () => {
        const url = path.replace(':tenant', tenantId).replace(':user', userId).replace(':role', userRoleId);
        for (const [what, payload, type] of garbage) {
          const response = await withoutWrites(() => raw(method, url, payload, type));
          assert.ok(response.status >= 400 && response.status < 500, `${what}: ${response.status} ${JSON.stringify(response.body)}`);
          assertError(response, response.status, response.body.error);
        }
      });
    }
  });
});
