import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

interface Bucket {
  start: string;
  sign_ins: number;
  sign_in_failures: number;
  lockouts: number;
  sign_ups: number;
}

/** GET /api/v1/stats/activity (issue 15, the console's dashboard): counts per bucket from the audit trail, by tenant. */
describe('activity statistics (GET /api/v1/stats/activity)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    await gh.createUser(acme.token, { email: 'ann@acme.test', password: PASSWORD });
    for (let i = 0; i < 2; i++) await gh.signIn('ann@acme.test', PASSWORD);
    for (let i = 0; i < 3; i++) {
      const wrong = await gh.request('POST', '/api/v1/session', { body: { username: 'ann@acme.test', password: 'not-the-password' } });
      assert.equal(wrong.status, 401);
    }
  });
  after(() => gh.stop());

  const stats = async (token: string, query = '') => gh.request('GET', `/api/v1/stats/activity${query}`, { token });
  const total = (buckets: Bucket[], series: keyof Omit<Bucket, 'start'>) => buckets.reduce((sum, b) => sum + b[series], 0);

  it("counts a tenant's sign-ins and failed sign-ins by day, every bucket present", async () => {
    const response = await stats(acme.token);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const { buckets, interval, from, to } = response.body as { buckets: Bucket[]; interval: string; from: string; to: string };
    assert.equal(interval, 'day');
    assert.equal(buckets.length, 30);
    assert.equal(buckets[0]!.start, from);
    assert.ok(Date.parse(to) > Date.now() - 86_400_000);
    // The acme administrator signed in once when the tenant was made, ann twice.
    assert.equal(total(buckets, 'sign_ins'), 3);
    assert.equal(total(buckets, 'sign_in_failures'), 3);
    assert.equal(buckets.at(-1)!.sign_in_failures, 3, "today's bucket holds them");
  });

  it('counts by the hour, and every tenant for a system administrator', async () => {
    const hours = await stats(admin, '?interval=hour');
    assert.equal(hours.status, 200);
    assert.equal(hours.body.buckets.length, 30);
    const all = hours.body.buckets as Bucket[];
    // The system administrator's own sign-in, the two tenant administrators', ann's two.
    assert.ok(total(all, 'sign_ins') >= 5, JSON.stringify(all.at(-1)));
    const only = await stats(admin, `?tenant=${acme.tenantId}&interval=hour`);
    assert.equal(total(only.body.buckets, 'sign_ins'), 3);
  });

  it("never shows a tenant administrator another tenant's activity", async () => {
    const other = await stats(globex.token);
    assert.equal(other.status, 200);
    assert.equal(total(other.body.buckets, 'sign_in_failures'), 0);
    assert.equal(total(other.body.buckets, 'sign_ins'), 1, "only globex's administrator's own sign-in");
    const named = await stats(globex.token, `?tenant=${acme.tenantId}`);
    assert.equal(named.status, 403);
    assert.equal(named.body.error, 'forbidden');
  });

  it('refuses a range it would not answer whole, with the field named', async () => {
    const cases: [string, string][] = [
      ['?from=2026-01-10T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['?interval=hour&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z', 'from'],
      ['?interval=minute', 'interval'],
      ['?from=yesterday', 'from'],
    ];
    for (const [query, field] of cases) {
      const response = await stats(admin, query);
      assert.equal(response.status, 400, query);
      assert.equal(response.body.details.field, field, query);
    }
    const unauthenticated = await gh.request('GET', '/api/v1/stats/activity');
    assert.equal(unauthenticated.status, 401);
  });
});
