import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { postToken } from '../../helpers/token-endpoint.js';
import { acme, admin, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';
import { expectAuth0Error, importJob, machineWithAdminGrant } from './helpers.js';

describe('Management API v2: clients, resource servers, client grants, connections, organizations, logs', () => {
  twoTenantsServer();

  test('clients: create (secret once), read (never the secret), update, rotate, delete', async () => {
    const created = await gh.request('POST', '/api/v2/clients', {
      token: acme.token,
      body: { name: 'Worker', app_type: 'non_interactive' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.app_type, 'non_interactive');
    assert.deepEqual(created.body.grant_types, ['client_credentials']);
    assert.match(created.body.client_secret, /^ghcs_/);
    const id = created.body.client_id;
    const read = await gh.request('GET', `/api/v2/clients/${id}`, { token: acme.token });
    assert.equal(read.status, 200);
    assert.equal(read.body.client_secret, undefined);
    const patched = await gh.request('PATCH', `/api/v2/clients/${id}`, { token: acme.token, body: { name: 'Renamed worker' } });
    assert.equal(patched.body.name, 'Renamed worker');
    const rotated = await gh.request('POST', `/api/v2/clients/${id}/rotate-secret`, { token: acme.token });
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.client_secret, created.body.client_secret);
    const old = await postToken(gh, {
      grant_type: 'client_credentials',
      client_id: id,
      client_secret: created.body.client_secret,
      audience: `${gh.ctx.config.issuer}/api/v2/`,
    });
    assert.equal(old.statusCode, 401);
    const spa = await gh.request('POST', '/api/v2/clients', {
      token: acme.token,
      body: { name: 'SPA', app_type: 'spa', callbacks: ['https://app.acme.test/cb'] },
    });
    assert.equal(spa.body.client_secret, undefined);
    assert.equal(spa.body.token_endpoint_auth_method, 'none');
    const list = await gh.request('GET', '/api/v2/clients?app_type=spa', { token: acme.token });
    assert.deepEqual(
      list.body.map((c: any) => c.client_id),
      [spa.body.client_id],
    );
    assert.equal((await gh.request('DELETE', `/api/v2/clients/${id}`, { token: acme.token })).status, 204);
    await expectAuth0Error(gh.request('GET', `/api/v2/clients/${id}`, { token: acme.token }), 404, 'inexistent_client');
  });

  test('resource servers and client grants; the admin API’s grant under {issuer}/api/v2/ gives a working token', async () => {
    const server = await gh.request('POST', '/api/v2/resource-servers', {
      token: acme.token,
      body: {
        name: 'Orders',
        identifier: 'urn:gatehouse:acme:orders',
        scopes: [{ value: 'read:orders', description: 'Read' }],
        enforce_policies: true,
        token_dialect: 'access_token_authz',
      },
    });
    assert.equal(server.status, 201, JSON.stringify(server.body));
    assert.deepEqual(server.body.scopes, [{ value: 'read:orders', description: 'Read' }]);
    assert.equal(server.body.token_dialect, 'access_token_authz');
    const byIdentifier = await gh.request('GET', `/api/v2/resource-servers/${encodeURIComponent('urn:gatehouse:acme:orders')}`, {
      token: acme.token,
    });
    assert.equal(byIdentifier.body.id, server.body.id);
    await expectAuth0Error(
      gh.request('POST', '/api/v2/resource-servers', { token: admin, body: { identifier: `${gh.ctx.config.issuer}/api/v2/` } }),
      400,
      'reserved_identifier',
    );

    const client = await gh.request('POST', '/api/v2/clients', {
      token: acme.token,
      body: { name: 'Orders worker', app_type: 'non_interactive' },
    });
    const grant = await gh.request('POST', '/api/v2/client-grants', {
      token: acme.token,
      body: { client_id: client.body.client_id, audience: 'urn:gatehouse:acme:orders', scope: ['read:orders'] },
    });
    assert.equal(grant.status, 201, JSON.stringify(grant.body));
    const token = await postToken(gh, {
      grant_type: 'client_credentials',
      client_id: client.body.client_id,
      client_secret: client.body.client_secret,
      audience: 'urn:gatehouse:acme:orders',
    });
    assert.equal(token.json().scope, 'read:orders');

    const management = await gh.request('POST', '/api/v2/client-grants', {
      token: acme.token,
      body: { client_id: client.body.client_id, audience: `${gh.ctx.config.issuer}/api/v2/`, scope: ['tenant.account.read'] },
    });
    assert.equal(management.status, 201, JSON.stringify(management.body));
    const again = await gh.request('POST', '/api/v2/client-grants', {
      token: acme.token,
      body: { client_id: client.body.client_id, audience: `${gh.ctx.config.issuer}/api/v2/`, scope: [] },
    });
    await expectAuth0Error(Promise.resolve(again), 409, 'grant_exists');
    const listed = await gh.request('GET', `/api/v2/client-grants?client_id=${client.body.client_id}`, { token: acme.token });
    assert.deepEqual(listed.body.map((g: any) => g.audience).sort(), [`${gh.ctx.config.issuer}/api/v2/`, 'urn:gatehouse:acme:orders']);
    const paged = await gh.request('GET', `/api/v2/client-grants?client_id=${client.body.client_id}&take=1`, { token: acme.token });
    assert.equal(paged.body.client_grants.length, 1);
    assert.equal(paged.body.next, '1');
    const machine = await postToken(gh, {
      grant_type: 'client_credentials',
      client_id: client.body.client_id,
      client_secret: client.body.client_secret,
      audience: `${gh.ctx.config.issuer}/api/v2/`,
    });
    assert.equal(machine.statusCode, 200, machine.body);
    const users = await gh.request('GET', '/api/v2/users', { token: machine.json().access_token });
    assert.equal(users.status, 200);
    await expectAuth0Error(gh.request('GET', '/api/v2/roles', { token: machine.json().access_token }), 403, 'insufficient_scope');
    const widened = await gh.request('PATCH', `/api/v2/client-grants/${management.body.id}`, {
      token: acme.token,
      body: { scope: ['tenant.account.read', 'tenant.roles.read'] },
    });
    assert.deepEqual(widened.body.scope, ['tenant.account.read', 'tenant.roles.read']);
    assert.equal((await gh.request('GET', '/api/v2/roles', { token: machine.json().access_token })).status, 200);
    assert.equal((await gh.request('DELETE', `/api/v2/client-grants/${grant.body.id}`, { token: acme.token })).status, 204);
    assert.equal((await gh.request('DELETE', `/api/v2/resource-servers/${server.body.id}`, { token: acme.token })).status, 204);
  });

  test('connections: create, read (never a secret), update, delete', async () => {
    const created = await gh.request('POST', '/api/v2/connections', {
      token: acme.token,
      body: {
        name: 'acme-oidc',
        strategy: 'oidc',
        options: { issuer: 'https://idp.acme.test', client_id: 'abc', client_secret: 'top-secret-value' },
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.options.client_secret, undefined);
    assert.ok(!JSON.stringify(created.body).includes('top-secret-value'));
    const read = await gh.request('GET', `/api/v2/connections/${created.body.id}`, { token: acme.token });
    assert.equal(read.body.name, 'acme-oidc');
    const patched = await gh.request('PATCH', `/api/v2/connections/${created.body.id}`, {
      token: acme.token,
      body: { display_name: 'ACME SSO' },
    });
    assert.equal(patched.body.display_name, 'ACME SSO');
    const listed = await gh.request('GET', '/api/v2/connections?strategy=oidc&take=10', { token: acme.token });
    assert.deepEqual(
      listed.body.connections.map((c: any) => c.name),
      ['acme-oidc'],
    );
    assert.equal((await gh.request('DELETE', `/api/v2/connections/${created.body.id}`, { token: acme.token })).status, 202);
    await expectAuth0Error(
      gh.request('GET', `/api/v2/connections/${created.body.id}`, { token: acme.token }),
      404,
      'inexistent_connection',
    );
  });

  test('organizations: a system administrator creates one, adds a member with roles; a tenant administrator may not create one', async () => {
    await expectAuth0Error(
      gh.request('POST', '/api/v2/organizations', { token: acme.token, body: { name: 'nope' } }),
      403,
      'insufficient_scope',
    );
    const org = await gh.request('POST', '/api/v2/organizations', { token: admin, body: { name: 'initech', display_name: 'Initech' } });
    assert.equal(org.status, 201, JSON.stringify(org.body));
    assert.deepEqual({ name: org.body.name, display_name: org.body.display_name }, { name: 'initech', display_name: 'Initech' });
    const byName = await gh.request('GET', '/api/v2/organizations/name/initech', { token: admin });
    assert.equal(byName.body.id, org.body.id);
    const add = await gh.request('POST', `/api/v2/organizations/${org.body.id}/members`, {
      token: admin,
      body: { members: [acme.adminId] },
    });
    assert.equal(add.status, 204, JSON.stringify(add.body));
    const role = await gh.request('POST', '/api/v2/roles', { token: admin, body: { name: 'Auditor' } });
    const assign = await gh.request('POST', `/api/v2/organizations/${org.body.id}/members/${acme.adminId}/roles`, {
      token: admin,
      body: { roles: [role.body.id] },
    });
    assert.equal(assign.status, 204, JSON.stringify(assign.body));
    const roles = await gh.request('GET', `/api/v2/organizations/${org.body.id}/members/${acme.adminId}/roles`, { token: admin });
    assert.deepEqual(roles.body.map((r: any) => r.name).sort(), ['Auditor', 'USER']);
    const members = await gh.request('GET', `/api/v2/organizations/${org.body.id}/members?include_totals=true`, { token: admin });
    assert.equal(members.body.total, 1);
    assert.equal(members.body.members[0].user_id, acme.adminId);
    const renamed = await gh.request('PATCH', `/api/v2/organizations/${org.body.id}`, {
      token: admin,
      body: { display_name: 'Initech Corp' },
    });
    assert.equal(renamed.body.display_name, 'Initech Corp');
    const removed = await gh.request('DELETE', `/api/v2/organizations/${org.body.id}/members`, {
      token: admin,
      body: { members: [acme.adminId] },
    });
    assert.equal(removed.status, 204);
    assert.equal((await gh.request('DELETE', `/api/v2/organizations/${org.body.id}`, { token: admin })).status, 204);
  });

  test('logs: Auth0 type codes, one event by id, the q it supports, pagination', async () => {
    const machine = await machineWithAdminGrant(gh, acme.token, ['tenant.audit.read'], 'Log reader');
    const logs = await gh.request('GET', '/api/v2/logs?per_page=100&include_totals=true', { token: machine.token });
    assert.equal(logs.status, 200, JSON.stringify(logs.body));
    const types = new Set(logs.body.logs.map((l: any) => l.type));
    assert.ok(types.has('seccft'), [...types].join());
    assert.ok(types.has('sapi'), [...types].join());
    const one = logs.body.logs[0];
    const read = await gh.request('GET', `/api/v2/logs/${one.log_id}`, { token: machine.token });
    assert.deepEqual(read.body, one);
    const byUser = await gh.request('GET', `/api/v2/logs?q=${encodeURIComponent(`user_id:"${acme.adminId}"`)}`, { token: machine.token });
    assert.ok(byUser.body.length > 0 && byUser.body.every((l: any) => l.user_id === acme.adminId));
    await expectAuth0Error(gh.request('GET', `/api/v2/logs?q=${encodeURIComponent('type:s')}`, { token: machine.token }), 400);
    const first = await gh.request('GET', '/api/v2/logs?take=2', { token: machine.token });
    assert.equal(first.body.logs.length, 2);
    const next = await gh.request('GET', `/api/v2/logs?take=2&from=${first.body.next}`, { token: machine.token });
    assert.notEqual(next.body.logs[0].log_id, first.body.logs[1].log_id);
    assert.ok(next.body.logs[0].date <= first.body.logs[1].date);
  });

  test('jobs: a users import in the tenant, its counts and errors; upsert must be true', async () => {
    const job = await importJob(
      gh,
      acme.token,
      [{ email: 'one@acme.test', name: 'One' }, { email: 'two@acme.test' }, { name: 'no email' }],
      {
        upsert: 'true',
        connection_id: 'con_legacy',
        external_id: 'batch-1',
      },
    );
    assert.equal(job.status, 201, JSON.stringify(job.body));
    assert.deepEqual(
      {
        type: job.body.type,
        status: job.body.status,
        connection_id: job.body.connection_id,
        external_id: job.body.external_id,
        summary: job.body.summary,
      },
      {
        type: 'users_import',
        status: 'completed',
        connection_id: 'con_legacy',
        external_id: 'batch-1',
        summary: { failed: 1, updated: 0, inserted: 2, total: 3 },
      },
    );
    const read = await gh.request('GET', `/api/v2/jobs/${job.body.id}`, { token: acme.token });
    assert.deepEqual(read.body.summary, job.body.summary);
    const errors = await gh.request('GET', `/api/v2/jobs/${job.body.id}/errors`, { token: acme.token });
    assert.equal(errors.body.length, 1);
    assert.equal(errors.body[0].user.line, 3);
    const found = await gh.request('GET', `/api/v2/users?q=${encodeURIComponent('email:"one@acme.test"')}`, { token: acme.token });
    assert.equal(found.body[0].name, 'One');
    await expectAuth0Error(importJob(gh, acme.token, [], { upsert: 'false' }), 400);
    await expectAuth0Error(gh.request('GET', `/api/v2/jobs/${acme.tenantId}`, { token: acme.token }), 404, 'inexistent_job');
  });

  test('jobs: a users export of the tenant’s users, by a signed link to a gzipped file', async () => {
    await gh.createUser(acme.token, { email: 'export@acme.test', password: 'a-long-test-password-1', name: '=HYPERLINK("x")' });
    const job = await gh.request('POST', '/api/v2/jobs/users-exports', {
      token: acme.token,
      body: { format: 'json', fields: [{ name: 'email' }, { name: 'user_id', export_as: 'id' }, { name: 'app_metadata' }] },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    assert.equal(job.body.type, 'users_export');
    const read = await gh.request('GET', `/api/v2/jobs/${job.body.id}`, { token: acme.token });
    const location = new URL(read.body.location);
    assert.equal(location.origin, new URL(gh.ctx.config.issuer).origin);
    const file = await gh.app.inject({ method: 'GET', url: `${location.pathname}${location.search}` });
    assert.equal(file.statusCode, 200, file.body);
    assert.equal(file.headers['content-type'], 'application/gzip');
    const lines = gunzipSync(file.rawPayload)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(lines.some((l) => l.email === 'export@acme.test' && typeof l.id === 'string'));
    assert.ok(lines.every((l) => Object.keys(l).sort().join() === 'app_metadata,email,id'));
    assert.ok(!lines.some((l) => l.email === globex.adminEmail));
    const members = await gh.members(acme.token, acme.tenantId);
    assert.equal(lines.length, members.length);

    const csv = await gh.request('POST', '/api/v2/jobs/users-exports', {
      token: acme.token,
      body: { format: 'csv', fields: [{ name: 'email' }, { name: 'name' }] },
    });
    const csvLocation = new URL(csv.body.location);
    const csvFile = await gh.app.inject({ method: 'GET', url: `${csvLocation.pathname}${csvLocation.search}` });
    const text = gunzipSync(csvFile.rawPayload).toString('utf8');
    assert.ok(text.startsWith('email,name\n'));
    assert.ok(text.includes(`export@acme.test,"'=HYPERLINK(""x"")"`), text);

    const tampered = `${location.pathname}?expires=${location.searchParams.get('expires')}&signature=${'A'.repeat(22)}`;
    await expectAuth0Error(gh.request('GET', tampered), 401, 'invalid_token');
    const otherJob = `${location.pathname.replace(job.body.id, csv.body.id)}${location.search}`;
    await expectAuth0Error(gh.request('GET', otherJob), 401, 'invalid_token');
    await expectAuth0Error(
      gh.request('POST', '/api/v2/jobs/users-exports', { token: acme.token, body: { fields: [{ name: 'password_hash' }] } }),
      400,
    );
  });

  test('the OpenAPI document lists the /api/v2 routes with Auth0’s error schema', async () => {
    const { body: doc } = await gh.request('GET', '/api/v1/openapi.json');
    for (const path of [
      '/api/v2/users',
      '/api/v2/users/{id}/roles',
      '/api/v2/roles/{id}/permissions',
      '/api/v2/organizations/{id}/members',
      '/api/v2/logs',
      '/api/v2/clients',
      '/api/v2/resource-servers',
      '/api/v2/client-grants',
      '/api/v2/connections',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
      const get = doc.paths[path].get ?? doc.paths[path].post;
      const error = get.responses['4XX'] ?? get.responses['4xx'];
      assert.deepEqual(Object.keys(error.content['application/json'].schema.properties).sort(), [
        'error',
        'errorCode',
        'message',
        'statusCode',
      ]);
      assert.ok(get.security.some((s: Record<string, unknown>) => 'bearerAuth' in s));
    }
  });
});
