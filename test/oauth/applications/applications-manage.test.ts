import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientSecretDigest } from '../../../src/platform/crypto/secrets.js';
import { acme, admin, expectError, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';
import { type ApplicationBody, CALLBACK, createApp, storedRow } from './setup.js';

describe('applications API (/api/v1/applications)', () => {
  twoTenantsServer();

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
});
