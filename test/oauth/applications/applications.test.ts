import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientSecretDigest } from '../../../src/platform/crypto/secrets.js';
import { PASSWORD, walkPages } from '../../helpers/gatehouse.js';
import { acme, admin, expectError, gh, globex, systemTenantId, twoTenantsServer } from '../../helpers/two-tenants.js';
import { type ApplicationBody, CALLBACK, createApp, storedRow } from './setup.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

describe('applications API (/api/v1/applications)', () => {
  twoTenantsServer();

  describe('POST /api/v1/applications', () => {
    it('creates a web application in the own tenant with a generated client_id, a client secret and the defaults', async () => {
      const app = await createApp(acme.token, { name: 'Portal', type: 'web', redirect_uris: [CALLBACK] });
      assert.equal(app.tenant_id, acme.tenantId);
      assert.equal(app.type, 'web');
      assert.match(app.client_id, /^[A-Za-z0-9_-]{22,}$/, 'URL-safe, at least 128 bits');
      assert.match(app.client_secret ?? '', /^ghcs_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(app.grant_types, ['authorization_code', 'refresh_token']);
      assert.deepEqual(app.redirect_uris, [CALLBACK]);
      assert.deepEqual(app.post_logout_redirect_uris, []);
      assert.equal(app.first_party, true);
      assert.equal(app.organization_required, false);
      assert.equal(JSON.stringify(app).includes('digest'), false);
    });

    it('gives every application its own client_id', async () => {
      const a = await createApp(acme.token, { name: 'A', type: 'm2m' });
      const b = await createApp(acme.token, { name: 'B', type: 'm2m' });
      assert.notEqual(a.client_id, b.client_id);
    });

    it('shows the client secret once: GET and the list never contain it, and the database holds its HMAC digest only', async () => {
      const app = await createApp(acme.token, { name: 'Secretive', type: 'm2m' });
      const secret = app.client_secret!;
      const read = await gh.request('GET', `/api/v1/applications/${app.id}`, { token: acme.token });
      assert.equal(read.status, 200);
      assert.equal(read.body.client_secret, undefined);
      const list = await gh.request('GET', '/api/v1/applications?limit=200', { token: acme.token });
      for (const body of [read.body, list.body]) {
        const text = JSON.stringify(body);
        assert.ok(!text.includes(secret), 'the secret is not shown again');
        assert.ok(!text.includes('client_secret'), 'no secret field at all');
      }
      const row = await storedRow(app.id);
      assert.notEqual(row.client_secret_digest, secret);
      assert.equal(row.client_secret_digest, clientSecretDigest(gh.ctx.masterKey, secret));
      assert.ok(!JSON.stringify(list.body).includes(row.client_secret_digest!), 'nor its digest');
      assert.ok(!gh.logs.join('').includes(secret), 'nor is it logged');
    });

    it('gives public applications (spa, native) no secret: no client_secret in the answer, a null digest', async () => {
      for (const type of ['spa', 'native']) {
        const app = await createApp(acme.token, { name: `Public ${type}`, type, redirect_uris: ['http://localhost:3000/cb'] });
        assert.equal(app.client_secret, undefined, type);
        assert.equal((await storedRow(app.id)).client_secret_digest, null, type);
      }
    });

    it('defaults m2m to client_credentials, needs no redirect URI, and refuses authorization_code for m2m (400 grant_not_allowed)', async () => {
      const app = await createApp(acme.token, { name: 'Worker', type: 'm2m' });
      assert.deepEqual(app.grant_types, ['client_credentials']);
      assert.deepEqual(app.redirect_uris, []);
      const body = await expectError(
        gh.request('POST', '/api/v1/applications', {
          token: acme.token,
          body: { name: 'Bad', type: 'm2m', grant_types: ['authorization_code'], redirect_uris: [CALLBACK] },
        }),
        400,
        'grant_not_allowed',
      );
      assert.deepEqual(body.details.grant_types, ['authorization_code']);
    });

    const grantCases: Array<[string, string[], boolean]> = [
      ['web', ['authorization_code', 'refresh_token', 'password'], true],
      ['native', ['authorization_code', DEVICE_CODE, 'refresh_token'], true],
      ['web', [DEVICE_CODE], true],
      ['spa', ['authorization_code'], true],
      ['spa', ['authorization_code', 'password'], false],
      ['spa', ['authorization_code', DEVICE_CODE], false],
      ['web', ['authorization_code', 'client_credentials'], false],
      ['native', ['client_credentials'], false],
      ['m2m', ['client_credentials', 'refresh_token'], false],
      ['m2m', ['password'], false],
      ['web', ['refresh_token'], false],
    ];
    for (const [type, grantTypes, allowed] of grantCases) {
      it(`${allowed ? 'allows' : 'refuses (400 grant_not_allowed)'} a ${type} application with ${grantTypes.join(' + ')}`, async () => {
        const before = await gh.rowCount('applications');
        const response = await gh.request('POST', '/api/v1/applications', {
          token: acme.token,
          body: { name: 'Grants', type, grant_types: grantTypes, redirect_uris: ['http://127.0.0.1:8080/cb'] },
        });
        if (allowed) {
          assert.equal(response.status, 201, JSON.stringify(response.body));
          assert.deepEqual(response.body.grant_types, grantTypes);
        } else {
          assert.equal(response.status, 400, JSON.stringify(response.body));
          assert.equal(response.body.error, 'grant_not_allowed');
          assert.equal(await gh.rowCount('applications'), before, 'no row');
        }
      });
    }

    it('never defaults to the password grant: only an explicit grant_types gives it', async () => {
      const app = await createApp(acme.token, { name: 'No password', type: 'native', redirect_uris: ['com.acme.app:/cb'] });
      assert.ok(!app.grant_types.includes('password'));
    });

    it('refuses an unknown grant type with a 400 validation code', async () => {
      await expectError(
        gh.request('POST', '/api/v1/applications', { token: acme.token, body: { name: 'X', type: 'm2m', grant_types: ['implicit'] } }),
        400,
        'invalid_field',
      );
    });

    const uriCases: Array<[string, string, boolean]> = [
      ['web', 'https://app.example.com/cb?x=1', true],
      ['web', 'http://localhost:3000/cb', true],
      ['spa', 'http://127.0.0.1/cb', true],
      ['web', 'http://[::1]:8080/cb', true],
      ['native', 'com.example.app:/callback', true],
      ['native', 'http://localhost/cb', true],
      ['web', 'http://app.example.com/cb', false],
      ['web', 'http://127.0.0.1.nip.io/cb', false],
      ['web', 'https://app.example.com/cb#frag', false],
      ['web', 'https://app.example.com/cb#', false],
      ['web', 'https://user:pw@app.example.com/cb', false],
      ['web', 'https://user@app.example.com/cb', false],
      ['web', '/relative/cb', false],
      ['web', 'app.example.com/cb', false],
      ['web', 'https://*.example.com/cb', false],
      ['web', 'com.example.app:/callback', false],
      ['spa', 'com.example.app:/callback', false],
      ['native', 'javascript:alert(1)', false],
      ['native', 'data:text/html,hi', false],
      ['native', 'myapp:/cb', false],
    ];
    for (const [type, uri, allowed] of uriCases) {
      it(`${allowed ? 'accepts' : 'refuses (400 invalid_redirect_uri)'} the redirect URI ${uri} for a ${type} application`, async () => {
        const response = await gh.request('POST', '/api/v1/applications', {
          token: acme.token,
          body: { name: 'URIs', type, redirect_uris: [uri] },
        });
        if (allowed) {
          assert.equal(response.status, 201, JSON.stringify(response.body));
        } else {
          assert.equal(response.status, 400, JSON.stringify(response.body));
          assert.equal(response.body.error, 'invalid_redirect_uri');
          assert.deepEqual(response.body.details, { field: 'redirect_uris', uri });
        }
      });
    }

    it('checks the logout URIs by the same rules (400 invalid_redirect_uri naming post_logout_redirect_uris)', async () => {
      const body = await expectError(
        gh.request('POST', '/api/v1/applications', {
          token: acme.token,
          body: { name: 'Logout', type: 'spa', redirect_uris: [CALLBACK], post_logout_redirect_uris: ['http://evil.example.com/'] },
        }),
        400,
        'invalid_redirect_uri',
      );
      assert.equal(body.details.field, 'post_logout_redirect_uris');
      const ok = await createApp(acme.token, {
        name: 'Logout',
        type: 'spa',
        redirect_uris: [CALLBACK],
        post_logout_redirect_uris: ['https://app.example.com/bye'],
      });
      assert.deepEqual(ok.post_logout_redirect_uris, ['https://app.example.com/bye']);
    });

    it('needs a redirect URI for authorization_code (400 missing_redirect_uri)', async () => {
      for (const type of ['web', 'spa', 'native']) {
        await expectError(
          gh.request('POST', '/api/v1/applications', { token: acme.token, body: { name: 'No URI', type } }),
          400,
          'missing_redirect_uri',
        );
      }
    });

    it('answers 400 validation codes, never 500, for malformed bodies', async () => {
      const cases: Array<[unknown, string]> = [
        [{ name: 'X' }, 'missing_field'],
        [{ name: 'X', type: 'daemon' }, 'invalid_field'],
        [{ name: '', type: 'm2m' }, 'invalid_field'],
        [{ name: 'X', type: 'm2m', client_secret: 'mine' }, 'unknown_field'],
        [{ name: 'X', type: 'm2m', client_id: 'mine' }, 'unknown_field'],
        [{ name: 'X', type: 'm2m', first_party: 'yes' }, 'invalid_type'],
        [{ name: 'X', type: 'web', redirect_uris: 'https://a.example.com' }, 'invalid_type'],
        [{ name: 'X', type: 'm2m', grant_types: [] }, 'invalid_field'],
        [{ name: 'X', type: 'm2m', tenant: 'acme' }, 'invalid_id'],
      ];
      for (const [body, code] of cases) await expectError(gh.request('POST', '/api/v1/applications', { token: admin, body }), 400, code);
    });

    it('stores first_party and organization_required as given', async () => {
      const app = await createApp(acme.token, {
        name: 'Partner',
        type: 'web',
        redirect_uris: [CALLBACK],
        first_party: false,
        organization_required: true,
      });
      assert.equal(app.first_party, false);
      assert.equal(app.organization_required, true);
    });

    it('lets a system administrator create in any tenant with `tenant`, and in the system tenant without it', async () => {
      const inAcme = await createApp(admin, { name: 'By admin', type: 'm2m', tenant: acme.tenantId });
      assert.equal(inAcme.tenant_id, acme.tenantId);
      const own = await createApp(admin, { name: 'System app', type: 'm2m' });
      assert.equal(own.tenant_id, systemTenantId);
      await expectError(
        gh.request('POST', '/api/v1/applications', {
          token: admin,
          body: { name: 'X', type: 'm2m', tenant: '00000000-0000-7000-8000-000000000000' },
        }),
        404,
        'not_found',
      );
    });

    it('refuses a tenant administrator naming another tenant (403 forbidden)', async () => {
      await expectError(
        gh.request('POST', '/api/v1/applications', { token: acme.token, body: { name: 'X', type: 'm2m', tenant: globex.tenantId } }),
        403,
        'forbidden',
      );
    });

    it('records iam.application.created without the secret', async () => {
      const app = await createApp(acme.token, { name: 'Audited', type: 'm2m' });
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.application.created', target: app.id });
      assert.ok(event);
      assert.equal(event.tenant_id, acme.tenantId);
      assert.equal(event.actor_id, acme.adminId);
      assert.equal(event.details.client_id, app.client_id);
      assert.ok(!JSON.stringify(event).includes(app.client_secret!));
      const outbox = await gh.ctx.db.selectFrom('event_outbox').select('payload').execute();
      assert.ok(!JSON.stringify(outbox).includes(app.client_secret!), 'nor in the outbox');
    });

    it('refuses a member without tenant.applications.write (403 forbidden)', async () => {
      const email = 'viewer@acme.test';
      await gh.createUser(acme.token, { email, password: PASSWORD });
      const token = await gh.tokenFor(await gh.signIn(email, PASSWORD), acme.tenantId);
      await expectError(gh.request('POST', '/api/v1/applications', { token, body: { name: 'X', type: 'm2m' } }), 403, 'forbidden');
      await expectError(gh.request('GET', '/api/v1/applications', { token }), 403, 'forbidden');
    });
  });

  describe('reading and listing', () => {
    it('lists the own tenant’s applications only, pages with limit and cursor, and filters by type and client_id', async () => {
      const foreign = await createApp(globex.token, { name: 'Globex app', type: 'm2m' });
      const whole = (await gh.request('GET', '/api/v1/applications?limit=200', { token: acme.token })).body
        .applications as ApplicationBody[];
      assert.ok(whole.length > 3);
      assert.ok(whole.every((a) => a.tenant_id === acme.tenantId));
      assert.ok(!whole.some((a) => a.id === foreign.id));
      assert.deepEqual(
        await walkPages(gh, acme.token, '/api/v1/applications', 'applications', 3),
        whole.map((a) => a.id),
      );

      const spas = (await gh.request('GET', '/api/v1/applications?type=spa&limit=200', { token: acme.token })).body.applications;
      assert.ok(spas.length > 0);
      assert.ok(spas.every((a: ApplicationBody) => a.type === 'spa'));
      const one = await gh.request('GET', `/api/v1/applications?client_id=${encodeURIComponent(whole[0]!.client_id)}`, {
        token: acme.token,
      });
      assert.deepEqual(
        one.body.applications.map((a: ApplicationBody) => a.id),
        [whole[0]!.id],
      );
      const other = await gh.request('GET', `/api/v1/applications?client_id=${encodeURIComponent(foreign.client_id)}`, {
        token: acme.token,
      });
      assert.deepEqual(other.body.applications, []);
    });

    it('shows a system administrator every tenant’s applications; ?tenant= narrows, and is 403 for another tenant’s administrator', async () => {
      const all = (await gh.request('GET', '/api/v1/applications?limit=200', { token: admin })).body.applications as ApplicationBody[];
      assert.ok(all.some((a) => a.tenant_id === acme.tenantId));
      assert.ok(all.some((a) => a.tenant_id === globex.tenantId));
      const narrowed = (await gh.request('GET', `/api/v1/applications?tenant=${globex.tenantId}&limit=200`, { token: admin })).body
        .applications as ApplicationBody[];
      assert.ok(narrowed.length > 0 && narrowed.every((a) => a.tenant_id === globex.tenantId));
      await expectError(gh.request('GET', `/api/v1/applications?tenant=${globex.tenantId}`, { token: acme.token }), 403, 'forbidden');
    });
  });

  describe('OpenAPI document', () => {
    it('documents every application route with request and response schemas, and never the digest', async () => {
      const doc = (await gh.request('GET', '/api/v1/openapi.json')).body;
      const routes: Record<string, string[]> = {
        '/api/v1/applications': ['get', 'post'],
        '/api/v1/applications/{id}': ['get', 'patch', 'delete'],
        '/api/v1/applications/{id}/rotate-secret': ['post'],
        '/api/v1/applications/{id}/grants': ['get', 'post'],
        '/api/v1/applications/{id}/grants/{apiId}': ['patch', 'delete'],
      };
      for (const [path, methods] of Object.entries(routes)) {
        for (const method of methods) {
          const op = doc.paths[path]?.[method];
          assert.ok(op, `${method} ${path}`);
          assert.ok(op.security.some((s: object) => 'bearerAuth' in s));
          assert.ok(op.responses['4XX'] ?? op.responses['4xx'], `${method} ${path} documents errors`);
          for (const param of (op.parameters ?? []).filter((p: { in: string }) => p.in === 'path'))
            assert.equal(param.schema.format, 'uuid');
          if ((method === 'post' && !path.endsWith('rotate-secret')) || method === 'patch') {
            const body = op.requestBody.content['application/json'].schema;
            assert.equal(body.additionalProperties, false, `${method} ${path}`);
          }
        }
      }
      const created = doc.paths['/api/v1/applications'].post.responses['201'].content['application/json'].schema;
      assert.ok(created.properties.client_secret);
      assert.ok(created.properties.client_id);
      const read = doc.paths['/api/v1/applications/{id}'].get.responses['200'].content['application/json'].schema;
      assert.equal(read.properties.client_secret, undefined);
      assert.doesNotMatch(JSON.stringify(doc), /client_secret_digest/);
      const body = doc.paths['/api/v1/applications'].post.requestBody.content['application/json'].schema;
      assert.deepEqual(body.required.sort(), ['name', 'type']);
    });
  });
});
