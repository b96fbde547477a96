import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { importBody, jsonl } from '../../helpers/transfer.js';
import { a, admin, getUser, gh, usersServer } from './setup.js';

/** JSON of exactly `bytes` bytes: {"k":"xxx…"}. */
const sized = (bytes: number) => ({ k: 'x'.repeat(bytes - '{"k":""}'.length) });

describe('Users API: app_metadata and user_metadata', () => {
  usersServer();

  it('stores both on create, returns them on get, list and update, and a PATCH replaces each object', async () => {
    const created = await gh.created('/api/v1/users', a.token, {
      email: 'meta@users-a.test',
      password: PASSWORD,
      app_metadata: { department: 'sales', roles: ['buyer'] },
      user_metadata: { theme: 'dark' },
    });
    assert.deepEqual(created.app_metadata, { department: 'sales', roles: ['buyer'] });
    assert.deepEqual(created.user_metadata, { theme: 'dark' });
    const read = await gh.request('GET', `/api/v1/users/${created.id}`, { token: a.token });
    assert.deepEqual([read.body.app_metadata, read.body.user_metadata], [{ department: 'sales', roles: ['buyer'] }, { theme: 'dark' }]);
    const listed = await gh.request('GET', `/api/v1/users?email=meta@users-a.test`, { token: a.token });
    assert.deepEqual(listed.body.users[0].app_metadata, { department: 'sales', roles: ['buyer'] });
    const patched = await gh.request('PATCH', `/api/v1/users/${created.id}`, {
      token: a.token,
      body: { app_metadata: { department: 'support' }, user_metadata: { theme: 'light', nested: { a: [1, 2] } } },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.app_metadata, { department: 'support' });
    assert.deepEqual(patched.body.user_metadata, { theme: 'light', nested: { a: [1, 2] } });
    assert.deepEqual((await getUser(created.id)).body.app_metadata, { department: 'support' });
  });

  it('takes 16 KB of JSON in each and refuses one byte more: 400 metadata_too_large, nothing written', async () => {
    const limit = await gh.request('POST', '/api/v1/users', {
      token: admin,
      body: { email: 'full@users.test', password: PASSWORD, app_metadata: sized(16384), user_metadata: sized(16384) },
    });
    assert.equal(limit.status, 201, JSON.stringify(limit.body).slice(0, 200));
    for (const field of ['app_metadata', 'user_metadata']) {
      const over = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: `over-${field}@users.test`, password: PASSWORD, [field]: sized(16385) },
      });
      assert.equal(over.status, 400);
      assert.equal(over.body.error, 'metadata_too_large');
      assert.deepEqual(over.body.details, { field, max_bytes: 16384 });
      const patch = await gh.request('PATCH', `/api/v1/users/${limit.body.id}`, { token: admin, body: { [field]: sized(16385) } });
      assert.equal(patch.status, 400);
      assert.equal(patch.body.error, 'metadata_too_large');
    }
    const absent = await gh.request('GET', '/api/v1/users?email_prefix=over-', { token: admin });
    assert.deepEqual(absent.body.users, []);
    // Multi-byte characters count as their UTF-8 bytes.
    const wide = await gh.request('POST', '/api/v1/users', {
      token: admin,
      body: { email: 'wide@users.test', password: PASSWORD, user_metadata: { k: 'é'.repeat(8200) } },
    });
    assert.equal(wide.body.error, 'metadata_too_large');
  });

  it('refuses what is not an object: an array, a string, null', async () => {
    for (const value of [[1, 2], 'text', null]) {
      const response = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'notobject@users.test', password: PASSWORD, app_metadata: value },
      });
      assert.equal(response.status, 400, JSON.stringify(value));
      assert.equal(response.body.error, 'invalid_type', JSON.stringify(response.body));
    }
  });

  it('lets a user change the own user_metadata within the limit, never app_metadata', async () => {
    await gh.createUser(admin, { email: 'self@users.test', password: PASSWORD, app_metadata: { plan: 'pro' } });
    const session = await gh.signIn('self@users.test', PASSWORD);
    const ok = await gh.request('PATCH', '/api/v1/users/me', { token: session, body: { user_metadata: { lang: 'fr' } } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.user_metadata, { lang: 'fr' });
    const big = await gh.request('PATCH', '/api/v1/users/me', { token: session, body: { user_metadata: sized(16385) } });
    assert.equal(big.body.error, 'metadata_too_large');
    const app = await gh.request('PATCH', '/api/v1/users/me', { token: session, body: { app_metadata: { plan: 'free' } } });
    assert.equal(app.status, 400);
    assert.equal(app.body.error, 'unknown_field');
  });

  it('carries both through an import and an export, refusing an oversized line with metadata_too_large', async () => {
    const result = await importBody(
      gh,
      admin,
      jsonl(
        { email: 'imported@users.test', app_metadata: { tier: 'gold' }, user_metadata: { pets: 2 } },
        { email: 'imported-big@users.test', app_metadata: sized(16385) },
      ),
    );
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(result.body.created, 1);
    assert.deepEqual(
      result.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [[2, 'metadata_too_large']],
    );
    const listed = await gh.request('GET', '/api/v1/users?email=imported@users.test', { token: admin });
    assert.deepEqual(listed.body.users[0].app_metadata, { tier: 'gold' });
    assert.deepEqual(listed.body.users[0].user_metadata, { pets: 2 });
    const exported = await gh.app.inject({
      method: 'GET',
      url: '/api/v1/users/export',
      headers: { authorization: `Bearer ${admin}`, 'x-export-passphrase': 'correct horse battery staple' },
    });
    assert.equal(exported.statusCode, 200);
    const line = exported.body
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text))
      .find((record) => record.email === 'imported@users.test');
    assert.deepEqual([line.app_metadata, line.user_metadata], [{ tier: 'gold' }, { pets: 2 }]);
  });

  it('documents the limit in the OpenAPI document', async () => {
    const doc = (await gh.request('GET', '/api/v1/openapi.json')).body;
    const user = JSON.stringify(doc.components?.schemas?.User ?? doc);
    assert.match(user, /16 KB/);
  });
});
