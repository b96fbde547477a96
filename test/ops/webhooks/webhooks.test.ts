import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { ConfigError, loadConfig } from '../../../src/platform/config.js';
import { startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { type Receiver, startReceiver } from '../../helpers/receiver.js';

/** Issue 6 part 3: the webhook API, its permissions, tenant boundary and URL rules. */
describe('webhooks API', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  let receiver: Receiver;

  before(async () => {
    gh = await startGatehouse({ config: { webhookAllowedNetworks: '127.0.0.1/32' } });
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.stop();
    await gh.stop();
  });

  it('creates a webhook and shows its secret once; reads, lists, updates and deletes it, each audited', async () => {
    const created = await gh.created('/api/v1/webhooks', acme.token, {
      url: receiver.url,
      events: ['iam.user.*'],
      description: 'CRM sync',
    });
    assert.match(created.secret, /^ghwh_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.tenant_id, acme.tenantId);
    assert.deepEqual(created.events, ['iam.user.*']);
    assert.equal(created.active, true);

    const read = await gh.request('GET', `/api/v1/webhooks/${created.id}`, { token: acme.token });
    assert.equal(read.status, 200);
    assert.equal(read.body.secret, undefined, 'the secret is shown at creation only');
    assert.equal(read.body.url, receiver.url);
    const list = await gh.request('GET', '/api/v1/webhooks', { token: acme.token });
    assert.deepEqual(
      list.body.webhooks.map((w: { id: string }) => w.id),
      [created.id],
    );
    assert.ok(!JSON.stringify(list.body).includes(created.secret));

    const patched = await gh.request('PATCH', `/api/v1/webhooks/${created.id}`, {
      token: acme.token,
      body: { events: ['iam.user.created', 'iam.role.*'], active: false },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.events, ['iam.user.created', 'iam.role.*']);
    assert.equal(patched.body.active, false);

    const rotated = await gh.request('POST', `/api/v1/webhooks/${created.id}/rotate-secret`, { token: acme.token });
    assert.equal(rotated.status, 200);
    assert.match(rotated.body.secret, /^ghwh_/);
    assert.notEqual(rotated.body.secret, created.secret);

    const stored = await gh.ctx.db.selectFrom('webhooks').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    assert.ok(!stored.secret_sealed.includes(rotated.body.secret), 'stored sealed, not in plaintext');
    const everything = (await sql<{ row: string }>`select t::text as row from webhooks t`.execute(gh.ctx.db)).rows
      .map((r) => r.row)
      .join('\n');
    const audit = (await sql<{ row: string }>`select t::text as row from audit_events t`.execute(gh.ctx.db)).rows
      .map((r) => r.row)
      .join('\n');
    for (const secret of [created.secret, rotated.body.secret]) {
      assert.ok(!everything.includes(secret), 'no plaintext secret in the webhooks table');
      assert.ok(!audit.includes(secret), 'nor in the audit trail');
      assert.ok(!gh.logs.join('\n').includes(secret), 'nor in the logs');
    }

    assert.equal((await gh.request('DELETE', `/api/v1/webhooks/${created.id}`, { token: acme.token })).status, 204);
    assert.equal((await gh.request('GET', `/api/v1/webhooks/${created.id}`, { token: acme.token })).status, 404);
    const actions = (await gh.auditEvents(acme.token, { target: created.id })).map((e) => e.action).sort();
    assert.deepEqual(actions, ['iam.webhook.created', 'iam.webhook.deleted', 'iam.webhook.modified', 'iam.webhook.secretRotated']);
  });

  it('a tenant administrator sees and changes only the own tenant’s webhooks; other tenants’ and system-wide ones are 404', async () => {
    const mine = await gh.created('/api/v1/webhooks', acme.token, { url: receiver.url, events: ['*'] });
    const theirs = await gh.created('/api/v1/webhooks', globex.token, { url: receiver.url, events: ['*'] });
    const systemWide = await gh.created('/api/v1/webhooks', admin, { url: receiver.url, events: ['iam.tenant.*'] });
    assert.equal(systemWide.tenant_id, null, 'a system administrator’s webhook without tenant is system-wide');

    const listed = (await gh.request('GET', '/api/v1/webhooks?limit=200', { token: acme.token })).body.webhooks.map(
      (w: { id: string }) => w.id,
    );
    assert.ok(listed.includes(mine.id));
    assert.ok(!listed.includes(theirs.id) && !listed.includes(systemWide.id));
    for (const id of [theirs.id, systemWide.id]) {
      assert.equal((await gh.request('GET', `/api/v1/webhooks/${id}`, { token: acme.token })).status, 404);
      assert.equal((await gh.request('PATCH', `/api/v1/webhooks/${id}`, { token: acme.token, body: { active: false } })).status, 404);
      assert.equal((await gh.request('POST', `/api/v1/webhooks/${id}/rotate-secret`, { token: acme.token })).status, 404);
      assert.equal((await gh.request('GET', `/api/v1/webhooks/${id}/deliveries`, { token: acme.token })).status, 404);
      assert.equal((await gh.request('DELETE', `/api/v1/webhooks/${id}`, { token: acme.token })).status, 404);
    }
    const forOther = await gh.request('POST', '/api/v1/webhooks', {
      token: acme.token,
      body: { url: receiver.url, events: ['*'], tenant: globex.tenantId },
    });
    assert.equal(forOther.status, 403);
    assert.equal(forOther.body.error, 'forbidden');
    assert.equal((await gh.request('GET', `/api/v1/webhooks?tenant=${globex.tenantId}`, { token: acme.token })).status, 403);

    const all = (await gh.request('GET', '/api/v1/webhooks?limit=200', { token: admin })).body.webhooks.map((w: { id: string }) => w.id);
    for (const id of [mine.id, theirs.id, systemWide.id]) assert.ok(all.includes(id), 'a system administrator sees every webhook');
    const forGlobex = await gh.created('/api/v1/webhooks', admin, { url: receiver.url, events: ['*'], tenant: globex.tenantId });
    assert.equal(forGlobex.tenant_id, globex.tenantId);
  });

  it('a member without tenant.webhook.* is forbidden; TENANT_ADMIN holds it through tenant.all', async () => {
    const userId = await gh.createUser(acme.token, { email: 'plain@acme.test', password: 'a-long-test-password', tenant: acme.tenantId });
    assert.ok(userId);
    const token = await gh.tokenFor(await gh.signIn('plain@acme.test', 'a-long-test-password'), acme.tenantId);
    const list = await gh.request('GET', '/api/v1/webhooks', { token });
    assert.equal(list.status, 403);
    assert.equal(list.body.details.required, 'tenant.webhook.read');
    const permissions = (await gh.request('GET', '/api/v1/permissions?limit=200', { token: admin })).body.permissions.map(
      (p: { key: string }) => p.key,
    );
    for (const key of ['iam.webhook.read', 'iam.webhook.write', 'tenant.webhook.read', 'tenant.webhook.write'])
      assert.ok(permissions.includes(key), key);
  });

  it('refuses malformed, non-HTTP(S) and credential-carrying URLs (400 invalid_webhook_url) and unknown events (400 unknown_event), writing nothing', async () => {
    const before = await gh.rowCount('webhooks');
    for (const [url, reason] of [
      ['not a url', 'malformed'],
      ['/relative/path', 'malformed'],
      ['ftp://example.com/hook', 'scheme'],
      ['javascript:alert(1)', 'scheme'],
      ['file:///etc/passwd', 'scheme'],
      ['https://user:pass@example.com/hook', 'credentials'],
      ['https://example.com/hook#frag', 'fragment'],
    ] as const) {
      const response = await gh.request('POST', '/api/v1/webhooks', { token: acme.token, body: { url, events: ['*'] } });
      assert.equal(response.status, 400, url);
      assert.equal(response.body.error, 'invalid_webhook_url', url);
      assert.equal(response.body.details.reason, reason, url);
    }
    for (const events of [['iam.usr.*'], ['iam.user.created', 'nope'], ['iam.user.**'], ['*.created']]) {
      const response = await gh.request('POST', '/api/v1/webhooks', { token: acme.token, body: { url: receiver.url, events } });
      assert.equal(response.status, 400, JSON.stringify(events));
      assert.equal(response.body.error, 'unknown_event');
    }
    const empty = await gh.request('POST', '/api/v1/webhooks', { token: acme.token, body: { url: receiver.url, events: [] } });
    assert.equal(empty.status, 400);
    assert.equal(await gh.rowCount('webhooks'), before);
  });

  it('is documented in the OpenAPI document, without the secret outside the create and rotate answers', async () => {
    const doc = (await gh.request('GET', '/api/v1/openapi.json')).body;
    for (const [path, methods] of Object.entries({
      '/api/v1/webhooks': ['get', 'post'],
      '/api/v1/webhooks/{id}': ['get', 'patch', 'delete'],
      '/api/v1/webhooks/{id}/rotate-secret': ['post'],
      '/api/v1/webhooks/{id}/deliveries': ['get'],
      '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver': ['post'],
    })) {
      for (const method of methods) assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
    }
    const read = doc.paths['/api/v1/webhooks/{id}'].get.responses['200'].content['application/json'].schema;
    assert.equal(JSON.stringify(read).includes('secret'), false);
  });
});

describe('webhook destinations (SSRF)', () => {
  let gh: TestGatehouse;
  let admin: string;

  before(async () => {
    gh = await startGatehouse(); // no GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS
    admin = await gh.adminToken();
  });
  after(() => gh.stop());

  const INTERNAL = [
    'http://127.0.0.1/',
    'http://127.1.2.3:8080/hook',
    'http://localhost/', // a DNS name that resolves to 127.0.0.1
    'http://LOCALHOST:9999/',
    'http://[::ffff:127.0.0.1]/', // IPv4-mapped IPv6
    'http://[::ffff:a00:1]/',
    'http://[::1]/',
    'http://[::]/',
    'http://0.0.0.0/',
    'http://2130706433/', // 127.0.0.1 written as a number
    'http://0x7f.1/',
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://192.168.1.1/',
    'http://169.254.169.254/latest/meta-data/', // link-local: cloud metadata
    'http://100.64.0.1/', // CGNAT
    'http://224.0.0.1/', // multicast
    'http://255.255.255.255/',
    'http://[fd00::1]/', // unique-local
    'http://[fe80::1]/', // link-local
    'http://[ff02::1]/', // multicast
    'https://[::127.0.0.1]/',
  ];

  it('refuses internal destinations at creation with 400 webhook_destination_not_allowed', async () => {
    for (const url of INTERNAL) {
      const response = await gh.request('POST', '/api/v1/webhooks', { token: admin, body: { url, events: ['*'] } });
      assert.equal(response.status, 400, url);
      assert.equal(response.body.error, 'webhook_destination_not_allowed', url);
    }
    assert.equal(await gh.rowCount('webhooks'), 0);
  });

  it('refuses them when a webhook is changed too', async () => {
    const hook = await gh.created('/api/v1/webhooks', admin, { url: 'http://93.184.216.34/hook', events: ['*'] });
    const response = await gh.request('PATCH', `/api/v1/webhooks/${hook.id}`, { token: admin, body: { url: 'http://localhost:8080/' } });
    assert.equal(response.status, 400);
    assert.equal(response.body.error, 'webhook_destination_not_allowed');
    assert.equal((await gh.request('GET', `/api/v1/webhooks/${hook.id}`, { token: admin })).body.url, 'http://93.184.216.34/hook');
  });
});

describe('GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS', () => {
  it('takes a comma list of addresses and CIDRs, and names the key when an entry is not one', () => {
    const config = loadConfig({ GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32, 10.20.0.0/16,::1,fd12::/64' });
    assert.deepEqual(config.webhookAllowedNetworks, ['127.0.0.1/32', '10.20.0.0/16', '::1/128', 'fd12::/64']);
    assert.deepEqual(loadConfig({}).webhookAllowedNetworks, []);
    for (const bad of ['localhost', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
      assert.throws(
        () => loadConfig({ GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS: bad }),
        (error: Error) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS/);
          return true;
        },
      );
    }
  });
});
