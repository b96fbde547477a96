/**
 * Issue 6, part 6: each incident action is one call and one audit event, and takes effect
 * at once: a token introspected right after is inactive, a refresh fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

const API = 'urn:gatehouse:acme:invoices';

describe('incident actions', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let web: { id: string; client_id: string; client_secret: string };
  let counter = 0;

  const form = (url: string, fields: Record<string, string>) =>
    gh.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });
  const client = () => ({ client_id: web.client_id, client_secret: web.client_secret });
  const introspect = async (token: string) => (await form('/oauth/introspect', { token, ...client() })).json().active as boolean;
  const refresh = (refreshToken: string) => form('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...client() });

  async function tokensOf(email: string) {
    const response = await form('/oauth/token', {
      grant_type: 'password',
      username: email,
      password: PASSWORD,
      audience: API,
      scope: 'openid offline_access',
      ...client(),
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as { access_token: string; refresh_token: string };
  }

  /** A user of acme, signed in twice: a session (OIH flow) and OAuth tokens (password grant). */
  async function signedInUser() {
    const email = `user${++counter}@acme.test`;
    const id = await gh.createUser(acme.token, { email, password: PASSWORD });
    const session = await gh.signIn(email, PASSWORD);
    const tokens = await tokensOf(email);
    assert.equal(await introspect(tokens.access_token), true);
    return { id, email, session, tokens };
  }

  async function assertAllEnded(user: Awaited<ReturnType<typeof signedInUser>>) {
    assert.equal(await introspect(user.tokens.access_token), false, 'the access token is inactive at once');
    const refreshed = await refresh(user.tokens.refresh_token);
    assert.equal(refreshed.statusCode, 400);
    assert.equal(refreshed.json().error, 'invalid_grant', 'the refresh token fails at once');
    const me = await gh.request('GET', '/api/v1/session', { token: user.session });
    assert.equal(me.status, 401, 'the session has ended');
  }

  async function oneEvent(action: string, targetId: string) {
    const events = await gh.auditEvents(admin, { action });
    const mine = events.filter((e) => e.target_id === targetId);
    assert.equal(mine.length, 1, `one ${action} event`);
    return mine[0]!;
  }

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Invoices', permissions: [{ value: 'read:invoices' }] });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.acme.test/callback'],
      grant_types: ['password', 'refresh_token'],
    });
  });
  after(() => gh.stop());

  it('POST /users/:id/disable: the account is disabled, its token inactive and its refresh refused at once', async () => {
    const user = await signedInUser();
    const response = await gh.request('POST', `/api/v1/users/${user.id}/disable`, { token: acme.token });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body, { sessions_revoked: 1, grants_revoked: 1, backchannel_logouts: 0 });
    await assertAllEnded(user);
    assert.equal((await gh.request('GET', `/api/v1/users/${user.id}`, { token: acme.token })).body.status, 'disabled');
    const signIn = await gh.request('POST', '/api/v1/session', { body: { username: user.email, password: PASSWORD } });
    assert.equal(signIn.body.error, 'account_disabled');
    const event = await oneEvent('iam.user.disabled', user.id);
    assert.equal(event.tenant_id, acme.tenantId);
    assert.equal(event.details.grants_revoked, 1);
  });

  it('PATCH status disabled ends the OAuth grants too (not only the sessions)', async () => {
    const user = await signedInUser();
    const patched = await gh.request('PATCH', `/api/v1/users/${user.id}`, { token: acme.token, body: { status: 'disabled' } });
    assert.equal(patched.status, 200);
    await gh.request('PATCH', `/api/v1/users/${user.id}`, { token: acme.token, body: { status: 'active' } });
    // Re-enabled: the old tokens stay dead, since their grant was revoked, not only refused.
    await assertAllEnded(user);
  });

  it('DELETE /users/:id/sessions: every session and refresh token ends; the account stays active', async () => {
    const user = await signedInUser();
    const second = await tokensOf(user.email);
    const response = await gh.request('DELETE', `/api/v1/users/${user.id}/sessions`, { token: acme.token });
    assert.equal(response.status, 200);
    assert.equal(response.body.sessions_revoked, 1);
    assert.equal(response.body.grants_revoked, 2);
    await assertAllEnded(user);
    assert.equal(await introspect(second.access_token), false);
    await oneEvent('iam.user.sessionsRevoked', user.id);
    // The user signs in again at once.
    assert.equal(await introspect((await tokensOf(user.email)).access_token), true);
  });

  it('POST /users/:id/force-password-reset: sessions end; the right password answers password_change_required until changed', async () => {
    const user = await signedInUser();
    const response = await gh.request('POST', `/api/v1/users/${user.id}/force-password-reset`, { token: acme.token });
    assert.equal(response.status, 200);
    await assertAllEnded(user);
    await oneEvent('iam.user.passwordResetForced', user.id);

    const blocked = await gh.request('POST', '/api/v1/session', { body: { username: user.email, password: PASSWORD } });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body.error, 'password_change_required');
    assert.equal(blocked.body.details.change_password, '/api/v1/session/password');
    const grant = await form('/oauth/token', {
      grant_type: 'password',
      username: user.email,
      password: PASSWORD,
      audience: API,
      ...client(),
    });
    assert.equal(grant.json().error, 'invalid_grant');
    // A wrong password still says only that.
    const wrong = await gh.request('POST', '/api/v1/session', { body: { username: user.email, password: 'not-the-password' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_credentials');

    const change = (body: Record<string, string>) => gh.request('POST', '/api/v1/session/password', { body });
    assert.equal(
      (await change({ username: user.email, password: 'not-the-password', new_password: 'a-brand-new-password' })).body.error,
      'invalid_credentials',
    );
    assert.equal((await change({ username: user.email, password: PASSWORD, new_password: 'short' })).body.error, 'password_too_short');
    assert.equal((await change({ username: user.email, password: PASSWORD, new_password: PASSWORD })).body.error, 'password_unchanged');
    assert.equal((await change({ username: user.email, password: PASSWORD, new_password: 'a-brand-new-password' })).status, 204);
    await oneEvent('iam.user.passwordChanged', user.id);

    assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: user.email, password: PASSWORD } })).status, 401);
    assert.ok(await gh.signIn(user.email, 'a-brand-new-password'));
    // Once changed, the way out is closed: the password alone (no second factor, no session) changes nothing.
    const again = await change({ username: user.email, password: 'a-brand-new-password', new_password: 'yet-another-password' });
    assert.equal(again.status, 403);
    assert.equal(again.body.error, 'forbidden');
    assert.ok(await gh.signIn(user.email, 'a-brand-new-password'));
  });

  it('POST /applications/:id/revoke-tokens: every refresh token of the application fails, its users’ tokens are inactive', async () => {
    const one = await signedInUser();
    const two = await signedInUser();
    const response = await gh.request('POST', `/api/v1/applications/${web.id}/revoke-tokens`, { token: acme.token });
    assert.equal(response.status, 200);
    assert.ok(response.body.grants_revoked >= 2);
    for (const user of [one, two]) {
      assert.equal(await introspect(user.tokens.access_token), false);
      assert.equal((await refresh(user.tokens.refresh_token)).json().error, 'invalid_grant');
    }
    // Gatehouse sessions are not the application's: they go on.
    assert.equal((await gh.request('GET', '/api/v1/session', { token: one.session })).status, 200);
    const event = await oneEvent('iam.application.tokensRevoked', web.id);
    assert.equal(event.details.client_id, web.client_id);
  });

  it('suspending a tenant (PATCH status) makes its tokens inactive at once', async () => {
    const beta = await gh.tenantWithAdmin('beta');
    const patched = await gh.request('PATCH', `/api/v1/tenants/${beta.tenantId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(patched.status, 200);
    const call = await gh.request('GET', '/api/v1/users', { token: beta.token });
    assert.equal(call.status, 401);
    assert.equal(call.body.error, 'invalid_token');
    const introspected = await gh.request('POST', '/api/v1/tokens/introspect', { token: admin, body: { token: beta.token } });
    assert.equal(introspected.status, 200);
    assert.deepEqual(introspected.body, { active: false });
    const event = (await gh.auditEvents(admin, { action: 'iam.tenant.modified' })).find((e) => e.target_id === beta.tenantId);
    assert.ok(event);
  });

  it('a tenant administrator cannot act on another tenant’s users, nor on a system administrator', async () => {
    const other = await gh.tenantWithAdmin('other');
    const stranger = await gh.createUser(other.token, { email: 'stranger@other.test', password: PASSWORD });
    for (const action of ['disable', 'force-password-reset']) {
      const response = await gh.request('POST', `/api/v1/users/${stranger}/${action}`, { token: acme.token });
      assert.equal(response.status, 404, `${action}: ${JSON.stringify(response.body)}`);
    }
    const signOut = await gh.request('DELETE', `/api/v1/users/${stranger}/sessions`, { token: acme.token });
    assert.equal(signOut.status, 404, JSON.stringify(signOut.body));
    const { id: systemAdminId } = await gh.systemAdmin();
    const response = await gh.request('POST', `/api/v1/users/${systemAdminId}/disable`, { token: acme.token });
    assert.equal(response.status, 404);
    const self = await gh.request('POST', `/api/v1/users/${acme.adminId}/disable`, { token: acme.token });
    assert.equal(self.status, 403);
    const app = await gh.request('POST', `/api/v1/applications/${web.id}/revoke-tokens`, { token: other.token });
    assert.equal(app.status, 404);
  });

  it('answers a malformed id with 400, an unknown one with 404', async () => {
    assert.equal((await gh.request('POST', '/api/v1/users/not-a-uuid/disable', { token: acme.token })).status, 400);
    const unknown = await gh.request('POST', '/api/v1/users/0190aaaa-0000-7000-8000-000000000000/disable', { token: acme.token });
    assert.equal(unknown.status, 404);
  });
});
