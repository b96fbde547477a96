import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { attempt } from '../helpers/lockout-suite.js';

/**
 * Issue 12, "what a member tenant's administrator can see": the addresses a user's failed
 * sign-ins came from are seen by the administrators of the user's home tenant (and system
 * administrators), not by every tenant the user is a member of.
 */
describe('V4 (ASVS 4.2): a tenant administrator reads failure addresses only of users homed in their tenant', () => {
  let gh: TestGatehouse;
  let a: TenantAdmin;
  let b: TenantAdmin;
  let aliceId: string;
  const attacker = '203.0.113.9';

  before(async () => {
    gh = await startGatehouse();
    a = await gh.tenantWithAdmin('home');
    b = await gh.tenantWithAdmin('member');
    aliceId = await gh.createUser(a.token, { email: 'alice@home.test', password: PASSWORD });
    // Alice also works for B (a system administrator adds her: the way in does not matter here).
    const joined = await gh.request('POST', `/api/v1/tenants/${b.tenantId}/members`, {
      token: await gh.adminToken(),
      body: { userId: aliceId },
    });
    assert.equal(joined.status, 201, JSON.stringify(joined.body));
    for (let i = 0; i < 3; i++) assert.equal((await attempt(gh, 'alice@home.test', 'wrong-password', attacker)).status, 401);
  });
  after(() => gh.stop());

  it('B’s administrator, where Alice is only a member, sees whether she is locked but no address and no count', async () => {
    const seen = await gh.request('GET', `/api/v1/users/${aliceId}/lockout`, { token: b.token });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.ok(!JSON.stringify(seen.body).includes(attacker), 'no failure address of another tenant’s user');
    assert.deepEqual(seen.body.addresses, []);
    assert.deepEqual(seen.body.attempts, []);
    assert.equal(seen.body.locked, false);
  });

  it('A’s administrator (her home tenant) and a system administrator see the addresses', async () => {
    for (const token of [a.token, await gh.adminToken()]) {
      const seen = await gh.request('GET', `/api/v1/users/${aliceId}/lockout`, { token });
      assert.equal(seen.status, 200, JSON.stringify(seen.body));
      assert.equal(seen.body.addresses[0]?.ip, attacker);
      assert.equal(seen.body.attempts[0]?.failures, 3);
    }
  });

  it('B’s audit trail carries no failure of Alice’s', async () => {
    const events = await gh.auditEvents(b.token, { target: aliceId });
    assert.ok(!JSON.stringify(events).includes(attacker));
    assert.ok(!events.some((event) => event.action === 'iam.user.loginFailed'));
  });
});
