import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/**
 * Behind a list of trusted proxies (GATEHOUSE_TRUST_PROXY=10.0.0.1,...), the token endpoint
 * sees the client's address as Fastify resolves it through that list: the brute-force
 * counters and the audit trail name the client, not the proxy, and a client cannot put an
 * address of its choosing in front (security review of issue 4).
 */
describe('the OAuth endpoints behind a list of trusted proxies', () => {
  let gh: TestGatehouse;
  let client: { client_id: string; client_secret: string };

  before(async () => {
    gh = await startGatehouse({ config: { trustProxy: '127.0.0.1' } });
    client = await gh.created('/api/v1/applications', await gh.adminToken(), {
      name: 'Proxy test',
      type: 'web',
      redirect_uris: ['https://app.example/callback'],
      grant_types: ['authorization_code', 'password'],
    });
  });
  after(() => gh.stop());

  const wrongPassword = (forwardedFor: string) =>
    gh.app.inject({
      method: 'POST',
      url: '/oauth/token',
      remoteAddress: '127.0.0.1',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
      payload: new URLSearchParams({
        grant_type: 'password',
        username: ADMIN_EMAIL,
        password: 'not-the-password',
        client_id: client.client_id,
        client_secret: client.client_secret,
      }).toString(),
    });

  it('records the client’s address, the last one the trusted proxy added, not one the client wrote', async () => {
    const answer = await wrongPassword('198.51.100.66, 203.0.113.7');
    assert.equal(answer.statusCode, 400, answer.body);
    const events = await gh.auditEvents(await gh.adminToken(), { action: 'iam.user.loginFailed' });
    assert.equal(events[0]?.ip, '203.0.113.7');
  });
});
