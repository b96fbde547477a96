import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { ADD_ROLES, deployed, OFFICE_ONLY, unbind } from './setup.js';

describe('Actions: management API and post-login at the token endpoints', { timeout: 180_000 }, () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let other: TenantAdmin;
  let web: { client_id: string; client_secret: string };

  const form = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    gh.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams(fields).toString(),
    });
  const passwordGrant = (username: string, headers: Record<string, string> = {}) =>
    form(
      {
        grant_type: 'password',
        username,
        password: PASSWORD,
        audience: 'urn:gatehouse:acme:orders',
        scope: 'openid',
        client_id: web.client_id,
        client_secret: web.client_secret,
      },
      headers,
    );

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    other = await gh.tenantWithAdmin('other');
    await gh.created('/api/v1/apis', acme.token, {
      identifier: 'urn:gatehouse:acme:orders',
      name: 'Orders',
      permissions: [{ value: 'read:orders' }],
    });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.acme.test/callback'],
      grant_types: ['password', 'refresh_token'],
    });
    await gh.createUser(acme.token, { email: 'ann@acme.test', password: PASSWORD, app_metadata: { department: 'sales' } });
  });
  after(() => gh.stop());

  it('runs Auth0’s “add roles to tokens” action unchanged: pasted, deployed, bound; the next token carries the roles', async () => {
    const before = await passwordGrant('ann@acme.test');
    assert.equal(before.statusCode, 200, before.body);
    assert.equal(decodeJwt(before.json().access_token)['https://my-app.example.com/roles'], undefined);

    const action = await deployed(gh, acme.token, { name: 'Add roles', code: ADD_ROLES });
    const tokens = await passwordGrant('ann@acme.test');
    assert.equal(tokens.statusCode, 200, tokens.body);
    const access = decodeJwt(tokens.json().access_token);
    assert.deepEqual(access['https://my-app.example.com/roles'], ['USER']);
    // Asked with openid, the API's token names /userinfo as its second audience (as Auth0's does).
    assert.deepEqual([access.aud].flat()[0], 'urn:gatehouse:acme:orders', 'Gatehouse’s own claims stay');
    assert.deepEqual(decodeJwt(tokens.json().id_token)['https://my-app.example.com/roles'], ['USER']);

    // The OIH token of the tenant carries it too.
    const session = await gh.signIn('ann@acme.test', PASSWORD);
    assert.deepEqual(decodeJwt(await gh.tokenFor(session, acme.tenantId))['https://my-app.example.com/roles'], ['USER']);

    const executions = await gh.request('GET', `/api/v1/actions/${action.id}/executions`, { token: acme.token });
    assert.equal(executions.status, 200);
    assert.ok(executions.body.executions.length >= 2);
    assert.equal(executions.body.executions[0].outcome, 'ok');
    assert.equal(executions.body.executions[0].version, 1);
    await unbind(gh, acme.token);
  });

  it('denies a token from outside the office network with the action’s reason (access_denied), audited', async () => {
    const action = await deployed(gh, acme.token, { name: 'Office only', code: OFFICE_ONLY });
    const refused = await passwordGrant('ann@acme.test', { 'x-forwarded-for': '198.51.100.7' });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json().error, 'access_denied');
    assert.match(refused.json().error_description, /office network only/);
    const session = await gh.signIn('ann@acme.test', PASSWORD);
    const oih = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: acme.tenantId } });
    assert.equal(oih.status, 403);
    assert.equal(oih.body.error, 'access_denied');
    assert.match(oih.body.message, /office network only/);
    const events = await gh.auditEvents(acme.token, { action: 'iam.action.denied' });
    assert.ok(events.some((e) => e.target_id === action.id));
    await unbind(gh, acme.token);
    assert.equal((await passwordGrant('ann@acme.test')).statusCode, 200, 'unbound: nothing runs');
  });

  it('reads and writes metadata: event.user.app_metadata in, api.user.setAppMetadata stored', async () => {
    await deployed(gh, acme.token, {
      name: 'Department',
      code: `exports.onExecutePostLogin = async (event, api) => {
        if (!event.user.email_verified) console.log('unverified', event.user.email);
        api.accessToken.setCustomClaim('https://acme.example/department', event.user.app_metadata.department);
        api.user.setAppMetadata('last_ip_seen', event.request.ip);
        api.user.setUserMetadata('greeted', true);
      };`,
    });
    const tokens = await passwordGrant('ann@acme.test');
    assert.equal(decodeJwt(tokens.json().access_token)['https://acme.example/department'], 'sales');
    const listed = await gh.request('GET', '/api/v1/users?email=ann@acme.test', { token: acme.token });
    assert.equal(listed.body.users[0].app_metadata.department, 'sales');
    assert.ok(listed.body.users[0].app_metadata.last_ip_seen);
    assert.equal(listed.body.users[0].user_metadata.greeted, true);
    await unbind(gh, acme.token);
  });

  it('refuses reserved claims: the action fails, and the sign-in is denied (on_error deny) or goes on (continue)', async () => {
    const code = `exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('sub', 'someone-else'); };`;
    await deployed(gh, acme.token, { name: 'Impersonate', code });
    const denied = await passwordGrant('ann@acme.test');
    assert.equal(denied.json().error, 'access_denied');
    const action = (await gh.request('GET', '/api/v1/actions?trigger=post-login', { token: acme.token })).body.actions.find(
      (a: { name: string }) => a.name === 'Impersonate',
    );
    await unbind(gh, acme.token);
    await gh.request('PUT', '/api/v1/triggers/post-login/bindings', {
      token: acme.token,
      body: { bindings: [{ action_id: action.id, on_error: 'continue' }] },
    });
    const going = await passwordGrant('ann@acme.test');
    assert.equal(going.statusCode, 200);
    assert.notEqual(decodeJwt(going.json().access_token).sub, 'someone-else');
    await unbind(gh, acme.token);
  });

  it('keeps versions: a changed draft runs only once deployed, and a roll back runs the old code again', async () => {
    const action = await deployed(gh, acme.token, {
      name: 'Versioned',
      code: `exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://v', 1); };`,
    });
    const claim = async () => decodeJwt((await passwordGrant('ann@acme.test')).json().access_token)['https://v'];
    assert.equal(await claim(), 1);
    await gh.request('PATCH', `/api/v1/actions/${action.id}`, {
      token: acme.token,
      body: { code: `exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://v', 2); };` },
    });
    assert.equal(await claim(), 1, 'the draft does not run');
    const v2 = await gh.request('POST', `/api/v1/actions/${action.id}/deploy`, { token: acme.token, body: {} });
    assert.equal(v2.body.version.version, 2);
    assert.equal(await claim(), 2);
    const back = await gh.request('POST', `/api/v1/actions/${action.id}/deploy`, { token: acme.token, body: { version: 1 } });
    assert.equal(back.status, 200);
    assert.equal(back.body.action.deployed_version, 1);
    assert.equal(await claim(), 1);
    const versions = await gh.request('GET', `/api/v1/actions/${action.id}/versions`, { token: acme.token });
    assert.deepEqual(
      versions.body.versions.map((v: { version: number }) => v.version),
      [2, 1],
    );
    await unbind(gh, acme.token);
  });

  it('a dry run returns the commands and the console output, and applies nothing', async () => {
    const action = await gh.created('/api/v1/actions', acme.token, {
      name: 'Dry',
      trigger: 'post-login',
      code: `exports.onExecutePostLogin = async (event, api) => { console.log('hello', event.user.email, event.secrets.TOKEN.length); api.access.deny('no ' + event.user.email); };`,
      secrets: { TOKEN: 's3cr3t-value' },
    });
    const run = await gh.request('POST', `/api/v1/actions/${action.id}/test`, {
      token: acme.token,
      body: { event: { user: { email: 'x@y.test' }, secrets: { TOKEN: 'forged' } } },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.outcome, 'ok');
    assert.deepEqual(run.body.logs, ['hello x@y.test 12']);
    assert.deepEqual(run.body.commands, [['access.deny', 'no x@y.test']]);
    assert.equal(run.body.denied, 'no x@y.test');
  });

  it('keeps what an action prints or throws, never its secrets (dry run and executions)', async () => {
    const action = await gh.created('/api/v1/actions', acme.token, {
      name: 'Leaky',
      trigger: 'post-login',
      code: `exports.onExecutePostLogin = async (event) => { console.log('key=' + event.secrets.KEY); throw new Error('failed with ' + event.secrets.KEY); };`,
      secrets: { KEY: 'leaky-secret-789' },
    });
    const run = await gh.request('POST', `/api/v1/actions/${action.id}/test`, { token: acme.token, body: { event: {} } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.deepEqual(run.body.logs, ['key=[secret KEY]']);
    assert.doesNotMatch(JSON.stringify(run.body), /leaky-secret-789/);
    const executions = await gh.request('GET', `/api/v1/actions/${action.id}/executions`, { token: acme.token });
    assert.equal(executions.status, 200);
    assert.ok(JSON.stringify(executions.body).includes('[secret KEY]'), JSON.stringify(executions.body));
    assert.doesNotMatch(JSON.stringify(executions.body), /leaky-secret-789/);
    const stored = await gh.ctx.db.selectFrom('action_executions').select(['logs', 'error']).where('action_id', '=', action.id).execute();
    assert.doesNotMatch(JSON.stringify(stored), /leaky-secret-789/);
  });

  it('never returns a secret, seals it at rest, and audits names only', async () => {
    const created = await gh.created('/api/v1/actions', acme.token, {
      name: 'Secretive',
      trigger: 'post-login',
      code: 'exports.onExecutePostLogin = async () => {};',
      secrets: { API_KEY: 'very-secret-api-key-123' },
    });
    assert.deepEqual(created.secrets, ['API_KEY']);
    const read = await gh.request('GET', `/api/v1/actions/${created.id}`, { token: acme.token });
    const listed = await gh.request('GET', '/api/v1/actions', { token: acme.token });
    const patched = await gh.request('PATCH', `/api/v1/actions/${created.id}`, {
      token: acme.token,
      body: { secrets: { OTHER: 'another-secret-456', API_KEY: null } },
    });
    assert.deepEqual(patched.body.secrets, ['OTHER']);
    const row = await gh.ctx.db.selectFrom('actions').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    const audit = await gh.auditEvents(acme.token, { target: created.id });
    for (const text of [
      JSON.stringify(created),
      JSON.stringify(read.body),
      JSON.stringify(listed.body),
      JSON.stringify(row),
      JSON.stringify(audit),
      gh.logs.join(''),
    ]) {
      assert.ok(!text.includes('very-secret-api-key-123') && !text.includes('another-secret-456'));
    }
    assert.deepEqual(audit.map((e) => e.action).sort(), ['iam.action.created', 'iam.action.modified']);
  });

  it('scopes actions to their tenant: another tenant’s action is 404 everywhere, and cannot be bound', async () => {
    const mine = await gh.created('/api/v1/actions', acme.token, {
      name: 'Mine',
      trigger: 'post-login',
      code: 'exports.onExecutePostLogin = async () => {};',
    });
    await gh.request('POST', `/api/v1/actions/${mine.id}/deploy`, { token: acme.token, body: {} });
    for (const [method, path] of [
      ['GET', `/api/v1/actions/${mine.id}`],
      ['PATCH', `/api/v1/actions/${mine.id}`],
      ['DELETE', `/api/v1/actions/${mine.id}`],
      ['POST', `/api/v1/actions/${mine.id}/deploy`],
      ['GET', `/api/v1/actions/${mine.id}/versions`],
      ['GET', `/api/v1/actions/${mine.id}/executions`],
      ['POST', `/api/v1/actions/${mine.id}/test`],
    ] as const) {
      const response = await gh.request(method, path, {
        token: other.token,
        body: method === 'GET' || method === 'DELETE' ? undefined : {},
      });
      assert.equal(response.status, 404, `${method} ${path}: ${response.status}`);
    }
    const bind = await gh.request('PUT', '/api/v1/triggers/post-login/bindings', {
      token: other.token,
      body: { bindings: [{ action_id: mine.id }] },
    });
    assert.equal(bind.status, 404);
    const list = await gh.request('GET', '/api/v1/actions', { token: other.token });
    assert.deepEqual(list.body.actions, []);
    const elsewhere = await gh.request('GET', `/api/v1/triggers/post-login/bindings?tenant=${acme.tenantId}`, { token: other.token });
    assert.equal(elsewhere.status, 404);
    // A system administrator sees and binds a tenant's list with ?tenant=.
    const asAdmin = await gh.request('GET', `/api/v1/triggers/post-login/bindings?tenant=${acme.tenantId}`, { token: admin });
    assert.equal(asAdmin.status, 200);
    // An undeployed action cannot be bound.
    const draft = await gh.created('/api/v1/actions', other.token, {
      name: 'Draft',
      trigger: 'post-login',
      code: 'exports.onExecutePostLogin = async () => {};',
    });
    const undeployed = await gh.request('PUT', '/api/v1/triggers/post-login/bindings', {
      token: other.token,
      body: { bindings: [{ action_id: draft.id }] },
    });
    assert.equal(undeployed.status, 409);
    assert.equal(undeployed.body.error, 'action_not_deployed');
  });

  it('runs a system action for every tenant, and a tenant’s action for that tenant only', async () => {
    const system = await deployed(gh, admin, {
      name: 'Everywhere',
      code: `exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://system', e.organization.name); };`,
    });
    await deployed(gh, other.token, {
      name: 'Other only',
      code: `exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://other', true); };`,
    });
    const access = decodeJwt((await passwordGrant('ann@acme.test')).json().access_token);
    assert.equal(access['https://system'], 'acme');
    assert.equal(access['https://other'], undefined);
    await unbind(gh, admin);
    await unbind(gh, other.token);
    assert.ok(system.id);
  });

  it('asks nothing of the database when nothing is bound', async () => {
    await passwordGrant('ann@acme.test');
    let reads = 0;
    const original = gh.ctx.db.selectFrom.bind(gh.ctx.db);
    const result = await (async () => {
      (gh.ctx.db as { selectFrom: unknown }).selectFrom = (...args: unknown[]) => {
        if (['trigger_bindings as b', 'trigger_bindings'].includes(String(args[0]))) reads++;
        return (original as (...a: unknown[]) => unknown)(...args);
      };
      try {
        return await gh.ctx.actions.run('post-login', { tenantId: acme.tenantId });
      } finally {
        (gh.ctx.db as { selectFrom: unknown }).selectFrom = original;
      }
    })();
    assert.equal(result.ran, 0);
    assert.equal(reads, 0);
  });
});
