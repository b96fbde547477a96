import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sealDestination } from '../../src/authn/mfa/factors.js';
import { MFA_SENDS_PER_HOUR } from '../../src/authn/mfa/oob.js';
import { pruneProtection } from '../../src/authn/protection/prune.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { addresses, attempt, TestClock } from '../helpers/lockout-suite.js';
import { Browser, formOf, startListeningGatehouse } from '../helpers/oidc.js';

/**
 * Issue 12, item 11 (lockout thresholds) and the throttles still open: an attacker tells a
 * known address from an unknown one by a tenant's stricter lockout, bombs a user with MFA
 * codes, spreads guesses over one IPv6 /64, and fills the counter tables.
 */
describe('V2 (ASVS 2.2): enumeration by lockout, MFA resends, IPv6 throttles, pruning', () => {
  let gh: TestGatehouse;
  let admin: string;
  let strict: TenantAdmin;
  let systemTenantId: string;
  const clock = new TestClock();
  const ip = addresses();

  before(async () => {
    gh = await startGatehouse({ clock });
    admin = await gh.adminToken();
    systemTenantId = (await gh.systemAdmin()).systemTenantId;
    strict = await gh.tenantWithAdmin('strict');
    const policies = await gh.request('PATCH', `/api/v1/tenants/${strict.tenantId}/policies`, {
      token: admin,
      body: { lockout: { account_threshold: 2 } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
  });
  /** The test clock runs past token lifetimes: sign the administrators in again. */
  beforeEach(async () => {
    admin = await gh.adminToken();
    strict.token = await gh.tokenFor(await gh.signIn(strict.adminEmail, PASSWORD), strict.tenantId);
  });
  after(() => gh.stop());

  const setSystemLockout = async (lockout: Record<string, unknown>) => {
    admin = await gh.adminToken();
    const answer = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}/policies`, { token: admin, body: { lockout } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  };

  it('a tenant with a lower lockout threshold answers its users exactly as unknown addresses until the deployment-wide one', async () => {
    await gh.createUser(strict.token, { email: 'known@strict.test', password: PASSWORD });
    const known = [];
    const unknown = [];
    for (let i = 0; i < 8; i++) {
      known.push(await attempt(gh, 'known@strict.test', 'wrong-password', ip.next()));
      unknown.push(await attempt(gh, 'nobody@strict.test', 'wrong-password', ip.next()));
    }
    assert.deepEqual(known, unknown, 'status, code, body and Retry-After alike, attempt by attempt');
    assert.deepEqual(
      known.map((a) => a.status),
      [401, 401, 401, 401, 401, 429, 429, 429],
      'the 429 comes at the deployment-wide threshold (5), for both',
    );
    clock.advance(3600);
  });

  it('the stricter tenant lock is quiet: the right password is answered as a wrong one until it ends', async () => {
    await gh.createUser(strict.token, { email: 'quiet@strict.test', password: PASSWORD });
    for (let i = 0; i < 2; i++) assert.equal((await attempt(gh, 'quiet@strict.test', 'wrong-password', ip.next())).status, 401);
    const locked = await attempt(gh, 'quiet@strict.test', PASSWORD, ip.next());
    const wrong = await attempt(gh, 'nobody-else@strict.test', 'wrong-password', ip.next());
    assert.deepEqual(locked, wrong, 'refused like a wrong password, not with 429');
    clock.advance(2); // the tenant's schedule: 1 s after the 2nd failure, 2 s after the 3rd
    assert.equal((await attempt(gh, 'quiet@strict.test', PASSWORD, ip.next())).status, 200, 'the quiet lock ends on time');
  });

  it('a burst of parallel guesses on a stricter tenant’s user: its threshold of checks, and the unknown address’s answers', async () => {
    await gh.createUser(strict.token, { email: 'burst@strict.test', password: PASSWORD });
    const passwords = gh.ctx.passwords as { verify: (hash: string | null | undefined, password: string) => Promise<boolean> };
    const verify = passwords.verify;
    let checked = 0;
    passwords.verify = (hash, password) => {
      if (hash) checked++; // the account's own hash, not the dummy
      return verify(hash, password);
    };
    try {
      const burst = (login: string) => Promise.all(Array.from({ length: 20 }, () => attempt(gh, login, 'wrong-password', ip.next())));
      const statuses = (answers: { status: number }[]) => answers.map((a) => a.status).sort();
      const known = statuses(await burst('burst@strict.test'));
      assert.equal(checked, 2, 'the tenant’s threshold of guesses reached the password');
      assert.deepEqual(known, statuses(await burst('nobody-burst@strict.test')));
      assert.equal(known.filter((status) => status === 401).length, 5);
    } finally {
      passwords.verify = verify;
    }
    clock.advance(3600);
  });

  it('a tenant’s lower hard limit stops its user quietly, as an unknown address is answered; its administrator sees it', async () => {
    const set = (hard_limit: number) =>
      gh.request('PATCH', `/api/v1/tenants/${strict.tenantId}/policies`, { token: admin, body: { lockout: { hard_limit } } });
    assert.equal((await set(10)).status, 200);
    const id = await gh.createUser(strict.token, { email: 'hard@strict.test', password: PASSWORD });
    for (let i = 0; i < 10; i++) {
      const known = await attempt(gh, 'hard@strict.test', 'wrong-password', ip.next());
      assert.deepEqual(known, await attempt(gh, 'nobody-hard@strict.test', 'wrong-password', ip.next()), `failure ${i + 1}`);
      clock.advance(1000); // past every delay
    }
    const stopped = await attempt(gh, 'hard@strict.test', PASSWORD, ip.next());
    assert.deepEqual(stopped, await attempt(gh, 'nobody-hard@strict.test', 'wrong-password', ip.next()));
    assert.equal(stopped.status, 401, 'even the right password, answered as a wrong one');
    strict.token = await gh.tokenFor(await gh.signIn(strict.adminEmail, PASSWORD), strict.tenantId); // hours have passed
    admin = await gh.adminToken();
    const view = (await gh.request('GET', `/api/v1/users/${id}/lockout`, { token: strict.token })).body;
    assert.equal(view.hard_locked, true);
    assert.equal(view.locked, true);
    assert.equal((await gh.request('DELETE', `/api/v1/users/${id}/lockout`, { token: strict.token })).status, 204);
    assert.equal((await attempt(gh, 'hard@strict.test', PASSWORD, ip.next())).status, 200);
    assert.equal((await set(100)).status, 200);
  });

  it('attempts from 2001:db8::1 and 2001:db8::2 count together: IPv6 addresses are throttled by /64', async () => {
    await setSystemLockout({ ip_threshold: 3 });
    await gh.createUser(admin, { email: 'innocent@v6.test', password: PASSWORD });
    for (let i = 1; i <= 4; i++) {
      assert.equal((await attempt(gh, `victim${i}@v6.test`, 'leaked-password', `2001:db8:1:2::${i}`)).status, 401);
    }
    const throttled = await attempt(gh, 'innocent@v6.test', PASSWORD, '2001:db8:1:2:ffff:ffff:ffff:fffe');
    assert.equal(throttled.status, 429, 'the whole /64 is throttled');
    assert.equal((await attempt(gh, 'innocent@v6.test', PASSWORD, '2001:db8:1:3::1')).status, 200, 'the next /64 is not');
    // An IPv4 client on a dual-stack socket is the same client as over IPv4.
    for (let i = 0; i < 2; i++) await attempt(gh, `mapped${i}@v6.test`, 'leaked-password', '198.51.100.7');
    for (let i = 2; i < 4; i++) await attempt(gh, `mapped${i}@v6.test`, 'leaked-password', '::ffff:198.51.100.7');
    assert.equal((await attempt(gh, 'innocent@v6.test', PASSWORD, '198.51.100.7')).status, 429);
    clock.advance(3600);
    await setSystemLockout({ ip_threshold: 100 });
  });

  it('prunes counter, block and unblock rows once they have expired; a hard lock and a running block stay', async () => {
    await setSystemLockout({ pair_threshold: 2, hard_limit: 10 });
    const pairUser = await gh.createUser(admin, { email: 'pair@prune.test', password: PASSWORD });
    const hardUser = await gh.createUser(admin, { email: 'hard@prune.test', password: PASSWORD });
    const attacker = ip.next();
    for (let i = 0; i < 2; i++) await attempt(gh, 'pair@prune.test', 'wrong-password', attacker);
    for (let i = 0; i < 5; i++) await attempt(gh, `ghost${i}@prune.test`, 'wrong-password', ip.next());
    for (let i = 0; i < 10; i++) {
      await attempt(gh, 'hard@prune.test', 'wrong-password', ip.next());
      clock.advance(1000);
    }
    const count = async () => ({
      accounts: await gh.rowCount('attempt_accounts'),
      pairs: await gh.rowCount('attempt_pairs'),
      ips: await gh.rowCount('attempt_ips'),
      unblocks: await gh.rowCount('unblock_tokens'),
    });
    const before = await count();
    assert.ok(before.pairs > 0 && before.ips > 0 && before.unblocks > 0);
    await pruneProtection(gh.ctx);
    const fresh = await count();
    assert.ok(fresh.pairs > 0, 'a running pair block stays');
    clock.advance(31 * 86_400);
    await pruneProtection(gh.ctx);
    const pruned = await count();
    assert.deepEqual(pruned, { accounts: 1, pairs: 0, ips: 0, unblocks: 0 }, 'only the hard-locked account is left');
    const left = await gh.ctx.db.selectFrom('attempt_accounts').select(['user_id', 'hard_locked']).executeTakeFirstOrThrow();
    assert.deepEqual(left, { user_id: hardUser, hard_locked: true });
    assert.ok(pairUser);
    await setSystemLockout({ pair_threshold: 10, hard_limit: 100 });
  });

  it('resending an MFA code is rate-limited: the session mfa_token at /mfa/challenge', async () => {
    const email = 'bombed@strict.test';
    const id = await gh.createUser(admin, { email, password: PASSWORD });
    const factorId = gh.ctx.ids.next();
    await gh.ctx.db
      .insertInto('mfa_factors')
      .values({ id: factorId, user_id: id, type: 'email', destination_sealed: sealDestination(gh.ctx, factorId, email), confirmed: true })
      .execute();
    const mfaToken = async () => {
      const signIn = await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } });
      assert.equal(signIn.body.error, 'mfa_required', JSON.stringify(signIn.body));
      return signIn.body.mfa_token as string;
    };
    let token = await mfaToken();
    const challenge = () => gh.request('POST', '/mfa/challenge', { body: { mfa_token: token, challenge_type: 'oob' } });
    for (let i = 0; i < MFA_SENDS_PER_HOUR; i++) assert.equal((await challenge()).status, 200, `send ${i + 1}`);
    const refused = await challenge();
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'too_many_attempts');
    assert.ok(Number(refused.headers['retry-after']) > 0);
    const sent = await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', email).execute();
    assert.equal(sent.length, MFA_SENDS_PER_HOUR, 'no email for the refused send');
    token = await mfaToken();
    assert.equal((await challenge()).status, 429, 'a new mfa_token does not reset the count');
    clock.advance(3601);
    token = await mfaToken();
    assert.equal((await challenge()).status, 200, 'an hour later the limit is over');
  });
});

describe('V2 (ASVS 2.2): MFA code resends on the hosted sign-in page', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let clientId: string;
  const redirectUri = 'http://localhost:4000/callback';

  before(async () => {
    gh = await startListeningGatehouse();
    const admin = await gh.adminToken();
    ({ client_id: clientId } = await gh.created('/api/v1/applications', admin, {
      name: 'Web app',
      type: 'web',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
    }));
    const id = await gh.createUser(admin, { email: 'page@resend.test', password: PASSWORD });
    const factorId = gh.ctx.ids.next();
    await gh.ctx.db
      .insertInto('mfa_factors')
      .values({
        id: factorId,
        user_id: id,
        type: 'email',
        destination_sealed: sealDestination(gh.ctx, factorId, 'page@resend.test'),
        confirmed: true,
      })
      .execute();
  });
  after(() => gh.stop());

  it('the “send a code” button is refused with 429 and the page after the limit', async () => {
    const browser = new Browser();
    const params = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid' });
    const opened = await browser.follow(`${gh.issuer}/authorize?${params}`);
    const form = formOf(await opened.response.text());
    const step = await browser.submit(opened.url, form.action, { ...form.fields, username: 'page@resend.test', password: PASSWORD });
    const page = await step.response.text();
    const send = /<form[^>]*action="([^"]*\/mfa\/send)"[^>]*>([\s\S]*?)<\/form>/.exec(page);
    assert.ok(send, 'the challenge page offers to send a code');
    const sendForm = formOf(send[0]);
    for (let i = 0; i < MFA_SENDS_PER_HOUR; i++) {
      const sent = await browser.submit(step.url, sendForm.action, sendForm.fields);
      assert.equal(sent.response.status, 200, `send ${i + 1}`);
    }
    const refused = await browser.submit(step.url, sendForm.action, sendForm.fields);
    assert.equal(refused.response.status, 429);
    assert.ok(Number(refused.response.headers.get('retry-after')) > 0);
    assert.match(await refused.response.text(), /Too many/);
  });
});
