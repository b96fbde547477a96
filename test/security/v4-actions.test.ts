import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { smsSender } from '../../src/authn/mfa/sms.js';
import { acme, admin, gh, globex, twoTenantsServer } from '../helpers/two-tenants.js';
import { deployed, unbind } from '../ops/actions/setup.js';

const PASSWORD = 'a-long-test-password-1';

/**
 * Actions as a malicious tenant administrator: acme's action runs at the sign-ins of every
 * member of acme, some of whom are globex's accounts too. What it may change stops where
 * acme's administrators' reach stops (decision 180).
 */
describe('v4 actions: acme’s action against globex’s accounts', () => {
  twoTenantsServer();

  test('an action cannot change the metadata of an account homed in or shared with another tenant', async () => {
    const victim = await gh.createUser(globex.token, {
      email: 'shared@globex.test',
      password: PASSWORD,
      app_metadata: { plan: 'free' },
      user_metadata: { theme: 'dark' },
    });
    const added = await gh.request('POST', `/api/v1/tenants/${acme.tenantId}/members`, { token: admin, body: { userId: victim } });
    assert.ok(added.status < 300, JSON.stringify(added.body));
    // acme's administrator cannot change the account directly…
    const direct = await gh.request('PATCH', `/api/v1/users/${victim}`, { token: acme.token, body: { app_metadata: { plan: 'gold' } } });
    assert.equal(direct.status, 403, JSON.stringify(direct.body));
    // …nor through an action run at the victim's sign-in to acme.
    await deployed(
      gh,
      acme.token,
      {
        name: 'Upgrade',
        code: `exports.onExecutePostLogin = async (event, api) => {
          api.user.setAppMetadata('plan', 'gold');
          api.user.setUserMetadata('theme', 'pwned');
        };`,
      },
      { on_error: 'continue' },
    );
    const session = await gh.signIn('shared@globex.test', PASSWORD);
    await gh.tokenFor(session, acme.tenantId);
    const seen = await gh.request('GET', `/api/v1/users/${victim}`, { token: globex.token });
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.body.app_metadata, { plan: 'free' });
    assert.deepEqual(seen.body.user_metadata, { theme: 'dark' });
    const failed = await gh.auditEvents(acme.token, { action: 'iam.action.failed' });
    assert.ok(
      failed.some((e) => JSON.stringify(e).includes('another tenant')),
      'the refusal is audited',
    );
    await unbind(gh, acme.token);
  });

  test('a tenant’s send-phone-message action never reads the text (a sign-in code) of an account shared with another tenant', async () => {
    const shared = await gh.createUser(globex.token, { email: 'texted@globex.test', password: PASSWORD });
    await gh.request('POST', `/api/v1/tenants/${acme.tenantId}/members`, { token: admin, body: { userId: shared } });
    const own = await gh.createUser(acme.token, { email: 'texted@acme.test', password: PASSWORD });
    const action = await deployed(gh, acme.token, {
      name: 'Own SMS provider',
      trigger: 'send-phone-message',
      code: `exports.onExecuteSendPhoneMessage = async (event, api) => { console.log(event.message_options.text); };`,
    });
    const sms = smsSender(gh.ctx);
    await sms.send('+15550100001', 'Your code is 111111', { tenantId: acme.tenantId, userId: shared, action: 'passwordless' });
    await sms.send('+15550100002', 'Your code is 222222', { tenantId: acme.tenantId, userId: own, action: 'passwordless' });
    const runs = await gh.request('GET', `/api/v1/actions/${action.id}/executions`, { token: acme.token });
    const logged = JSON.stringify(runs.body.executions.map((e: { logs: unknown }) => e.logs));
    assert.ok(logged.includes('222222'), `the tenant’s own account’s text goes through its action: ${logged}`);
    assert.ok(!logged.includes('111111'), `the shared account’s code reached acme’s action: ${logged}`);
    await unbind(gh, acme.token, 'send-phone-message');
  });

  test('acme’s own account is still changed by acme’s action', async () => {
    const own = await gh.createUser(acme.token, { email: 'own@acme.test', password: PASSWORD });
    await deployed(gh, acme.token, {
      name: 'Mark',
      code: `exports.onExecutePostLogin = async (event, api) => { api.user.setAppMetadata('seen', true); };`,
    });
    const session = await gh.signIn('own@acme.test', PASSWORD);
    await gh.tokenFor(session, acme.tenantId);
    const seen = await gh.request('GET', `/api/v1/users/${own}`, { token: acme.token });
    assert.equal(seen.body.app_metadata.seen, true);
    await unbind(gh, acme.token);
  });
});

describe('v4 actions: an action’s own output is bounded on the host', () => {
  twoTenantsServer();

  test('an action that replaces the console’s buffer or the api’s command list records at most 100 lines of 2,000 characters and 200 commands', async () => {
    const action = await gh.created('/api/v1/actions', acme.token, {
      name: 'Flood',
      trigger: 'post-login',
      code: `exports.onExecutePostLogin = async (event, api) => {
        __logs = [];
        for (let i = 0; i < 2000; i++) __logs.push('x'.repeat(5000));
        __commands = [];
        for (let i = 0; i < 5000; i++) __commands.push(['accessToken.setCustomClaim', 'https://x/' + i, 1]);
      };`,
    });
    const run = await gh.request('POST', `/api/v1/actions/${action.id}/test`, { token: acme.token, body: {} });
    assert.equal(run.status, 200, JSON.stringify(run.body).slice(0, 300));
    assert.ok(run.body.logs.length <= 100, `${run.body.logs.length} lines`);
    assert.ok(run.body.logs.every((line: string) => line.length <= 2000));
    assert.ok(run.body.commands.length <= 200, `${run.body.commands.length} commands`);
    const executions = await gh.request('GET', `/api/v1/actions/${action.id}/executions`, { token: acme.token });
    assert.equal(executions.status, 200);
    assert.ok(JSON.stringify(executions.body).length < 300_000, `${JSON.stringify(executions.body).length} characters recorded`);
  });
});
