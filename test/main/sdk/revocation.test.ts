/**
 * The SDK's optional online revocation check against a real, listening Gatehouse: machine
 * tokens from POST /oauth/token, introspected (RFC 7662) with the resource server's own
 * client credentials through a counting proxy in front of /oauth/introspect, so the cache
 * and the fail-closed / fail-open behaviour are seen from the wire.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { generateKeyPair, SignJWT } from 'jose';
import * as forFastify from '../../../packages/sdk/src/fastify.js';
import {
  createVerifier,
  IntrospectionUnavailableError,
  InvalidTokenError,
  REVOCATION_CACHE_MAX_AGE_MS,
  type RevocationOptions,
} from '../../../packages/sdk/src/index.js';
import type { TestGatehouse } from '../../helpers/gatehouse.js';
import { freePort, startListeningGatehouse } from '../../helpers/oidc.js';

const API = 'https://invoices.revocation.test';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function listening(server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A stand-in in front of Gatehouse's introspection endpoint: forwards and counts, or answers 500 while `down`. */
async function introspectionProxy(upstream: string) {
  const state = { calls: 0, down: false, bodies: [] as string[] };
  const server = createServer((req, res) => {
    state.calls++;
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      state.bodies.push(body);
      if (state.down) {
        res.statusCode = 500;
        res.end('{"error":"server_error"}');
        return;
      }
      fetch(upstream, {
        method: 'POST',
        headers: { authorization: req.headers.authorization ?? '', 'content-type': req.headers['content-type'] ?? '' },
        body,
      }).then(async (answer) => {
        res.statusCode = answer.status;
        res.setHeader('content-type', 'application/json');
        res.end(await answer.text());
      }, res.destroy.bind(res));
    });
  }).listen(0, '127.0.0.1');
  const url = `${await listening(server)}/oauth/introspect`;
  return { url, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('@gatehouse/sdk online revocation check (introspection) against a listening Gatehouse', () => {
  let gh: TestGatehouse & { issuer: string };
  let admin: string;
  let apiId: string;
  let m2m: { id: string; client_id: string; client_secret: string };
  let resourceServer: { client_id: string; client_secret: string };
  let proxy: Awaited<ReturnType<typeof introspectionProxy>>;

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    apiId = (
      await gh.created('/api/v1/apis', admin, {
        identifier: API,
        name: 'Invoices',
        permissions: [{ value: 'read:invoices', description: 'Read invoices' }],
        permissions_in_token: true,
      })
    ).id;
    m2m = await gh.created('/api/v1/applications', admin, { name: 'Billing job', type: 'm2m' });
    await gh.created(`/api/v1/applications/${m2m.id}/grants`, admin, { api_id: apiId, permissions: ['read:invoices'] });
    // The API's own confidential client, in the same tenant: it may introspect that tenant's tokens.
    resourceServer = await gh.created('/api/v1/applications', admin, { name: 'Invoices API', type: 'm2m' });
    proxy = await introspectionProxy(`${gh.issuer}/oauth/introspect`);
  });

  after(async () => {
    await proxy?.close();
    await gh?.stop();
  });

  async function machineToken(): Promise<string> {
    const response = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { authorization: basic(m2m.client_id, m2m.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }),
    });
    const body = (await response.json()) as { access_token: string };
    assert.equal(response.status, 200, JSON.stringify(body));
    return body.access_token;
  }

  const verifierWith = (revocation: Partial<RevocationOptions> = {}) =>
    createVerifier({
      issuer: gh.issuer,
      audience: API,
      revocation: {
        clientId: resourceServer.client_id,
        clientSecret: resourceServer.client_secret,
        introspectionEndpoint: proxy.url,
        ...revocation,
      },
    });

  it('asks introspection once per token and cache period, with the API’s client credentials; concurrent checks share the call', async () => {
    assert.equal(REVOCATION_CACHE_MAX_AGE_MS, 10_000);
    const verifier = verifierWith();
    const token = await machineToken();
    const before = proxy.state.calls;
    for (let i = 0; i < 5; i++) assert.equal((await verifier.verify(token)).sub, m2m.client_id);
    assert.equal(proxy.state.calls - before, 1, 'five verifications, one introspection call');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(proxy.state.bodies.at(-1))), { token, token_type_hint: 'access_token' });

    const fresh = await machineToken();
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(fresh)));
    assert.equal(concurrent.length, 10);
    assert.equal(proxy.state.calls - before, 2, 'ten concurrent verifications of a new token, one call');
  });

  it('refuses a token Gatehouse no longer holds active (the client lost its grant) once the cached answer is older than cacheMaxAge', async () => {
    const cacheMaxAge = 1_500;
    const verifier = verifierWith({ cacheMaxAge });
    const token = await machineToken();
    await verifier.verify(token);
    const deleted = await gh.request('DELETE', `/api/v1/applications/${m2m.id}/grants/${apiId}`, { token: admin });
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    try {
      // Still within cacheMaxAge: the cached answer stands (the bound on how late a revocation is seen).
      assert.equal((await verifier.verify(token)).sub, m2m.client_id);
      await sleep(cacheMaxAge + 100);
      await assert.rejects(
        verifier.verify(token),
        (e) =>
          e instanceof InvalidTokenError &&
          e.reason === 'revoked' &&
          e.status === 401 &&
          e.message === 'The access token is no longer active',
      );
      // Without the check, the same token still verifies locally: the refusal is the online check's.
      assert.equal((await createVerifier({ issuer: gh.issuer, audience: API }).verify(token)).sub, m2m.client_id);

      // Through an adapter: 401 invalid_token with the Bearer challenge.
      const app = Fastify();
      app.addHook('onRequest', forFastify.requireAuth(verifierWith({ cacheMaxAge })));
      app.get('/invoices', async () => ({ ok: true }));
      const response = await app.inject({ method: 'GET', url: '/invoices', headers: { authorization: `Bearer ${token}` } });
      await app.close();
      assert.equal(response.statusCode, 401);
      assert.equal(
        response.headers['www-authenticate'],
        'Bearer error="invalid_token", error_description="The access token is no longer active"',
      );
    } finally {
      await gh.created(`/api/v1/applications/${m2m.id}/grants`, admin, { api_id: apiId, permissions: ['read:invoices'] });
    }
  });

  it('fails closed by default: Gatehouse answering 500, unreachable, or refusing the API’s credentials → 503 temporarily_unavailable', async () => {
    const token = await machineToken();
    const errors: IntrospectionUnavailableError[] = [];
    const onError = (error: IntrospectionUnavailableError) => errors.push(error);
    const unavailable = (e: unknown) =>
      e instanceof IntrospectionUnavailableError && e.status === 503 && e.code === 'temporarily_unavailable';

    proxy.state.down = true;
    try {
      await assert.rejects(verifierWith({ onError }).verify(token), unavailable);
    } finally {
      proxy.state.down = false;
    }
    await assert.rejects(
      verifierWith({ onError, introspectionEndpoint: `http://127.0.0.1:${await freePort()}/oauth/introspect` }).verify(token),
      unavailable,
    );
    await assert.rejects(verifierWith({ onError, clientSecret: 'not-the-secret' }).verify(token), unavailable);
    assert.equal(errors.length, 3);
    assert.match(errors[0]!.message, /answered 500/);
    assert.match(errors[2]!.message, /answered 401/);
    assert.ok(
      errors.every((error) => !error.message.includes(token)),
      'the token never appears in the error',
    );

    // Failures are not cached: once Gatehouse answers again, the token passes.
    const verifier = verifierWith();
    proxy.state.down = true;
    await assert.rejects(verifier.verify(token), unavailable);
    proxy.state.down = false;
    assert.equal((await verifier.verify(token)).sub, m2m.client_id);
  });

  it('fails open when configured: the locally verified token passes, and onError is told', async () => {
    const token = await machineToken();
    const errors: Error[] = [];
    proxy.state.down = true;
    try {
      const auth = await verifierWith({ failOpen: true, onError: (error) => errors.push(error) }).verify(token);
      assert.equal(auth.sub, m2m.client_id);
    } finally {
      proxy.state.down = false;
    }
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof IntrospectionUnavailableError);
  });

  it('asks nothing for a token that fails the local checks, and holds at most cacheSize answers', async () => {
    const verifier = verifierWith({ cacheSize: 2 });
    const forged = await new SignJWT({ iss: gh.issuer, aud: API, sub: 'x', client_id: 'x', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'nope' })
      .sign((await generateKeyPair('RS256')).privateKey);
    const before = proxy.state.calls;
    await assert.rejects(verifier.verify(forged), InvalidTokenError);
    assert.equal(proxy.state.calls, before, 'a forged token costs Gatehouse nothing');

    const [a, b, c] = await Promise.all([machineToken(), machineToken(), machineToken()]);
    for (const token of [a!, b!, a!, b!]) await verifier.verify(token);
    assert.equal(proxy.state.calls - before, 2, 'two tokens, two calls');
    await verifier.verify(c!); // the third answer pushes out the oldest (a's)
    await verifier.verify(b!);
    assert.equal(proxy.state.calls - before, 3);
    await verifier.verify(a!);
    assert.equal(proxy.state.calls - before, 4, 'a’s answer was dropped: asked again');
  });

  it('refuses incomplete configurations', () => {
    assert.throws(() => createVerifier({ issuer: gh.issuer, audience: API, revocation: { clientId: 'x', clientSecret: '' } }), TypeError);
    assert.throws(() => createVerifier({ issuer: gh.issuer, audience: API, revocation: { clientId: '', clientSecret: 'x' } }), TypeError);
    assert.throws(() => verifierWith({ cacheSize: 0 }), TypeError);
  });
});
