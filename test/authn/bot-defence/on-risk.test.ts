import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pruneBotDefence } from '../../../src/authn/bot-defence/counters.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { addresses, TestClock } from '../../helpers/lockout-suite.js';
import { solveAltcha } from './helpers.js';

/**
 * Issue 16.5: `on_risk`, the default, asks for a challenge only when a signal holds:
 * failed sign-ins from the address (the brute-force counters), a burst of sign-ups from
 * one network, or an address on the tenant's list. Other clients are not asked.
 */
describe('bot defence: on_risk', () => {
  let gh: TestGatehouse;
  let admin: string;
  let systemTenantId: string;
  let acme: TenantAdmin;
  let clientId: string;
  const clock = new TestClock();
  const ip = addresses();

  before(async () => {
    gh = await startGatehouse({ clock });
    ({ token: admin, systemTenantId } = await gh.systemAdmin());
    acme = await gh.tenantWithAdmin('acme');
    clientId = (
      await gh.created('/api/v1/applications', acme.token, { name: 'Portal', type: 'web', redirect_uris: ['http://localhost:4000/cb'] })
    ).client_id;
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
  });
  after(() => gh?.stop());

  const policies = async (tenantId: string, body: unknown) => {
    // A fresh token: the clock moves in this suite, and an access token lives ten minutes.
    admin = await gh.adminToken();
    const patched = await gh.request('PATCH', `/api/v1/tenants/${tenantId}/policies`, { token: admin, body });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    return patched.body;
  };
  const signIn = (from: string, password: string, captcha?: string) =>
    gh.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      remoteAddress: from,
      payload: { username: ADMIN_EMAIL, password, ...(captcha && { captcha }) },
    });

  it('is the default, and asks nothing of a client without a signal', async () => {
    const read = await gh.request('GET', `/api/v1/tenants/${acme.tenantId}/policies`, { token: admin });
    assert.equal(read.body.bot_defence.mode, 'on_risk');
    assert.equal(read.body.bot_defence.provider, 'altcha');
    assert.equal((await signIn(ip.next(), ADMIN_PASSWORD)).statusCode, 200);
  });

  it('after risk_failures failed sign-ins from an address, that address must solve a challenge; another does not', async () => {
    await policies(systemTenantId, { bot_defence: { risk_failures: 3 } });
    const attacker = ip.next();
    for (let i = 0; i < 3; i++) assert.equal((await signIn(attacker, 'wrong-password')).statusCode, 401, `failure ${i + 1}`);
    const asked = await signIn(attacker, ADMIN_PASSWORD);
    assert.equal(asked.statusCode, 428, asked.body);
    assert.equal(asked.json().details.reason, 'failures');
    assert.equal((await signIn(ip.next(), ADMIN_PASSWORD)).statusCode, 200, 'another address is not asked');
    const solved = await signIn(attacker, ADMIN_PASSWORD, await solveAltcha(asked.json().details.challenge));
    assert.equal(solved.statusCode, 200, solved.body);
    assert.equal((await signIn(attacker, 'wrong-password')).statusCode, 428, 'a guess without a solution is not even checked');
  });

  it('loopback (this host, or a proxy whose clients all look alike) raises no address signal', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await signIn('127.0.0.1', 'wrong-password')).statusCode, 401);
    assert.equal((await signIn('127.0.0.1', ADMIN_PASSWORD)).statusCode, 200);
  });

  it('an address on the tenant’s risky_networks list is asked; the policy of another tenant is not affected', async () => {
    await policies(acme.tenantId, { passwordless: { methods: ['email_code'] }, bot_defence: { risky_networks: ['198.51.100.0/24'] } });
    const start = (from: string) =>
      gh.app.inject({
        method: 'POST',
        url: '/api/v1/flows/passwordless',
        remoteAddress: from,
        payload: { client_id: clientId, method: 'email_code', email: 'jane@acme.test' },
      });
    const listed = await start('198.51.100.77');
    assert.equal(listed.statusCode, 428);
    assert.equal(listed.json().details.reason, 'listed');
    assert.equal((await start('::ffff:198.51.100.78')).statusCode, 428, 'an IPv4-mapped address counts as IPv4');
    assert.equal((await start(ip.next())).statusCode, 202);
    assert.equal((await signIn('198.51.100.77', ADMIN_PASSWORD)).statusCode, 200, 'the system tenant’s policy has no such list');
  });

  it('a burst of sign-ups from one network asks the next one; the window ends the burst', async () => {
    await policies(acme.tenantId, { signup: { enabled: true }, bot_defence: { risk_signups: 2, risk_signup_window_seconds: 600 } });
    const signUp = async (from: string, email: string) => {
      const flow = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: clientId } });
      return gh.app.inject({
        method: 'POST',
        url: `/api/v1/flows/registration/${flow.body.id}`,
        remoteAddress: from,
        payload: { email, password: PASSWORD },
      });
    };
    assert.equal((await signUp('192.0.2.10', 'one@burst.test')).statusCode, 200);
    assert.equal((await signUp('192.0.2.11', 'two@burst.test')).statusCode, 200);
    const third = await signUp('192.0.2.12', 'three@burst.test');
    assert.equal(third.statusCode, 428, 'the same /24');
    assert.equal(third.json().details.reason, 'signup_burst');
    assert.equal((await signUp('192.0.3.10', 'other@burst.test')).statusCode, 200, 'another network');
    clock.advance(601);
    assert.ok((await pruneBotDefence(gh.ctx.db, clock.now())) > 0, 'the sweep forgets the ended window');
    assert.equal((await signUp('192.0.2.13', 'later@burst.test')).statusCode, 200, 'after the window');
  });

  it('mode off asks nothing, whatever the signals', async () => {
    await policies(acme.tenantId, { bot_defence: { mode: 'off' } });
    const flow = await gh.request('POST', '/api/v1/flows/passwordless', {
      body: { client_id: clientId, method: 'email_code', email: 'jane@acme.test' },
    });
    assert.equal(flow.status, 202);
    const listed = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/flows/passwordless',
      remoteAddress: '198.51.100.77',
      payload: { client_id: clientId, method: 'email_code', email: 'jane@acme.test' },
    });
    assert.equal(listed.statusCode, 202);
  });
});
