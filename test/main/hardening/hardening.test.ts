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
} from '../../helpers/gatehouse.js';

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
    ({ token: admin, systemTenantId } = await gh.systemAdmin());
    roles = await gh.systemRoleIds();
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

    it('a TENANT_ADMIN of the system tenant cannot add another tenant’s user there by id, so the home tenant’s administrator keeps the account', async () => {
      const helpdesk = await systemHelpdesk();
      const carol = await gh.createUser(acme.token, { email: 'carol@acme.test', password: PASSWORD });
      // Decision 183: direct membership in tenant scope only for users homed in the tenant (issue 12, item 6).
      const added = await gh.request('POST', `/api/v1/tenants/${systemTenantId}/members`, {
        token: helpdesk.token,
        body: { userId: carol },
      });
      assert.equal(added.status, 404);
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

  describe('least privilege, the other way: nobody manages someone who holds more (second review)', () => {
    it('a helpdesk role that may update accounts resets a member’s password (it holds all a member holds), but not the tenant administrator’s', async () => {
      const role = await gh.created('/api/v1/roles', acme.token, {
        name: 'helpdesk',
        permissions: ['tenant.profile.read', 'tenant.account.read', 'tenant.account.update', 'tenant.account.delete'],
      });
      await gh.createUser(acme.token, { email: 'desk@acme.test', password: PASSWORD, roles: [role.id] });
      const desk = await gh.tokenFor(await gh.signIn('desk@acme.test', PASSWORD), acme.tenantId);
      const member = await gh.createUser(acme.token, { email: 'plain@acme.test', password: PASSWORD });
      assert.equal(
        (await gh.request('PATCH', `/api/v1/users/${member}`, { token: desk, body: { password: 'a-reset-password' } })).status,
        200,
      );
      const takeover = await gh.request('PATCH', `/api/v1/users/${acme.adminId}`, { token: desk, body: { password: 'attacker-password' } });
      assert.equal(takeover.status, 403);
      assert.equal(takeover.body.error, 'forbidden');
      assert.equal((await gh.request('DELETE', `/api/v1/users/${acme.adminId}`, { token: desk })).status, 403);
      assert.ok(await gh.signIn(acme.adminEmail, PASSWORD), 'the administrator’s password is unchanged');
    });

    it('a clerk who may update memberships cannot strip the tenant administrator’s roles or remove it', async () => {
      const role = await gh.created('/api/v1/roles', acme.token, {
        name: 'clerk',
        permissions: ['tenant.membership.update', 'tenant.membership.delete'],
      });
      await gh.createUser(acme.token, { email: 'clerk2@acme.test', password: PASSWORD, roles: [role.id] });
      const clerk = await gh.tokenFor(await gh.signIn('clerk2@acme.test', PASSWORD), acme.tenantId);
      const url = `/api/v1/tenants/${acme.tenantId}/members/${acme.adminId}`;
      assert.equal((await gh.request('PATCH', url, { token: clerk, body: { roles: [] } })).status, 403);
      assert.equal((await gh.request('DELETE', url, { token: clerk })).status, 403);
    });

    it('in the system tenant, a narrow iam.* role cannot make itself ADMIN nor reset an ADMIN’s password', async () => {
      const role = await gh.created('/api/v1/roles', admin, {
        name: 'operator',
        permissions: ['iam.membership.update', 'iam.account.update', 'iam.account.read'],
      });
      const operatorId = await gh.createUser(admin, {
        email: 'operator@system.test',
        password: PASSWORD,
        tenant: systemTenantId,
        roles: [role.id],
      });
      const operator = await gh.tokenFor(await gh.signIn('operator@system.test', PASSWORD), 'system');
      const promote = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/members/${operatorId}`, {
        token: operator,
        body: { roles: [roles.ADMIN] },
      });
      assert.equal(promote.status, 403);
      assert.equal(promote.body.error, 'forbidden');
      const adminId = (await gh.request('GET', '/api/v1/session', { token: await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD) })).body.id;
      const reset = await gh.request('PATCH', `/api/v1/users/${adminId}`, { token: operator, body: { password: 'attacker-password' } });
      assert.equal(reset.status, 403);
      const plain = await gh.createUser(admin, { email: 'plain@other.test', password: PASSWORD });
      assert.equal((await gh.request('PATCH', `/api/v1/users/${plain}`, { token: operator, body: { name: 'Fine' } })).status, 200);
    });
  });

  describe('second review: small correctness gaps', () => {
    it('signs in with a username whose case folding differs between JavaScript and PostgreSQL (İlker)', async () => {
      await gh.createUser(admin, { email: 'ilker@acme.test', username: 'İlker', password: PASSWORD });
      const response = await gh.request('POST', '/api/v1/session', { body: { username: 'İlker', password: PASSWORD } });
      assert.equal(response.status, 200);
    });

    it('refuses upper-case ids (ids are compared as written): 400 invalid_id', async () => {
      const response = await gh.request('GET', `/api/v1/tenants/${acme.tenantId.toUpperCase()}/members`, { token: acme.token });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'invalid_id');
    });

    it('refuses roles for a user created without a tenant (400 missing_field tenant), writing nothing', async () => {
      const before = await gh.rowCount('users');
      const response = await gh.request('POST', '/api/v1/users', {
        token: admin,
        body: { email: 'roleless@acme.test', roles: [roles.USER] },
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'missing_field');
      assert.equal(response.body.details.field, 'tenant');
      assert.equal(await gh.rowCount('users'), before);
    });

    it('records iam.key.created for each first signing key (current and next, RS256 and ES256)', async () => {
      const events = await gh.auditEvents(admin, { action: 'iam.key.created' });
      assert.equal(events.length, 4);
      const kids = events.map((e) => e.target_id);
      assert.ok(kids.includes((await gh.ctx.keys.current('RS256')).kid));
      assert.ok(kids.includes((await gh.ctx.keys.current('ES256')).kid));
    });

    it('a change racing a deletion answers 404 or succeeds, never 500', async () => {
      for (let round = 0; round < 5; round++) {
        const id = await gh.createUser(admin, { email: `race${round}@acme.test`, password: PASSWORD, tenant: acme.tenantId });
        const role = await gh.created('/api/v1/roles', acme.token, { name: `race-role-${round}` });
        const statuses = (
          await Promise.all([
            gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { name: 'Racer' } }),
            gh.request('DELETE', `/api/v1/users/${id}`, { token: admin }),
            gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { description: 'raced' } }),
            gh.request('DELETE', `/api/v1/roles/${role.id}`, { token: acme.token }),
          ])
        ).map((r) => r.status);
        for (const status of statuses) assert.ok([200, 204, 404, 409].includes(status), `status ${status}`);
      }
    });
  });

  describe('CSRF: a cross-site form carrying the session cookie changes nothing', () => {
    it('answers 415 to form-encoded and text/plain bodies on every cookie-authenticated write, before any effect', async () => {
      await gh.createUser(acme.token, { email: 'victim@acme.test', password: PASSWORD, name: 'Victim' });
      const login = await gh.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        payload: { username: 'victim@acme.test', password: PASSWORD },
      });
      const cookie = login.cookies.find((c) => c.name === 'gatehouse_session')!;
      assert.equal(cookie.sameSite, 'Lax', 'browsers do not send it on cross-site POSTs at all');
      const tokensBefore = await gh.rowCount('audit_events');
      for (const [method, url, payload] of [
        ['PATCH', '/api/v1/users/me', 'name=Pwned'],
        ['POST', '/api/v1/token', `organization=${acme.tenantId}`],
        ['DELETE', '/api/v1/session', 'x=1'],
      ] as const) {
        for (const contentType of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
          const response = await gh.app.inject({
            method,
            url,
            payload,
            headers: { 'content-type': contentType },
            cookies: { gatehouse_session: cookie.value },
          });
          assert.equal(response.statusCode, 415, `${method} ${url} as ${contentType}`);
        }
      }
      assert.equal(await gh.rowCount('audit_events'), tokensBefore, 'no token issued, no sign-out, no change recorded');
      const me = await gh.app.inject({ method: 'GET', url: '/api/v1/users/me', cookies: { gatehouse_session: cookie.value } });
      assert.equal(me.json().name, 'Victim');
    });
  });
});
