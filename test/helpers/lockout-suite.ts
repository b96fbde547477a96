import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { PasswordHasher } from '../../src/platform/crypto/passwords.js';
import { PASSWORD, startGatehouse, type TestGatehouse } from './gatehouse.js';
import { type SmtpPeer, startSmtpPeer } from './smtp.js';

/** A clock the test moves by hand. */
export class TestClock {
  constructor(public ms = Date.now()) {}
  now = () => new Date(this.ms);
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

/** Addresses of this run (the counters of a shared Redis outlive a run: never reuse an address). */
export function addresses() {
  const net = `10.${randomInt(256)}.${randomInt(256)}`;
  let next = 1;
  return { net, next: () => `${net}.${next++}` };
}

export interface Attempt {
  status: number;
  body: { error: string; message: string; details?: { retry_after?: number } };
  retryAfter: string | undefined;
}

export async function attempt(gh: TestGatehouse, username: string, password: string, ip: string): Promise<Attempt> {
  const response = await gh.app.inject({ method: 'POST', url: '/api/v1/session', payload: { username, password }, remoteAddress: ip });
  return { status: response.statusCode, body: response.json(), retryAfter: response.headers['retry-after'] as string | undefined };
}

/** Replaces ctx.passwords.verify with a counting wrapper while `run` runs; returns how many verifications ran. */
export async function countVerifies(gh: TestGatehouse, run: () => Promise<void>): Promise<number> {
  const passwords = gh.ctx.passwords as { verify: PasswordHasher['verify'] };
  const original = passwords.verify;
  let calls = 0;
  passwords.verify = async (storedHash, password) => {
    calls++;
    return original(storedHash, password);
  };
  try {
    await run();
  } finally {
    passwords.verify = original;
  }
  return calls;
}

/**
 * Brute-force protection, end to end through POST /api/v1/session, the admin API, the
 * password grant and the unblock email; run on the database's counters and on Redis's.
 */
export function lockoutSuite(name: string, config: Record<string, string> = {}) {
  describe(name, () => {
    let gh: TestGatehouse;
    let smtp: SmtpPeer;
    let admin: string;
    let tenantId: string;
    let tenantAdmin: string;
    let tenantAdminEmail: string;
    const clock = new TestClock();
    const ip = addresses();

    before(async () => {
      smtp = await startSmtpPeer();
      gh = await startGatehouse({ clock, config: { ...config, smtpUrl: smtp.url } });
      admin = await gh.adminToken();
      ({ tenantId, token: tenantAdmin, adminEmail: tenantAdminEmail } = await gh.tenantWithAdmin('acme'));
    });
    /** The test clock runs past token lifetimes: sign the administrators in again. */
    beforeEach(async () => {
      admin = await gh.adminToken();
      tenantAdmin = await gh.tokenFor(await gh.signIn(tenantAdminEmail, PASSWORD), tenantId);
    });
    const refreshTokens = async () => {
      admin = await gh.adminToken();
      tenantAdmin = await gh.tokenFor(await gh.signIn(tenantAdminEmail, PASSWORD), tenantId);
    };
    after(async () => {
      await gh.stop();
      await smtp.stop();
    });

    const newUser = async (email: string) => gh.createUser(admin, { email, password: PASSWORD, tenant: tenantId });

    it('locks an account after 5 consecutive failures for 1 s, doubling to at most 15 minutes (Cognito’s schedule)', async () => {
      await newUser('schedule@acme.test');
      // A new address for every attempt: this test is about the account, not the pair.
      for (let i = 1; i <= 4; i++) assert.equal((await attempt(gh, 'schedule@acme.test', 'wrong-password', ip.next())).status, 401);
      const delays: number[] = [];
      for (let failure = 5; failure <= 16; failure++) {
        const wrong = await attempt(gh, 'schedule@acme.test', 'wrong-password', ip.next());
        assert.equal(wrong.status, 401, `failure ${failure} is checked and counted`);
        const refused = await attempt(gh, 'schedule@acme.test', PASSWORD, ip.next());
        assert.equal(refused.status, 429, `after failure ${failure} even the right password is refused`);
        assert.equal(refused.body.error, 'too_many_attempts');
        assert.equal(refused.retryAfter, String(refused.body.details?.retry_after));
        delays.push(Number(refused.retryAfter));
        clock.advance(Number(refused.retryAfter) - 1);
        assert.equal((await attempt(gh, 'schedule@acme.test', PASSWORD, ip.next())).status, 429, 'still locked a second before the end');
        clock.advance(1);
      }
      assert.deepEqual(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
      assert.equal((await attempt(gh, 'schedule@acme.test', PASSWORD, ip.next())).status, 200, 'the lockout has passed');
      // A success clears the count: the next failure is the first again.
      assert.equal((await attempt(gh, 'schedule@acme.test', 'wrong-password', ip.next())).status, 401);
      assert.equal((await attempt(gh, 'schedule@acme.test', PASSWORD, ip.next())).status, 200);
    });

    it('refuses a locked account without hashing, and answers unknown, wrong and locked alike', async () => {
      await newUser('shape@acme.test');
      const address = ip.next();
      const wrong = await attempt(gh, 'shape@acme.test', 'wrong-password', address);
      const unknown = await attempt(gh, 'nobody@acme.test', 'wrong-password', address);
      assert.equal(wrong.status, 401);
      assert.deepEqual(unknown, wrong, 'unknown user and wrong password answer identically');
      for (let i = 0; i < 4; i++) {
        await attempt(gh, 'shape@acme.test', 'wrong-password', ip.next());
        await attempt(gh, 'nobody@acme.test', 'wrong-password', ip.next());
      }
      const hashes = await countVerifies(gh, async () => {
        const locked = await attempt(gh, 'shape@acme.test', PASSWORD, address);
        const lockedUnknown = await attempt(gh, 'nobody@acme.test', 'wrong-password', address);
        assert.equal(locked.status, 429);
        assert.deepEqual(lockedUnknown, locked, 'an unknown login is locked the same way, with the same answer');
        for (let i = 0; i < 20; i++) assert.equal((await attempt(gh, 'shape@acme.test', 'wrong-password', address)).status, 429);
      });
      assert.equal(hashes, 0, 'no password was hashed for a refused attempt');
      clock.advance(1);
      // Refused attempts were not counted: the next failure is the 6th (2 s), not the 27th.
      assert.equal((await attempt(gh, 'shape@acme.test', 'wrong-password', address)).status, 401);
      assert.equal((await attempt(gh, 'shape@acme.test', PASSWORD, address)).retryAfter, '2');
      clock.advance(2);
    });

    it('lets at most the threshold of concurrent guesses through: the attempt is counted before the hash', async () => {
      await newUser('burst@acme.test');
      const statuses: number[] = [];
      const hashes = await countVerifies(gh, async () => {
        const answers = await Promise.all(Array.from({ length: 20 }, () => attempt(gh, 'burst@acme.test', 'wrong-password', ip.next())));
        statuses.push(...answers.map((answer) => answer.status));
      });
      assert.equal(hashes, 5);
      assert.equal(statuses.filter((status) => status === 401).length, 5);
      assert.equal(statuses.filter((status) => status === 429).length, 15);
      clock.advance(1);
    });

    it('blocks an account for one address after 10 failures, emails an unblock link, and lets the user in from elsewhere', async () => {
      const userId = await newUser('pair@acme.test');
      const attacker = ip.next();
      for (let i = 1; i <= 10; i++) {
        const answer = await attempt(gh, 'pair@acme.test', `guess-${i}-password`, attacker);
        assert.equal(answer.status, 401, `guess ${i}`);
        clock.advance(600); // past every account lockout
      }
      clock.advance(900);
      const blocked = await attempt(gh, 'pair@acme.test', PASSWORD, attacker);
      assert.equal(blocked.status, 429, 'the pair stays blocked after the account lockout has passed');
      assert.equal(blocked.body.details?.retry_after, 30 * 86_400 - 600 - 900, 'blocked for 30 days from the 10th failure');
      const home = ip.next();
      assert.equal((await attempt(gh, 'pair@acme.test', PASSWORD, home)).status, 200, 'the real user signs in from another address');

      await refreshTokens();
      const lockout = await gh.request('GET', `/api/v1/users/${userId}/lockout`, { token: tenantAdmin });
      assert.equal(lockout.status, 200);
      assert.equal(lockout.body.addresses.length, 1);
      assert.equal(lockout.body.addresses[0].ip, attacker);
      assert.ok(lockout.body.addresses[0].blocked_until);

      const mail = await smtp.next('pair@acme.test');
      assert.match(mail.subject, /ACME: sign-in from one address blocked/);
      assert.ok(mail.text.includes(attacker));
      const link = mail.text.match(/https?:\/\/\S+\/unblock\?token=\S+/)?.[0];
      assert.ok(link, 'the email carries an unblock link');
      const url = new URL(link);
      const shown = await gh.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
      assert.equal(shown.statusCode, 200);
      assert.match(shown.body, /<form method="post" action="\/unblock">/);
      assert.equal((await attempt(gh, 'pair@acme.test', PASSWORD, attacker)).status, 429, 'opening the link alone unblocks nothing');
      const token = url.searchParams.get('token')!;
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const done = await gh.app.inject({
        method: 'POST',
        url: '/unblock',
        headers: form,
        payload: new URLSearchParams({ token }).toString(),
      });
      assert.equal(done.statusCode, 200);
      assert.match(done.body, /sign in from that address again/);
      assert.equal((await attempt(gh, 'pair@acme.test', PASSWORD, attacker)).status, 200, 'unblocked');
      const again = await gh.app.inject({
        method: 'POST',
        url: '/unblock',
        headers: form,
        payload: new URLSearchParams({ token }).toString(),
      });
      assert.equal(again.statusCode, 400, 'the link works once');

      const events = await gh.auditEvents(admin, { target: userId });
      const actions = events.map((event) => event.action);
      assert.ok(actions.includes('iam.user.locked'));
      assert.ok(actions.includes('iam.ip.blocked'));
      assert.ok(actions.includes('iam.user.unlocked'));
      assert.ok(!JSON.stringify(events).includes(token), 'the unblock token is in no event');
    });

    it('stops password sign-in at the hard limit until an administrator unlocks it', async () => {
      // What answers 429 is the deployment's policy, the system tenant's (decision 210; a
      // tenant's own hard limit would tell its users from unknown addresses).
      const system = (await gh.systemAdmin()).systemTenantId;
      await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, {
        token: admin,
        body: { lockout: { hard_limit: 12, pair_threshold: 1000, account_max_delay_seconds: 2 } },
      });
      const userId = await newUser('hard@acme.test');
      for (let i = 1; i <= 12; i++) {
        assert.equal((await attempt(gh, 'hard@acme.test', 'wrong-password', ip.next())).status, 401, `guess ${i}`);
        clock.advance(2);
      }
      clock.advance(86_400);
      const refused = await attempt(gh, 'hard@acme.test', PASSWORD, ip.next());
      assert.equal(refused.status, 429, 'a day later, the right password is still refused');
      assert.equal(refused.retryAfter, '2', 'the answer does not tell a hard lock from a lockout');
      await refreshTokens();
      const state = (await gh.request('GET', `/api/v1/users/${userId}/lockout`, { token: tenantAdmin })).body;
      assert.equal(state.hard_locked, true);
      assert.equal(state.locked, true);
      assert.equal(state.attempts[0].failures, 12);

      const other = await gh.tenantWithAdmin('other');
      assert.equal((await gh.request('DELETE', `/api/v1/users/${userId}/lockout`, { token: other.token })).status, 404);
      assert.equal((await gh.request('DELETE', `/api/v1/users/${userId}/lockout`, { token: tenantAdmin })).status, 204);
      assert.equal((await attempt(gh, 'hard@acme.test', PASSWORD, ip.next())).status, 200);
      const cleared = (await gh.request('GET', `/api/v1/users/${userId}/lockout`, { token: tenantAdmin })).body;
      assert.deepEqual(cleared.attempts, []);
      assert.equal(cleared.locked, false);
      await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, {
        token: admin,
        body: { lockout: { hard_limit: 100, pair_threshold: 10, account_max_delay_seconds: 900 } },
      });
    });

    it('throttles an address that fails across many accounts, except a trusted network', async () => {
      const system = (await gh.systemAdmin()).systemTenantId;
      await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, { token: admin, body: { lockout: { ip_threshold: 8 } } });
      const stuffer = ip.next();
      for (let i = 0; i < 9; i++) assert.equal((await attempt(gh, `victim${i}@acme.test`, 'leaked-password', stuffer)).status, 401);
      await newUser('innocent@acme.test');
      const throttled = await attempt(gh, 'innocent@acme.test', PASSWORD, stuffer);
      assert.equal(throttled.status, 429);
      assert.equal(throttled.retryAfter, '3600');
      assert.equal((await attempt(gh, 'innocent@acme.test', PASSWORD, ip.next())).status, 200, 'other addresses are not affected');
      const events = await gh.auditEvents(admin, { action: 'iam.ip.blocked' });
      assert.ok(events.some((event) => event.details.ip === stuffer && event.details.reason === 'address_throttle'));
      clock.advance(3600);
      assert.equal((await attempt(gh, 'innocent@acme.test', PASSWORD, stuffer)).status, 200, 'the throttle ends after an hour');
      await refreshTokens();

      await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, {
        token: admin,
        body: { lockout: { trusted_networks: [`${ip.net}.0/24`] } },
      });
      const office = ip.next();
      for (let i = 0; i < 12; i++) await attempt(gh, `colleague${i}@acme.test`, 'typo-password', office);
      assert.equal((await attempt(gh, 'innocent@acme.test', PASSWORD, office)).status, 200, 'a trusted network is never throttled');
      const bad = await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, {
        token: admin,
        body: { lockout: { trusted_networks: ['10.0.0.0/40'] } },
      });
      assert.equal(bad.status, 400);
      await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, {
        token: admin,
        body: { lockout: { ip_threshold: 100, trusted_networks: [] } },
      });
    });

    it('answers the password grant of a locked account with 429 too_many_attempts and Retry-After, as Auth0 does', async () => {
      const app = await gh.created('/api/v1/applications', admin, {
        name: 'Grant app',
        type: 'web',
        redirect_uris: ['http://localhost:4000/callback'],
        grant_types: ['authorization_code', 'password'],
      });
      await newUser('grant@acme.test');
      const grant = (password: string) =>
        gh.app.inject({
          method: 'POST',
          url: '/oauth/token',
          remoteAddress: ip.next(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            grant_type: 'password',
            username: 'grant@acme.test',
            password,
            client_id: app.client_id,
            client_secret: app.client_secret,
          }).toString(),
        });
      for (let i = 0; i < 5; i++) assert.equal((await grant('wrong-password')).statusCode, 400);
      const refused = await grant(PASSWORD);
      assert.equal(refused.statusCode, 429);
      assert.equal(refused.json().error, 'too_many_attempts');
      assert.equal(refused.headers['retry-after'], '1');
      clock.advance(1);
      assert.equal((await grant(PASSWORD)).statusCode, 200);
    });
  });
}
