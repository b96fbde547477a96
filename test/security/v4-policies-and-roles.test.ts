import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { postToken } from '../helpers/token-endpoint.js';

/**
 * Issue 12 (ASVS V4, access control): items 4 and 5, the role-name part of item 12, and two
 * of its "still open" notes (webhooks and the audit trail; API identifiers squatted across
 * tenants). Each test is the attack of a narrow or malicious administrator.
 */
describe('issue 12: policies and least privilege across tenants', () => {
  let gh: TestGatehouse;
  let admin: string;
  let systemTenantId: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  let roleIds: Record<string, string>;
  /** Acme's API, created by its administrator in the tenant's namespace. */
  let invoices: { id: string; identifier: string };
  let counter = 0;

  /** A user of the tenant holding only a role with `permissions` (and, optionally, API permissions): their token for it. */
  async function narrowAdmin(tenant: TenantAdmin, permissions: string[], apiPermissions: string[] = []) {
    const n = ++counter;
    const role = await gh.created('/api/v1/roles', tenant.token, { name: `Narrow ${n}`, permissions });
    if (apiPermissions.length > 0) {
      const added = await gh.request('POST', `/api/v1/roles/${role.id}/api-permissions`, {
        token: tenant.token,
        body: { permissions: apiPermissions.map((value) => ({ api_id: invoices.id, value })) },
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
    }
    const email = `narrow${n}@${tenant.adminEmail.split('@')[1]}`;
    const id = await gh.createUser(tenant.token, { email, password: PASSWORD, roles: [role.id] });
    return { id, roleId: role.id as string, token: await gh.tokenFor(await gh.signIn(email, PASSWORD), tenant.tenantId) };
  }

  /** A role of acme carrying one API permission of acme's API, made by acme's administrator. */
  async function roleCarrying(value: string) {
    const role = await gh.created('/api/v1/roles', acme.token, { name: `Carries ${value} ${++counter}`, permissions: [] });
    const added = await gh.request('POST', `/api/v1/roles/${role.id}/api-permissions`, {
      token: acme.token,
      body: { permissions: [{ api_id: invoices.id, value }] },
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    return role.id as string;
  }

  before(async () => {
    gh = await startGatehouse({ config: { webhookAllowedNetworks: '127.0.0.1/32' } });
    ({ token: admin, systemTenantId } = await gh.systemAdmin());
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    roleIds = await gh.systemRoleIds();
    invoices = await gh.created('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:invoices',
      name: 'Invoices',
      permissions: [{ value: 'read:invoices' }, { value: 'delete:invoices' }],
    });
  });
  after(() => gh.stop());

  describe('item 4: the system tenant’s sign-in policies need iam.tenant.update', () => {
    let systemTenantAdmin: string;

    before(async () => {
      await gh.createUser(admin, {
        email: 'tenant-admin@system.test',
        password: PASSWORD,
        tenant: systemTenantId,
        roles: [roleIds.TENANT_ADMIN],
      });
      systemTenantAdmin = await gh.tokenFor(await gh.signIn('tenant-admin@system.test', PASSWORD), 'system');
    });

    for (const [section, values] of [
      ['mfa', { policy: 'off' }],
      ['lockout', { trusted_networks: ['0.0.0.0/0'] }],
      ['lockout', { account_threshold: 1000, hard_limit: 10_000 }],
      ['password', { min_length: 8 }],
      ['passwordless', { methods: ['email_link'] }],
    ] as const) {
      it(`a TENANT_ADMIN of the system tenant cannot weaken the system administrators’ ${section} policy (${JSON.stringify(values)})`, async () => {
        const response = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
          token: systemTenantAdmin,
          body: { [section]: values },
        });
        assert.equal(response.status, 403, JSON.stringify(response.body));
        assert.equal(response.body.error, 'forbidden');
        const now = await gh.request('GET', `/api/v1/tenants/${systemTenantId}/policies`, { token: admin });
        assert.notDeepEqual(
          Object.fromEntries(Object.keys(values).map((k) => [k, now.body[section][k]])),
          values,
          'the policy did not change',
        );
        // What is not a sign-in policy stays theirs; a system administrator changes this one.
        const other = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
          token: systemTenantAdmin,
          body: { account: { allow_deletion: false } },
        });
        assert.equal(other.status, 200, JSON.stringify(other.body));
        const system = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, {
          token: admin,
          body: { [section]: now.body[section] },
        });
        assert.equal(system.status, 200, JSON.stringify(system.body));
      });
    }
  });

  describe('item 5: API permissions follow “grant only what you hold”', () => {
    it('a role holding only tenant.membership.update cannot assign itself a role that carries an API permission it does not hold', async () => {
      const mallory = await narrowAdmin(acme, ['tenant.membership.update', 'tenant.membership.read']);
      const billing = await roleCarrying('delete:invoices');
      const response = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/members/${mallory.id}`, {
        token: mallory.token,
        body: { roles: [mallory.roleId, billing] },
      });
      assert.equal(response.status, 403, JSON.stringify(response.body));
      assert.equal(response.body.error, 'forbidden');
      assert.deepEqual(response.body.details.api_permissions, [{ api_id: invoices.id, value: 'delete:invoices' }]);
      const member = (await gh.members(acme.token, acme.tenantId)).find((m) => m.user_id === mallory.id);
      assert.deepEqual(
        member?.roles.map((r) => r.id),
        [mallory.roleId],
      );

      // What the caller holds it may grant: a role carrying read:invoices assigns another role carrying it.
      const helpdesk = await narrowAdmin(
        acme,
        ['tenant.membership.update', 'tenant.membership.read', 'tenant.profile.read'],
        ['read:invoices'],
      );
      const reader = await roleCarrying('read:invoices');
      const userId = await gh.createUser(acme.token, { email: `reader${++counter}@acme.test`, password: PASSWORD });
      const granted = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/members/${userId}`, {
        token: helpdesk.token,
        body: { roles: [reader] },
      });
      assert.equal(granted.status, 200, JSON.stringify(granted.body));
    });

    it('a role holding tenant.roles.update cannot add an API permission to its own role', async () => {
      const mallory = await narrowAdmin(acme, ['tenant.roles.update', 'tenant.roles.read']);
      const response = await gh.request('POST', `/api/v1/roles/${mallory.roleId}/api-permissions`, {
        token: mallory.token,
        body: { permissions: [{ api_id: invoices.id, value: 'delete:invoices' }] },
      });
      assert.equal(response.status, 403, JSON.stringify(response.body));
      assert.equal(response.body.error, 'forbidden');
    });

    it('a role holding tenant.applications.write cannot grant its machine client API permissions it does not hold', async () => {
      const mallory = await narrowAdmin(acme, ['tenant.applications.write', 'tenant.applications.read']);
      const worker = await gh.created('/api/v1/applications', mallory.token, { name: 'Worker', type: 'm2m' });
      const response = await gh.request('POST', `/api/v1/applications/${worker.id}/grants`, {
        token: mallory.token,
        body: { api_id: invoices.id, permissions: ['delete:invoices'] },
      });
      assert.equal(response.status, 403, JSON.stringify(response.body));
      assert.equal(response.body.error, 'forbidden');
    });

    it('a role holding tenant.profile.update cannot make sign-up hand out a role above its own', async () => {
      const mallory = await narrowAdmin(acme, ['tenant.profile.update', 'tenant.profile.read']);
      const response = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
        token: mallory.token,
        body: { signup: { enabled: true, default_role: 'TENANT_ADMIN' } },
      });
      assert.equal(response.status, 403, JSON.stringify(response.body));
      const policies = await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token });
      assert.equal(policies.body.signup.enabled, false);
      assert.equal(policies.body.signup.default_role, 'USER');
    });
  });

  describe('an API’s signing and token content need every permission of the API', () => {
    /** A fresh API of acme with RBAC on, and a role that holds one of its two permissions. */
    async function apiAndWriter() {
      const n = ++counter;
      const api = await gh.created('/api/v1/apis', acme.token, {
        identifier: `urn:gatehouse:acme:ledger${n}`,
        name: `Ledger ${n}`,
        rbac: true,
        permissions: [{ value: 'read:ledger' }, { value: 'write:ledger' }],
      });
      const role = await gh.created('/api/v1/roles', acme.token, {
        name: `Ledger writer ${n}`,
        permissions: ['tenant.apis.write', 'tenant.apis.read'],
      });
      const added = await gh.request('POST', `/api/v1/roles/${role.id}/api-permissions`, {
        token: acme.token,
        body: { permissions: [{ api_id: api.id, value: 'read:ledger' }] },
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      const email = `ledger${n}@${acme.adminEmail.split('@')[1]}`;
      await gh.createUser(acme.token, { email, password: PASSWORD, roles: [role.id] });
      return { api, token: await gh.tokenFor(await gh.signIn(email, PASSWORD), acme.tenantId) };
    }

    for (const [what, body] of [
      ['switch to HS256 and take the signing secret', { signing_alg: 'HS256' }],
      ['turn RBAC off', { rbac: false }],
      ['remove a permission it does not hold', { permissions: [{ value: 'read:ledger' }] }],
    ] as const) {
      it(`a role with tenant.apis.write cannot ${what}`, async () => {
        const { api, token } = await apiAndWriter();
        const response = await gh.request('PATCH', `/api/v1/apis/${api.id}`, { token, body });
        assert.equal(response.status, 403, JSON.stringify(response.body));
        assert.equal(response.body.error, 'forbidden');
        assert.equal(response.body.signing_secret, undefined);
        const now = await gh.request('GET', `/api/v1/apis/${api.id}`, { token: acme.token });
        assert.equal(now.body.signing_alg, 'RS256');
        assert.equal(now.body.rbac, true);
        assert.equal(now.body.permissions.length, 2);
        // What changes no token's content stays the writer's.
        const renamed = await gh.request('PATCH', `/api/v1/apis/${api.id}`, { token, body: { name: 'Renamed' } });
        assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      });
    }

    it('a role with tenant.apis.write cannot rotate an HS256 API’s secret, delete the API, or add scopes to an API without RBAC', async () => {
      const { api, token } = await apiAndWriter();
      assert.equal(
        (await gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: acme.token, body: { signing_alg: 'HS256' } })).status,
        200,
      );
      const rotated = await gh.request('POST', `/api/v1/apis/${api.id}/rotate-secret`, { token });
      assert.equal(rotated.status, 403, JSON.stringify(rotated.body));
      assert.equal(rotated.body.signing_secret, undefined);
      const deleted = await gh.request('DELETE', `/api/v1/apis/${api.id}`, { token });
      assert.equal(deleted.status, 403, JSON.stringify(deleted.body));
      assert.equal((await gh.request('PATCH', `/api/v1/apis/${api.id}`, { token: acme.token, body: { rbac: false } })).status, 200);
      const widened = await gh.request('PATCH', `/api/v1/apis/${api.id}`, {
        token,
        body: { permissions: [{ value: 'read:ledger' }, { value: 'write:ledger' }, { value: 'admin:ledger' }] },
      });
      assert.equal(widened.status, 403, JSON.stringify(widened.body));
      // The tenant's administrator (tenant.all) holds them all.
      assert.equal((await gh.request('POST', `/api/v1/apis/${api.id}/rotate-secret`, { token: acme.token })).status, 200);
      assert.equal((await gh.request('DELETE', `/api/v1/apis/${api.id}`, { token: acme.token })).status, 204);
    });
  });

  describe('item 12: role names are compared by their confusable skeleton', () => {
    for (const name of [
      'АDMIN',
      'ADMІN',
      'аdmin',
      'TENANT_АDMIN',
      'ΤENANT_ADMIN',
      'UЅER',
      'ＡＤＭＩＮ',
      'ADMlN',
      'ADMIN\u034f',
      'ADMIN\u2800',
      'USER\u2800',
      'TENANT\u02cdADMIN',
      'TENANT\u2017ADMIN',
      'TENANT\u0332ADMIN',
      'ᴀᴅᴍɪɴ',
      'ADMI\u0307N',
      'TENANT ADMIN',
      'tenant-admin',
      'Tenant.Admin',
    ]) {
      it(`refuses a look-alike of a system role name: ${JSON.stringify(name)}`, async () => {
        const response = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name, permissions: [] } });
        assert.equal(response.status, 403, JSON.stringify(response.body));
        assert.equal(response.body.error, 'restricted_role_name');
      });
    }

    it('refuses renaming a role to a look-alike, and keeps ordinary names', async () => {
      const role = await gh.created('/api/v1/roles', acme.token, { name: 'Billing', permissions: [] });
      const renamed = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { name: 'Аdmin' } });
      assert.equal(renamed.status, 403);
      assert.equal(renamed.body.error, 'restricted_role_name');
      // Invisible characters never pass the schema (decision 24), before any skeleton.
      const zeroWidth = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name: 'ADM\u200dIN' } });
      assert.equal(zeroWidth.status, 400);
      for (const name of ['Administrators', 'Auditor', 'Users', 'Tenant admins']) {
        assert.equal((await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name } })).status, 201, name);
      }
    });
  });

  describe('webhooks carry the audit trail: tenant.webhook.write alone is not enough', () => {
    const hook = { url: 'http://127.0.0.1:9/hook', events: ['*'] };

    it('a role with tenant.webhook.write but not tenant.audit.read cannot send the tenant’s events anywhere', async () => {
      const mallory = await narrowAdmin(acme, ['tenant.webhook.write', 'tenant.webhook.read']);
      const created = await gh.request('POST', '/api/v1/webhooks', { token: mallory.token, body: hook });
      assert.equal(created.status, 403, JSON.stringify(created.body));
      assert.equal(created.body.error, 'forbidden');
      assert.equal(created.body.details.required, 'tenant.audit.read');

      // Nor redirect one made by someone who may read the trail.
      const existing = await gh.created('/api/v1/webhooks', acme.token, hook);
      const redirected = await gh.request('PATCH', `/api/v1/webhooks/${existing.id}`, {
        token: mallory.token,
        body: { url: 'http://127.0.0.1:10/stolen' },
      });
      assert.equal(redirected.status, 403, JSON.stringify(redirected.body));
      const described = await gh.request('PATCH', `/api/v1/webhooks/${existing.id}`, {
        token: mallory.token,
        body: { description: 'CRM sync' },
      });
      assert.equal(described.status, 200, 'a change that sends nothing elsewhere is a webhook writer’s');

      // With tenant.audit.read as well, the same kind of role creates one.
      const auditor = await narrowAdmin(acme, ['tenant.webhook.write', 'tenant.audit.read']);
      assert.equal((await gh.request('POST', '/api/v1/webhooks', { token: auditor.token, body: hook })).status, 201);
    });
  });

  describe('API identifiers cannot be squatted across tenants', () => {
    it('another tenant’s administrator cannot take an identifier outside its own namespace', async () => {
      for (const identifier of [
        'https://api.acme.test',
        'urn:gatehouse:acme:billing',
        'URN:GATEHOUSE:acme:billing',
        'urn:example:invoices',
      ]) {
        const response = await gh.request('POST', '/api/v1/apis', { token: globex.token, body: { identifier, name: 'Squatted' } });
        assert.equal(response.status, 403, `${identifier}: ${response.status} ${JSON.stringify(response.body)}`);
        assert.equal(response.body.error, 'identifier_outside_namespace');
        assert.equal(response.body.details.namespace, 'urn:gatehouse:globex:');
      }
      const own = await gh.request('POST', '/api/v1/apis', {
        token: globex.token,
        body: { identifier: 'urn:gatehouse:globex:billing', name: 'Billing' },
      });
      assert.equal(own.status, 201, JSON.stringify(own.body));

      // Audiences resolve within the client's tenant: globex's client gets no token for acme's API.
      const worker = await gh.created('/api/v1/applications', globex.token, { name: 'Worker', type: 'm2m' });
      const response = await postToken(gh, {
        grant_type: 'client_credentials',
        client_id: worker.client_id,
        client_secret: worker.client_secret,
        audience: invoices.identifier,
      });
      assert.equal(response.statusCode, 400);
      assert.equal(response.json().error, 'invalid_target');
    });

    it('a system administrator gives any other identifier to a tenant, but never one of another tenant’s namespace', async () => {
      const given = await gh.request('POST', '/api/v1/apis', {
        token: admin,
        body: { identifier: 'https://api.acme.test', name: 'Acme API', tenant: acme.tenantId },
      });
      assert.equal(given.status, 201, JSON.stringify(given.body));
      const crossed = await gh.request('POST', '/api/v1/apis', {
        token: admin,
        body: { identifier: 'urn:gatehouse:acme:reports', name: 'Reports', tenant: globex.tenantId },
      });
      assert.equal(crossed.status, 403);
      assert.equal(crossed.body.error, 'identifier_outside_namespace');
    });
  });
});
