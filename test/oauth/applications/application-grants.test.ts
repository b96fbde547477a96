import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { acme, admin, expectError, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';
import { type ApplicationBody, CALLBACK, createApp } from './setup.js';

describe('applications API (/api/v1/applications)', () => {
  twoTenantsServer();

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
});
