import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  ISSUER,
  PASSWORD,
  startGatehouse,
  type TenantAdmin,
  type TestGatehouse,
} from './helpers/gatehouse.js';

/**
 * Regression tests for the findings of the security review of issue 2: each names the
 * attack it keeps out.
 */
describe('hardening (security review of issue 2)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let roles: Record<string, string>;
  let systemTenantId: string;
  let acme: TenantAdmin;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    roles = await gh.systemRoleIds();
    systemTenantId = (await gh.request('GET', '/api/v1/organizations', { token: await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD) })).body
      .organizations[0].id;
    acme = await gh.tenantWithAdmin('acme');
  });
  after(() => gh.stop());

  /** A user in the system tenant holding TENANT_ADMIN there (not ADMIN), with a token for it; made once. */
  let helpdesk: Promise<{ id: string; token: string }> | undefined;
  const systemHelpdesk = () => {
    helpdesk ??= (async () => {
      const id = await gh.createUser(admin, {
        email: 'helpdesk@system.test',
        password: PASSWORD,
        tenant: systemTenantId,
        roles: [roles.TENANT_ADMIN],
      });
      return { id, token: await gh.tokenFor(await gh.signIn('helpdesk@system.test', PASSWORD), 'system') };
    })();
    return helpdesk;
  };

  describe('system administrators are out of every tenant administrator’s reach', () => {
    it('a TENANT_ADMIN of the system tenant cannot reset, disable or delete a system administrator', async () => {
      const helpdesk = await systemHelpdesk();
      const adminId = (await gh.request('GET', '/api/v1/session', { token: await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD) })).body.id;
      for (const body of [{ password: 'attacker-chosen-password' }, { status: 'disabled' }, { email: 'attacker@evil.test' }]) {
        const response = await gh.request('PATCH', `/api/v1/users/${adminId}`, { token: helpdesk.token, body });
        assert.equal(response.status, 403, JSON.stringify(body));
        assert.equal(response.body.error, 'forbidden');
      }
      assert.equal((await gh.request('DELETE', `/api/v1/users/${adminId}`, { token: helpdesk.token })).status, 403);
      assert.ok(await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD), 'the administrator’s password still works');
    });

    it('adding a plain user to the system tenant does not take the account from its home tenant’s administrator', async () => {
      const helpdesk = await systemHelpdesk();
      const carol = await gh.createUser(acme.token, { email: 'carol@acme.test', password: PASSWORD });
      const added = await gh.request('POST', `/api/v1/tenants/${systemTenantId}/members`, {
        token: helpdesk.token,
        body: { userId: carol },
      });
      assert.equal(added.status, 201);
      const disabled = await gh.request('PATCH', `/api/v1/users/${carol}`, { token: acme.token, body: { status: 'disabled' } });
      assert.equal(disabled.status, 200);
    });
  });

  describe('least privilege inside a tenant: nobody grants what they do not hold', () => {
    it('a member who may only update memberships cannot make itself TENANT_ADMIN, nor grant tenant.account.update', async () => {
      const role = await gh.created('/api/v1/roles', acme.token, { name: 'membership-clerk', permissions: ['tenant.membership.update'] });
      const clerkId = await gh.createUser(acme.token, { email: 'clerk@acme.test', password: PASSWORD, roles: [role.id] });
      const clerk = await gh.tokenFor(await gh.signIn('clerk@acme.test', PASSWORD), acme.tenantId);
      const member = `/api/v1/tenants/${acme.tenantId}/members/${clerkId}`;
      const promote = await gh.request('PATCH', member, { token: clerk, body: { roles: [roles.TENANT_ADMIN] } });
      assert.equal(promote.status, 403);
      assert.equal(promote.body.error, 'forbidden');
      const grant = await gh.request('PATCH', member, { token: clerk, body: { permissions: ['tenant.account.update'] } });
      assert.equal(grant.status, 403);
      const own = await gh.request('PATCH', member, { token: clerk, body: { permissions: ['tenant.membership.update'] } });
      assert.equal(own.status, 200, 'granting what one holds is fine');
    });

    it('a member who may create roles cannot create one with permissions it lacks', async () => {
      const role = await gh.created('/api/v1/roles', acme.token, { name: 'role-maker', permissions: ['tenant.roles.create'] });
      await gh.createUser(acme.token, { email: 'maker@acme.test', password: PASSWORD, roles: [role.id] });
      const maker = await gh.tokenFor(await gh.signIn('maker@acme.test', PASSWORD), acme.tenantId);
      const response = await gh.request('POST', '/api/v1/roles', {
        token: maker,
        body: { name: 'escalated', permissions: ['tenant.all'] },
      });
      assert.equal(response.status, 403);
      assert.deepEqual(response.body.details.permissions, ['tenant.all']);
    });
  });

  describe('input PostgreSQL would reject is a 400, never a 500', () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['NUL in a sign-in name', '/api/v1/session', { username: 'a\u0000b', password: 'x' }],
      ['NUL in a role name', '/api/v1/roles', { name: 'a\u0000b' }],
      ['lone surrogate in metadata', '/api/v1/users', { email: 'lone@acme.test', user_metadata: { x: '\ud800' } }],
      ['NUL in a metadata key', '/api/v1/users', { email: 'key@acme.test', user_metadata: { 'a\u0000': 1 } }],
      [
        'a urn:uuid: id',
        '/api/v1/users',
        { email: 'urn@acme.test', roles: [`urn:uuid:${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}`] },
      ],
    ];
    for (const [what, url, body] of cases) {
      it(`${what} → 400`, async () => {
        const response = await gh.request('POST', url, { token: url === '/api/v1/session' ? undefined : admin, body });
        assert.equal(response.status, 400, JSON.stringify(response.body));
      });
    }

    it('metadata nested deeper than 16 levels → 400 (and 10,000 levels does not crash the server)', async () => {
      const deep = `${'{"d":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
      const body = `{"email":"deep@acme.test","user_metadata":${deep}}`;
      const response = await gh.request('POST', '/api/v1/users', { token: admin, body });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'invalid_field');
    });

    it('NUL in a query string, a urn:uuid: path id and impossible dates → 400', async () => {
      for (const url of [
        '/api/v1/users?q=%00',
        `/api/v1/users/urn:uuid:${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}`,
        '/api/v1/audit-events?from=2024-12-31T23:59:60Z',
        '/api/v1/audit-events?from=0000-01-01T00:00:00Z',
        '/api/v1/audit-events?to=9999-12-31T23:59:59-23:59',
      ]) {
        const response = await gh.request('GET', url, { token: admin });
        assert.equal(response.status, 400, url);
      }
    });

    it('a correctly signed token whose sid is not an id → 401 invalid_token', async () => {
      const key = await gh.ctx.keys.current();
      const forged = await new SignJWT({ sid: 'x', org_id: systemTenantId, client_id: 'gatehouse' })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
        .setSubject(systemTenantId)
        .setIssuer(ISSUER)
        .setAudience(ISSUER)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key.privateKey);
      const response = await gh.request('GET', '/api/v1/tenants', { token: forged });
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'invalid_token');
    });
  });

  describe('names that could be mistaken for system ones', () => {
    it('refuses custom permission keys that are system keys in another letter case, and wildcards', async () => {
      for (const key of ['ALL', 'Tenant.all', 'IAM.tenant.create', 'iam', 'tenant']) {
        const response = await gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key } });
        assert.equal(response.status, 400, key);
        assert.equal(response.body.error, 'reserved_permission', key);
      }
      const wildcard = await gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key: 'read:*' } });
      assert.equal(wildcard.status, 400);
    });

    it('refuses role names with invisible characters, and a tenant role named like a global one in another case', async () => {
      const invisible = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name: 'ADMIN\u200b' } });
      assert.equal(invisible.status, 400);
      await gh.created('/api/v1/roles', admin, { name: 'AUDITOR' });
      const shadow = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name: 'auditor' } });
      assert.equal(shadow.status, 409);
      assert.equal(shadow.body.error, 'role_name_taken');
    });
  });

  describe('profile data', () => {
    it('a changed email is unverified until verified again', async () => {
      const id = await gh.createUser(admin, { email: 'verified@acme.test', password: PASSWORD, email_verified: true });
      const changed = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { email: 'moved@acme.test' } });
      assert.equal(changed.body.email_verified, false);
      const vouched = await gh.request('PATCH', `/api/v1/users/${id}`, {
        token: admin,
        body: { email: 'again@acme.test', email_verified: true },
      });
      assert.equal(vouched.body.email_verified, true, 'unless the administrator says it is verified');
    });

    it('a picture must be an https URL (no javascript: or data: URIs for pages that render it)', async () => {
      const session = await gh.signIn(acme.adminEmail, PASSWORD);
      for (const picture of ['javascript:alert(document.cookie)', 'data:image/png;base64,AAAA', 'http://example.test/p.png']) {
        const response = await gh.request('PATCH', '/api/v1/users/me', { token: session, body: { picture } });
        assert.equal(response.status, 400, picture);
      }
    });
  });

  describe('concurrent changes', () => {
    it('concurrent role replacements of one membership end in one of the requested states, never a mix or a 500', async () => {
      const r1 = await gh.created('/api/v1/roles', acme.token, { name: 'one' });
      const r2 = await gh.created('/api/v1/roles', acme.token, { name: 'two' });
      const userId = await gh.createUser(acme.token, { email: 'raced@acme.test', password: PASSWORD });
      const url = `/api/v1/tenants/${acme.tenantId}/members/${userId}`;
      const responses = await Promise.all(
        [r1.id, r2.id, r1.id, r2.id].map((role) => gh.request('PATCH', url, { token: acme.token, body: { roles: [role] } })),
      );
      for (const response of responses) assert.equal(response.status, 200, JSON.stringify(response.body));
      const final = await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/members?limit=200`, { token: acme.token });
      const member = final.body.members.find((m: { user_id: string }) => m.user_id === userId);
      assert.equal(member.roles.length, 1, JSON.stringify(member.roles));
    });

    it('a global and a tenant permission with the same key created at once: one wins, the other is 409', async () => {
      const [global, tenant] = await Promise.all([
        gh.request('POST', '/api/v1/permission', { token: admin, body: { key: 'race:key' } }),
        gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key: 'race:key' } }),
      ]);
      assert.deepEqual([global.status, tenant.status].sort(), [201, 409]);
    });
  });
});
