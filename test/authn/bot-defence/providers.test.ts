import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

interface Seen {
  path: string;
  contentType: string | undefined;
  form: Record<string, string>;
}

/**
 * A local stand-in for the three providers' siteverify endpoints, answering in each one's
 * documented shape: a form POST of secret, response and remoteip (and hCaptcha's sitekey);
 * JSON with `success` and `error-codes`, plus Turnstile's `challenge_ts`/`hostname`/`action`,
 * hCaptcha's `credit`, reCAPTCHA v3's `score` and `action`. The token decides the answer.
 */
async function startStandIn() {
  const seen: Seen[] = [];
  let down = false;
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      seen.push({ path: request.url ?? '', contentType: request.headers['content-type'], form });
      if (down) {
        response.writeHead(503).end();
        return;
      }
      const good = form.secret === 'the-secret' && form.response?.startsWith('good');
      const ts = new Date().toISOString();
      const answers: Record<string, object> = {
        '/turnstile/v0/siteverify': good
          ? { success: true, 'error-codes': [], challenge_ts: ts, hostname: 'localhost', action: '', cdata: '' }
          : { success: false, 'error-codes': ['invalid-input-response'] },
        '/siteverify': good
          ? { success: true, challenge_ts: ts, hostname: 'localhost', credit: false }
          : { success: false, 'error-codes': ['invalid-input-response'] },
        '/recaptcha/api/siteverify': good
          ? {
              success: true,
              challenge_ts: ts,
              hostname: 'localhost',
              score: form.response === 'good-but-bot' ? 0.1 : 0.9,
              action: 'submit',
            }
          : { success: false, 'error-codes': ['invalid-input-response'] },
      };
      const answer = answers[new URL(request.url ?? '/', 'http://x').pathname];
      response.writeHead(answer ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(answer ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    setDown: (value: boolean) => {
      down = value;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Issue 16.5: Cloudflare Turnstile, hCaptcha and reCAPTCHA, each verified server-side
 * through its local stand-in (success and failure), with the verify URLs the operator
 * configures (GATEHOUSE_<PROVIDER>_VERIFY_URL) or a tenant's policy names.
 */
describe('bot defence: third-party providers verified through local stand-ins', () => {
  let gh: TestGatehouse;
  let standIn: Awaited<ReturnType<typeof startStandIn>>;
  let acme: TenantAdmin;
  let clientId: string;

  before(async () => {
    standIn = await startStandIn();
    gh = await startGatehouse({
      config: {
        turnstileVerifyUrl: `${standIn.url}/turnstile/v0/siteverify`,
        hcaptchaVerifyUrl: `${standIn.url}/siteverify`,
        recaptchaVerifyUrl: `${standIn.url}/recaptcha/api/siteverify`,
      },
    });
    acme = await gh.tenantWithAdmin('acme');
    clientId = (
      await gh.created('/api/v1/applications', acme.token, { name: 'Portal', type: 'web', redirect_uris: ['http://localhost:4000/cb'] })
    ).client_id;
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
  });
  after(async () => {
    await gh?.stop();
    await standIn?.stop();
  });

  const use = async (bot_defence: Record<string, unknown>) => {
    const patched = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}/policies`, {
      token: acme.token,
      body: { passwordless: { methods: ['email_code'] }, bot_defence: { mode: 'always', secret: 'the-secret', ...bot_defence } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
  };
  const start = (captcha?: string) =>
    gh.app.inject({
      method: 'POST',
      url: '/api/v1/flows/passwordless',
      remoteAddress: '203.0.113.9',
      payload: { client_id: clientId, method: 'email_code', email: 'jane@acme.test', ...(captcha && { captcha }) },
    });

  for (const [provider, path] of [
    ['turnstile', '/turnstile/v0/siteverify'],
    ['hcaptcha', '/siteverify'],
    ['recaptcha', '/recaptcha/api/siteverify'],
  ] as const) {
    it(`${provider}: the 428 names the provider and its site key; a good token passes once, a bad one is refused`, async () => {
      await use({ provider, site_key: `${provider}-site-key` });
      const asked = await start();
      assert.equal(asked.statusCode, 428);
      assert.deepEqual(asked.json().details.challenge, { provider, field: 'captcha', site_key: `${provider}-site-key` });

      const before = standIn.seen.length;
      const token = `good-${provider}-${Date.now()}`;
      const passed = await start(token);
      assert.equal(passed.statusCode, 202, passed.body);
      const request = standIn.seen[before] as Seen;
      assert.equal(request.path, path);
      assert.equal(request.contentType, 'application/x-www-form-urlencoded');
      assert.equal(request.form.secret, 'the-secret');
      assert.equal(request.form.response, token);
      assert.equal(request.form.remoteip, '203.0.113.9');
      if (provider === 'hcaptcha') assert.equal(request.form.sitekey, 'hcaptcha-site-key');

      const replayed = await start(token);
      assert.equal(replayed.statusCode, 428, 'a token works once, whatever the provider says');
      assert.equal(replayed.json().details.reason, 'replayed');

      const failed = await start('bad-token');
      assert.equal(failed.statusCode, 428);
      assert.equal(failed.json().error, 'challenge_failed');
      assert.equal(failed.json().details.reason, 'provider:invalid-input-response');
    });
  }

  it('recaptcha v3: a low score is refused', async () => {
    await use({ provider: 'recaptcha', site_key: 'recaptcha-site-key' });
    const low = await start('good-but-bot');
    assert.equal(low.statusCode, 428);
    assert.equal(low.json().details.reason, 'provider:low-score');
  });

  it('a verify URL in the tenant’s policy is used instead of the operator’s', async () => {
    await use({ provider: 'hcaptcha', site_key: 'hc', verify_url: `${standIn.url}/siteverify?tenant=acme` });
    const before = standIn.seen.length;
    assert.equal((await start(`good-policy-url-${Date.now()}`)).statusCode, 202);
    assert.equal(standIn.seen[before]?.path, '/siteverify?tenant=acme');
    await use({ verify_url: '' });
  });

  it('a provider that cannot be asked is a 503, never a pass', async () => {
    await use({ provider: 'turnstile', site_key: 'ts' });
    standIn.setDown(true);
    try {
      const refused = await start(`good-while-down-${Date.now()}`);
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.json().error, 'service_unavailable');
    } finally {
      standIn.setDown(false);
    }
    assert.ok(!gh.logs.some((line) => line.includes('the-secret')), 'the secret is never logged');
  });
});
