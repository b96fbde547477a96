import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loggableUrl } from '../../../src/platform/logger.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { postToken } from '../../helpers/token-endpoint.js';

/** No secret in logs (docs/security.md#v7-error-handling-and-logging), also when it travels in a URL of the OAuth endpoints. */
describe('OAuth secrets in URLs and bodies stay out of the logs', () => {
  let gh: TestGatehouse;
  const secrets: string[] = [];

  before(async () => {
    gh = await startGatehouse();
    const app = await gh.created('/api/v1/applications', await gh.adminToken(), {
      name: 'Logged',
      type: 'web',
      redirect_uris: ['https://app.example/cb'],
      post_logout_redirect_uris: ['https://app.example/'],
      grant_types: ['password', 'refresh_token'],
    });
    const token = await postToken(gh, {
      grant_type: 'password',
      username: ADMIN_EMAIL,
      password: ADMIN_PASSWORD,
      scope: 'openid offline_access',
      client_id: app.client_id,
      client_secret: app.client_secret,
    });
    assert.equal(token.statusCode, 200, token.body);
    const { id_token, refresh_token, access_token } = token.json();
    secrets.push(id_token, refresh_token, access_token, app.client_secret, ADMIN_PASSWORD);
    await gh.app.inject({ method: 'GET', url: `/v2/logout?id_token_hint=${id_token}&post_logout_redirect_uri=https://app.example/` });
    await gh.app.inject({ method: 'GET', url: '/activate?user_code=WDJB-MJHT' });
    secrets.push('WDJB-MJHT');
    await gh.app.inject({
      method: 'POST',
      url: '/oauth/revoke',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: refresh_token, client_id: app.client_id, client_secret: app.client_secret }).toString(),
    });
  });
  after(() => gh.stop());

  it('logs the requests, without the ID token hint, user code, tokens, client secret or password', () => {
    assert.ok(gh.logs.some((line) => line.includes('/v2/logout?id_token_hint=[redacted]')));
    for (const line of gh.logs)
      for (const secret of secrets) assert.ok(!line.includes(secret), `a log line holds a secret: ${line.slice(0, 300)}`);
  });

  it('redacts the values of secret query parameters and keeps the rest', () => {
    assert.equal(
      loggableUrl('/authorize?client_id=abc&login_hint=jane@example.com&state=s'),
      '/authorize?client_id=abc&login_hint=[redacted]&state=s',
    );
    assert.equal(loggableUrl('/healthz'), '/healthz');
  });
});
