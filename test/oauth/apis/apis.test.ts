import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unseal } from '../../../src/platform/crypto/secrets.js';
import { ISSUER, walkPages } from '../../helpers/gatehouse.js';
import { acme, admin, expectError, gh, globex, systemTenantId, twoTenantsServer } from '../../helpers/two-tenants.js';

interface ApiBody {
  id: string;
  tenant_id: string;
  identifier: string;
  name: string;
  permissions: { value: string; description: string }[];
  token_lifetime: number;
  signing_alg: string;
  rbac: boolean;
  permissions_in_token: boolean;
  created_at: string;
  updated_at: string;
  signing_secret?: string;
}

describe('APIs (resource servers) API (/api/v1/apis)', () => {
  let counter = 0;

  /** A fresh identifier in a tenant's namespace (decision 197: tenant administrators name APIs there). */
  const identifier = (slug = 'acme') => `urn:gatehouse:${slug}:api${++counter}`;
  const createApi = (token: string, body: Record<string, unknown>) => gh.created<ApiBody>('/api/v1/apis', token, body);
  const storedRow = (id: string) => gh.ctx.db.selectFrom('apis').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  twoTenantsServer();

  describe('POST /api/v1/apis', () => {
    it('creates an API in the own tenant with its permissions and the defaults (RS256, 600 s, no RBAC, no secret)', async () => {
      const api = await createApi(acme.token, {
        identifier: 'urn:gatehouse:acme:invoices',
        name: 'Invoices',
        permissions: [
          { value: 'write:invoices', description: 'Write invoices' },
          { value: 'read:invoices', description: 'Read invoices' },
          { value: 'admin' },
        ],
      });
      assert.equal(api.tenant_id, acme.tenantId);
      assert.equal(api.identifier, 'urn:gatehouse:acme:invoices');
      assert.equal(api.signing_alg, 'RS256');
      assert.equal(api.token_lifetime, 600);
      assert.equal(api.rbac, false);
      assert.equal(api.permissions_in_token, false);
      assert.equal(api.signing_secret, undefined);
      assert.deepEqual(api.permissions.map((p) => [p.value, p.description]).sort(), [
        ['admin', ''],
        ['read:invoices', 'Read invoices'],
        ['write:invoices', 'Write invoices'],
      ]);
      assert.equal((await storedRow(api.id)).signing_secret_sealed, null);
      const read = await gh.request('GET', `/api/v1/apis/${api.id}`, { token: acme.token });
      assert.deepEqual(read.body, api);
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.api.created', target: api.id });
      assert.equal(event?.details.identifier, api.identifier);
    });

    it('accepts ES256, RBAC, permissions in the token, a lifetime and URN identifiers', async () => {
      const api = await createApi(acme.token, {
        identifier: 'urn:gatehouse:acme:ledger',
        name: 'Ledger',
        signing_alg: 'ES256',
        rbac: true,
        permissions_in_token: true,
        token_lifetime: 3600,
      });
      assert.deepEqual([api.signing_alg, api.rbac, api.permissions_in_token, api.token_lifetime], ['ES256', true, true, 3600]);
    });

    it('shows an HS256 secret once: in the create answer, never in GET or the list; stored sealed under the master key', async () => {
      const api = await createApi(acme.token, { identifier: identifier(), name: 'Shared secret', signing_alg: 'HS256' });
      const secret = api.signing_secret!;
      assert.ok(secret && secret.length >= 43, 'at least 256 bits');
      const row = await storedRow(api.id);
      assert.ok(row.signing_secret_sealed && !row.signing_secret_sealed.includes(secret), 'not stored in plaintext');
      assert.equal(unseal(gh.ctx.masterKey, row.signing_secret_sealed, `gatehouse:api-secret:${api.id}`), secret);
      const read = await gh.request('GET', `/api/v1/apis/${api.id}`, { token: acme.token });
      const list = await gh.request('GET', '/api/v1/apis?limit=200', { token: acme.token });
      for (const body of [read.body, list.body]) {
        assert.ok(!JSON.stringify(body).includes(secret));
        assert.ok(!JSON.stringify(body).includes('signing_secret'));
      }
      const events = await gh.auditEvents(acme.token, { target: api.id });
      assert.ok(!JSON.stringify(events).includes(secret), 'not in the audit trail');
      assert.ok(!gh.logs.join('').includes(secret), 'not logged');
    });

    it('lets a system administrator create in any tenant with `tenant`, and in the system tenant without', async () => {
      assert.equal(
        (await createApi(admin, { identifier: identifier('globex'), name: 'X', tenant: globex.tenantId })).tenant_id,
        globex.tenantId,
      );
      assert.equal((await createApi(admin, { identifier: `https://api${++counter}.example.test`, name: 'Y' })).tenant_id, systemTenantId);
      await expectError(
        gh.request('POST', '/api/v1/apis', { token: acme.token, body: { identifier: identifier(), name: 'Z', tenant: globex.tenantId } }),
        403,
        'forbidden',
      );
    });

    for (const reserved of [ISSUER, `${ISSUER}/`, 'HTTP://GATEHOUSE.TEST']) {
      it(`refuses the issuer as identifier: ${reserved} (400 reserved_identifier)`, async () => {
        await expectError(
          gh.request('POST', '/api/v1/apis', { token: admin, body: { identifier: reserved, name: 'Gatehouse' } }),
          400,
          'reserved_identifier',
        );
      });
    }

    for (const bad of ['invoices', 'not a uri', 'https://api.example.test/#x', '/relative', 'https://', 'https:// spaced.test']) {
      it(`refuses the identifier "${bad}" (400 invalid_identifier)`, async () => {
        await expectError(
          gh.request('POST', '/api/v1/apis', { token: acme.token, body: { identifier: bad, name: 'Bad' } }),
          400,
          'invalid_identifier',
        );
      });
    }

    it('keeps identifiers unique in the whole deployment (409 identifier_taken)', async () => {
      const id = identifier();
      await createApi(acme.token, { identifier: id, name: 'First' });
      // Another tenant cannot even try (decision 197); a system administrator gives identifiers once.
      const url = `https://api${++counter}.example.test`;
      await createApi(admin, { identifier: url, name: 'Given', tenant: globex.tenantId });
      const before = await gh.rowCount('apis');
      for (const [taken, tenant] of [
        [id, acme.tenantId],
        [url, acme.tenantId],
      ]) {
        await expectError(
          gh.request('POST', '/api/v1/apis', { token: admin, body: { identifier: taken, name: 'Second', tenant } }),
          409,
          'identifier_taken',
        );
      }
      assert.equal(await gh.rowCount('apis'), before);
    });

    it('answers 400 with stable codes, never 500, for bad permissions and settings', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ permissions: [{ value: 'read invoices' }] }, 'invalid_field'],
        [{ permissions: [{ value: 'x'.repeat(281) }] }, 'invalid_field'],
        [{ permissions: [{ value: '' }] }, 'invalid_field'],
        [{ permissions: [{ value: 'read:a' }, { value: 'read:a', description: 'again' }] }, 'duplicate_permission'],
        [{ permissions: [{ value: 'read:a', scope: 'x' }] }, 'unknown_field'],
        [{ permissions: ['read:a'] }, 'invalid_type'],
        [{ token_lifetime: 59 }, 'invalid_field'],
        [{ token_lifetime: 86401 }, 'invalid_field'],
        [{ token_lifetime: 600.5 }, 'invalid_type'],
        [{ token_lifetime: '600' }, 'invalid_type'],
        [{ signing_alg: 'none' }, 'invalid_field'],
        [{ signing_alg: 'HS512' }, 'invalid_field'],
        [{ rbac: 'true' }, 'invalid_type'],
        [{ signing_secret: 'mine' }, 'unknown_field'],
      ];
      const before = await gh.rowCount('apis');
      const permissionsBefore = await gh.rowCount('api_permissions');
      for (const [extra, code] of cases) {
        const body = await expectError(
          gh.request('POST', '/api/v1/apis', { token: acme.token, body: { identifier: identifier(), name: 'Bad', ...extra } }),
          400,
          code,
        );
        assert.equal(typeof body.message, 'string');
      }
      await expectError(gh.request('POST', '/api/v1/apis', { token: acme.token, body: { name: 'No identifier' } }), 400, 'missing_field');
      assert.equal(await gh.rowCount('apis'), before, 'no row');
      assert.equal(await gh.rowCount('api_permissions'), permissionsBefore);
    });

    it('accepts a permission value of 280 characters', async () => {
      const api = await createApi(acme.token, { identifier: identifier(), name: 'Long', permissions: [{ value: 'x'.repeat(280) }] });
      assert.equal(api.permissions[0]?.value.length, 280);
    });
  });

  describe('listing', () => {
    it('lists the own tenant’s APIs only, pages with a cursor and filters by identifier', async () => {
      const foreign = await createApi(globex.token, { identifier: identifier('globex'), name: 'Globex API' });
      for (let i = 0; i < 3; i++) await createApi(acme.token, { identifier: identifier(), name: `Acme ${i}` });
      const whole = (await gh.request('GET', '/api/v1/apis?limit=200', { token: acme.token })).body.apis as ApiBody[];
      assert.ok(whole.length >= 4);
      assert.ok(whole.every((a) => a.tenant_id === acme.tenantId));
      assert.ok(!whole.some((a) => a.id === foreign.id));
      assert.deepEqual(
        await walkPages(gh, acme.token, '/api/v1/apis', 'apis', 2),
        whole.map((a) => a.id),
      );
      const byIdentifier = await gh.request('GET', `/api/v1/apis?identifier=${encodeURIComponent(whole[0]!.identifier)}`, {
        token: acme.token,
      });
      assert.deepEqual(
        byIdentifier.body.apis.map((a: ApiBody) => a.id),
        [whole[0]!.id],
      );
      const all = (await gh.request('GET', '/api/v1/apis?limit=200', { token: admin })).body.apis as ApiBody[];
      assert.ok(all.some((a) => a.id === foreign.id) && all.some((a) => a.id === whole[0]!.id));
      await expectError(gh.request('GET', `/api/v1/apis?tenant=${globex.tenantId}`, { token: acme.token }), 403, 'forbidden');
    });
  });

  describe('PATCH, rotate-secret, DELETE', () => {
    it('updates settings and replaces the permission list, keeping the identifier (400 unknown_field when named)', async () => {
      const api = await createApi(acme.token, {
        identifier: identifier(),
        name: 'Before',
        permissions: [{ value: 'read:a', description: 'old' }, { value: 'write:a' }],
      });
      const response = await gh.request('PATCH', `/api/v1/apis/${api.id}`, {
        token: acme.token,
        body: {
          name: 'After',
          token_lifetime: 60,
          rbac: true,
          permissions_in_token: true,
          permissions: [
            { value: 'read:a', description: 'new' },
            { value: 'delete:a', description: 'Delete' },
          ],
        },
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const updated = response.body as ApiBody;
      assert.deepEqual([updated.name, updated.token_lifetime, updated.rbac, updated.permissions_in_token], ['After', 60, true, true]);
      assert.deepEqual(updated.permissions.map((p) => [p.value, p.description]).sort(), [
        ['delete:a', 'Delete'],
        ['read:a', 'new'],
      ]);
      assert.equal(updated.identifier, api.identifier);
      assert.equal(updated.signing_secret, undefined);
      await expectError(
        gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: acme.token, body: { identifier: identifier() } }),
        400,
        'unknown_field',
      );
      await expectError(
        gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: acme.token, body: { permissions: [{ value: 'a' }, { value: 'a' }] } }),
        400,
        'duplicate_permission',
      );
      const [event] = await gh.auditEvents(acme.token, { action: 'iam.api.modified', target: api.id });
      assert.deepEqual(event?.details.permissions_removed, ['write:a']);
      assert.deepEqual(event?.details.permissions_added, ['delete:a']);
    });

    it('switching to HS256 answers a new secret once; switching away drops it; rotate-secret replaces it', async () => {
      const api = await createApi(acme.token, { identifier: identifier(), name: 'Switching' });
      const toHs = await gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: acme.token, body: { signing_alg: 'HS256' } });
      assert.equal(toHs.status, 200);
      const first = toHs.body.signing_secret as string;
      assert.ok(first);
      const again = await gh.request('PATCH', `/api/v1/apis/${api.id}`, {
        token: acme.token,
        body: { signing_alg: 'HS256', name: 'Same alg' },
      });
      assert.equal(again.body.signing_secret, undefined, 'staying on HS256 shows nothing');
      const sealed = (await storedRow(api.id)).signing_secret_sealed!;
      assert.equal(unseal(gh.ctx.masterKey, sealed, `gatehouse:api-secret:${api.id}`), first);

      const rotated = await gh.request('POST', `/api/v1/apis/${api.id}/rotate-secret`, { token: acme.token });
      assert.equal(rotated.status, 200);
      assert.ok(rotated.body.signing_secret && rotated.body.signing_secret !== first);
      const resealed = (await storedRow(api.id)).signing_secret_sealed!;
      assert.notEqual(resealed, sealed);
      assert.equal(unseal(gh.ctx.masterKey, resealed, `gatehouse:api-secret:${api.id}`), rotated.body.signing_secret);

      const toRs = await gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: acme.token, body: { signing_alg: 'RS256' } });
      assert.equal(toRs.status, 200);
      assert.equal(toRs.body.signing_secret, undefined);
      assert.equal((await storedRow(api.id)).signing_secret_sealed, null);
      await expectError(gh.request('POST', `/api/v1/apis/${api.id}/rotate-secret`, { token: acme.token }), 400, 'not_hs256');
    });

    it('deletes an API (204, then 404) with its permissions, and records iam.api.deleted', async () => {
      const api = await createApi(acme.token, { identifier: identifier(), name: 'Doomed', permissions: [{ value: 'x:y' }] });
      assert.equal((await gh.request('DELETE', `/api/v1/apis/${api.id}`, { token: acme.token })).status, 204);
      await expectError(gh.request('GET', `/api/v1/apis/${api.id}`, { token: acme.token }), 404, 'not_found');
      const left = await gh.ctx.db.selectFrom('api_permissions').select('value').where('api_id', '=', api.id).execute();
      assert.deepEqual(left, []);
      assert.equal((await gh.auditEvents(acme.token, { action: 'iam.api.deleted', target: api.id })).length, 1);
      // The identifier is free again.
      await createApi(acme.token, { identifier: api.identifier, name: 'Reborn' });
    });
  });

  describe('tenant isolation', () => {
    it('answers 404 to another tenant’s administrator for every route of an API, and changes nothing', async () => {
      const api = await createApi(acme.token, { identifier: identifier(), name: 'Private', signing_alg: 'HS256' });
      const row = await storedRow(api.id);
      const attempts: Array<[string, string, unknown?]> = [
        ['GET', `/api/v1/apis/${api.id}`],
        ['PATCH', `/api/v1/apis/${api.id}`, { name: 'Taken' }],
        ['DELETE', `/api/v1/apis/${api.id}`],
        ['POST', `/api/v1/apis/${api.id}/rotate-secret`],
      ];
      for (const [method, url, body] of attempts) {
        await expectError(gh.request(method as 'GET', url, { token: globex.token, ...(body !== undefined && { body }) }), 404, 'not_found');
      }
      assert.deepEqual(await storedRow(api.id), row);
      assert.equal((await gh.request('GET', `/api/v1/apis/${api.id}`, { token: admin })).status, 200, 'a system administrator reads it');
    });
  });

  describe('OpenAPI document', () => {
    it('documents every API route with request and response schemas, and the secret only where it is shown', async () => {
      const doc = (await gh.request('GET', '/api/v1/openapi.json')).body;
      const routes: Record<string, string[]> = {
        '/api/v1/apis': ['get', 'post'],
        '/api/v1/apis/{id}': ['get', 'patch', 'delete'],
        '/api/v1/apis/{id}/rotate-secret': ['post'],
      };
      for (const [path, methods] of Object.entries(routes)) {
        for (const method of methods) {
          const op = doc.paths[path]?.[method];
          assert.ok(op, `${method} ${path}`);
          assert.ok(op.security.some((s: object) => 'bearerAuth' in s));
          assert.ok(op.responses['4XX'] ?? op.responses['4xx']);
        }
      }
      const create = doc.paths['/api/v1/apis'].post;
      const body = create.requestBody.content['application/json'].schema;
      assert.equal(body.additionalProperties, false);
      assert.deepEqual(body.required.sort(), ['identifier', 'name']);
      assert.deepEqual(body.properties.token_lifetime, {
        minimum: 60,
        maximum: 86400,
        type: 'integer',
        description: body.properties.token_lifetime.description,
      });
      assert.ok(create.responses['201'].content['application/json'].schema.properties.signing_secret);
      const read = doc.paths['/api/v1/apis/{id}'].get.responses['200'].content['application/json'].schema;
      assert.equal(read.properties.signing_secret, undefined);
      assert.equal(doc.paths['/api/v1/apis/{id}'].patch.requestBody.content['application/json'].schema.properties.identifier, undefined);
      assert.doesNotMatch(JSON.stringify(doc), /signing_secret_sealed/);
    });
  });
});
