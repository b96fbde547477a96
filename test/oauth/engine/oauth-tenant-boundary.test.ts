import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';

/**
 * Regressions of the security review of issue 3: a tenant's application must not reach
 * past its tenant (docs/security.md#v4-access-control), and a suspended tenant loses access at once.
 */
describe('the tenant boundary of OAuth', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let evil: TenantAdmin;
  let other: TenantAdmin;
  let evilApp: { id: string; client_id: string; client_secret: string };
  const callback = 'https://evil.example/cb';

  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${gh.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });

  before(async () => {
    gh = await startListeningGatehouse();
    evil = await gh.tenantWithAdmin('evil');
    other = await gh.tenantWithAdmin('other');
    evilApp = await gh.created('/api/v1/applications', evil.token, {
      name: 'Evil',
      type: 'web',
      first_party: false,
      redirect_uris: [callback],
      grant_types: ['authorization_code', 'refresh_token', 'password'],
    });
    await gh.created('/api/v1/apis', other.token, {
      identifier: 'urn:gatehouse:other:billing',
      name: 'Billing',
      permissions: [{ value: 'delete:invoices' }],
    });
    await gh.createUser(evil.token, { email: 'mallory@evil.test', password: PASSWORD });
  });
  after(() => gh.stop());

  it('a tenant application cannot get a token for the Gatehouse admin API, even for a signed-in system administrator', async () => {
    const browser = new Browser();
    const signedIn = await browser.fetch(`${gh.issuer}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
    });
    assert.equal(signedIn.status, 200);
    const query = new URLSearchParams({
      client_id: evilApp.client_id,
      response_type: 'code',
      redirect_uri: callback,
      scope: 'openid',
      audience: gh.issuer,
      organization: 'system',
    });
    const landed = await browser.follow(`${gh.issuer}/authorize?${query}`, (l) => l.startsWith(callback));
    assert.doesNotMatch(landed.url, /[?&]code=/, 'no code for the admin API');
    assert.match(landed.url, /error=invalid_target/);
  });

  it('a tenant application cannot act in another organization', async () => {
    const browser = new Browser();
    const query = new URLSearchParams({
      client_id: evilApp.client_id,
      response_type: 'code',
      redirect_uri: callback,
      scope: 'openid',
      organization: 'other',
    });
    const opened = await browser.follow(`${gh.issuer}/authorize?${query}`);
    const { action, fields } = formOf(await opened.response.text());
    const landed = await browser.submit(opened.url, action, { ...fields, username: other.adminEmail, password: PASSWORD }, (l) =>
      l.startsWith(callback),
    );
    assert.equal(landed.response.status, 403);
    assert.doesNotMatch(landed.url, /code=/);
  });

  it('a tenant application cannot get tokens for another tenant’s API', async () => {
    const response = await form('/oauth/token', {
      grant_type: 'password',
      username: 'mallory@evil.test',
      password: PASSWORD,
      audience: 'urn:gatehouse:other:billing',
      scope: 'delete:invoices',
      client_id: evilApp.client_id,
      client_secret: evilApp.client_secret,
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_target');
  });

  it('a tenant application issues no tokens to users who are not its members', async () => {
    const response = await form('/oauth/token', {
      grant_type: 'password',
      username: other.adminEmail,
      password: PASSWORD,
      scope: 'openid',
      client_id: evilApp.client_id,
      client_secret: evilApp.client_secret,
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_grant');
  });

  it('two audiences at once are invalid_target, not a 500', async () => {
    const machine = await gh.created('/api/v1/applications', other.token, { name: 'Worker', type: 'm2m' });
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: machine.client_id,
      client_secret: machine.client_secret,
    });
    body.append('resource', 'urn:gatehouse:other:billing');
    body.append('resource', 'urn:gatehouse:other:billing/2');
    const response = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: string }).error, 'invalid_target');
  });

  it('a suspended tenant’s applications stop issuing tokens at once (within the 2-second lookup cache)', async () => {
    const victim = await gh.tenantWithAdmin('suspended');
    const api = await gh.created('/api/v1/apis', victim.token, {
      identifier: 'urn:gatehouse:suspended:api',
      name: 'API',
      permissions: [],
    });
    const machine = await gh.created('/api/v1/applications', victim.token, { name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${machine.id}/grants`, victim.token, { api_id: api.id, permissions: [] });
    const ask = () =>
      form('/oauth/token', {
        grant_type: 'client_credentials',
        audience: 'urn:gatehouse:suspended:api',
        client_id: machine.client_id,
        client_secret: machine.client_secret,
      });
    assert.equal((await ask()).status, 200);
    const suspended = await gh.request('PATCH', `/api/v1/tenants/${victim.tenantId}`, {
      token: await gh.adminToken(),
      body: { status: 'suspended' },
    });
    assert.equal(suspended.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const refused = await ask();
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_client');
  });
});
