import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { Browser, passwordSignIn, startListeningGatehouse } from '../../helpers/oidc.js';
import { ADD_ROLES, deployed, OFFICE_ONLY, unbind } from './setup.js';

const CALLBACK = 'http://localhost:4000/callback';

/** The trigger points beyond the token endpoint: the hosted sign-in, sign-up, client credentials, password change, SMS. */
describe('Actions at every trigger point', { timeout: 240_000 }, () => {
  let gh: TestGatehouse & { issuer: string };
  let acme: TenantAdmin;
  let web: { id: string; client_id: string; client_secret: string };
  let config: client.Configuration;

  before(async () => {
    gh = await startListeningGatehouse();
    acme = await gh.tenantWithAdmin('acme');
    await gh.created('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:orders',
      name: 'Orders',
      permissions: [{ value: 'read:orders' }],
    });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    config = await client.discovery(new URL(gh.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret), {
      execute: [client.allowInsecureRequests],
    });
    await gh.createUser(acme.token, { email: 'cat@acme.test', password: PASSWORD });
  });
  after(() => gh.stop());

  it('Done when: the pasted “add roles” action puts the roles into the next hosted sign-in’s tokens; an office-network deny shows its reason on the hosted page', async () => {
    await deployed(gh, acme.token, { name: 'Add roles', code: ADD_ROLES });
    const landed = await passwordSignIn(new Browser(), config, {
      callback: CALLBACK,
      email: 'cat@acme.test',
      password: PASSWORD,
      params: { scope: 'openid offline_access', resource: 'urn:gatehouse:acme:orders' },
    });
    assert.ok(landed.atCallback, `expected the callback, got ${landed.url}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), { pkceCodeVerifier: landed.verifier });
    assert.deepEqual(decodeJwt(tokens.access_token)['https://my-app.example.com/roles'], ['USER']);
    assert.deepEqual(tokens.claims()?.['https://my-app.example.com/roles'], ['USER']);
    // A refresh runs post-login again.
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    assert.deepEqual(decodeJwt(refreshed.access_token)['https://my-app.example.com/roles'], ['USER']);

    const office = await gh.created('/api/v1/actions', acme.token, { name: 'Office', trigger: 'post-login', code: OFFICE_ONLY });
    await gh.request('POST', `/api/v1/actions/${office.id}/deploy`, { token: acme.token, body: {} });
    const roles = (await gh.request('GET', '/api/v1/triggers/post-login/bindings', { token: acme.token })).body.bindings;
    await gh.request('PUT', '/api/v1/triggers/post-login/bindings', {
      token: acme.token,
      body: { bindings: [...roles.map((b: { action_id: string }) => ({ action_id: b.action_id })), { action_id: office.id }] },
    });
    const refused = await passwordSignIn(new Browser(), config, { callback: CALLBACK, email: 'cat@acme.test', password: PASSWORD });
    assert.equal(refused.atCallback, false);
    assert.equal(refused.response.status, 403);
    const page = await refused.response.text();
    assert.match(page, /Sign-ins are allowed from the office network only\./);
    await unbind(gh, acme.token);
  });

  it('credentials-exchange: a machine token gets the claim, or is refused with the action’s reason', async () => {
    const machine = await gh.created('/api/v1/applications', acme.token, { name: 'Worker', type: 'm2m' });
    const orders = (await gh.request('GET', '/api/v1/apis', { token: acme.token })).body.apis[0];
    await gh.created(`/api/v1/applications/${machine.id}/grants`, acme.token, { api_id: orders.id, permissions: ['read:orders'] });
    await deployed(gh, acme.token, {
      name: 'Machine claim',
      trigger: 'credentials-exchange',
      code: `exports.onExecuteCredentialsExchange = async (event, api) => {
        if (event.client.name === 'Blocked') api.access.deny('invalid_request', 'this client is blocked');
        api.accessToken.setCustomClaim('https://acme.example/client', event.client.name);
      };`,
    });
    const exchange = (id: string, secret: string) =>
      gh.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          audience: 'urn:gatehouse:acme:orders',
          client_id: id,
          client_secret: secret,
        }).toString(),
      });
    const ok = await exchange(machine.client_id, machine.client_secret);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(decodeJwt(ok.json().access_token)['https://acme.example/client'], 'Worker');
    await gh.request('PATCH', `/api/v1/applications/${machine.id}`, { token: acme.token, body: { name: 'Blocked' } });
    const refused = await exchange(machine.client_id, machine.client_secret);
    assert.equal(refused.json().error, 'access_denied', refused.body);
    assert.match(refused.json().error_description, /this client is blocked/);
    await unbind(gh, acme.token, 'credentials-exchange');
  });

  it('pre-user-registration refuses a sign-up (403 access_denied, nothing created) or sets its metadata; post-user-registration is told', async () => {
    await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, { token: acme.token, body: { signup: { enabled: true } } });
    await deployed(gh, acme.token, {
      name: 'Only example.test',
      trigger: 'pre-user-registration',
      code: `exports.onExecutePreUserRegistration = async (event, api) => {
        if (!event.user.email.endsWith('@example.test')) api.access.deny('domain_not_allowed', 'Use your work address.');
        api.user.setUserMetadata('signed_up_via', event.client.name);
      };`,
    });
    const post = await deployed(gh, acme.token, {
      name: 'Welcome',
      trigger: 'post-user-registration',
      code: `exports.onExecutePostUserRegistration = async (event) => { console.log('welcome', event.user.email); };`,
    });
    const signup = async (email: string) => {
      const started = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: web.client_id } });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      return gh.request('POST', `/api/v1/flows/registration/${started.body.id}`, { body: { email, password: PASSWORD } });
    };
    const refused = await signup('eve@elsewhere.test');
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'access_denied');
    assert.equal(refused.body.message, 'Use your work address.');
    assert.equal(await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'eve@elsewhere.test').executeTakeFirst(), undefined);
    const accepted = await signup('dan@example.test');
    assert.ok(accepted.status < 300, JSON.stringify(accepted.body));
    const row = await gh.ctx.db.selectFrom('users').selectAll().where('email', '=', 'dan@example.test').executeTakeFirstOrThrow();
    assert.deepEqual(row.user_metadata, { signed_up_via: 'Portal' });
    const executions = await gh.request('GET', `/api/v1/actions/${post.id}/executions`, { token: acme.token });
    assert.deepEqual(executions.body.executions[0].logs, ['welcome dan@example.test']);
    await unbind(gh, acme.token, 'pre-user-registration');
    await unbind(gh, acme.token, 'post-user-registration');
  });

  it('post-change-password is told of a password change; send-phone-message sends the text instead of the configured sender', async () => {
    const changed = await deployed(gh, acme.token, {
      name: 'Changed',
      trigger: 'post-change-password',
      code: `exports.onExecutePostChangePassword = async (event) => { console.log('changed', event.user.email); };`,
    });
    const session = await gh.signIn('cat@acme.test', PASSWORD);
    const change = await gh.request('POST', '/api/v1/users/me/password', {
      token: session,
      body: { current_password: PASSWORD, new_password: `${PASSWORD}-2` },
    });
    assert.equal(change.status, 204, JSON.stringify(change.body));
    const runs = await gh.request('GET', `/api/v1/actions/${changed.id}/executions`, { token: acme.token });
    assert.deepEqual(runs.body.executions[0].logs, ['changed cat@acme.test']);

    const sms = await deployed(gh, acme.token, {
      name: 'My SMS provider',
      trigger: 'send-phone-message',
      code: `exports.onExecuteSendPhoneMessage = async (event) => {
        console.log('to', event.message_options.phone_number, event.message_options.text.includes(event.message_options.text.match(/\\d{6}/)[0]));
      };`,
    });
    const second = await gh.signIn('cat@acme.test', `${PASSWORD}-2`);
    const before = await gh.rowCount('sms_outbox');
    const enrol = await gh.request('POST', '/api/v1/users/me/mfa/sms', { token: second, body: { phone_number: '+14155550100' } });
    assert.equal(enrol.status, 201, JSON.stringify(enrol.body));
    assert.equal(await gh.rowCount('sms_outbox'), before, 'the configured sender sent nothing');
    const sent = await gh.request('GET', `/api/v1/actions/${sms.id}/executions`, { token: acme.token });
    assert.deepEqual(sent.body.executions[0].logs, ['to +14155550100 true']);
    await unbind(gh, acme.token, 'post-change-password');
    await unbind(gh, acme.token, 'send-phone-message');
  });
});
