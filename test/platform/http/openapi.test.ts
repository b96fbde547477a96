import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { ADMIN_EMAIL, ISSUER, PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/** Every /api/v1 route of issue 2, with its methods, as OpenAPI path templates. */
const ROUTES: Record<string, string[]> = {
  '/api/v1/session': ['post', 'get', 'delete'],
  '/api/v1/organizations': ['get'],
  '/api/v1/token': ['post'],
  '/api/v1/tokens/introspect': ['post'],
  '/api/v1/tenants': ['get', 'post'],
  '/api/v1/tenants/{id}': ['get', 'patch', 'delete'],
  '/api/v1/tenants/{id}/members': ['get', 'post'],
  '/api/v1/tenants/{id}/members/{userId}': ['patch', 'delete'],
  '/api/v1/users': ['get', 'post'],
  '/api/v1/users/{id}': ['get', 'patch', 'delete'],
  '/api/v1/users/me': ['get', 'patch'],
  '/api/v1/tenants/{id}/groups': ['get', 'post'],
  '/api/v1/tenants/{id}/groups/{groupId}': ['get', 'patch', 'delete'],
  '/api/v1/tenants/{id}/groups/{groupId}/members': ['get', 'post'],
  '/api/v1/tenants/{id}/groups/{groupId}/members/{userId}': ['delete'],
  '/api/v1/tenants/{id}/groups/{groupId}/roles': ['get', 'post'],
  '/api/v1/tenants/{id}/groups/{groupId}/roles/{roleId}': ['delete'],
  '/api/v1/roles': ['get', 'post'],
  '/api/v1/roles/{id}': ['get', 'patch', 'delete'],
  '/api/v1/permissions': ['get'],
  '/api/v1/permission': ['post'],
  '/api/v1/permission/{id}': ['get', 'patch', 'delete'],
  '/api/v1/audit-events': ['get'],
  '/api/v1/keys': ['get'],
  '/api/v1/keys/rotate': ['post'],
};

/** The codes the request validator answers with; anything else means the schema accepted the body. */
const VALIDATION_CODES = new Set(['unknown_field', 'missing_field', 'invalid_type', 'invalid_email', 'invalid_id', 'invalid_field']);

type Schema = Record<string, any>;

describe('GET /api/v1/openapi.json: the OpenAPI 3.1 document generated from the validating schemas', () => {
  let gh: TestGatehouse;
  let doc: any;
  let admin: string;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);

  before(async () => {
    gh = await startGatehouse();
    const response = await gh.request('GET', '/api/v1/openapi.json');
    assert.equal(response.status, 200);
    doc = response.body;
    admin = await gh.adminToken();
  });
  after(() => gh.stop());

  const operation = (path: string, method: string) => {
    const op = doc.paths[path]?.[method];
    assert.ok(op, `${method.toUpperCase()} ${path} is documented`);
    return op;
  };
  const requestSchema = (path: string, method: string): Schema => operation(path, method).requestBody.content['application/json'].schema;
  const responseSchema = (path: string, method: string, status: string): Schema =>
    operation(path, method).responses[status].content['application/json'].schema;

  it('is served as JSON without a token and declares OpenAPI 3.1.0, the API info and the issuer as server', async () => {
    const response = await gh.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    assert.deepEqual(doc.servers, [{ url: ISSUER }]);
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
  });

  it('lists every /api/v1 route of the issue with each of its methods', () => {
    for (const [path, methods] of Object.entries(ROUTES)) {
      assert.ok(doc.paths[path], `${path} is documented`);
      for (const method of methods) assert.ok(doc.paths[path][method], `${method.toUpperCase()} ${path} is documented`);
    }
  });

  it('declares each path parameter of a templated path as a required uuid', () => {
    for (const [path, methods] of Object.entries(ROUTES)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const method of methods) {
        const params = (operation(path, method).parameters ?? []).filter((p: { in: string }) => p.in === 'path');
        assert.deepEqual(params.map((p: { name: string }) => p.name).sort(), [...names].sort(), `${method} ${path} path parameters`);
        for (const param of params) {
          assert.equal(param.required, true);
          assert.equal(param.schema.format, 'uuid', `${method} ${path} {${param.name}} is a uuid`);
        }
      }
    }
  });

  it('gives every POST and PATCH a JSON request body schema that refuses unknown fields', () => {
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const method of methods.filter((m) => m === 'post' || m === 'patch')) {
        const schema = requestSchema(path, method);
        assert.equal(schema.type, 'object', `${method} ${path}`);
        assert.equal(schema.additionalProperties, false, `${method} ${path} refuses unknown fields`);
        assert.ok(Object.keys(schema.properties).length > 0, `${method} ${path} names its fields`);
      }
    }
  });

  it('gives every operation a success response schema and the {error, message, details?} error schema', () => {
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const method of methods) {
        const responses = operation(path, method).responses;
        const success = Object.keys(responses).filter((status) => /^2\d\d$/.test(status));
        // One success, but for a change that may wait for a confirmation (202: decision 188).
        const expected = `${method} ${path}` === 'patch /api/v1/users/{id}' ? ['200', '202'] : undefined;
        if (expected) assert.deepEqual(success.sort(), expected, `${method} ${path} answers 200 or 202`);
        else assert.equal(success.length, 1, `${method} ${path} has one success response`);
        for (const status of success) {
          if (status !== '204') assert.ok(responseSchema(path, method, status), `${method} ${path} ${status} has a schema`);
        }
        const error = responses['4XX'] ?? responses['4xx'];
        assert.ok(error, `${method} ${path} documents its 4xx errors`);
        const schema = error.content['application/json'].schema;
        assert.deepEqual(Object.keys(schema.properties).sort(), ['details', 'error', 'message']);
        assert.deepEqual([...schema.required].sort(), ['error', 'message']);
      }
    }
  });

  it('documents the bearer security of every admin route, and none on sign-in', () => {
    assert.equal(operation('/api/v1/session', 'post').security, undefined);
    for (const [path, methods] of Object.entries(ROUTES)) {
      for (const method of methods) {
        if (path === '/api/v1/session' && method === 'post') continue;
        const security = operation(path, method).security as Array<Record<string, unknown>>;
        assert.ok(
          security?.some((s) => 'bearerAuth' in s),
          `${method} ${path} needs a bearer token`,
        );
      }
    }
  });

  it('documents the sign-in body as the issue names it: username, password, "remember-me" (and bot defence’s captcha)', () => {
    const schema = requestSchema('/api/v1/session', 'post');
    assert.deepEqual(Object.keys(schema.properties).sort(), ['captcha', 'password', 'remember-me', 'username']);
    assert.deepEqual([...schema.required].sort(), ['password', 'username']);
    assert.equal(schema.properties['remember-me'].type, 'boolean');
    assert.deepEqual(Object.keys(responseSchema('/api/v1/session', 'post', '200').properties).sort(), ['expires_at', 'id', 'token']);
  });

  it('documents the POST /users body as validated: additionalProperties false, email format email, required email', () => {
    const schema = requestSchema('/api/v1/users', 'post');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ['email']);
    assert.equal(schema.properties.email.type, 'string');
    assert.equal(schema.properties.email.format, 'email');
    assert.equal(schema.properties.roles.items.format, 'uuid');
    assert.equal(schema.properties.password_hash, undefined);
  });

  it('documents the users list filters and cursor pagination', () => {
    const params = operation('/api/v1/users', 'get').parameters as Array<{ name: string; in: string }>;
    const query = params
      .filter((p) => p.in === 'query')
      .map((p) => p.name)
      .sort();
    assert.deepEqual(query, ['cursor', 'email', 'email_prefix', 'limit', 'q', 'status', 'tenant']);
    const page = responseSchema('/api/v1/users', 'get', '200');
    assert.deepEqual(Object.keys(page.properties).sort(), ['next_cursor', 'users']);
    const auditParams = (operation('/api/v1/audit-events', 'get').parameters as Array<{ name: string }>).map((p) => p.name);
    for (const name of ['tenant', 'actor', 'target', 'action', 'from', 'to', 'limit', 'cursor'])
      assert.ok(auditParams.includes(name), name);
  });

  it('has no password_hash anywhere: the User response schema lists only public fields', () => {
    assert.doesNotMatch(JSON.stringify(doc), /password_hash/);
    for (const [path, method, status] of [
      ['/api/v1/users/{id}', 'get', '200'],
      ['/api/v1/users', 'post', '201'],
      ['/api/v1/users/me', 'get', '200'],
      ['/api/v1/session', 'get', '200'],
    ] as const) {
      const user = responseSchema(path, method, status);
      assert.ok(user.properties.email, `${method} ${path} answers a user`);
      for (const secret of ['password', 'password_hash', 'passwordHash']) {
        assert.equal(user.properties[secret], undefined, `${method} ${path} has no ${secret}`);
      }
    }
  });

  it('describes real responses: a created user, a user list and a tenant validate against their documented schemas', async () => {
    const created = await gh.request('POST', '/api/v1/users', {
      token: admin,
      body: { email: 'doc@openapi.test', password: PASSWORD, name: 'Doc' },
    });
    assert.equal(created.status, 201);
    const check = (schema: Schema, body: unknown, what: string) => {
      const validate = ajv.compile(schema);
      assert.ok(validate(body), `${what}: ${ajv.errorsText(validate.errors)}`);
    };
    check(responseSchema('/api/v1/users', 'post', '201'), created.body, 'POST /users 201');
    const read = await gh.request('GET', `/api/v1/users/${created.body.id}`, { token: admin });
    check(responseSchema('/api/v1/users/{id}', 'get', '200'), read.body, 'GET /users/{id} 200');
    check(
      responseSchema('/api/v1/users', 'get', '200'),
      (await gh.request('GET', '/api/v1/users', { token: admin })).body,
      'GET /users 200',
    );
    const tenants = await gh.request('GET', '/api/v1/tenants', { token: admin });
    check(responseSchema('/api/v1/tenants', 'get', '200'), tenants.body, 'GET /tenants 200');
    const error = await gh.request('GET', '/api/v1/users/not-a-uuid', { token: admin });
    check(operation('/api/v1/users/{id}', 'get').responses['4XX'].content['application/json'].schema, error.body, 'error body');
  });

  /**
   * The documented request schema accepts exactly the bodies the server's validator accepts:
   * each sample is judged by the document (Ajv, JSON Schema 2020-12) and by the server.
   */
  describe('the documented request schemas are the ones that validate', () => {
    const samples: Array<{
      path: string;
      url: () => string;
      method: 'post' | 'patch';
      bodies: unknown[];
      token: () => string | undefined;
    }> = [];
    let tenantId = '';
    const nextEmail = (() => {
      let n = 0;
      return () => `sample${++n}@openapi.test`;
    })();

    before(async () => {
      tenantId = (await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'openapi', name: 'OpenAPI' } })).body.id;
    });

    samples.push({
      path: '/api/v1/users',
      url: () => '/api/v1/users',
      method: 'post',
      token: () => admin,
      bodies: [
        { email: nextEmail() },
        { email: nextEmail(), password: PASSWORD, name: 'A', user_metadata: { a: 1 } },
        { email: nextEmail(), status: 'pending', email_verified: true },
        { email: 'not-an-email' },
        { email: 123 },
        { email: nextEmail(), isAdmin: true },
        { email: nextEmail(), password_hash: 'x' },
        { password: PASSWORD },
        {},
        { email: nextEmail(), status: 'superuser' },
        { email: nextEmail(), email_verified: 'true' },
        { email: nextEmail(), roles: ['USER'] },
        { email: nextEmail(), roles: 'x' },
        { email: nextEmail(), tenant: 'acme' },
        { email: nextEmail(), username: 'has@sign' },
        { email: nextEmail(), picture: 'not a uri' },
      ],
    });
    samples.push({
      path: '/api/v1/session',
      url: () => '/api/v1/session',
      method: 'post',
      token: () => undefined,
      bodies: [
        { username: ADMIN_EMAIL, password: 'wrong-password-123' },
        { username: ADMIN_EMAIL, password: 'wrong-password-123', 'remember-me': true },
        { username: ADMIN_EMAIL, password: 'wrong-password-123', 'remember-me': 'yes' },
        { username: ADMIN_EMAIL, password: 'x', rememberMe: true },
        { username: ADMIN_EMAIL },
        { username: '', password: 'x' },
        { username: 5, password: 'x' },
      ],
    });
    samples.push({
      path: '/api/v1/tenants/{id}',
      url: () => `/api/v1/tenants/${tenantId}`,
      method: 'patch',
      token: () => admin,
      bodies: [
        { name: 'Renamed' },
        { branding: { primary_color: '#00ff00' } },
        { branding: { primary_color: 'green' } },
        { branding: { logo_url: 'javascript:alert(1)' } },
        { branding: { other: 1 } },
        { status: 'deleted' },
        { slug: 'Has Spaces' },
        { name: '' },
        { name: 5 },
        { is_system: true },
        {},
      ],
    });
    samples.push({
      path: '/api/v1/roles',
      url: () => '/api/v1/roles',
      method: 'post',
      token: () => admin,
      bodies: [
        { name: 'documented-role', permissions: ['tenant.profile.read'] },
        { name: 'documented-role-2', permissions: 'tenant.profile.read' },
        { name: '' },
        { permissions: [] },
        { name: 'x', tenant: 'acme' },
        { name: 'x', is_system: true },
      ],
    });

    for (const sample of samples) {
      it(`${sample.method.toUpperCase()} ${sample.path}: the document and the server agree on ${sample.bodies.length} sample bodies`, async () => {
        const validate = ajv.compile(requestSchema(sample.path, sample.method));
        let accepted = 0;
        let refused = 0;
        for (const body of sample.bodies) {
          const documented = validate(body) as boolean;
          const token = sample.token();
          const response = await gh.request(sample.method.toUpperCase() as 'POST' | 'PATCH', sample.url(), {
            body,
            ...(token && { token }),
          });
          assert.ok(response.status < 500, `${JSON.stringify(body)}: ${response.status}`);
          const served = !(response.status === 400 && VALIDATION_CODES.has(response.body.error));
          assert.equal(
            served,
            documented,
            `${JSON.stringify(body)}: document says ${documented}, server answered ${response.status} ${JSON.stringify(response.body)}`,
          );
          if (documented) accepted++;
          else refused++;
        }
        assert.ok(accepted > 0 && refused > 0, 'the samples include bodies both accepted and refused');
      });
    }
  });
});
