/**
 * Issue 12, item 2 (ASVS V4, access control), written as the attacks: a role holding only
 * the "create" permission rewrites existing accounts through POST /users/import (a password
 * hash it knows, or a block), in its tenant and, for a system operator, in another tenant.
 * A record that matches an existing user needs the update permission and the rule of every
 * account change (decisions 180 and 184).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { importBody, jsonl } from '../helpers/transfer.js';

const KNOWN = 'a-password-the-attacker-knows';

describe('V4: an import with only the create permission does not rewrite existing accounts (issue 12, item 2)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let a: TenantAdmin;
  let b: TenantAdmin;
  let roles: Record<string, string>;
  let knownHash: string;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    a = await gh.tenantWithAdmin('alpha');
    b = await gh.tenantWithAdmin('beta');
    roles = await gh.systemRoleIds();
    knownHash = await bcryptHash(KNOWN, 4);
  });
  after(() => gh.stop());

  const row = (email: string) => gh.ctx.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
  const lineErrors = (body: { errors: { line: number; error: string }[] }) => body.errors.map((e) => [e.line, e.error]);

  async function signsIn(email: string, password: string): Promise<number> {
    return (await gh.request('POST', '/api/v1/session', { body: { username: email, password } })).status;
  }

  it('a tenant role holding tenant.account.create cannot set a member’s password hash or block them', async () => {
    const creator = await gh.created('/api/v1/roles', a.token, { name: 'CREATOR', permissions: ['tenant.account.create'] });
    await gh.createUser(a.token, { email: 'creator@alpha.test', password: PASSWORD, roles: [roles.USER!, creator.id] });
    await gh.createUser(a.token, { email: 'victim@alpha.test', password: PASSWORD, name: 'Victim' });
    const token = await gh.tokenFor(await gh.signIn('creator@alpha.test', PASSWORD), a.tenantId);

    const answer = await importBody(
      gh,
      token,
      jsonl(
        { email: 'victim@alpha.test', password_hash: knownHash, name: 'Owned' },
        { email: 'newcomer@alpha.test', password_hash: knownHash },
      ),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.updated, 0);
    assert.equal(answer.body.created, 1, 'creating new users is what the permission is for');
    assert.deepEqual(lineErrors(answer.body), [[1, 'update_not_allowed']]);
    const blocked = await importBody(gh, token, jsonl({ email: 'victim@alpha.test', blocked: true }));
    assert.deepEqual(lineErrors(blocked.body), [[1, 'update_not_allowed']]);

    const victim = await row('victim@alpha.test');
    assert.equal(victim.status, 'active');
    assert.equal(victim.name, 'Victim');
    assert.equal(await signsIn('victim@alpha.test', KNOWN), 401, 'the attacker’s password does not sign in');
    assert.equal(await signsIn('victim@alpha.test', PASSWORD), 200, 'the victim’s still does');
  });

  it('a system operator holding only iam.account.create cannot rewrite another tenant’s administrator', async () => {
    const system = await gh.systemAdmin();
    const creator = await gh.created('/api/v1/roles', admin, { name: 'ACCOUNT_CREATOR', permissions: ['iam.account.create'] });
    await gh.createUser(admin, {
      email: 'operator@gatehouse.test',
      password: PASSWORD,
      tenant: system.systemTenantId,
      roles: [creator.id],
    });
    const token = await gh.tokenFor(await gh.signIn('operator@gatehouse.test', PASSWORD), 'system');

    const answer = await importBody(
      gh,
      token,
      jsonl(
        { email: b.adminEmail, password_hash: knownHash },
        { email: 'admin@gatehouse.test', blocked: true },
        { email: 'fresh@example.test', name: 'A new homeless user' },
      ),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.created, 1);
    assert.equal(answer.body.updated, 0);
    assert.deepEqual(lineErrors(answer.body), [
      [1, 'update_not_allowed'],
      [2, 'update_not_allowed'],
    ]);
    assert.equal(await signsIn(b.adminEmail, KNOWN), 401);
    assert.equal(await signsIn(b.adminEmail, PASSWORD), 200);
    assert.equal((await row('admin@gatehouse.test')).status, 'active');
  });

  it('with the update permission too, the outrank rule still holds: a narrower role cannot rewrite its tenant’s administrator', async () => {
    const updater = await gh.created('/api/v1/roles', a.token, {
      name: 'UPDATER',
      permissions: ['tenant.account.create', 'tenant.account.update'],
    });
    await gh.createUser(a.token, { email: 'updater@alpha.test', password: PASSWORD, roles: [roles.USER!, updater.id] });
    await gh.createUser(a.token, { email: 'plain@alpha.test', password: PASSWORD, name: 'Plain' });
    const token = await gh.tokenFor(await gh.signIn('updater@alpha.test', PASSWORD), a.tenantId);
    const answer = await importBody(
      gh,
      token,
      jsonl({ email: 'plain@alpha.test', name: 'Renamed' }, { email: a.adminEmail, password_hash: knownHash }),
    );
    assert.equal(answer.body.updated, 1, JSON.stringify(answer.body));
    assert.deepEqual(lineErrors(answer.body), [[2, 'forbidden']]);
    assert.equal((await row('plain@alpha.test')).name, 'Renamed');
    assert.equal(await signsIn(a.adminEmail, KNOWN), 401);
  });
  // Review of issue 12 (decision 187): an update line changes roles only when it names them, and nobody changes their own status or roles.
  const rolesOf = async (userId: string, tenantId: string) =>
    (
      await gh.ctx.db
        .selectFrom('membership_roles')
        .innerJoin('roles', 'roles.id', 'membership_roles.role_id')
        .select('roles.name')
        .where('membership_roles.user_id', '=', userId)
        .where('membership_roles.tenant_id', '=', tenantId)
        .execute()
    )
      .map((r) => r.name)
      .sort();

  it('an import line that only renames a member keeps their roles (no silent reset to USER)', async () => {
    const c = await gh.tenantWithAdmin('gamma');
    const deputy = await gh.createUser(c.token, { email: 'deputy@gamma.test', password: PASSWORD, roles: [roles.TENANT_ADMIN!] });
    const before = await rolesOf(deputy, c.tenantId);
    assert.deepEqual(before, ['TENANT_ADMIN']);
    const answer = await importBody(gh, c.token, jsonl({ email: 'deputy@gamma.test', name: 'Renamed deputy' }));
    assert.equal(answer.body.updated, 1, JSON.stringify(answer.body));
    assert.deepEqual(await rolesOf(deputy, c.tenantId), before, 'a line that names no roles leaves them');
    const named = await importBody(
      gh,
      c.token,
      jsonl({ email: 'deputy@gamma.test', gatehouse: { tenants: [{ tenant: 'gamma', roles: ['USER'] }] } }),
    );
    assert.equal(named.body.updated, 1, JSON.stringify(named.body));
    assert.deepEqual(await rolesOf(deputy, c.tenantId), ['USER'], 'roles named explicitly are applied');
  });

  it('an administrator cannot change their own status or roles by import or PATCH /users/:id (403 forbidden)', async () => {
    const d = await gh.tenantWithAdmin('delta');
    for (const line of [
      { email: d.adminEmail, blocked: true },
      { email: d.adminEmail, gatehouse: { tenants: [{ tenant: 'delta', roles: ['USER'] }] } },
    ]) {
      const own = await importBody(gh, d.token, jsonl(line));
      assert.deepEqual(lineErrors(own.body), [[1, 'forbidden']], JSON.stringify(own.body));
    }
    const renamed = await importBody(gh, d.token, jsonl({ email: d.adminEmail, name: 'Still me' }));
    assert.equal(renamed.body.updated, 1, 'changing the own profile stays allowed');
    const patched = await gh.request('PATCH', `/api/v1/users/${d.adminId}`, { token: d.token, body: { status: 'disabled' } });
    assert.equal(patched.status, 403);
    assert.equal(patched.body.error, 'forbidden');
    assert.equal((await row(d.adminEmail)).status, 'active');
    assert.deepEqual(await rolesOf(d.adminId, d.tenantId), ['TENANT_ADMIN']);
  });
});
