import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { admin, gh, newUser, rawSignIn, sessionServer, tenantId } from './setup.js';

describe('sessions and the signed-in user', () => {
  sessionServer();

  describe('GET /api/v1/session: the current user', () => {
    it('returns the signed-in user by bearer session token, without credentials', async () => {
      const id = await newUser('current@acme.test', { name: 'Current User' });
      const token = await gh.signIn('current@acme.test', PASSWORD);
      const response = await gh.request('GET', '/api/v1/session', { token });
      assert.equal(response.status, 200);
      assert.equal(response.body.id, id);
      assert.equal(response.body.email, 'current@acme.test');
      assert.equal(response.body.name, 'Current User');
      assert.equal(response.body.status, 'active');
      assert.equal(response.body.home_tenant_id, tenantId);
      assert.equal(response.body.password_hash, undefined);
      assert.ok(!JSON.stringify(response.body).includes('argon2'), 'no password hash in the response');
    });

    it('returns the signed-in user by the session cookie', async () => {
      const id = await newUser('cookie-current@acme.test');
      const login = await rawSignIn(gh, { username: 'cookie-current@acme.test', password: PASSWORD });
      const cookie = login.cookies.find((c) => c.name === 'gatehouse_session')!;
      const response = await gh.app.inject({ method: 'GET', url: '/api/v1/session', cookies: { gatehouse_session: cookie.value } });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().id, id);
    });

    it('refuses an access token (401 invalid_token): it must not act for the session, e.g. mint tokens for the user’s other organizations', async () => {
      await newUser('via-jwt@acme.test');
      const session = await gh.signIn('via-jwt@acme.test', PASSWORD);
      const access = await gh.tokenFor(session, tenantId);
      for (const [method, url, body] of [
        ['GET', '/api/v1/session', undefined],
        ['DELETE', '/api/v1/session', undefined],
        ['GET', '/api/v1/organizations', undefined],
        ['POST', '/api/v1/token', { organization: tenantId }],
        ['GET', '/api/v1/users/me', undefined],
        ['PATCH', '/api/v1/users/me', { name: 'Changed by a leaked token' }],
      ] as const) {
        const response = await gh.request(method, url, { token: access, ...(body && { body }) });
        assert.equal(response.status, 401, `${method} ${url}`);
        assert.equal(response.body.error, 'invalid_token', `${method} ${url}`);
      }
      assert.equal((await gh.request('GET', '/api/v1/session', { token: session })).status, 200, 'the session itself is untouched');
    });

    it('answers 401 unauthorized without credentials, with a garbage token and with a garbage cookie', async () => {
      const none = await gh.request('GET', '/api/v1/session');
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      for (const token of ['garbage', 'ghs_not-a-real-session-token']) {
        const response = await gh.request('GET', '/api/v1/session', { token });
        assert.equal(response.status, 401, token);
        assert.equal(response.body.error, 'unauthorized', token);
      }
      const cookie = await gh.app.inject({ method: 'GET', url: '/api/v1/session', cookies: { gatehouse_session: 'ghs_forged' } });
      assert.equal(cookie.statusCode, 401);
      assert.equal(cookie.json().error, 'unauthorized');
    });
  });

  describe('DELETE /api/v1/session: signing out', () => {
    it('revokes the session: the token then gets 401 on GET /session and GET /organizations', async () => {
      await newUser('leaver@acme.test');
      const token = await gh.signIn('leaver@acme.test', PASSWORD);
      assert.equal((await gh.request('GET', '/api/v1/organizations', { token })).status, 200);
      const out = await gh.request('DELETE', '/api/v1/session', { token });
      assert.equal(out.status, 204);
      const session = await gh.request('GET', '/api/v1/session', { token });
      assert.equal(session.status, 401);
      assert.equal(session.body.error, 'unauthorized');
      const orgs = await gh.request('GET', '/api/v1/organizations', { token });
      assert.equal(orgs.status, 401);
      assert.equal(orgs.body.error, 'unauthorized');
      const again = await gh.request('DELETE', '/api/v1/session', { token });
      assert.equal(again.status, 401, 'a revoked session cannot sign out twice');
    });

    it('stops access tokens issued from the revoked session working on the admin API', async () => {
      await newUser('leaver-jwt@acme.test');
      const token = await gh.signIn('leaver-jwt@acme.test', PASSWORD);
      const access = await gh.tokenFor(token, tenantId);
      assert.equal((await gh.request('GET', `/api/v1/tenants/${tenantId}`, { token: access })).status, 200);
      assert.equal((await gh.request('DELETE', '/api/v1/session', { token })).status, 204);
      const after = await gh.request('GET', `/api/v1/tenants/${tenantId}`, { token: access });
      assert.equal(after.status, 401);
      assert.equal(after.body.error, 'invalid_token');
      const mint = await gh.request('POST', '/api/v1/token', { token, body: { organization: tenantId } });
      assert.equal(mint.status, 401, 'no new access token from a revoked session');
    });

    it('signs out by cookie and clears the cookie', async () => {
      await newUser('cookie-leaver@acme.test');
      const login = await rawSignIn(gh, { username: 'cookie-leaver@acme.test', password: PASSWORD });
      const value = login.cookies.find((c) => c.name === 'gatehouse_session')!.value;
      const out = await gh.app.inject({ method: 'DELETE', url: '/api/v1/session', cookies: { gatehouse_session: value } });
      assert.equal(out.statusCode, 204);
      const cleared = out.cookies.find((c) => c.name === 'gatehouse_session');
      assert.ok(cleared, 'the response resets the cookie');
      assert.equal(cleared.value, '');
      assert.ok(cleared.expires instanceof Date && cleared.expires.getTime() <= Date.now(), 'the cookie is expired');
      const after = await gh.app.inject({ method: 'GET', url: '/api/v1/session', cookies: { gatehouse_session: value } });
      assert.equal(after.statusCode, 401);
    });

    it('ends only the session it is called with, not the user’s other sessions', async () => {
      await newUser('two-devices@acme.test');
      const first = await gh.signIn('two-devices@acme.test', PASSWORD);
      const second = await gh.signIn('two-devices@acme.test', PASSWORD);
      assert.equal((await gh.request('DELETE', '/api/v1/session', { token: first })).status, 204);
      assert.equal((await gh.request('GET', '/api/v1/session', { token: first })).status, 401);
      assert.equal((await gh.request('GET', '/api/v1/session', { token: second })).status, 200);
    });

    it('answers 401 unauthorized without credentials', async () => {
      const response = await gh.request('DELETE', '/api/v1/session');
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'unauthorized');
    });
  });

  describe('GET and PATCH /api/v1/users/me', () => {
    it('GET returns the own profile by session token and by cookie', async () => {
      const id = await newUser('me@acme.test', { name: 'Me Myself' });
      const login = await rawSignIn(gh, { username: 'me@acme.test', password: PASSWORD });
      const token = JSON.parse(login.text).token;
      const byToken = await gh.request('GET', '/api/v1/users/me', { token });
      assert.equal(byToken.status, 200);
      assert.equal(byToken.body.id, id);
      assert.equal(byToken.body.email, 'me@acme.test');
      assert.equal(byToken.body.name, 'Me Myself');
      assert.equal(byToken.body.password_hash, undefined);
      const byCookie = await gh.app.inject({ method: 'GET', url: '/api/v1/users/me', cookies: { gatehouse_session: token } });
      assert.equal(byCookie.statusCode, 200);
      assert.equal(byCookie.json().id, id);
    });

    it('GET and PATCH answer 401 unauthorized without credentials', async () => {
      const get = await gh.request('GET', '/api/v1/users/me');
      assert.equal(get.status, 401);
      assert.equal(get.body.error, 'unauthorized');
      const patch = await gh.request('PATCH', '/api/v1/users/me', { body: { name: 'Nobody' } });
      assert.equal(patch.status, 401);
      assert.equal(patch.body.error, 'unauthorized');
    });

    it('PATCH changes the profile fields and user_metadata, and GET shows them', async () => {
      const id = await newUser('profile@acme.test');
      const token = await gh.signIn('profile@acme.test', PASSWORD);
      const patch = {
        phone: '+49 30 1234567',
        given_name: 'Pro',
        family_name: 'File',
        name: 'Pro File',
        picture: 'https://example.test/p.png',
        locale: 'de-DE',
        user_metadata: { theme: 'dark', nested: { a: 1 } },
      };
      const response = await gh.request('PATCH', '/api/v1/users/me', { token, body: patch });
      assert.equal(response.status, 200);
      assert.equal(response.body.id, id);
      for (const [field, value] of Object.entries(patch)) assert.deepEqual(response.body[field], value, field);
      const me = await gh.request('GET', '/api/v1/users/me', { token });
      for (const [field, value] of Object.entries(patch)) assert.deepEqual(me.body[field], value, field);
      assert.equal(me.body.email, 'profile@acme.test');
      assert.equal(me.body.status, 'active');

      const cleared = await gh.request('PATCH', '/api/v1/users/me', { token, body: { phone: null, name: null } });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.phone, null);
      assert.equal(cleared.body.name, null);
      assert.equal(cleared.body.given_name, 'Pro', 'fields left out stay as they were');
    });

    it('PATCH refuses a username (400 unknown_field): a sign-in identifier is set by administrators, so users cannot probe for taken names', async () => {
      await newUser('prober@acme.test');
      const token = await gh.signIn('prober@acme.test', PASSWORD);
      const response = await gh.request('PATCH', '/api/v1/users/me', { token, body: { username: 'someone-else' } });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'unknown_field');
    });

    it('PATCH refuses email, status, password and app_metadata with 400 unknown_field and changes nothing', async () => {
      const id = await newUser('locked-fields@acme.test');
      const token = await gh.signIn('locked-fields@acme.test', PASSWORD);
      const forbidden: Record<string, unknown>[] = [
        { email: 'hijack@acme.test' },
        { status: 'disabled' },
        { password: 'a-brand-new-password' },
        { app_metadata: { plan: 'enterprise' } },
        { name: 'Sneaky', email: 'hijack@acme.test' },
      ];
      for (const body of forbidden) {
        const response = await gh.request('PATCH', '/api/v1/users/me', { token, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, 'unknown_field', JSON.stringify(body));
      }
      const user = await gh.request('GET', `/api/v1/users/${id}`, { token: admin });
      assert.equal(user.body.email, 'locked-fields@acme.test');
      assert.equal(user.body.status, 'active');
      assert.deepEqual(user.body.app_metadata, {});
      assert.equal(user.body.name, null, 'no partial write');
      assert.equal(
        (await gh.request('POST', '/api/v1/session', { body: { username: 'locked-fields@acme.test', password: PASSWORD } })).status,
        200,
      );
    });

    it('PATCH records iam.user.modified', async () => {
      const id = await newUser('modified@acme.test');
      const token = await gh.signIn('modified@acme.test', PASSWORD);
      assert.equal((await gh.request('PATCH', '/api/v1/users/me', { token, body: { locale: 'fr' } })).status, 200);
      const events = await gh.request('GET', `/api/v1/audit-events?action=iam.user.modified&target=${id}`, { token: admin });
      assert.equal(events.body.events.length, 1);
      assert.equal(events.body.events[0].actor_id, id);
    });
  });

  describe('malformed Authorization header', () => {
    const malformed = ['Basic YWRtaW46cGFzc3dvcmQ=', 'Bearer', 'Bearer ', 'Token abc', 'bearer-abc'];

    it('answers 401 unauthorized on the session routes', async () => {
      for (const authorization of malformed) {
        for (const url of ['/api/v1/session', '/api/v1/users/me', '/api/v1/organizations']) {
          const response = await gh.request('GET', url, { headers: { authorization } });
          assert.equal(response.status, 401, `${url} with "${authorization}"`);
          assert.equal(response.body.error, 'unauthorized', `${url} with "${authorization}"`);
        }
      }
    });

    it('answers 401 unauthorized on an admin route', async () => {
      for (const authorization of malformed) {
        const response = await gh.request('GET', '/api/v1/tenants', { headers: { authorization } });
        assert.equal(response.status, 401, authorization);
        assert.equal(response.body.error, 'unauthorized', authorization);
      }
    });

    it('is not rescued by a valid session cookie sent alongside it', async () => {
      await newUser('mixed-credentials@acme.test');
      const token = await gh.signIn('mixed-credentials@acme.test', PASSWORD);
      const response = await gh.app.inject({
        method: 'GET',
        url: '/api/v1/session',
        headers: { authorization: 'Basic Zm9vOmJhcg==' },
        cookies: { gatehouse_session: token },
      });
      assert.equal(response.statusCode, 401);
    });
  });
});

describe('session cookie on an https issuer', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse({ issuer: 'https://gatehouse.test' });
  });
  after(() => gh.stop());

  it('marks the session cookie Secure (and still HttpOnly, SameSite=Lax)', async () => {
    const response = await rawSignIn(gh, { username: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(response.status, 200);
    const cookie = response.cookies.find((c) => c.name === 'gatehouse_session')!;
    assert.equal(cookie.secure, true);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
  });

  it('marks the cleared cookie on sign-out Secure too', async () => {
    const token = JSON.parse((await rawSignIn(gh, { username: ADMIN_EMAIL, password: ADMIN_PASSWORD })).text).token;
    const out = await gh.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.statusCode, 204);
    assert.equal(out.cookies.find((c) => c.name === 'gatehouse_session')?.secure, true);
  });
});
