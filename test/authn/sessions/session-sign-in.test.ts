import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { usernameFingerprint } from '../../../src/authn/sessions/sessions.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from '../../helpers/gatehouse.js';
import { countVerifies } from '../../helpers/lockout-suite.js';
import { admin, gh, newUser, rawSignIn, sessionServer, tenantId } from './setup.js';

const DAY_MS = 24 * 3600_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('sessions and the signed-in user', () => {
  sessionServer();

  describe('POST /api/v1/session: signing in', () => {
    it('signs in by email and answers exactly {token, id, expires_at} with a ghs_ token and no-store caching', async () => {
      await newUser('shape@acme.test');
      const response = await gh.request('POST', '/api/v1/session', { body: { username: 'shape@acme.test', password: PASSWORD } });
      assert.equal(response.status, 200);
      assert.deepEqual(Object.keys(response.body).sort(), ['expires_at', 'id', 'token']);
      assert.match(response.body.token, /^ghs_[A-Za-z0-9_-]{20,}$/);
      assert.match(response.body.id, UUID);
      assert.equal(new Date(response.body.expires_at).toISOString(), response.body.expires_at);
      assert.equal(response.headers['cache-control'], 'no-store');
    });

    it('signs in by email in any letter case', async () => {
      await newUser('Mixed.Case@acme.test');
      for (const username of ['mixed.case@acme.test', 'MIXED.CASE@ACME.TEST', 'Mixed.Case@acme.test']) {
        const response = await gh.request('POST', '/api/v1/session', { body: { username, password: PASSWORD } });
        assert.equal(response.status, 200, username);
      }
    });

    it('signs in by username, case-insensitively', async () => {
      const id = await newUser('by-username@acme.test', { username: 'JaneDoe' });
      for (const username of ['JaneDoe', 'janedoe', 'JANEDOE']) {
        const response = await gh.request('POST', '/api/v1/session', { body: { username, password: PASSWORD } });
        assert.equal(response.status, 200, username);
        const me = await gh.request('GET', '/api/v1/session', { token: response.body.token });
        assert.equal(me.body.id, id);
      }
    });

    it('sets an HttpOnly, SameSite=Lax session cookie holding the token, without Secure on an http issuer', async () => {
      await newUser('cookie@acme.test');
      const response = await rawSignIn(gh, { username: 'cookie@acme.test', password: PASSWORD });
      assert.equal(response.status, 200);
      const cookie = response.cookies.find((c) => c.name === 'gatehouse_session');
      assert.ok(cookie, 'a gatehouse_session cookie is set');
      assert.equal(cookie.value, JSON.parse(response.text).token);
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Lax');
      assert.equal(cookie.path, '/');
      assert.notEqual(cookie.secure, true);
      assert.doesNotMatch(String(response.headers['set-cookie']), /;\s*Secure/i);
    });

    it('without "remember-me" sets a browser-session cookie (no Expires, no Max-Age) and a 7-day session', async () => {
      await newUser('forgetful@acme.test');
      for (const body of [{}, { 'remember-me': false }]) {
        const response = await rawSignIn(gh, { username: 'forgetful@acme.test', password: PASSWORD, ...body });
        assert.equal(response.status, 200);
        const cookie = response.cookies.find((c) => c.name === 'gatehouse_session')!;
        assert.equal(cookie.expires, undefined);
        assert.equal(cookie.maxAge, undefined);
        assert.doesNotMatch(String(response.headers['set-cookie']), /expires=|max-age=/i);
        const lifetime = Date.parse(JSON.parse(response.text).expires_at) - Date.now();
        assert.ok(lifetime > 6.9 * DAY_MS && lifetime <= 7 * DAY_MS, `session lives 7 days, not ${lifetime} ms`);
      }
    });

    it('with "remember-me" sets a cookie that expires with the 30-day session', async () => {
      await newUser('remember@acme.test');
      const response = await rawSignIn(gh, { username: 'remember@acme.test', password: PASSWORD, 'remember-me': true });
      assert.equal(response.status, 200);
      const expiresAt = Date.parse(JSON.parse(response.text).expires_at);
      const lifetime = expiresAt - Date.now();
      assert.ok(lifetime > 29.9 * DAY_MS && lifetime <= 30 * DAY_MS, `session lives 30 days, not ${lifetime} ms`);
      const cookie = response.cookies.find((c) => c.name === 'gatehouse_session')!;
      assert.ok(cookie.expires instanceof Date, 'the cookie carries an expiry');
      assert.equal(Math.floor(cookie.expires.getTime() / 1000), Math.floor(expiresAt / 1000));
      assert.equal(cookie.httpOnly, true);
    });

    it('records last_login_at on a successful sign-in', async () => {
      const id = await newUser('last-login@acme.test');
      const beforeSignIn = await gh.request('GET', `/api/v1/users/${id}`, { token: admin });
      assert.equal(beforeSignIn.body.last_login_at, null);
      const started = Date.now();
      const token = await gh.signIn('last-login@acme.test', PASSWORD);
      const afterSignIn = await gh.request('GET', `/api/v1/users/${id}`, { token: admin });
      const at = Date.parse(afterSignIn.body.last_login_at);
      assert.ok(
        at >= started - 1000 && at <= Date.now() + 1000,
        `last_login_at is the sign-in time, got ${afterSignIn.body.last_login_at}`,
      );
      const me = await gh.request('GET', '/api/v1/session', { token });
      assert.equal(me.body.last_login_at, afterSignIn.body.last_login_at);
    });

    it('rejects a body with an unknown field, a missing password or a non-boolean "remember-me" with 400', async () => {
      const unknown = await gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD, otp: '1' } });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error, 'unknown_field');
      const missing = await gh.request('POST', '/api/v1/session', { body: { username: ADMIN_EMAIL } });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'missing_field');
      const wrongType = await gh.request('POST', '/api/v1/session', {
        body: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD, 'remember-me': 'yes' },
      });
      assert.equal(wrongType.status, 400);
      assert.equal(wrongType.body.error, 'invalid_type');
    });
  });

  describe('POST /api/v1/session: no username enumeration', () => {
    it('answers an unknown user and a wrong password with byte-identical 401 invalid_credentials bodies', async () => {
      await newUser('known@acme.test');
      const unknown = await rawSignIn(gh, { username: 'nobody@acme.test', password: PASSWORD });
      const wrong = await rawSignIn(gh, { username: 'known@acme.test', password: 'not-the-password' });
      assert.equal(unknown.status, 401);
      assert.equal(wrong.status, 401);
      assert.equal(unknown.text, wrong.text);
      assert.equal(JSON.parse(unknown.text).error, 'invalid_credentials');
      assert.equal(typeof JSON.parse(unknown.text).message, 'string');
      assert.equal(unknown.cookies.length, 0, 'no cookie on a failed sign-in');
      assert.equal(wrong.cookies.length, 0, 'no cookie on a failed sign-in');
    });

    it('runs exactly one password verification for an unknown user, a wrong password and a right one', async () => {
      await newUser('counted@acme.test');
      const attempts: [string, Record<string, unknown>, number][] = [
        ['unknown user', { username: 'ghost@acme.test', password: PASSWORD }, 401],
        ['unknown username', { username: 'ghost', password: PASSWORD }, 401],
        ['wrong password', { username: 'counted@acme.test', password: 'wrong-password-here' }, 401],
        ['right password', { username: 'counted@acme.test', password: PASSWORD }, 200],
      ];
      for (const [what, body, status] of attempts) {
        let response: Awaited<ReturnType<typeof rawSignIn>> | undefined;
        const calls = await countVerifies(gh, async () => {
          response = await rawSignIn(gh, body);
        });
        assert.equal(response!.status, status, what);
        assert.equal(calls, 1, `${what}: one argon2 verify`);
      }
    });

    it('answers a disabled account with a wrong password exactly like an unknown user, and 403 account_disabled only with the right one', async () => {
      const id = await newUser('disabled@acme.test');
      const disable = await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { status: 'disabled' } });
      assert.equal(disable.status, 200);

      let wrong: Awaited<ReturnType<typeof rawSignIn>> | undefined;
      const wrongCalls = await countVerifies(gh, async () => {
        wrong = await rawSignIn(gh, { username: 'disabled@acme.test', password: 'wrong-password-here' });
      });
      const unknown = await rawSignIn(gh, { username: 'nobody@acme.test', password: 'wrong-password-here' });
      assert.equal(wrong!.status, 401);
      assert.equal(wrong!.text, unknown.text);
      assert.equal(wrongCalls, 1);

      const right = await rawSignIn(gh, { username: 'disabled@acme.test', password: PASSWORD });
      assert.equal(right.status, 403);
      assert.equal(JSON.parse(right.text).error, 'account_disabled');
      assert.equal(right.cookies.length, 0, 'no cookie for a disabled account');
    });

    it('answers a pending user (created without a password) with 401 invalid_credentials, like an unknown user', async () => {
      const id = await gh.createUser(admin, { email: 'pending@acme.test', tenant: tenantId });
      const user = await gh.request('GET', `/api/v1/users/${id}`, { token: admin });
      assert.equal(user.body.status, 'pending');
      let response: Awaited<ReturnType<typeof rawSignIn>> | undefined;
      const calls = await countVerifies(gh, async () => {
        response = await rawSignIn(gh, { username: 'pending@acme.test', password: PASSWORD });
      });
      const unknown = await rawSignIn(gh, { username: 'nobody@acme.test', password: PASSWORD });
      assert.equal(response!.status, 401);
      assert.equal(response!.text, unknown.text);
      assert.equal(calls, 1);
    });
  });

  describe('POST /api/v1/session: audit trail', () => {
    const eventsFor = async (query: string) => {
      const response = await gh.request('GET', `/api/v1/audit-events?${query}`, { token: admin });
      assert.equal(response.status, 200);
      return response.body.events as {
        action: string;
        outcome: string;
        actor_id: string | null;
        target_id: string | null;
        details: object;
      }[];
    };

    it('records iam.user.loginFailed for a wrong password without the password anywhere in the event or its outbox row', async () => {
      const id = await newUser('audited@acme.test');
      const secret = 'Wrong-Secret-Password-123';
      assert.equal((await rawSignIn(gh, { username: 'audited@acme.test', password: secret })).status, 401);
      const events = await eventsFor(`action=iam.user.loginFailed&target=${id}`);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.outcome, 'failure');
      assert.ok(!JSON.stringify(events[0]).includes(secret), 'the event has no password');
      const outbox = await gh.ctx.db.selectFrom('event_outbox').selectAll().where('event', '=', 'iam.user.loginFailed').execute();
      assert.ok(outbox.length > 0);
      assert.ok(!JSON.stringify(outbox).includes(secret), 'no outbox row has the password');
      assert.ok(!gh.logs.join('').includes(secret), 'no log line has the password');
    });

    it('records iam.user.loginFailed for an unknown user with a keyed fingerprint of the name, not the name or the password', async () => {
      const secret = 'Unknown-User-Password-456';
      assert.equal((await rawSignIn(gh, { username: 'Stranger@acme.test ', password: secret })).status, 401);
      const events = await eventsFor('action=iam.user.loginFailed');
      const event = events.find(
        (e) => (e.details as Record<string, unknown>).username_fingerprint === usernameFingerprint(gh.ctx, 'stranger@acme.test'),
      );
      assert.ok(event, 'the failure is recorded');
      assert.ok(!JSON.stringify(event).toLowerCase().includes('stranger@acme.test'), 'a typed name may be a password: not stored');
      assert.equal(event.outcome, 'failure');
      assert.ok(!JSON.stringify(event).includes(secret), 'the event has no password');
    });

    it('records iam.user.loginFailed for a disabled account signing in with the right password', async () => {
      const id = await newUser('audited-disabled@acme.test');
      await gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { status: 'disabled' } });
      assert.equal((await rawSignIn(gh, { username: 'audited-disabled@acme.test', password: PASSWORD })).status, 403);
      const events = await eventsFor(`action=iam.user.loginFailed&target=${id}`);
      assert.equal(events.length, 1);
      assert.ok(!JSON.stringify(events[0]).includes(PASSWORD), 'the event has no password');
    });

    it('records iam.user.loginSucceeded with the user as actor and target and the session id', async () => {
      const id = await newUser('audited-ok@acme.test');
      const response = await gh.request('POST', '/api/v1/session', { body: { username: 'audited-ok@acme.test', password: PASSWORD } });
      assert.equal(response.status, 200);
      const events = await eventsFor(`action=iam.user.loginSucceeded&target=${id}`);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.outcome, 'success');
      assert.equal(events[0]!.actor_id, id);
      assert.equal((events[0]!.details as { session_id?: string }).session_id, response.body.id);
      assert.ok(!JSON.stringify(events[0]).includes(PASSWORD), 'the event has no password');
      assert.ok(!JSON.stringify(events[0]).includes(response.body.token), 'the event has no session token');
    });
  });
});
