import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
