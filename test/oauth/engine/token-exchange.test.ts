/**
 * RFC 8693 token exchange, delegation (decision 431), driven with openid-client: an API's
 * application exchanges the token a user sent it for a token to call another API on the
 * user's behalf, with `act` naming it (nested along a chain), scopes the user holds, and
 * no refresh token. The refusals are in test/security/v17-token-exchange.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { startGatehouse } from '../../helpers/gatehouse.js';
import { ACCESS_TOKEN_TYPE, exchangeWorld, ORDERS, oauthError, STOCK, TOKEN_EXCHANGE, world as w } from '../../helpers/token-exchange.js';

const exchange = async (app: keyof typeof w.apps, parameters: Record<string, string>) =>
  client.genericGrantRequest(await w.discover(w.apps[app]), TOKEN_EXCHANGE, {
    subject_token_type: ACCESS_TOKEN_TYPE,
    ...parameters,
  });

describe('token exchange: delegation (openid-client)', () => {
  exchangeWorld();

  it('lists the grant in the discovery document', async () => {
    const config = await w.discover(w.apps.orders);
    assert.ok(config.serverMetadata().grant_types_supported?.includes(TOKEN_EXCHANGE));
  });

  it('exchanges a user’s token for the orders API for one to call the stock API, naming the service in act', async () => {
    const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS, 'read:orders');
    const tokens = await exchange('orders', { subject_token: subject, audience: STOCK, scope: 'read:stock' });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.issued_token_type, ACCESS_TOKEN_TYPE);
    assert.equal(tokens.refresh_token, undefined, 'no refresh token for an exchanged token');
    assert.equal(tokens.scope, 'read:stock');

    // A resource server verifies it as any other token of ours, through the JWKS.
    const jwks = createRemoteJWKSet(new URL(`${w.gh.issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: w.gh.issuer,
      audience: STOCK,
      typ: 'at+jwt',
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, w.alice.id);
    assert.equal(payload.client_id, w.apps.orders.client_id);
    assert.deepEqual(payload.act, { sub: w.apps.orders.client_id });
    assert.equal(payload.scope, 'read:stock');
    assert.deepEqual(payload.permissions, ['read:stock']);
    assert.ok((payload.exp as number) <= (decodeJwt(subject).exp as number), 'it does not outlive the subject token');

    // Introspection says active to the service that holds it.
    const introspected = await client.tokenIntrospection(await w.discover(w.apps.orders), tokens.access_token);
    assert.equal(introspected.active, true);
    assert.equal(introspected.sub, w.alice.id);

    // Audited as a token for alice, issued to the service, by exchange.
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.token.created', target: w.alice.id });
    const event = events.find((e) => e.details.jti === payload.jti);
    assert.ok(event, 'the exchanged token is in the audit trail');
    assert.equal(event.details.grant_type, TOKEN_EXCHANGE);
    assert.equal(event.actor_type, 'client');
    assert.equal(event.actor_id, w.apps.orders.client_id);
    assert.deepEqual(event.details.act, { sub: w.apps.orders.client_id });
  });

  it('without a scope, issues what the user holds for the target API, and nothing more', async () => {
    const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
    const tokens = await exchange('orders', { subject_token: subject, audience: STOCK });
    assert.equal(tokens.scope, 'read:stock');
    assert.deepEqual(decodeJwt(tokens.access_token).permissions, ['read:stock']);
  });

  it('nests act along a chain of services (orders → stock → orders)', async () => {
    const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
    const first = await exchange('orders', { subject_token: subject, audience: STOCK });
    const second = await exchange('stock', { subject_token: first.access_token, audience: ORDERS, scope: 'read:orders' });
    const claims = decodeJwt(second.access_token);
    assert.equal(claims.sub, w.alice.id);
    assert.equal(claims.client_id, w.apps.stock.client_id);
    assert.deepEqual(claims.act, { sub: w.apps.stock.client_id, act: { sub: w.apps.orders.client_id } });
    assert.equal(claims.aud, ORDERS);
  });

  it('refuses a chain deeper than four actors', async () => {
    let token = await w.userToken(w.apps.front, w.alice.email, ORDERS);
    const hops: ('orders' | 'stock')[] = ['orders', 'stock', 'orders', 'stock'];
    for (const [i, app] of hops.entries()) {
      token = (await exchange(app, { subject_token: token, audience: i % 2 === 0 ? STOCK : ORDERS })).access_token;
    }
    let depth = 0;
    for (let act = decodeJwt(token).act as { act?: unknown } | undefined; act; act = act.act as typeof act) depth++;
    assert.equal(depth, 4);
    const refused = await oauthError(exchange('orders', { subject_token: token, audience: STOCK }));
    // The same hop one actor shallower passed above: only the depth refuses it.
    assert.equal(refused.error, 'invalid_grant');
  });

  it('refuses a machine token as the subject: there is no user to act for', async () => {
    const worker = await w.gh.created('/api/v1/applications', w.acme.token, { name: 'Orders worker', type: 'm2m' });
    const apis = await w.gh.request('GET', `/api/v1/apis?identifier=${encodeURIComponent(ORDERS)}`, { token: w.acme.token });
    const ordersApi = apis.body.apis[0];
    await w.gh.created(`/api/v1/applications/${worker.id}/grants`, w.acme.token, { api_id: ordersApi.id, permissions: ['read:orders'] });
    const machine = await client.clientCredentialsGrant(await w.discover(worker), { audience: ORDERS });
    const refused = await oauthError(exchange('orders', { subject_token: machine.access_token, audience: STOCK }));
    assert.equal(refused.error, 'invalid_grant');
  });

  it('ends with the user’s access: after the user is disabled the exchanged token introspects inactive', async () => {
    const bobby = await w.gh.createUser(w.acme.token, { email: 'bobby@acme.test', password: 'a-long-test-password' });
    const roles = (await w.gh.members(w.acme.token, w.acme.tenantId)).find((m) => m.user_id === w.alice.id)?.roles ?? [];
    const patched = await w.gh.request('PATCH', `/api/v1/tenants/${w.acme.tenantId}/members/${bobby}`, {
      token: w.acme.token,
      body: { roles: roles.map((r) => r.id) },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const subject = await w.userToken(w.apps.front, 'bobby@acme.test', ORDERS);
    const tokens = await exchange('orders', { subject_token: subject, audience: STOCK });
    const config = await w.discover(w.apps.orders);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, true);
    const disabled = await w.gh.request('POST', `/api/v1/users/${bobby}/disable`, { token: w.acme.token });
    assert.ok(disabled.status < 300, JSON.stringify(disabled.body));
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
  });

  it('refuses a public or non-exchanging application (unauthorized_client)', async () => {
    const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
    const refused = await oauthError(
      client.genericGrantRequest(await w.discover(w.apps.front), TOKEN_EXCHANGE, {
        subject_token: subject,
        subject_token_type: ACCESS_TOKEN_TYPE,
        audience: STOCK,
      }),
    );
    assert.equal(refused.error, 'unauthorized_client');
  });

  it('answers invalid_request without a subject token, audience, or with an unknown token type', async () => {
    const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
    assert.equal((await oauthError(exchange('orders', { audience: STOCK }))).error, 'invalid_request');
    assert.equal((await oauthError(exchange('orders', { subject_token: subject }))).error, 'invalid_request');
    const odd = { subject_token: subject, audience: STOCK, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' };
    assert.equal((await oauthError(exchange('orders', odd))).error, 'invalid_request');
    const refresh = { subject_token: subject, audience: STOCK, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' };
    assert.equal((await oauthError(exchange('orders', refresh))).error, 'invalid_request');
  });
});

describe('token exchange switched off (GATEHOUSE_TOKEN_EXCHANGE=false)', () => {
  it('is not in the discovery document and the grant is unsupported', async () => {
    const gh = await startGatehouse({ config: { tokenExchange: 'false' } });
    try {
      const discovery = await gh.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
      assert.equal(discovery.statusCode, 200);
      assert.ok(!discovery.json().grant_types_supported.includes(TOKEN_EXCHANGE));
      // An application may still list the grant; the endpoint does not know it.
      const app = await gh.created('/api/v1/applications', await gh.adminToken(), {
        name: 'S',
        type: 'm2m',
        grant_types: [TOKEN_EXCHANGE],
      });
      const answer = await gh.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`,
        },
        payload: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: 'y', subject_token_type: ACCESS_TOKEN_TYPE }).toString(),
      });
      assert.equal(answer.statusCode, 400);
      assert.equal(answer.json().error, 'unsupported_grant_type', answer.body);
    } finally {
      await gh.stop();
    }
  });
});
