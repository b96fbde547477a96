import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clientSecretDigest } from '../../../src/platform/crypto/secrets.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse, walkPages } from '../../helpers/gatehouse.js';

interface ApplicationBody {
  id: string;
  client_id: string;
  tenant_id: string;
  name: string;
  type: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  first_party: boolean;
  organization_required: boolean;
  created_at: string;
  updated_at: string;
  client_secret?: string;
}

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const CALLBACK = 'https://app.example.com/callback';

describe('applications API (/api/v1/applications)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let systemTenantId: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;

  const createApp = (token: string, body: Record<string, unknown>) => gh.created<ApplicationBody>('/api/v1/applications', token, body);
  const storedRow = (id: string) => gh.ctx.db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const expectError = async (response: Promise<{ status: number; body: any }>, status: number, code: string) => {
    const { status: actual, body } = await response;
    assert.equal(actual, status, `expected ${status} ${code}, got ${actual} ${JSON.stringify(body)}`);
    assert.equal(body.error, code);
    return body;
  };

  before(async () => {
    gh = await startGatehouse();
    ({ token: admin, systemTenantId } = await gh.systemAdmin());
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
  });
  after(() => gh.stop());

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

  describe('PATCH, rotate-secret and DELETE', () => {
    it('updates the fields it is given and records iam.application.modified', async () => {
      const app = await createApp(acme.token, { name: 'Before', type: 'web', redirect_uris: [CALLBACK] });
      const response = await gh.request('PATCH', `/api/v1/applications/${app.id}`, {
        token: acme.token,
        body: {
          name: 'After',
          redirect_uris: ['https://app.example.com/new'],
          post_logout_redirect_uris: ['https://app.example.com/'],
          first_party: false,
          organization_required: true,
          grant_types: ['authorization_code'],
        },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const updated = response.body as ApplicationBody;
      assert.equal(updated.name, 'After');
      assert.deepEqual(updated.redirect_uris, ['https://app.example.com/new']);
      assert.deepEqual(updated.post_logout_redirect_uris, ['https://app.example.com/']);
      assert.deepEqual(updated.grant_types, ['authorization_code']);
      assert.equal(updated.first_party, false);
      assert.equal(updated.organization_required, true);
      assert.equal(updated.client_id, app.client_id);
      assert.equal(updated.client_secret, undefined);
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.application.modified', target: app.id });
      assert.ok(event);
      assert.ok((event.details.fields as string[]).includes('redirect_uris'));
    });

    it('checks the result as a whole: removing the last redirect URI of an authorization_code app is 400 missing_redirect_uri', async () => {
      const app = await createApp(acme.token, { name: 'Keep URI', type: 'spa', redirect_uris: [CALLBACK] });
      await expectError(
        gh.request('PATCH', `/api/v1/applications/${app.id}`, { token: acme.token, body: { redirect_uris: [] } }),
        400,
        'missing_redirect_uri',
      );
      await expectError(
        gh.request('PATCH', `/api/v1/applications/${app.id}`, {
          token: acme.token,
          body: { grant_types: ['authorization_code', 'password'] },
        }),
        400,
        'grant_not_allowed',
      );
      await expectError(
        gh.request('PATCH', `/api/v1/applications/${app.id}`, { token: acme.token, body: { redirect_uris: ['http://example.com/'] } }),
        400,
        'invalid_redirect_uri',
      );
      assert.deepEqual((await storedRow(app.id)).redirect_uris, [CALLBACK], 'nothing changed');
    });

    it('keeps type, client_id and tenant fixed (400 unknown_field)', async () => {
      const app = await createApp(acme.token, { name: 'Fixed', type: 'm2m' });
      for (const body of [{ type: 'web' }, { client_id: 'mine' }, { tenant: globex.tenantId }, { tenant_id: globex.tenantId }]) {
        await expectError(gh.request('PATCH', `/api/v1/applications/${app.id}`, { token: acme.token, body }), 400, 'unknown_field');
      }
    });

    it('rotates the secret of a confidential application: a new secret once, a new digest, iam.application.secretRotated', async () => {
      const app = await createApp(acme.token, { name: 'Rotating', type: 'web', redirect_uris: [CALLBACK] });
      const before = (await storedRow(app.id)).client_secret_digest;
      const response = await gh.request('POST', `/api/v1/applications/${app.id}/rotate-secret`, { token: acme.token });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const rotated = response.body as ApplicationBody;
      assert.match(rotated.client_secret ?? '', /^ghcs_/);
      assert.notEqual(rotated.client_secret, app.client_secret);
      assert.equal(rotated.client_id, app.client_id);
      const after = (await storedRow(app.id)).client_secret_digest;
      assert.notEqual(after, before);
      assert.equal(after, clientSecretDigest(gh.ctx.masterKey, rotated.client_secret!));
      const read = await gh.request('GET', `/api/v1/applications/${app.id}`, { token: acme.token });
      assert.equal(read.body.client_secret, undefined);
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.application.secretRotated', target: app.id });
      assert.ok(event);
      assert.ok(!JSON.stringify(event).includes(rotated.client_secret!));
    });

    it('refuses to rotate the secret of a public application (400 public_client)', async () => {
      const app = await createApp(acme.token, { name: 'SPA', type: 'spa', redirect_uris: [CALLBACK] });
      await expectError(gh.request('POST', `/api/v1/applications/${app.id}/rotate-secret`, { token: acme.token }), 400, 'public_client');
      assert.equal((await storedRow(app.id)).client_secret_digest, null);
    });

    it('deletes an application (204, then 404) and records iam.application.deleted', async () => {
      const app = await createApp(acme.token, { name: 'Doomed', type: 'm2m' });
      const response = await gh.request('DELETE', `/api/v1/applications/${app.id}`, { token: acme.token });
      assert.equal(response.status, 204);
      await expectError(gh.request('GET', `/api/v1/applications/${app.id}`, { token: acme.token }), 404, 'not_found');
      await expectError(gh.request('DELETE', `/api/v1/applications/${app.id}`, { token: acme.token }), 404, 'not_found');
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.application.deleted', target: app.id });
      assert.ok(event);
    });
  });

  describe('tenant isolation', () => {
    it('answers 404 to another tenant’s administrator for every route of an application, and changes nothing', async () => {
      const app = await createApp(acme.token, { name: 'Private', type: 'm2m' });
      const row = await storedRow(app.id);
      const base = `/api/v1/applications/${app.id}`;
      const attempts: Array<[string, string, unknown?]> = [
        ['GET', base],
        ['PATCH', base, { name: 'Taken over' }],
        ['DELETE', base],
        ['POST', `${base}/rotate-secret`],
        ['GET', `${base}/grants`],
      ];
      for (const [method, url, body] of attempts) {
        await expectError(gh.request(method as 'GET', url, { token: globex.token, ...(body !== undefined && { body }) }), 404, 'not_found');
      }
      assert.deepEqual(await storedRow(app.id), row);
    });

    it('lets a system administrator read and change any tenant’s application', async () => {
      const app = await createApp(acme.token, { name: 'Managed', type: 'm2m' });
      assert.equal((await gh.request('GET', `/api/v1/applications/${app.id}`, { token: admin })).status, 200);
      const patched = await gh.request('PATCH', `/api/v1/applications/${app.id}`, { token: admin, body: { name: 'Managed by admin' } });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.tenant_id, acme.tenantId);
    });
  });

  describe('grants (/api/v1/applications/:id/grants)', () => {
    let worker: ApplicationBody;
    let invoices: { id: string; identifier: string };

    before(async () => {
      worker = await createApp(acme.token, { name: 'Invoice worker', type: 'm2m' });
      invoices = await gh.created('/api/v1/apis', acme.token, {
        identifier: 'urn:gatehouse:acme:invoices',
        name: 'Invoices',
        permissions: [{ value: 'read:invoices' }, { value: 'write:invoices' }, { value: 'delete:invoices' }],
      });
    });

    it('grants an m2m application permissions of an API of its tenant (201) and lists the grant', async () => {
      const response = await gh.request('POST', `/api/v1/applications/${worker.id}/grants`, {
        token: acme.token,
        body: { api_id: invoices.id, permissions: ['write:invoices', 'read:invoices', 'read:invoices'] },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      assert.equal(response.body.application_id, worker.id);
      assert.equal(response.body.api_id, invoices.id);
      assert.equal(response.body.api_identifier, invoices.identifier);
      assert.deepEqual(response.body.permissions, ['read:invoices', 'write:invoices']);
      const list = await gh.request('GET', `/api/v1/applications/${worker.id}/grants`, { token: acme.token });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, { grants: [response.body], next_cursor: null });
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.application.grantCreated', target: worker.id });
      assert.equal(event?.details.api_id, invoices.id);
    });

    it('refuses a second grant for the same API (409 grant_exists)', async () => {
      await expectError(
        gh.request('POST', `/api/v1/applications/${worker.id}/grants`, {
          token: acme.token,
          body: { api_id: invoices.id, permissions: [] },
        }),
        409,
        'grant_exists',
      );
    });

    it('refuses permissions the API does not define (400 unknown_permission, naming them)', async () => {
      const app = await createApp(acme.token, { name: 'Unknown perms', type: 'm2m' });
      const body = await expectError(
        gh.request('POST', `/api/v1/applications/${app.id}/grants`, {
          token: acme.token,
          body: { api_id: invoices.id, permissions: ['read:invoices', 'fly:planes'] },
        }),
        400,
        'unknown_permission',
      );
      assert.deepEqual(body.details.permissions, ['fly:planes']);
      assert.equal((await gh.request('GET', `/api/v1/applications/${app.id}/grants`, { token: acme.token })).body.grants.length, 0);
    });

    it('refuses grants to applications without client_credentials (400 grant_not_allowed)', async () => {
      const web = await createApp(acme.token, { name: 'Web', type: 'web', redirect_uris: [CALLBACK] });
      await expectError(
        gh.request('POST', `/api/v1/applications/${web.id}/grants`, { token: acme.token, body: { api_id: invoices.id, permissions: [] } }),
        400,
        'grant_not_allowed',
      );
    });

    it('keeps grants inside one tenant: another tenant’s API is 404 for a tenant administrator, 400 tenant_mismatch for a system administrator', async () => {
      const globexApi = await gh.created('/api/v1/apis', globex.token, { identifier: 'urn:gatehouse:globex:api', name: 'Globex' });
      await expectError(
        gh.request('POST', `/api/v1/applications/${worker.id}/grants`, {
          token: acme.token,
          body: { api_id: globexApi.id, permissions: [] },
        }),
        404,
        'not_found',
      );
      await expectError(
        gh.request('POST', `/api/v1/applications/${worker.id}/grants`, { token: admin, body: { api_id: globexApi.id, permissions: [] } }),
        400,
        'tenant_mismatch',
      );
    });

    it('replaces the permissions with PATCH and removes the grant with DELETE, each audited', async () => {
      const url = `/api/v1/applications/${worker.id}/grants/${invoices.id}`;
      const patched = await gh.request('PATCH', url, { token: acme.token, body: { permissions: ['delete:invoices'] } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(patched.body.permissions, ['delete:invoices']);
      await expectError(gh.request('PATCH', url, { token: acme.token, body: { permissions: ['nope'] } }), 400, 'unknown_permission');
      await expectError(gh.request('PATCH', url, { token: globex.token, body: { permissions: [] } }), 404, 'not_found');
      await expectError(gh.request('DELETE', url, { token: globex.token }), 404, 'not_found');

      assert.equal((await gh.request('DELETE', url, { token: acme.token })).status, 204);
      await expectError(gh.request('DELETE', url, { token: acme.token }), 404, 'not_found');
      await expectError(gh.request('PATCH', url, { token: acme.token, body: { permissions: [] } }), 404, 'not_found');
      for (const action of ['iam.application.grantModified', 'iam.application.grantDeleted']) {
        assert.equal((await gh.auditEvents(acme.token, { action, target: worker.id })).length, 1, action);
      }
    });

    it('drops a permission from grants when the API stops defining it, and the grant when the API is deleted', async () => {
      const api = await gh.created('/api/v1/apis', acme.token, {
        identifier: 'urn:gatehouse:acme:reports',
        name: 'Reports',
        permissions: [{ value: 'read:reports' }, { value: 'export:reports' }],
      });
      const app = await createApp(acme.token, { name: 'Reporter', type: 'm2m' });
      await gh.created(`/api/v1/applications/${app.id}/grants`, acme.token, {
        api_id: api.id,
        permissions: ['read:reports', 'export:reports'],
      });
      const patched = await gh.request('PATCH', `/api/v1/apis/${api.id}`, {
        token: acme.token,
        body: { permissions: [{ value: 'read:reports' }] },
      });
      assert.equal(patched.status, 200);
      const grants = (await gh.request('GET', `/api/v1/applications/${app.id}/grants`, { token: acme.token })).body.grants;
      assert.deepEqual(grants[0].permissions, ['read:reports']);
      assert.equal((await gh.request('DELETE', `/api/v1/apis/${api.id}`, { token: acme.token })).status, 204);
      assert.deepEqual((await gh.request('GET', `/api/v1/applications/${app.id}/grants`, { token: acme.token })).body.grants, []);
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
