import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { verifySignature } from '../../../src/ops/webhooks/signature.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { deployed, localServer, unbind } from './setup.js';

/**
 * The sandbox as an attacker meets it (docs/security.md, Actions): a tenant administrator's
 * code reaches no Node API, no other tenant's secrets, no internal address; an endless loop
 * or a memory bomb ends as a denied or continued sign-in, and the node serves on.
 */
describe('Actions: the sandbox refuses escapes; Auth0 examples and HTTP actions run', { timeout: 240_000 }, () => {
  let gh: TestGatehouse;
  let acme: TenantAdmin;
  let other: TenantAdmin;
  let web: { client_id: string; client_secret: string };
  let api: Awaited<ReturnType<typeof localServer>>;
  const seen: { path: string; headers: Record<string, unknown>; body: string }[] = [];

  const token = () =>
    gh.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'password',
        username: 'bob@acme.test',
        password: PASSWORD,
        audience: 'urn:gatehouse:acme:orders',
        scope: 'openid',
        client_id: web.client_id,
        client_secret: web.client_secret,
      }).toString(),
    });

  /** Binds `code` with on_error deny, then continue; the sign-in is refused, then allowed; the node still answers. */
  async function refusedThenContinued(name: string, code: string, check?: (claims: Record<string, unknown>) => void) {
    const action = await deployed(gh, acme.token, { name, code, timeout_ms: 1000 });
    const denied = await token();
    assert.equal(denied.statusCode, 400, `${name}: ${denied.body}`);
    assert.equal(denied.json().error, 'access_denied', name);
    await gh.request('PUT', '/api/v1/triggers/post-login/bindings', {
      token: acme.token,
      body: { bindings: [{ action_id: action.id, on_error: 'continue' }] },
    });
    const continued = await token();
    assert.equal(continued.statusCode, 200, `${name}: ${continued.body}`);
    check?.(decodeJwt(continued.json().access_token));
    await unbind(gh, acme.token);
    const health = await gh.request('GET', '/health');
    assert.ok(health.status < 500, 'the node serves on');
    const failed = await gh.auditEvents(acme.token, { action: 'iam.action.failed', target: action.id });
    assert.ok(failed.length >= 2, `${name}: each failure audited`);
    return action;
  }

  before(async () => {
    api = await localServer((request, body, response) => {
      seen.push({ path: request.url ?? '', headers: request.headers, body });
      if (request.url === '/slow') return setTimeout(() => response.end('{}'), 3000);
      if (request.url === '/hook') {
        const event = JSON.parse(body).event;
        response.setHeader('content-type', 'application/json');
        return response.end(
          JSON.stringify(
            event.user.app_metadata.risk === 'low'
              ? { deny: 'blocked by the risk service' }
              : { access_token_claims: { 'https://risk/score': 3 }, app_metadata: { risk: 'low' } },
          ),
        );
      }
      if (request.headers.authorization !== 'Bearer key-of-acme') {
        response.statusCode = 401;
        return response.end('{}');
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ tier: 'gold' }));
    });
    gh = await startGatehouse({ config: { webhookAllowedNetworks: '127.0.0.2/32' } });
    acme = await gh.tenantWithAdmin('acme');
    other = await gh.tenantWithAdmin('other');
    await gh.created('/api/v1/apis', acme.token, { identifier: 'urn:gatehouse:acme:orders', name: 'Orders' });
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.acme.test/callback'],
      grant_types: ['password'],
    });
    await gh.createUser(acme.token, { email: 'bob@acme.test', password: PASSWORD, app_metadata: { roles: ['admin'] } });
  });
  after(async () => {
    await gh.stop();
    await api.close();
  });

  it('offers no process, require or host object, through globalThis or a constructor', async () => {
    const dry = await gh.created('/api/v1/actions', acme.token, {
      name: 'Probe',
      trigger: 'post-login',
      code: `exports.onExecutePostLogin = async (event, api) => {
        const found = [typeof process, typeof require, typeof module.require, typeof globalThis.process, typeof Buffer, typeof __hostFetch,
          (() => { try { return typeof (function () {}).constructor('return process')(); } catch (e) { return 'threw'; } })(),
          (() => { try { return typeof this.constructor.constructor('return globalThis.process')(); } catch (e) { return 'threw'; } })(),
          (() => { try { return typeof import.meta; } catch (e) { return 'threw'; } })()];
        console.log(found.join(','));
      };`,
    });
    const run = await gh.request('POST', `/api/v1/actions/${dry.id}/test`, { token: acme.token, body: {} });
    // import.meta is a syntax error outside a module: the whole code fails to load, which is refusal too.
    if (run.body.outcome === 'ok') {
      assert.deepEqual(run.body.logs, ['undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,threw']);
    } else assert.match(run.body.error, /SyntaxError|import/);
    const again = await gh.request('PATCH', `/api/v1/actions/${dry.id}`, {
      token: acme.token,
      body: {
        code: `exports.onExecutePostLogin = async () => {
          const viaConstructor = (() => { try { return typeof (function () {}).constructor('return process')(); } catch (e) { return e.name; } })();
          console.log([typeof process, typeof require, typeof globalThis.process, typeof __hostFetch, viaConstructor].join(','));
          try { require('child_process'); } catch (e) { console.log(e.name); }
        };`,
      },
    });
    assert.equal(again.status, 200);
    const second = await gh.request('POST', `/api/v1/actions/${dry.id}/test`, { token: acme.token, body: {} });
    assert.equal(second.body.outcome, 'ok', JSON.stringify(second.body));
    assert.deepEqual(second.body.logs, ['undefined,undefined,undefined,undefined,ReferenceError', 'ReferenceError']);
  });

  it('a require of a Node module fails the action: denied, or continued', async () => {
    await refusedThenContinued('Require', `exports.onExecutePostLogin = async () => { require('fs').readFileSync('/etc/passwd'); };`);
  });

  it('stops an endless loop at the wall clock: denied, or continued', async () => {
    const started = Date.now();
    await refusedThenContinued('Loop', `exports.onExecutePostLogin = async () => { while (true) {} };`);
    assert.ok(Date.now() - started < 20_000);
  });

  it('stops a memory bomb at the memory limit: denied, or continued', async () => {
    await refusedThenContinued(
      'Bomb',
      `exports.onExecutePostLogin = async () => { const a = []; while (true) a.push(new Array(1e5).fill('x')); };`,
    );
  });

  it('refuses fetch to 127.0.0.1 and to the metadata address: denied, or continued', async () => {
    const port = new URL(api.url).port;
    await refusedThenContinued('Loopback', `exports.onExecutePostLogin = async () => { await fetch('http://127.0.0.1:${port}/'); };`);
    await refusedThenContinued(
      'Metadata',
      `exports.onExecutePostLogin = async () => { await fetch('http://169.254.169.254/latest/meta-data/'); };`,
    );
  });

  it('never shows one tenant’s secrets to another’s code', async () => {
    await deployed(gh, other.token, {
      name: 'Other secret',
      code: 'exports.onExecutePostLogin = async () => {};',
      secrets: { API_KEY: 'secret-of-other' },
    });
    await refusedThenContinued(
      'Snoop',
      `exports.onExecutePostLogin = async (event, api) => {
        api.accessToken.setCustomClaim('https://snoop', JSON.stringify({ s: event.secrets, g: Object.keys(globalThis) }));
        if (!JSON.stringify(event.secrets).includes('secret-of-other')) throw new Error('nothing to see');
      };`,
      (claims) => assert.ok(!JSON.stringify(claims).includes('secret-of-other')),
    );
    await unbind(gh, other.token);
  });

  it('runs Auth0’s examples unchanged: require MFA for admins, and call an external API with a secret', async () => {
    const mfa = await gh.created('/api/v1/actions', acme.token, {
      name: 'MFA for admins',
      trigger: 'post-login',
      code: `exports.onExecutePostLogin = async (event, api) => {
        if (event.user.app_metadata && event.user.app_metadata.roles && event.user.app_metadata.roles.includes('admin')) {
          api.multifactor.enable('any', { allowRememberBrowser: false });
        }
      };`,
    });
    const dry = await gh.request('POST', `/api/v1/actions/${mfa.id}/test`, {
      token: acme.token,
      body: { event: { user: { app_metadata: { roles: ['admin'] } } } },
    });
    assert.deepEqual(dry.body.commands, [['multifactor.enable', 'any', { allowRememberBrowser: false }]]);
    await deployed(gh, acme.token, {
      name: 'Tier',
      code: `exports.onExecutePostLogin = async (event, api) => {
        const response = await fetch('${api.url}/tier', { headers: { Authorization: 'Bearer ' + event.secrets.API_KEY } });
        if (!response.ok) throw new Error('tier service: ' + response.status);
        const { tier } = await response.json();
        api.accessToken.setCustomClaim('https://acme.example/tier', tier);
      };`,
      secrets: { API_KEY: 'key-of-acme' },
    });
    const tokens = await token();
    assert.equal(tokens.statusCode, 200, tokens.body);
    assert.equal(decodeJwt(tokens.json().access_token)['https://acme.example/tier'], 'gold');
    await unbind(gh, acme.token);
  });

  it('POSTs the event signed as webhooks to an HTTP action, applies its answer, and times it out', async () => {
    const action = await deployed(gh, acme.token, { name: 'Risk', runtime: 'http', url: `${api.url}/hook`, timeout_ms: 1000 });
    assert.ok(action.signing_secret, 'shown once');
    const tokens = await token();
    assert.equal(tokens.statusCode, 200, tokens.body);
    assert.equal(decodeJwt(tokens.json().access_token)['https://risk/score'], 3);
    const call = seen.filter((s) => s.path === '/hook').at(-1)!;
    assert.ok(
      verifySignature(action.signing_secret!, call.headers['gatehouse-signature'] as string, call.body, Math.floor(Date.now() / 1000)),
    );
    assert.ok(!verifySignature('another-secret', call.headers['gatehouse-signature'] as string, call.body, Math.floor(Date.now() / 1000)));
    assert.equal(JSON.parse(call.body).event.user.email, 'bob@acme.test');
    // The first answer stored app_metadata.risk = low; the service refuses such users.
    const denied = await token();
    assert.equal(denied.json().error, 'access_denied', denied.body);
    assert.match(denied.json().error_description, /risk service/);
    await unbind(gh, acme.token);

    const slow = await deployed(gh, acme.token, { name: 'Slow', runtime: 'http', url: `${api.url}/slow`, timeout_ms: 300 });
    const started = Date.now();
    const timedOut = await token();
    assert.equal(timedOut.json().error, 'access_denied');
    assert.ok(Date.now() - started < 2500, 'the time limit holds');
    const executions = await gh.request('GET', `/api/v1/actions/${slow.id}/executions`, { token: acme.token });
    assert.equal(executions.body.executions[0].outcome, 'timeout');
    await unbind(gh, acme.token);
  });
});
