/**
 * Issue 17.3: dynamic client registration (RFC 7591/7592) with initial access tokens a
 * tenant administrator issues, through openid-client's dynamicClientRegistration, and the
 * attacks: another tenant, a first-party flag, restricted grants, bad redirect URIs, a
 * revoked or used-up token, another client's registration access token.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { TenantAdmin } from '../../helpers/gatehouse.js';
import { admin, CALLBACK, flowsServer, gh } from '../engine/flows-setup.js';

const REGISTER = '/oidc/register';

interface IatBody {
  id: string;
  token: string;
  tenant_id: string;
  registrations: number;
}

describe('dynamic client registration with initial access tokens', () => {
  flowsServer();
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  let iat: IatBody;

  const register = (token: string | undefined, body: unknown) =>
    fetch(`${gh.issuer}${REGISTER}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
  const issue = (owner: TenantAdmin, body: Record<string, unknown> = {}) =>
    gh.created<IatBody>('/api/v1/initial-access-tokens', owner.token, { description: 'partner portal', ...body });

  before(async () => {
    acme = await gh.tenantWithAdmin('acme-dcr');
    globex = await gh.tenantWithAdmin('globex-dcr');
    iat = await issue(acme);
  });

  it('is listed in discovery, and refuses a registration without an initial access token', async () => {
    const metadata = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(metadata.registration_endpoint, `${gh.issuer}${REGISTER}`);
    assert.equal(metadata.frontchannel_logout_supported, true);
    const anonymous = await register(undefined, { redirect_uris: [CALLBACK] });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: string }).error, 'invalid_token');
    const made = await register('ghiat_made-up', { redirect_uris: [CALLBACK] });
    assert.equal(made.status, 401);
  });

  it('shows the token once, lists it without the token, and keeps only a digest', async () => {
    assert.match(iat.token, /^ghiat_/);
    assert.equal(iat.tenant_id, acme.tenantId);
    const list = await gh.request('GET', '/api/v1/initial-access-tokens', { token: acme.token });
    assert.equal(list.status, 200);
    assert.ok(list.body.initial_access_tokens.some((t: { id: string }) => t.id === iat.id));
    assert.doesNotMatch(JSON.stringify(list.body), /ghiat_|token_digest/);
    const rows = await gh.ctx.db.selectFrom('initial_access_tokens').select('token_digest').execute();
    assert.ok(rows.every((row) => row.token_digest !== iat.token && !iat.token.includes(row.token_digest)));
  });

  it('registers a client with openid-client into the token’s tenant; its secret authenticates it; 7592 reads, replaces, deletes it', async () => {
    const config = await client.dynamicClientRegistration(
      new URL(gh.issuer),
      { client_name: 'Partner app', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'] },
      undefined,
      { initialAccessToken: iat.token, execute: [client.allowInsecureRequests] },
    );
    const registered = config.clientMetadata() as Record<string, string>;
    assert.match(registered.client_secret as string, /^ghcs_/);
    assert.match(registered.registration_access_token as string, /^ghrat_/);
    // Only a digest of the registration access token is stored.
    const stored = await gh.ctx.db
      .selectFrom('applications')
      .selectAll()
      .where('client_id', '=', registered.client_id as string)
      .executeTakeFirstOrThrow();
    assert.ok(stored.registration_access_token_digest);
    assert.doesNotMatch(JSON.stringify(stored), /ghrat_|ghcs_/);
    // In the tenant of the token, third-party.
    const listed = await gh.request('GET', `/api/v1/applications?client_id=${encodeURIComponent(registered.client_id as string)}`, {
      token: acme.token,
    });
    assert.equal(listed.body.applications.length, 1);
    const [app] = listed.body.applications;
    assert.equal(app.tenant_id, acme.tenantId);
    assert.equal(app.first_party, false);
    // The registered secret works at the token endpoint's neighbour, the PAR endpoint (client authentication).
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    assert.ok(url.searchParams.get('request_uri'));

    const manage = (method: string, token: string, body?: unknown) =>
      fetch(registered.registration_client_uri as string, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    const read = await manage('GET', registered.registration_access_token as string);
    assert.equal(read.status, 200);
    const readBody = (await read.json()) as Record<string, unknown>;
    assert.equal(readBody.client_id, registered.client_id);
    assert.equal(readBody.client_secret, undefined, 'the secret is shown at registration only');
    const replaced = await manage('PUT', registered.registration_access_token as string, {
      client_id: registered.client_id,
      client_name: 'Partner app v2',
      redirect_uris: [CALLBACK, 'https://partner.example/cb'],
    });
    assert.equal(replaced.status, 200, await replaced.clone().text());
    assert.deepEqual(((await replaced.json()) as { redirect_uris: string[] }).redirect_uris, [CALLBACK, 'https://partner.example/cb']);
    const badUri = await manage('PUT', registered.registration_access_token as string, {
      client_id: registered.client_id,
      redirect_uris: ['http://partner.example/cb'],
    });
    assert.equal(badUri.status, 400);
    assert.equal(((await badUri.json()) as { error: string }).error, 'invalid_redirect_uri');
    assert.equal((await manage('GET', 'ghrat_wrong')).status, 401);
    assert.equal((await manage('DELETE', registered.registration_access_token as string)).status, 204);
    assert.equal((await manage('GET', registered.registration_access_token as string)).status, 401);
  });

  it('attack: a registration cannot pick its tenant, the first-party flag or a restricted grant', async () => {
    const answer = await register(iat.token, {
      client_name: 'Sneaky',
      redirect_uris: [CALLBACK],
      tenant: globex.tenantId,
      gatehouse_tenant_id: globex.tenantId,
      first_party: true,
      gatehouse_first_party: true,
    });
    assert.equal(answer.status, 201);
    const body = (await answer.json()) as { client_id: string };
    const row = await gh.ctx.db.selectFrom('applications').selectAll().where('client_id', '=', body.client_id).executeTakeFirstOrThrow();
    assert.equal(row.tenant_id, acme.tenantId);
    assert.equal(row.first_party, false);
    for (const grant of [
      'password',
      'urn:ietf:params:oauth:grant-type:device_code',
      'http://auth0.com/oauth/grant-type/mfa-otp',
      'implicit',
    ]) {
      const refused = await register(iat.token, { redirect_uris: [CALLBACK], grant_types: ['authorization_code', grant] });
      assert.equal(refused.status, 400, grant);
      assert.equal(((await refused.json()) as { error: string }).error, 'invalid_client_metadata');
    }
    for (const uri of ['http://evil.example/cb', 'javascript:alert(1)', 'https://*.evil.example/cb', 'https://user@evil.example/cb']) {
      const refused = await register(iat.token, { redirect_uris: [uri] });
      assert.equal(refused.status, 400, uri);
      assert.equal(((await refused.json()) as { error: string }).error, 'invalid_redirect_uri');
    }
    // A refused registration does not use up the token.
    const list = await gh.request('GET', '/api/v1/initial-access-tokens', { token: acme.token });
    const mine = list.body.initial_access_tokens.find((t: { id: string }) => t.id === iat.id);
    assert.equal(mine.registrations, 2);
  });

  it('attack: another tenant’s administrator can neither see, revoke nor issue the tenant’s tokens', async () => {
    const theirs = await gh.request('GET', '/api/v1/initial-access-tokens', { token: globex.token });
    assert.equal(theirs.status, 200);
    assert.ok(!theirs.body.initial_access_tokens.some((t: { id: string }) => t.id === iat.id));
    const revoke = await gh.request('DELETE', `/api/v1/initial-access-tokens/${iat.id}`, { token: globex.token });
    assert.equal(revoke.status, 404);
    const forAcme = await gh.request('POST', '/api/v1/initial-access-tokens', { token: globex.token, body: { tenant: acme.tenantId } });
    assert.equal(forAcme.status, 403);
    // A system administrator issues for any tenant.
    const bySystem = await gh.created<IatBody>('/api/v1/initial-access-tokens', admin, { tenant: globex.tenantId });
    assert.equal(bySystem.tenant_id, globex.tenantId);
  });

  it('a revoked, expired or used-up token registers nothing; of racing registrations with one left, one wins', async () => {
    const revoked = await issue(acme);
    assert.equal((await gh.request('DELETE', `/api/v1/initial-access-tokens/${revoked.id}`, { token: acme.token })).status, 204);
    assert.equal((await register(revoked.token, { redirect_uris: [CALLBACK] })).status, 401);
    const once = await issue(acme, { max_registrations: 1 });
    const answers = await Promise.all(Array.from({ length: 4 }, () => register(once.token, { redirect_uris: [CALLBACK] })));
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 401, 401, 401]);
    const [event] = await gh.auditEvents(acme.token, { action: 'iam.initialAccessToken.revoked', target: revoked.id });
    assert.ok(event);
  });

  it('a suspended tenant’s token registers nothing', async () => {
    const initech = await gh.tenantWithAdmin('initech-dcr');
    const token = await issue(initech);
    const suspended = await gh.request('PATCH', `/api/v1/tenants/${initech.tenantId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(suspended.status, 200, JSON.stringify(suspended.body));
    assert.equal((await register(token.token, { redirect_uris: [CALLBACK] })).status, 401);
  });

  it('attack: one client’s registration access token does not manage another client', async () => {
    const first = (await (await register(iat.token, { redirect_uris: [CALLBACK] })).json()) as Record<string, string>;
    const second = (await (await register(iat.token, { redirect_uris: [CALLBACK] })).json()) as Record<string, string>;
    const crossed = await fetch(second.registration_client_uri as string, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${first.registration_access_token}` },
    });
    assert.equal(crossed.status, 401);
    assert.ok(
      await gh.ctx.db
        .selectFrom('applications')
        .select('id')
        .where('client_id', '=', second.client_id as string)
        .executeTakeFirst(),
    );
  });
});
