import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { countryOf } from '../../../src/authn/bot-defence/sms-caps.js';
import { sealDestination } from '../../../src/authn/mfa/factors.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { TestClock } from '../../helpers/lockout-suite.js';

/**
 * Issue 16.5, SMS pumping: texts are counted per tenant and per destination country each
 * hour (429 sms_cap_reached with retry_after beyond a cap), and a code is not texted again
 * to one factor or passwordless login sooner than the resend interval (429 resend_too_soon).
 */
describe('bot defence: SMS caps per tenant and country, and the resend limit', () => {
  let gh: TestGatehouse;
  let acme: TenantAdmin;
  let clientId: string;
  const clock = new TestClock();

  before(async () => {
    gh = await startGatehouse({ clock });
    acme = await gh.tenantWithAdmin('acme');
    clientId = (
      await gh.created('/api/v1/applications', acme.token, { name: 'Portal', type: 'web', redirect_uris: ['http://localhost:4000/cb'] })
    ).client_id;
    const admin = await gh.adminToken();
    const patched = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: admin,
      body: {
        passwordless: { methods: ['sms_code'] },
        sms: { tenant_hourly_cap: 3, country_hourly_cap: 5, country_hourly_caps: { JM: 1 }, resend_interval_seconds: 30 },
      },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
  });
  after(() => gh?.stop());

  /** A user of acme with a confirmed SMS factor; returns a function that asks /mfa/challenge to text a code. */
  async function texter(email: string, phone: string) {
    const id = await gh.createUser(acme.token, { email, password: PASSWORD });
    const factorId = gh.ctx.ids.next();
    await gh.ctx.db
      .insertInto('mfa_factors')
      .values({ id: factorId, user_id: id, type: 'sms', destination_sealed: sealDestination(gh.ctx, factorId, phone), confirmed: true })
      .execute();
    return async () => {
      const signIn = await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } });
      assert.equal(signIn.body.error, 'mfa_required', JSON.stringify(signIn.body));
      return gh.request('POST', '/mfa/challenge', { body: { mfa_token: signIn.body.mfa_token, challenge_type: 'oob' } });
    };
  }
  const texts = () => gh.rowCount('sms_outbox');

  it('the country comes from the E.164 number', () => {
    assert.equal(countryOf('+14155550100'), 'US');
    assert.equal(countryOf('+18765550100'), 'JM', '+1 is not one country: Jamaica is its own');
    assert.equal(countryOf('+4915112345678'), 'DE');
    assert.equal(countryOf('+88212345'), '+882', 'a number without a country: its calling code');
  });

  it('a resend sooner than the interval is refused with retry_after; after it, the country’s cap holds', async () => {
    const send = await texter('jam@acme.test', '+18765550100');
    const first = await send();
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const sent = await texts();
    const again = await send();
    assert.equal(again.status, 429);
    assert.equal(again.body.error, 'resend_too_soon');
    const retry = Number(again.headers['retry-after']);
    assert.ok(retry > 0 && retry <= 30, `retry-after ${retry}`);
    clock.advance(31);
    const capped = await send();
    assert.equal(capped.status, 429, 'Jamaica’s cap is one text an hour');
    assert.equal(capped.body.error, 'sms_cap_reached');
    assert.ok(Number(capped.headers['retry-after']) > 3000);
    assert.equal(await texts(), sent, 'no text was sent for a refusal');
  });

  it('the tenant’s hourly cap holds across users and countries, and its first refusal is audited', async () => {
    const send = await texter('us@acme.test', '+14155550100');
    // The tenant has sent one (Jamaica); the refused Jamaican text was taken back from its count.
    assert.equal((await send()).status, 200);
    clock.advance(31);
    assert.equal((await send()).status, 200);
    clock.advance(31);
    const capped = await send();
    assert.equal(capped.status, 429);
    assert.equal(capped.body.error, 'sms_cap_reached');
    const admin = await gh.adminToken();
    const events = await gh.auditEvents(admin, { action: 'iam.sms.capReached' });
    assert.deepEqual(events.map((e) => (e.details as { scope: string }).scope).sort(), ['country', 'tenant']);
    clock.advance(3601);
    assert.equal((await send()).status, 200, 'a new hour, a new count');
  });

  it('passwordless texts: the resend limit answers alike for a known and an unknown login', async () => {
    const start = (email: string) =>
      gh.request('POST', '/api/v1/flows/passwordless', { body: { client_id: clientId, method: 'sms_code', email } });
    clock.advance(3601);
    for (const email of ['us@acme.test', 'nobody@acme.test']) {
      assert.equal((await start(email)).status, 202, email);
      const again = await start(email);
      assert.equal(again.status, 429, email);
      assert.equal(again.body.error, 'resend_too_soon');
    }
  });
});
