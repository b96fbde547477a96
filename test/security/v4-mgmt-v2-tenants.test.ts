import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { insertConnection } from '../helpers/connections.js';
import { postToken } from '../helpers/token-endpoint.js';
import { acme, gh, globex, twoTenantsServer } from '../helpers/two-tenants.js';
import { importJob, machineToken, machineWithAdminGrant } from '../ops/mgmt-v2/helpers.js';

/**
 * The tenant boundary through Auth0's Management API v2 (decision 400): /api/v2 is a mapping
 * over /api/v1's domain functions behind the same guard, so a tenant administrator of acme,
 * or acme's machine application granted the admin API, meets another tenant's objects exactly
 * as through /api/v1: 404, as an unknown id.
 */
describe('v4 access control through /api/v2: acme attacks globex', () => {
  twoTenantsServer();
  let machine: { id: string; client_id: string; client_secret: string; token: string };
  const theirs: Record<string, string> = {};

  before(async () => {
    machine = await machineWithAdminGrant(gh, acme.token, ['tenant.all']);
    theirs.user = await gh.createUser(globex.token, { email: 'victim@globex.test', password: 'a-long-test-password-1' });
    theirs.role = (await gh.created('/api/v1/roles', globex.token, { name: 'Globex role', permissions: ['tenant.account.read'] })).id;
    const app = await gh.created('/api/v1/applications', globex.token, { name: 'Globex worker', type: 'm2m' });
    theirs.app = app.id;
    theirs.client = app.client_id;
    theirs.api = (
      await gh.created('/api/v1/apis', globex.token, {
        identifier: 'urn:gatehouse:globex:billing',
        name: 'Billing',
        permissions: [{ value: 'read:bills' }],
      })
    ).id;
    await gh.created(`/api/v1/applications/${app.id}/grants`, globex.token, { api_id: theirs.api, permissions: ['read:bills'] });
    theirs.connection = await insertConnection(gh, {
      name: 'globex-idp',
      strategy: 'oidc',
      tenantId: globex.tenantId,
      options: { issuer: 'https://idp.globex.test' },
    });
    const job = await importJob(gh, globex.token, [{ email: 'imported@globex.test' }]);
    assert.equal(job.status, 201, JSON.stringify(job.body));
    theirs.job = job.body.id;
    const exported = await gh.request('POST', '/api/v2/jobs/users-exports', { token: globex.token, body: {} });
    assert.equal(exported.status, 201, JSON.stringify(exported.body));
    theirs.export = exported.body.id;
    const events = await gh.auditEvents(globex.token, {});
    theirs.event = events[0]!.id;
  });

  const attacks: [string, string, (t: Record<string, string>) => string, ((t: Record<string, string>) => string) | undefined, unknown?][] =
    [
      ['read a user', 'GET', (t) => `/api/v2/users/${t.user}`, (t) => `/api/v1/users/${t.user}`],
      ['change a user', 'PATCH', (t) => `/api/v2/users/${t.user}`, (t) => `/api/v1/users/${t.user}`, { name: 'pwned' }],
      ['block a user', 'PATCH', (t) => `/api/v2/users/auth0|${t.user}`, undefined, { blocked: true }],
      ['delete a user', 'DELETE', (t) => `/api/v2/users/${t.user}`, (t) => `/api/v1/users/${t.user}`],
      ['read a user’s roles', 'GET', (t) => `/api/v2/users/${t.user}/roles`, undefined],
      ['read a user’s organizations', 'GET', (t) => `/api/v2/users/${t.user}/organizations`, undefined],
      ['read a role', 'GET', (t) => `/api/v2/roles/${t.role}`, (t) => `/api/v1/roles/${t.role}`],
      ['change a role', 'PATCH', (t) => `/api/v2/roles/${t.role}`, undefined, { name: 'x' }],
      ['read a role’s users', 'GET', (t) => `/api/v2/roles/${t.role}/users`, undefined],
      ['read an organization', 'GET', () => `/api/v2/organizations/${globex.tenantId}`, () => `/api/v1/tenants/${globex.tenantId}`],
      ['read an organization by name', 'GET', () => '/api/v2/organizations/name/globex', undefined],
      [
        'list an organization’s members',
        'GET',
        () => `/api/v2/organizations/${globex.tenantId}/members`,
        () => `/api/v1/tenants/${globex.tenantId}/members`,
      ],
      [
        'add itself to an organization',
        'POST',
        () => `/api/v2/organizations/${globex.tenantId}/members`,
        undefined,
        () => ({ members: [acme.adminId] }),
      ],
      ['read a member’s roles', 'GET', (t) => `/api/v2/organizations/${globex.tenantId}/members/${t.user}/roles`, undefined],
      [
        'give a member roles',
        'POST',
        (t) => `/api/v2/organizations/${globex.tenantId}/members/${t.user}/roles`,
        undefined,
        () => ({ roles: [theirs.role] }),
      ],
      ['read a client', 'GET', (t) => `/api/v2/clients/${t.client}`, (t) => `/api/v1/applications/${t.app}`],
      ['rotate a client’s secret', 'POST', (t) => `/api/v2/clients/${t.client}/rotate-secret`, undefined],
      ['read a resource server', 'GET', (t) => `/api/v2/resource-servers/${t.api}`, (t) => `/api/v1/apis/${t.api}`],
      [
        'read a resource server by identifier',
        'GET',
        () => `/api/v2/resource-servers/${encodeURIComponent('urn:gatehouse:globex:billing')}`,
        undefined,
      ],
      ['change a client grant', 'PATCH', (t) => `/api/v2/client-grants/${t.app}.${t.api}`, undefined, { scope: [] }],
      ['delete a client grant', 'DELETE', (t) => `/api/v2/client-grants/${t.app}.${t.api}`, undefined],
      ['read a connection', 'GET', (t) => `/api/v2/connections/${t.connection}`, (t) => `/api/v1/connections/${t.connection}`],
      ['read a log event', 'GET', (t) => `/api/v2/logs/${t.event}`, undefined],
      ['read an import job', 'GET', (t) => `/api/v2/jobs/${t.job}`, undefined],
      ['read an import job’s errors', 'GET', (t) => `/api/v2/jobs/${t.job}/errors`, undefined],
      ['read an export job (and its signed link)', 'GET', (t) => `/api/v2/jobs/${t.export}`, undefined],
    ];

  for (const [what, method, v2, v1, lazy] of attacks) {
    test(`cannot ${what} of another tenant (404, as through /api/v1), neither as its administrator nor as its machine application`, async () => {
      const body = typeof lazy === 'function' ? lazy() : lazy;
      for (const token of [acme.token, machine.token]) {
        const response = await gh.request(method, v2(theirs), { token, ...(body !== undefined && { body }) });
        assert.equal(response.status, 404, `${method} ${v2(theirs)}: ${JSON.stringify(response.body)}`);
        assert.equal(response.body.statusCode, 404);
        if (v1) {
          const twin = await gh.request(method, v1(theirs), { token, ...(body !== undefined && { body }) });
          assert.equal(twin.status, 404, `v1 twin ${v1(theirs)}: ${JSON.stringify(twin.body)}`);
        }
      }
      // Nothing changed: globex still sees its own as before.
      const user = await gh.request('GET', `/api/v1/users/${theirs.user}`, { token: globex.token });
      assert.equal(user.status, 200);
      assert.equal(user.body.name, null);
      assert.equal(user.body.status, 'active');
    });
  }

  test('lists show only the own tenant’s records', async () => {
    for (const token of [acme.token, machine.token]) {
      const users = await gh.request('GET', `/api/v2/users?q=${encodeURIComponent('email:"victim@globex.test"')}`, { token });
      assert.deepEqual(users.body, []);
      const orgs = await gh.request('GET', '/api/v2/organizations', { token });
      assert.ok(Array.isArray(orgs.body), JSON.stringify(orgs.body));
      assert.deepEqual(
        orgs.body.map((o: any) => o.id),
        [acme.tenantId],
      );
      const clients = await gh.request('GET', '/api/v2/clients?per_page=100', { token });
      assert.ok(!clients.body.some((c: any) => c.client_id === theirs.client));
      const grants = await gh.request('GET', '/api/v2/client-grants', { token });
      assert.ok(!grants.body.some((g: any) => g.client_id === theirs.client));
      const logs = await gh.request('GET', '/api/v2/logs?per_page=100', { token });
      assert.ok(logs.body.length > 0);
      assert.ok(
        logs.body.every((l: any) => l.organization_id === acme.tenantId),
        JSON.stringify(logs.body.map((l: any) => l.organization_id)),
      );
      const connections = await gh.request('GET', '/api/v2/connections', { token });
      assert.ok(!connections.body.some((c: any) => c.id === theirs.connection));
      const roles = await gh.request('GET', '/api/v2/roles', { token });
      assert.ok(!roles.body.some((r: any) => r.id === theirs.role));
    }
  });

  test('cannot assign another tenant’s role to its own user', async () => {
    const own = await gh.createUser(acme.token, { email: 'own@acme.test', password: 'a-long-test-password-1' });
    for (const token of [acme.token, machine.token]) {
      const response = await gh.request('POST', `/api/v2/users/${own}/roles`, { token, body: { roles: [theirs.role] } });
      assert.ok(response.status >= 400 && response.status < 500, JSON.stringify(response.body));
      const byRole = await gh.request('POST', `/api/v2/roles/${theirs.role}/users`, { token, body: { users: [own] } });
      assert.equal(byRole.status, 404);
    }
    const member = (await gh.members(acme.token, acme.tenantId)).find((m) => m.user_id === own)!;
    assert.deepEqual(
      member.roles.map((r) => r.name),
      ['USER'],
    );
  });

  test('a machine application cannot widen its own grant, nor take over a broader one by rotating its secret, nor be granted restricted permissions by a tenant administrator', async () => {
    const self = await gh.request('PATCH', `/api/v2/client-grants/${machine.id}.admin`, {
      token: machine.token,
      body: { scope: ['tenant.all', 'iam.account.read'] },
    });
    assert.equal(self.status, 403, JSON.stringify(self.body));
    const byAdmin = await gh.request('PUT', `/api/v1/applications/${machine.id}/admin-grant`, {
      token: acme.token,
      body: { permissions: ['all'] },
    });
    assert.equal(byAdmin.status, 403);
    assert.equal(byAdmin.body.error, 'restricted_permission');
    // A narrow machine cannot grant what it does not hold.
    const narrow = await machineWithAdminGrant(gh, acme.token, ['tenant.applications.write', 'tenant.applications.read'], 'Narrow');
    const widen = await gh.request('POST', '/api/v2/client-grants', {
      token: narrow.token,
      body: { client_id: narrow.client_id, audience: `${gh.ctx.config.issuer}/api/v2/`, scope: ['tenant.account.delete'] },
    });
    assert.ok(widen.status === 403 || widen.status === 409, JSON.stringify(widen.body));
    // Nor take over a broader machine by minting its secret.
    const rotated = await gh.request('POST', `/api/v2/clients/${machine.client_id}/rotate-secret`, { token: narrow.token });
    assert.equal(rotated.status, 403, JSON.stringify(rotated.body));
    const rotatedV1 = await gh.request('POST', `/api/v1/applications/${machine.id}/rotate-secret`, { token: narrow.token });
    assert.equal(rotatedV1.status, 403, JSON.stringify(rotatedV1.body));
    assert.equal((await gh.request('GET', '/api/v2/users', { token: machine.token })).status, 200);
    const patched = await gh.request('PATCH', `/api/v2/client-grants/${narrow.id}.admin`, {
      token: narrow.token,
      body: { scope: ['tenant.applications.write', 'tenant.applications.read', 'tenant.account.delete'] },
    });
    assert.equal(patched.status, 403, JSON.stringify(patched.body));
  });

  test('the admin API (and introspection) refuses a machine token at once when its grant is gone, and gives none without a grant', async () => {
    const temp = await machineWithAdminGrant(gh, acme.token, ['tenant.account.read'], 'Temporary');
    assert.equal((await gh.request('GET', '/api/v2/users', { token: temp.token })).status, 200);
    const introspect = () =>
      gh.app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: temp.token, client_id: temp.client_id, client_secret: temp.client_secret }).toString(),
      });
    assert.equal((await introspect()).json().active, true);
    const removed = await gh.request('DELETE', `/api/v1/applications/${temp.id}/admin-grant`, { token: acme.token });
    assert.equal((await introspect()).json().active, false);
    assert.equal(removed.status, 204);
    const after = await gh.request('GET', '/api/v2/users', { token: temp.token });
    assert.equal(after.status, 401);
    assert.equal(after.body.errorCode, 'invalid_token');
    const refused = await postToken(gh, {
      grant_type: 'client_credentials',
      client_id: temp.client_id,
      client_secret: temp.client_secret,
      audience: `${gh.ctx.config.issuer}/api/v2/`,
    });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().error, 'access_denied');
    // Globex's own machine, granted globex's admin API, acts in globex only.
    const theirsMachine = await machineWithAdminGrant(gh, globex.token, ['tenant.account.read'], 'Globex reader');
    const seen = await gh.request('GET', `/api/v2/users/${acme.adminId}`, { token: theirsMachine.token });
    assert.equal(seen.status, 404);
    // A token for the issuer audience works the same as the alias.
    const direct = await machineToken(gh, theirsMachine.client_id, theirsMachine.client_secret, gh.ctx.config.issuer);
    assert.equal((await gh.request('GET', `/api/v2/users/${theirs.user}`, { token: direct })).status, 200);
  });
  test('a narrow administrator cannot take over a broader machine by giving it its own key (private_key_jwt) either', async () => {
    const narrow = await machineWithAdminGrant(gh, acme.token, ['tenant.applications.write', 'tenant.applications.read'], 'Narrow keys');
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'attacker', alg: 'ES256', use: 'sig' };
    for (const [url, body] of [
      [`/api/v1/applications/${machine.id}`, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }],
      [`/api/v1/applications/${machine.id}`, { jwks: { keys: [jwk] } }],
    ] as const) {
      const patched = await gh.request('PATCH', url, { token: narrow.token, body });
      assert.equal(patched.status, 403, `${url} ${JSON.stringify(body)}: ${JSON.stringify(patched.body)}`);
    }
    // Had it passed, this assertion would act as the broader machine.
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'attacker' })
      .setIssuer(machine.client_id)
      .setSubject(machine.client_id)
      .setAudience(gh.ctx.config.issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    const token = await postToken(gh, {
      grant_type: 'client_credentials',
      client_id: machine.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      audience: `${gh.ctx.config.issuer}/api/v2/`,
    });
    assert.notEqual(token.statusCode, 200, token.body);
    // The administrator above it still may.
    const byAcme = await gh.request('PATCH', `/api/v1/applications/${machine.id}`, {
      token: acme.token,
      body: { name: 'Management script' },
    });
    assert.equal(byAcme.status, 200, JSON.stringify(byAcme.body));
  });
  test('a narrow administrator cannot demote or remove a broader machine’s admin grant, nor delete the machine', async () => {
    const broad = await machineWithAdminGrant(gh, acme.token, ['tenant.all'], 'Broad');
    const narrow = await machineWithAdminGrant(gh, acme.token, ['tenant.applications.write', 'tenant.applications.read'], 'Narrow demoter');
    const demoted = await gh.request('PUT', `/api/v1/applications/${broad.id}/admin-grant`, {
      token: narrow.token,
      body: { permissions: ['tenant.applications.read'] },
    });
    assert.equal(demoted.status, 403, JSON.stringify(demoted.body));
    const removed = await gh.request('DELETE', `/api/v1/applications/${broad.id}/admin-grant`, { token: narrow.token });
    assert.equal(removed.status, 403, JSON.stringify(removed.body));
    const deleted = await gh.request('DELETE', `/api/v2/clients/${broad.client_id}`, { token: narrow.token });
    assert.equal(deleted.status, 403, JSON.stringify(deleted.body));
    const deletedV1 = await gh.request('DELETE', `/api/v1/applications/${broad.id}`, { token: narrow.token });
    assert.equal(deletedV1.status, 403, JSON.stringify(deletedV1.body));
    assert.equal((await gh.request('GET', '/api/v2/users', { token: broad.token })).status, 200, 'the broader machine keeps its grant');
    const byAcme = await gh.request('PUT', `/api/v1/applications/${broad.id}/admin-grant`, {
      token: acme.token,
      body: { permissions: ['tenant.applications.read'] },
    });
    assert.equal(byAcme.status, 200, JSON.stringify(byAcme.body));
  });
});
