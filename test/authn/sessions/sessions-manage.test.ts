import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { postToken } from '../../helpers/token-endpoint.js';

/** Issue 4, part 7: your sessions, "sign out everywhere", and a password change that ends the other sessions. */
describe('session control', () => {
  let gh: TestGatehouse;
  let admin: string;
  let tenantId: string;
  let tenantAdmin: string;
  let app: { client_id: string; client_secret: string };

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    ({ tenantId, token: tenantAdmin } = await gh.tenantWithAdmin('acme'));
    app = await gh.created('/api/v1/applications', admin, {
      name: 'Console',
      type: 'web',
      redirect_uris: ['https://console.example/callback'],
      grant_types: ['password', 'refresh_token'],
    });
  });
  after(() => gh.stop());

  const signIn = async (username: string, password: string, userAgent: string) => {
    const response = await gh.request('POST', '/api/v1/session', { body: { username, password }, headers: { 'user-agent': userAgent } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.token as string;
  };
  const refreshToken = async (username: string, password: string) => {
    const response = await postToken(gh, {
      grant_type: 'password',
      username,
      password,
      client_id: app.client_id,
      client_secret: app.client_secret,
      scope: 'openid offline_access',
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().refresh_token as string;
  };
  const refresh = (token: string) =>
    postToken(gh, {
      grant_type: 'refresh_token',
      refresh_token: token,
      client_id: app.client_id,
      client_secret: app.client_secret,
    });
  const alive = async (token: string) => (await gh.request('GET', '/api/v1/session', { token })).status === 200;

  it('lists your live sessions with the current one marked, never a token', async () => {
    await gh.createUser(admin, { email: 'lister@acme.test', password: PASSWORD, tenant: tenantId });
    const laptop = await signIn('lister@acme.test', PASSWORD, 'Laptop browser');
    const phone = await signIn('lister@acme.test', PASSWORD, 'Phone browser');
    const list = await gh.request('GET', '/api/v1/users/me/sessions', { token: phone });
    assert.equal(list.status, 200);
    assert.equal(list.body.sessions.length, 2);
    const [newest, oldest] = list.body.sessions;
    assert.deepEqual(Object.keys(newest).sort(), [
      'created_at',
      'current',
      'expires_at',
      'id',
      'ip',
      'last_seen_at',
      'remember_me',
      'user_agent',
    ]);
    assert.equal(newest.user_agent, 'Phone browser');
    assert.equal(newest.current, true);
    assert.equal(oldest.user_agent, 'Laptop browser');
    assert.equal(oldest.current, false);
    assert.ok(!JSON.stringify(list.body).includes(laptop.slice(4)) && !JSON.stringify(list.body).includes(phone.slice(4)));
    assert.equal((await gh.request('GET', '/api/v1/users/me/sessions', { token: admin })).status, 401, 'an access token is not a session');
  });

  it('signs one of your sessions out, and not another user’s', async () => {
    await gh.createUser(admin, { email: 'two-devices@acme.test', password: PASSWORD, tenant: tenantId });
    await gh.createUser(admin, { email: 'bystander@acme.test', password: PASSWORD, tenant: tenantId });
    const laptop = await signIn('two-devices@acme.test', PASSWORD, 'Laptop');
    const phone = await signIn('two-devices@acme.test', PASSWORD, 'Phone');
    const bystander = await signIn('bystander@acme.test', PASSWORD, 'Elsewhere');
    const sessions = (await gh.request('GET', '/api/v1/users/me/sessions', { token: phone })).body.sessions;
    const laptopId = sessions.find((s: { current: boolean }) => !s.current).id;
    const othersId = (await gh.request('GET', '/api/v1/users/me/sessions', { token: bystander })).body.sessions[0].id;

    assert.equal((await gh.request('DELETE', `/api/v1/users/me/sessions/${othersId}`, { token: phone })).status, 404);
    assert.ok(await alive(bystander));
    assert.equal((await gh.request('DELETE', `/api/v1/users/me/sessions/${laptopId}`, { token: phone })).status, 204);
    assert.equal(await alive(laptop), false);
    assert.ok(await alive(phone));
    assert.equal((await gh.request('DELETE', `/api/v1/users/me/sessions/${laptopId}`, { token: phone })).status, 404, 'already ended');
    assert.equal((await gh.request('DELETE', '/api/v1/users/me/sessions/not-a-uuid', { token: phone })).status, 400);
  });

  it('changing your own password ends your other sessions and refresh tokens, and keeps this one', async () => {
    const userId = await gh.createUser(admin, { email: 'changer@acme.test', password: PASSWORD, tenant: tenantId });
    const other = await signIn('changer@acme.test', PASSWORD, 'Other');
    const current = await signIn('changer@acme.test', PASSWORD, 'Current');
    const refreshable = await refreshToken('changer@acme.test', PASSWORD);

    const wrong = await gh.request('POST', '/api/v1/users/me/password', {
      token: current,
      body: { current_password: 'not-the-password', new_password: 'a-brand-new-secret-42' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_credentials');
    const weak = await gh.request('POST', '/api/v1/users/me/password', {
      token: current,
      body: { current_password: PASSWORD, new_password: 'qwertyuiop' },
    });
    assert.equal(weak.body.error, 'password_too_common');

    const changed = await gh.request('POST', '/api/v1/users/me/password', {
      token: current,
      body: { current_password: PASSWORD, new_password: 'a-brand-new-secret-42' },
    });
    assert.equal(changed.status, 204);
    assert.ok(await alive(current), 'the session that changed it stays');
    assert.equal(await alive(other), false, 'every other session ends');
    const refreshed = await refresh(refreshable);
    assert.equal(refreshed.statusCode, 400);
    assert.equal(refreshed.json().error, 'invalid_grant', 'refresh tokens end');
    assert.equal(
      (await gh.request('POST', '/api/v1/session', { body: { username: 'changer@acme.test', password: PASSWORD } })).status,
      401,
    );
    await signIn('changer@acme.test', 'a-brand-new-secret-42', 'New');
    const events = await gh.auditEvents(admin, { target: userId, action: 'iam.user.modified' });
    assert.ok(events.some((event) => (event.details.fields as string[]).includes('password')));
    assert.ok(!JSON.stringify(events).includes('a-brand-new-secret-42'));
  });

  it('an administrator signs a user out everywhere: sessions and refresh tokens (home tenant only)', async () => {
    const userId = await gh.createUser(admin, { email: 'everywhere@acme.test', password: PASSWORD, tenant: tenantId });
    const one = await signIn('everywhere@acme.test', PASSWORD, 'One');
    const two = await signIn('everywhere@acme.test', PASSWORD, 'Two');
    const refreshable = await refreshToken('everywhere@acme.test', PASSWORD);
    const other = await gh.tenantWithAdmin('other');
    assert.equal((await gh.request('DELETE', `/api/v1/users/${userId}/sessions`, { token: other.token })).status, 404);
    assert.ok(await alive(one));

    assert.equal((await gh.request('DELETE', `/api/v1/users/${userId}/sessions`, { token: tenantAdmin })).status, 200);
    assert.equal(await alive(one), false);
    assert.equal(await alive(two), false);
    assert.equal((await refresh(refreshable)).json().error, 'invalid_grant');
    const events = await gh.auditEvents(admin, { target: userId, action: 'iam.user.sessionsRevoked' });
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.details, { sessions_revoked: 2, grants_revoked: 1, backchannel_logouts: 0 });
    await signIn('everywhere@acme.test', PASSWORD, 'Again'); // the account itself is fine
  });

  it('a password set by an administrator ends every session of the user', async () => {
    const userId = await gh.createUser(admin, { email: 'reset@acme.test', password: PASSWORD, tenant: tenantId });
    const session = await signIn('reset@acme.test', PASSWORD, 'Browser');
    const reset = await gh.request('PATCH', `/api/v1/users/${userId}`, { token: tenantAdmin, body: { password: 'set-by-the-admin-77' } });
    assert.equal(reset.status, 200);
    assert.equal(await alive(session), false);
  });
});
