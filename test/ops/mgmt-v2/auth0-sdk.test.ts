import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { type Terminator, tlsTerminator } from './tls.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../fixtures/auth0-management/manage.mjs', import.meta.url));

/**
 * Auth0's own Node SDK (`auth0`, ManagementClient) against Gatehouse, changed in nothing but
 * its domain and credentials. The SDK speaks https only, to `https://<domain>/oauth/token` and
 * `https://<domain>/api/v2`: the test runs a TLS terminator with its own CA in front of the
 * in-process server, and the SDK in a child process that trusts that CA by NODE_EXTRA_CA_CERTS
 * (Node's documented way; the SDK's own options are left alone). The issuer is the terminator's
 * address, so the SDK's audience, `https://<domain>/api/v2/`, is the admin API's alias.
 */
describe('Auth0 ManagementClient against /api/v2', () => {
  let gh: TestGatehouse;
  let tls: Terminator & { listen(port: number): void };
  let client: { client_id: string; client_secret: string };
  const apiIdentifier = 'https://invoices.example.com';

  before(async () => {
    tls = await tlsTerminator();
    gh = await startGatehouse({ issuer: `https://localhost:${tls.port}` });
    await gh.app.listen({ port: 0, host: '127.0.0.1' });
    const address = gh.app.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    tls.listen(address.port);
    const admin = await gh.adminToken();
    await gh.created('/api/v1/apis', admin, { identifier: apiIdentifier, name: 'Invoices', permissions: [{ value: 'read:invoices' }] });
    client = await gh.created('/api/v1/applications', admin, { name: 'Terraform', type: 'm2m' });
    const app = await gh.request('GET', `/api/v1/applications?client_id=${client.client_id}`, { token: admin });
    const grant = await gh.request('PUT', `/api/v1/applications/${app.body.applications[0].id}/admin-grant`, {
      token: admin,
      body: {
        permissions: [
          'tenant.all',
          'iam.account.create',
          'iam.account.read',
          'iam.role.create',
          'iam.role.read',
          'iam.role.update',
          'iam.membership.read',
          'iam.membership.update',
          'iam.tenant.create',
          'iam.tenant.read',
          'iam.audit.read',
        ],
      },
    });
    assert.equal(grant.status, 201, JSON.stringify(grant.body));
  });
  after(async () => {
    await gh?.stop();
    await tls?.close();
  });

  test('creates a user, a role with permissions, assigns it, creates an organization, adds a member, imports users and lists logs', async () => {
    const { stdout } = await run(process.execPath, [script], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: tls.caFile,
        AUTH0_DOMAIN: `localhost:${tls.port}`,
        AUTH0_CLIENT_ID: client.client_id,
        AUTH0_CLIENT_SECRET: client.client_secret,
        API_IDENTIFIER: apiIdentifier,
      },
      timeout: 60_000,
    });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(out.user.email, 'sdk.user@example.com');
    assert.deepEqual(out.user.user_metadata, { source: 'sdk' });
    assert.equal(out.role.name, 'Billing admin');
    assert.ok(
      out.userRoles.some((r: any) => r.id === out.role.id),
      JSON.stringify(out.userRoles),
    );
    assert.ok(
      out.permissions.some((p: any) => p.permission_name === 'read:invoices' && p.resource_server_identifier === apiIdentifier),
      JSON.stringify(out.permissions),
    );
    assert.equal(out.organization.name, 'sdk-org');
    assert.equal(out.organization.display_name, 'SDK Org');
    assert.deepEqual(
      out.members.map((m: any) => m.user_id),
      [out.user.user_id],
    );
    assert.deepEqual(
      out.found.map((u: any) => u.user_id),
      [out.user.user_id],
    );
    const types = new Set(out.logs.map((l: any) => l.type));
    assert.ok(types.has('seccft'), `the SDK's token request is logged: ${[...types]}`);
    assert.ok(types.has('sapi'), `the SDK's changes are logged: ${[...types]}`);
    assert.equal(out.job.status, 'completed');
    assert.deepEqual(out.job.summary, { failed: 1, updated: 0, inserted: 1, total: 2 });
    assert.equal(out.jobErrors.length, 1, JSON.stringify(out.jobErrors));
    assert.equal(out.jobErrors[0].user.line, 2);
    assert.equal(out.missing.statusCode, 404);
    assert.equal(out.missing.body.errorCode, 'inexistent_user');

    // What the SDK did is what /api/v1 sees.
    const admin = await gh.adminToken();
    const members = await gh.members(admin, out.organization.id);
    assert.deepEqual(
      members.map((m) => m.user_id),
      [out.user.user_id],
    );
    const audit = await gh.auditEvents(admin, { action: 'iam.user.created', target: out.user.user_id });
    assert.equal(audit[0]?.actor_type, 'client');
    assert.equal(audit[0]?.actor_id, client.client_id);
  });
});
