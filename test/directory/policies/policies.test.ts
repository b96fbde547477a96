import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tenantPolicies } from '../../../src/directory/policies/policies.js';
import { startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

describe('tenant policies', () => {
  let gh: TestGatehouse;
  let acme: TenantAdmin;
  let globex: TenantAdmin;

  before(async () => {
    gh = await startGatehouse();
    acme = await gh.tenantWithAdmin('policy-acme');
    globex = await gh.tenantWithAdmin('policy-globex');
  });
  after(() => gh.stop());

  it('reads the defaults of a tenant that never chose', async () => {
    const { status, body } = await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token });
    assert.equal(status, 200);
    assert.deepEqual(body.password, { min_length: 10, max_length: 128, history: 0, check_breached: false });
    assert.equal(body.lockout.account_threshold, 5);
    assert.equal(body.lockout.hard_limit, 100);
    assert.equal(body.mfa.policy, 'optional');
    assert.equal(body.audit.retention_days, 400);
  });

  it('changes only the values a PATCH names, at once for the domain, and audits which', async () => {
    const changed = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { mfa: { policy: 'required' }, lockout: { hard_limit: 50 } },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.equal(changed.body.mfa.policy, 'required');
    assert.equal(changed.body.lockout.hard_limit, 50);
    assert.equal(changed.body.lockout.account_threshold, 5, 'an unnamed value keeps its default');

    const again = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { lockout: { pair_threshold: 20 } },
    });
    assert.equal(again.body.lockout.hard_limit, 50, 'an earlier change stays');
    assert.equal(again.body.lockout.pair_threshold, 20);
    assert.equal((await tenantPolicies(gh.ctx, acme.tenantId)).lockout.pair_threshold, 20, 'this node sees it at once');

    const [event] = await gh.auditEvents(acme.token, { action: 'iam.tenant.modified', target: acme.tenantId });
    assert.deepEqual(event?.details, { policies: { lockout: ['pair_threshold'] } });
  });

  it('refuses bad values with a code that names the field', async () => {
    const url = `/api/v1/tenants/${acme.tenantId}/policies`;
    const cases: [unknown, string][] = [
      [{ password: { min_length: 4 } }, 'invalid_field'],
      [{ mfa: { policy: 'sometimes' } }, 'invalid_field'],
      [{ password: { min_length: 100, max_length: 50 } }, 'invalid_field'],
      [{ lockout: { whatever: 1 } }, 'unknown_field'],
      [{ colours: {} }, 'unknown_field'],
    ];
    for (const [body, code] of cases) {
      const response = await gh.request('PATCH', url, { token: acme.token, body });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.error, code, JSON.stringify(response.body));
    }
    assert.equal((await tenantPolicies(gh.ctx, acme.tenantId)).password.min_length, 10, 'nothing was written');
  });

  it('a tenant administrator may not shorten the own tenant’s audit retention', async () => {
    const response = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { audit: { retention_days: 1 } },
    });
    assert.equal(response.status, 403);
    assert.equal((await tenantPolicies(gh.ctx, acme.tenantId)).audit.retention_days, 400);
  });

  it('a tenant administrator neither reads nor changes another tenant’s policies', async () => {
    const read = await gh.request('GET', `/api/v1/tenants/${globex.tenantId}/policies`, { token: acme.token });
    assert.equal(read.status, 404);
    const write = await gh.request('PATCH', `/api/v1/tenants/${globex.tenantId}/policies`, {
      token: acme.token,
      body: { mfa: { policy: 'off' } },
    });
    assert.equal(write.status, 404);
    assert.equal((await tenantPolicies(gh.ctx, globex.tenantId)).mfa.policy, 'optional');
  });

  it('a system administrator changes any tenant’s policies', async () => {
    const admin = await gh.adminToken();
    const response = await gh.request('PATCH', `/api/v1/tenants/${globex.tenantId}/policies`, {
      token: admin,
      body: { password: { min_length: 12 } },
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.password.min_length, 12);
  });
});
