/**
 * Issue 12, items 1 and 6 (ASVS V4, access control), written as the attacks. Tenant A's
 * administrator pre-creates the account of tenant B's future administrator, B invites that
 * address, the person resets the password and joins B, and A's administrator then tries to
 * take the account over; and a tenant administrator adds other tenants' administrators (and
 * the system administrator) to the own tenant by id to read them. Decisions 180–183.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { importBody, jsonl } from '../helpers/transfer.js';

const PERSON = 'future-admin@beta.test';
const OWN = 'the-persons-own-password';
const STOLEN = 'attacker-chosen-password';

describe('V4: a tenant administrator cannot take over another tenant’s administrator (issue 12, items 1 and 6)', () => {
  let gh: TestGatehouse;
  let a: TenantAdmin;
  let b: TenantAdmin;
  let admin: string;
  let roles: Record<string, string>;

  before(async () => {
    gh = await startGatehouse();
    a = await gh.tenantWithAdmin('alpha');
    b = await gh.tenantWithAdmin('beta');
    admin = await gh.adminToken();
    roles = await gh.systemRoleIds();
  });
  after(() => gh.stop());

  /** The newest message of the development outbox to an address, and the token of its link. */
  async function linkTo(to: string, path: string): Promise<string> {
    const outbox = await gh.request('GET', `/api/v1/dev/outbox?to=${encodeURIComponent(to)}`, { token: admin });
    const text = outbox.body.messages[0]?.text ?? '';
    const match = new RegExp(`${path}\\?token=([\\w.%-]+)`).exec(text);
    assert.ok(match, `a ${path} link in the mail to ${to}:\n${text}`);
    return decodeURIComponent(match[1]!);
  }

  it('refuses email_verified and phone_verified to a tenant administrator (403 verified_not_allowed); a system administrator may', async () => {
    const created = await gh.request('POST', '/api/v1/users', {
      token: a.token,
      body: { email: 'verified-probe@beta.test', password: STOLEN, email_verified: true },
    });
    assert.equal(created.status, 403, JSON.stringify(created.body));
    assert.equal(created.body.error, 'verified_not_allowed');
    const phone = await gh.request('POST', '/api/v1/users', {
      token: a.token,
      body: { email: 'phone@alpha.test', phone: '+4930123456', phone_verified: true },
    });
    assert.equal(phone.body.error, 'verified_not_allowed');
    assert.equal(
      await gh.ctx.db
        .selectFrom('users')
        .select('id')
        .where('email', 'in', ['verified-probe@beta.test', 'phone@alpha.test'])
        .executeTakeFirst(),
      undefined,
    );

    const own = await gh.createUser(a.token, { email: 'own@alpha.test', password: PASSWORD });
    for (const body of [{ email_verified: true }, { phone: '+4930123456', phone_verified: true }]) {
      const patched = await gh.request('PATCH', `/api/v1/users/${own}`, { token: a.token, body });
      assert.equal(patched.status, 403, JSON.stringify(patched.body));
      assert.equal(patched.body.error, 'verified_not_allowed');
    }
    const row = await gh.ctx.db.selectFrom('users').selectAll().where('id', '=', own).executeTakeFirstOrThrow();
    assert.equal(row.email_verified, false);
    assert.equal(row.phone, null);

    // Nor through an import line.
    const imported = await importBody(gh, a.token, jsonl({ email: 'imported-probe@beta.test', email_verified: true }));
    assert.deepEqual(
      imported.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [[1, 'verified_not_allowed']],
    );
    assert.equal(imported.body.created, 0);

    const bySystem = await gh.request('PATCH', `/api/v1/users/${own}`, { token: admin, body: { email_verified: true } });
    assert.equal(bySystem.status, 200, JSON.stringify(bySystem.body));
    assert.equal(bySystem.body.email_verified, true);
  });

  it('A’s administrator pre-creates B’s future administrator; after the person joins B, every takeover step is refused', async () => {
    // 1. A's administrator creates the account with the person's address and a password of A's choosing.
    const victimId = await gh.createUser(a.token, { email: PERSON, password: STOLEN });

    // 2. B invites the address as TENANT_ADMIN; the answer is an invitation like any other.
    const invited = await gh.request('POST', `/api/v1/tenants/${b.tenantId}/invitations`, {
      token: b.token,
      body: { email: PERSON, roles: [roles.TENANT_ADMIN] },
    });
    assert.equal(invited.status, 201, JSON.stringify(invited.body));
    const invitation = await linkTo(PERSON, '/invitation');

    // 3. The real person resets the password by email, signs in and accepts.
    assert.equal((await gh.request('POST', '/api/v1/flows/recovery', { body: { email: PERSON } })).status, 202);
    const reset = await gh.request('POST', '/api/v1/flows/recovery/reset', {
      body: { token: await linkTo(PERSON, '/recovery/reset'), password: OWN },
    });
    assert.equal(reset.status, 204, JSON.stringify(reset.body));
    const session = await gh.signIn(PERSON, OWN);
    const joined = await gh.request('POST', '/api/v1/flows/invitation/join', { token: session, body: { token: invitation } });
    assert.equal(joined.status, 204, JSON.stringify(joined.body));

    // 4. A's administrator tries every way to take the account over or to lock the person out.
    const attempts: [string, string, unknown?][] = [
      ['PATCH', `/api/v1/users/${victimId}`, { password: STOLEN }],
      ['PATCH', `/api/v1/users/${victimId}`, { email: 'attacker@alpha.test' }],
      ['PATCH', `/api/v1/users/${victimId}`, { status: 'disabled' }],
      ['DELETE', `/api/v1/users/${victimId}/mfa`],
      ['DELETE', `/api/v1/users/${victimId}/mfa/0190c5a0-0000-7000-8000-000000000000`],
      ['POST', `/api/v1/users/${victimId}/disable`],
      ['POST', `/api/v1/users/${victimId}/force-password-reset`],
      ['DELETE', `/api/v1/users/${victimId}/sessions`],
      ['POST', `/api/v1/users/${victimId}/password-reset`, {}],
      ['DELETE', `/api/v1/users/${victimId}/lockout`],
      ['POST', `/api/v1/users/${victimId}/verification-email`],
      ['DELETE', `/api/v1/users/${victimId}`],
    ];
    for (const [method, url, body] of attempts) {
      const response = await gh.request(method as 'POST', url, { token: a.token, ...(body !== undefined && { body }) });
      assert.equal(response.status, 403, `${method} ${url}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error, 'member_elsewhere', `${method} ${url}`);
    }
    // Nor can B's administrator change the account homed in A (B does not administer A).
    const byB = await gh.request('PATCH', `/api/v1/users/${victimId}`, { token: b.token, body: { password: STOLEN } });
    assert.equal(byB.body.error, 'not_home_tenant');

    // B now sees that the account is homed elsewhere and is not B's to manage.
    const member = (await gh.members(b.token, b.tenantId)).find((m) => m.user_id === victimId) as unknown as Record<string, unknown>;
    assert.deepEqual(
      (member.roles as { name: string }[]).map((r) => r.name),
      ['TENANT_ADMIN'],
    );
    assert.equal(member.home_tenant, 'elsewhere');
    assert.equal(member.managed, false);
    const seenByB = await gh.request('GET', `/api/v1/users/${victimId}`, { token: b.token });
    assert.equal(seenByB.body.managed, false);
    assert.equal((await gh.request('GET', `/api/v1/users/${victimId}`, { token: a.token })).body.managed, false);

    // 5. Nothing changed: the attacker's password does not sign in, the person's does, and the person reads B.
    const row = await gh.ctx.db.selectFrom('users').selectAll().where('id', '=', victimId).executeTakeFirstOrThrow();
    assert.equal(row.email, PERSON);
    assert.equal(row.status, 'active');
    assert.equal(row.password_reset_required, false);
    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: PERSON, password: STOLEN } })).status, 401);
    const token = await gh.tokenFor(await gh.signIn(PERSON, OWN), b.tenantId);
    assert.equal((await gh.request('GET', `/api/v1/tenants/${b.tenantId}/members`, { token })).status, 200);
    // The session the person accepted with is still live (no "sign out everywhere" went through).
    assert.equal((await gh.request('GET', '/api/v1/users/me', { token: session })).status, 200);
  });

  it('a system administrator still manages the account (system scope), and A regains it only if the person leaves B', async () => {
    const victim = await gh.ctx.db.selectFrom('users').select('id').where('email', '=', PERSON).executeTakeFirstOrThrow();
    const bySystem = await gh.request('PATCH', `/api/v1/users/${victim.id}`, { token: admin, body: { name: 'Set by the operator' } });
    assert.equal(bySystem.status, 200, JSON.stringify(bySystem.body));
    assert.equal((await gh.request('DELETE', `/api/v1/tenants/${b.tenantId}/members/${victim.id}`, { token: admin })).status, 204);
    const byA = await gh.request('PATCH', `/api/v1/users/${victim.id}`, { token: a.token, body: { name: 'Back in A alone' } });
    assert.equal(byA.status, 200, JSON.stringify(byA.body));
  });

  it('an administrator of both tenants, who outranks the account in both, manages it from either', async () => {
    const email = `both${Date.now()}@alpha.test`;
    const userId = await gh.createUser(admin, { email, password: PASSWORD, tenant: a.tenantId });
    await gh.created(`/api/v1/tenants/${b.tenantId}/members`, admin, { userId });
    // A's administrator becomes an administrator of B too.
    await gh.created(`/api/v1/tenants/${b.tenantId}/members`, admin, { userId: a.adminId, roles: [roles.TENANT_ADMIN] });
    const patched = await gh.request('PATCH', `/api/v1/users/${userId}`, { token: a.token, body: { name: 'Managed from A' } });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await gh.request('GET', `/api/v1/users/${userId}`, { token: a.token })).body.managed, true);
    // But not an account that holds more in B than A's administrator does there.
    await gh.request('PATCH', `/api/v1/tenants/${b.tenantId}/members/${userId}`, {
      token: admin,
      body: { roles: [roles.TENANT_ADMIN], permissions: ['iam.account.read'] },
    });
    const refused = await gh.request('PATCH', `/api/v1/users/${userId}`, { token: a.token, body: { name: 'Not any more' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'member_elsewhere');
    await gh.request('DELETE', `/api/v1/tenants/${b.tenantId}/members/${a.adminId}`, { token: admin });
  });

  it('refuses a tenant administrator direct membership by id for another tenant’s administrator and the system administrator', async () => {
    const system = await gh.systemAdmin();
    for (const userId of [b.adminId, system.id]) {
      const added = await gh.request('POST', `/api/v1/tenants/${a.tenantId}/members`, { token: a.token, body: { userId } });
      assert.equal(added.status, 404, JSON.stringify(added.body));
      assert.equal(added.body.error, 'not_found');
      // So their profile, factors and lockout state stay out of reach.
      for (const path of ['', '/mfa', '/lockout']) {
        assert.equal((await gh.request('GET', `/api/v1/users/${userId}${path}`, { token: a.token })).status, 404, path);
      }
    }
    const members = await gh.ctx.db.selectFrom('memberships').select('user_id').where('tenant_id', '=', a.tenantId).execute();
    assert.ok(!members.some((m) => m.user_id === b.adminId || m.user_id === system.id), 'no membership was written');
    // The answer is the one for an id that does not exist.
    const unknown = await gh.request('POST', `/api/v1/tenants/${a.tenantId}/members`, {
      token: a.token,
      body: { userId: '0190c5a0-0000-7000-8000-000000000001' },
    });
    assert.deepEqual(
      unknown.body,
      (await gh.request('POST', `/api/v1/tenants/${a.tenantId}/members`, { token: a.token, body: { userId: b.adminId } })).body,
    );
  });

  it('still adds by id a user homed in the own tenant, and a system administrator still adds anyone', async () => {
    const userId = await gh.createUser(a.token, { email: `back${Date.now()}@alpha.test`, password: PASSWORD });
    assert.equal((await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${userId}`, { token: a.token })).status, 204);
    const again = await gh.request('POST', `/api/v1/tenants/${a.tenantId}/members`, { token: a.token, body: { userId } });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    const bySystem = await gh.request('POST', `/api/v1/tenants/${a.tenantId}/members`, { token: admin, body: { userId: b.adminId } });
    assert.equal(bySystem.status, 201, JSON.stringify(bySystem.body));
    await gh.request('DELETE', `/api/v1/tenants/${a.tenantId}/members/${b.adminId}`, { token: admin });
  });
});
