/**
 * The resource-server SDK (packages/sdk) against a real Gatehouse listening on a socket:
 * tokens from the OIH flow, Express and Fastify apps on real ports, real requests, and the
 * attacks of docs/security.md#v12v13-outbound-requests-ssrf-and-api crafted with jose.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
  SignJWT,
} from 'jose';
import * as oidcClient from 'openid-client';
import * as forExpress from '../../../packages/sdk/src/express.js';
import * as forFastify from '../../../packages/sdk/src/fastify.js';
import {
  type AuthInfo,
  createVerifier,
  InvalidTokenError,
  type InvalidTokenReason,
  JWKS_CACHE_MAX_AGE_MS,
  JWKS_COOLDOWN_MS,
  JwksUnavailableError,
  type Verifier,
} from '../../../packages/sdk/src/index.js';
import { startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function listening(server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A port free a moment ago: the issuer must name the port before Gatehouse listens on it. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await listening(server);
  const { port } = server.address() as AddressInfo;
  await close(server);
  return port;
}

/** What the test routes answer: the AuthInfo without the raw token and payload. */
const summary = (auth: AuthInfo | undefined) => {
  const { token: _token, payload: _payload, ...rest } = auth!;
  return rest;
};

/** The same routes on Express and on Fastify, guarded by the SDK. */
function expressApp(verifier: Verifier, otherOrgId: string): express.Express {
  const { getAuth, requireAuth, requireOrganization, requirePermissions } = forExpress;
  const app = express();
  const authed = requireAuth(verifier);
  app.get('/me', authed, (req, res) => {
    res.json(summary(getAuth(req)));
  });
  app.get('/invoices', authed, requirePermissions(['read:invoices']), (req, res) => {
    res.json({ sub: getAuth(req).sub });
  });
  app.post('/invoices', authed, requirePermissions('read:invoices write:invoices'), (_req, res) => {
    res.status(201).json({});
  });
  app.get('/org', authed, requireOrganization(), (req, res) => {
    res.json({ orgId: getAuth(req).orgId });
  });
  app.get('/other-org', authed, requireOrganization(otherOrgId), (_req, res) => {
    res.json({});
  });
  return app;
}

async function fastifyApp(verifier: Verifier, otherOrgId: string): Promise<FastifyInstance> {
  const { requireAuth, requireOrganization, requirePermissions } = forFastify;
  const app = Fastify();
  app.addHook('onRequest', requireAuth(verifier));
  app.get('/me', async (request) => summary(request.auth));
  app.get('/invoices', { onRequest: requirePermissions(['read:invoices']) }, async (request) => ({ sub: request.auth?.sub }));
  app.post('/invoices', { preHandler: requirePermissions('read:invoices write:invoices') }, async (_request, reply) => {
    reply.code(201);
    return {};
  });
  app.get('/org', { onRequest: [requireOrganization()] }, async (request) => ({ orgId: request.auth?.orgId }));
  app.get('/other-org', { onRequest: requireOrganization(otherOrgId) }, async () => ({}));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app;
}

/** A JWKS endpoint in front of Gatehouse's that counts its requests and can publish extra keys. */
async function countingJwks(upstream: string) {
  const extra: JWK[] = [];
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    fetch(upstream)
      .then((response) => response.json() as Promise<{ keys: JWK[] }>)
      .then((jwks) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [...jwks.keys, ...extra] }));
      }, res.destroy.bind(res));
  }).listen(0, '127.0.0.1');
  const url = `${await listening(server)}/.well-known/jwks.json`;
  return { url, extra, requests: () => requests, close: () => close(server) };
}

describe('@gatehouse/sdk against a listening Gatehouse', () => {
  let gh: TestGatehouse;
  let issuer: string;
  let adminToken: string;
  let adminClaims: JWTPayload;
  let acme: TenantAdmin;
  let signing: { kid: string; alg: string; privateKey: CryptoKey };
  let rsaPublicPem: string;
  let verifier: Verifier;
  const bases: Record<'express' | 'fastify', string> = { express: '', fastify: '' };
  let expressServer: Server;
  let fastify: FastifyInstance;

  before(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    gh = await startGatehouse({ issuer });
    await gh.app.listen({ port, host: '127.0.0.1' });
    adminToken = await gh.adminToken();
    adminClaims = decodeJwt(adminToken);
    acme = await gh.tenantWithAdmin('acme');
    signing = await gh.ctx.keys.current();
    const { keys } = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const published = keys.find((key) => key.kid === signing.kid);
    assert.ok(published, 'the signing key is published in the JWKS');
    rsaPublicPem = await exportSPKI((await importJWK(published, 'RS256')) as CryptoKey);

    verifier = createVerifier({ issuer, audience: issuer });
    expressServer = expressApp(verifier, acme.tenantId).listen(0, '127.0.0.1');
    bases.express = await listening(expressServer);
    fastify = await fastifyApp(verifier, acme.tenantId);
    bases.fastify = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await close(expressServer);
    await fastify.close();
    await gh.stop();
  });

  /** A token signed with Gatehouse's own signing key, with the claims of an OIH token unless overridden. */
  function craft(claims: JWTPayload = {}, header: Partial<JWTHeaderParameters> = {}, key: CryptoKey | Uint8Array = signing.privateKey) {
    const now = nowS();
    const payload = {
      iss: issuer,
      aud: issuer,
      sub: adminClaims.sub,
      client_id: 'gatehouse',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      ...claims,
    };
    return new SignJWT(payload).setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt', ...header }).sign(key);
  }

  /** A request with `Authorization: Bearer <token>`, or with `authorization` as given when it is `{ raw }`. */
  async function call(base: string, path: string, token?: string | { raw: string }, init: RequestInit = {}) {
    const authorization = typeof token === 'string' ? `Bearer ${token}` : token?.raw;
    const response = await fetch(`${base}${path}`, { ...init, headers: authorization === undefined ? {} : { authorization } });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, challenge: response.headers.get('www-authenticate') };
  }

  /** The attacks the SDK must refuse (docs/security.md), each with the reason the verifier must give. */
  async function attacks(): Promise<[string, string, InvalidTokenReason][]> {
    const claims = {
      iss: issuer,
      aud: issuer,
      sub: adminClaims.sub,
      client_id: 'gatehouse',
      org_id: adminClaims.org_id,
      exp: nowS() + 300,
    };
    const none = `${b64url({ alg: 'none', typ: 'at+jwt', kid: signing.kid })}.${b64url(claims)}.`;
    const spkiDer = Buffer.from(rsaPublicPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const stranger = await generateKeyPair('RS256');
    return [
      ['alg none', none, 'alg_not_allowed'],
      [
        'HS256 signed with the RSA public key (PEM) as secret',
        await craft({}, { alg: 'HS256' }, new TextEncoder().encode(rsaPublicPem)),
        'alg_not_allowed',
      ],
      [
        'HS256 signed with the RSA public key (DER) as secret',
        await craft({}, { alg: 'HS256' }, new Uint8Array(spkiDer)),
        'alg_not_allowed',
      ],
      ['a kid not in the JWKS', await craft({}, { kid: 'not-in-the-jwks' }, stranger.privateKey), 'unknown_kid'],
      ['a known kid but a foreign key', await craft({}, {}, stranger.privateKey), 'bad_signature'],
      ['a wrong iss', await craft({ iss: 'http://evil.test' }), 'wrong_issuer'],
      ['a wrong aud', await craft({ aud: 'https://another-api.test' }), 'wrong_audience'],
      ['an expired token', await craft({ iat: nowS() - 3600, exp: nowS() - 600 }), 'expired'],
      ['a token without typ', await craft({}, { typ: undefined }), 'wrong_type'],
      ['an ID token typ', await craft({}, { typ: 'id_token+jwt' }), 'wrong_type'],
      ['no client_id', await craft({ client_id: undefined }), 'missing_claim'],
      ['permissions not an array', await craft({ permissions: 'all' }), 'invalid_claim'],
      ['a truncated token', adminToken.split('.').slice(0, 2).join('.'), 'malformed'],
    ];
  }

  describe('createVerifier', () => {
    it('verifies an access token of the OIH flow through the JWKS and returns its claims, typed', async () => {
      const auth = await verifier.verify(adminToken);
      assert.equal(auth.token, adminToken);
      assert.equal(auth.sub, adminClaims.sub);
      assert.equal(auth.clientId, 'gatehouse');
      assert.equal(auth.orgId, adminClaims.org_id);
      assert.equal(auth.orgName, 'System');
      assert.deepEqual(auth.roles, ['ADMIN']);
      assert.deepEqual(auth.permissions, adminClaims.permissions);
      assert.deepEqual(auth.scope, []);
      assert.equal(auth.payload.email, adminClaims.email);
    });

    it('accepts an OAuth-style token too: typ JWT, azp instead of client_id, several audiences, scopes', async () => {
      const api = 'https://invoices.api.test';
      const token = await craft(
        {
          aud: [api, 'https://other.test'],
          client_id: undefined,
          azp: 'm2m-client',
          sub: 'm2m-client',
          scope: 'read:invoices  write:invoices',
        },
        { typ: 'JWT' },
      );
      const auth = await createVerifier({ issuer, audience: api }).verify(token);
      assert.equal(auth.clientId, 'm2m-client');
      assert.deepEqual(auth.scope, ['read:invoices', 'write:invoices']);
      assert.deepEqual(auth.permissions, []);
      assert.equal(auth.orgId, undefined);
      for (const typ of ['application/at+jwt', 'AT+JWT', 'application/jwt']) {
        assert.equal((await verifier.verify(await craft({}, { typ }))).sub, adminClaims.sub, typ);
      }
    });

    it('rejects alg none, HS/RS confusion, unknown kid, wrong iss and aud, expired, and tokens that are not access tokens, with a reason', async () => {
      for (const [what, token, reason] of await attacks()) {
        await assert.rejects(
          verifier.verify(token),
          (error) =>
            error instanceof InvalidTokenError && error.code === 'invalid_token' && error.status === 401 && error.reason === reason,
          what,
        );
      }
    });

    it('refuses configurations that would open a hole', () => {
      assert.throws(() => createVerifier({ issuer, audience: issuer, algorithms: ['HS256' as never] }), TypeError);
      assert.throws(() => createVerifier({ issuer, audience: issuer, algorithms: ['none' as never] }), TypeError);
      assert.throws(() => createVerifier({ issuer, audience: issuer, algorithms: [] }), TypeError);
      assert.throws(() => createVerifier({ issuer, audience: [] }), TypeError);
      assert.throws(() => createVerifier({ issuer: '', audience: issuer }), TypeError);
      assert.throws(() => createVerifier({ issuer, audience: issuer, secret: 'too short' }), TypeError);
      assert.throws(() => createVerifier({ issuer, audience: issuer, secret: 'x'.repeat(32), algorithms: ['RS256' as never] }), TypeError);
      assert.throws(() => createVerifier({ issuer, audience: issuer, secret: 'x'.repeat(32), jwksUri: issuer } as never), TypeError);
    });

    it('answers JwksUnavailableError (503), not invalid_token, when the key set cannot be fetched', async () => {
      const down = createVerifier({ issuer, audience: issuer, jwksUri: `http://127.0.0.1:${await freePort()}/jwks.json` });
      await assert.rejects(down.verify(adminToken), (error) => error instanceof JwksUnavailableError && error.status === 503);
    });
  });

  describe('key set caching: an unknown kid refetches the JWKS, at most once per cooldown', () => {
    it('with the defaults, a flood of unknown-kid tokens after the first fetch causes no further fetch', async () => {
      const jwks = await countingJwks(`${issuer}/.well-known/jwks.json`);
      try {
        const cached = createVerifier({ issuer, audience: issuer, jwksUri: jwks.url });
        await cached.verify(adminToken);
        assert.equal(jwks.requests(), 1);
        const stranger = await generateKeyPair('RS256');
        const forged = await Promise.all(Array.from({ length: 50 }, (_, i) => craft({}, { kid: `unknown-${i}` }, stranger.privateKey)));
        const results = await Promise.allSettled(forged.map((token) => cached.verify(token)));
        assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as InvalidTokenError).reason === 'unknown_kid'));
        for (const token of forged.slice(0, 10)) await assert.rejects(cached.verify(token), InvalidTokenError);
        await cached.verify(adminToken);
        assert.equal(jwks.requests(), 1, 'unknown kids within the cooldown fetch nothing');
      } finally {
        await jwks.close();
      }
    });

    it('with the defaults (issue 18), a key unknown at the last fetch is found by a refetch at most JWKS_COOLDOWN_MS later', async () => {
      assert.equal(JWKS_COOLDOWN_MS, 5_000);
      assert.equal(JWKS_CACHE_MAX_AGE_MS, 30_000, 'the max-age Gatehouse serves its JWKS with');
      const jwks = await countingJwks(`${issuer}/.well-known/jwks.json`);
      try {
        const rotated = await generateKeyPair('RS256', { extractable: true });
        const token = await craft({}, { kid: 'rotated-twice' }, rotated.privateKey);
        const cached = createVerifier({ issuer, audience: issuer, jwksUri: jwks.url });
        await cached.verify(adminToken);
        const fetchedAt = performance.now();
        jwks.extra.push({ ...(await exportJWK(rotated.publicKey)), kid: 'rotated-twice', alg: 'RS256', use: 'sig' });
        await sleep(Math.max(0, JWKS_COOLDOWN_MS + 100 - (performance.now() - fetchedAt)));
        assert.equal((await cached.verify(token)).sub, adminClaims.sub, 'the unknown kid refetched the set at once');
        assert.equal(jwks.requests(), 2);
      } finally {
        await jwks.close();
      }
    });

    it('a key published later is found by the refetch an unknown kid triggers once the cooldown is over; concurrent misses share one fetch', async () => {
      const jwks = await countingJwks(`${issuer}/.well-known/jwks.json`);
      try {
        const cooldownDuration = 3000;
        // Made beforehand: generating keys takes long on a loaded machine, and the steps
        // below must fall inside one cooldown.
        const stranger = await generateKeyPair('RS256');
        const forged = await Promise.all(Array.from({ length: 20 }, (_, i) => craft({}, { kid: `unknown-${i}` }, stranger.privateKey)));
        const rotated = await generateKeyPair('RS256', { extractable: true });
        const rotatedJwk = { ...(await exportJWK(rotated.publicKey)), kid: 'rotated', alg: 'RS256', use: 'sig' };
        const token = await craft({}, { kid: 'rotated' }, rotated.privateKey);

        const cached = createVerifier({ issuer, audience: issuer, jwksUri: jwks.url, jwks: { cooldownDuration } });
        await cached.verify(adminToken);
        assert.equal(jwks.requests(), 1);

        // A rotation: a new key appears in the JWKS after this verifier fetched it.
        jwks.extra.push(rotatedJwk);
        await assert.rejects(cached.verify(token), (e) => e instanceof InvalidTokenError && e.reason === 'unknown_kid');
        assert.equal(jwks.requests(), 1, 'still cooling down: no fetch');

        await sleep(cooldownDuration + 100);
        assert.equal((await cached.verify(token)).sub, adminClaims.sub, 'the refetch found the new key');
        assert.equal(jwks.requests(), 2);

        await Promise.allSettled(forged.map((t) => cached.verify(t)));
        assert.equal(jwks.requests(), 2, 'right after a fetch, unknown kids fetch nothing');

        await sleep(cooldownDuration + 100);
        await Promise.allSettled(forged.map((t) => cached.verify(t)));
        assert.equal(jwks.requests(), 3, '20 concurrent unknown kids after the cooldown: one fetch');
      } finally {
        await jwks.close();
      }
    });
  });

  it('a key removed from the JWKS stops verifying once the cached set expires (kept keys do not outlive their set)', async () => {
    const jwks = await countingJwks(`${issuer}/.well-known/jwks.json`);
    try {
      const cacheMaxAge = 500;
      const cached = createVerifier({ issuer, audience: issuer, jwksUri: jwks.url, jwks: { cacheMaxAge } });
      const retiring = await generateKeyPair('RS256', { extractable: true });
      jwks.extra.push({ ...(await exportJWK(retiring.publicKey)), kid: 'retiring', alg: 'RS256', use: 'sig' });
      const token = await craft({}, { kid: 'retiring' }, retiring.privateKey);
      for (let i = 0; i < 3; i++) assert.equal((await cached.verify(token)).sub, adminClaims.sub);
      assert.equal(jwks.requests(), 1);

      jwks.extra.length = 0;
      assert.equal((await cached.verify(token)).sub, adminClaims.sub, 'still within cacheMaxAge');
      await sleep(cacheMaxAge + 100);
      await assert.rejects(cached.verify(token), (e) => e instanceof InvalidTokenError && e.reason === 'unknown_kid');
      assert.equal(jwks.requests(), 2, 'the expired set was fetched again');
      assert.equal((await cached.verify(adminToken)).sub, adminClaims.sub);
    } finally {
      await jwks.close();
    }
  });

  describe('HS256 mode (an API with a shared secret)', () => {
    const secret = randomBytes(32).toString('base64url');
    const hs = () => createVerifier({ issuer, audience: 'https://hs.api.test', secret });

    it('accepts HS256 tokens made with the secret', async () => {
      const token = await craft(
        { aud: 'https://hs.api.test', permissions: ['read:invoices'] },
        { alg: 'HS256', kid: undefined },
        new TextEncoder().encode(secret),
      );
      const auth = await hs().verify(token);
      assert.deepEqual(auth.permissions, ['read:invoices']);
    });

    it('accepts only HS256: RS256 tokens, alg none, HS512 and another secret are refused', async () => {
      const key = new TextEncoder().encode(secret);
      const claims = { aud: 'https://hs.api.test' };
      const cases: [string, string, InvalidTokenReason][] = [
        ['an RS256 token of Gatehouse', await craft(claims), 'alg_not_allowed'],
        [
          'alg none',
          `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url({ iss: issuer, aud: claims.aud, sub: 'x', exp: nowS() + 60 })}.`,
          'alg_not_allowed',
        ],
        ['HS512 with the secret', await craft(claims, { alg: 'HS512', kid: undefined }, key), 'alg_not_allowed'],
        ['HS256 with another secret', await craft(claims, { alg: 'HS256', kid: undefined }, randomBytes(32)), 'bad_signature'],
      ];
      for (const [what, token, reason] of cases) {
        await assert.rejects(hs().verify(token), (e) => e instanceof InvalidTokenError && e.reason === reason, what);
      }
    });
  });

  for (const framework of ['express', 'fastify'] as const) {
    describe(`${framework}`, () => {
      const base = () => bases[framework];

      it('accepts a real access token of the OIH flow and sets the typed auth on the request', async () => {
        const response = await call(base(), '/me', adminToken);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(response.body, {
          sub: adminClaims.sub,
          clientId: 'gatehouse',
          scope: [],
          permissions: adminClaims.permissions,
          roles: ['ADMIN'],
          orgId: adminClaims.org_id,
          orgName: 'System',
          tokenType: 'Bearer',
        });
        const member = await call(base(), '/me', acme.token);
        assert.equal(member.status, 200);
        assert.equal(member.body.orgId, acme.tenantId);
        assert.deepEqual(member.body.roles, ['TENANT_ADMIN']);
      });

      it('answers 401 with a bare Bearer challenge when no token is sent, and 400 invalid_request for a malformed header', async () => {
        for (const authorization of [undefined, { raw: 'Basic dXNlcjpwYXNz' }]) {
          const response = await call(base(), '/me', authorization);
          assert.equal(response.status, 401);
          assert.equal(response.challenge, 'Bearer');
          assert.equal(response.body.error, 'unauthorized');
        }
        for (const authorization of ['Bearer', 'Bearer two tokens', 'Bearer "quoted"']) {
          const response = await call(base(), '/me', { raw: authorization });
          assert.equal(response.status, 400, authorization);
          assert.equal(response.body.error, 'invalid_request');
          assert.match(response.challenge ?? '', /^Bearer error="invalid_request", error_description="[^"]+"$/);
        }
      });

      it('answers 401 invalid_token with an RFC 6750 challenge to every attack', async () => {
        for (const [what, token] of await attacks()) {
          const response = await call(base(), '/me', token);
          assert.equal(response.status, 401, what);
          assert.equal(response.body.error, 'invalid_token', what);
          assert.equal(typeof response.body.message, 'string', what);
          assert.match(response.challenge ?? '', /^Bearer error="invalid_token", error_description="[^"]+"$/, what);
        }
      });

      it('requirePermissions: each listed permission must be in `permissions` or `scope`; else 403 insufficient_permissions', async () => {
        const viaPermissions = await craft({ permissions: ['read:invoices'] });
        const viaScope = await craft({ scope: 'openid read:invoices', permissions: undefined });
        for (const token of [viaPermissions, viaScope]) {
          assert.equal((await call(base(), '/invoices', token)).status, 200);
          const both = await call(base(), '/invoices', token, { method: 'POST' });
          assert.equal(both.status, 403, 'all listed permissions are required');
          assert.equal(both.body.error, 'insufficient_permissions');
          assert.match(both.body.message, /write:invoices/);
          assert.equal(
            both.challenge,
            'Bearer error="insufficient_scope", error_description="Missing required permission: write:invoices", scope="read:invoices write:invoices"',
          );
        }
        assert.equal(
          (await call(base(), '/invoices', await craft({ permissions: ['read:invoices', 'write:invoices'] }), { method: 'POST' })).status,
          201,
        );
        const admin = await call(base(), '/invoices', adminToken);
        assert.equal(admin.status, 403, 'the OIH admin token carries no API permission');
        assert.equal(admin.body.error, 'insufficient_permissions');
      });

      it('DPoP with openid-client: a token bound to its key passes with the proof openid-client makes, and is refused without it or with another key', async () => {
        // Gatehouse does not issue DPoP-bound tokens yet: this one is signed with its signing key, cnf.jkt added.
        const keyPair = await oidcClient.randomDPoPKeyPair('ES256');
        const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
        const token = await craft({ cnf: { jkt } });
        const config = new oidcClient.Configuration({ issuer }, 'gatehouse');
        oidcClient.allowInsecureRequests(config);
        const url = new URL(`${base()}/me?fields=all`);
        const ok = await oidcClient.fetchProtectedResource(config, token, url, 'GET', undefined, undefined, {
          DPoP: oidcClient.getDPoPHandle(config, keyPair),
        });
        assert.equal(ok.status, 200);
        const body = (await ok.json()) as { tokenType: string; jkt: string };
        assert.equal(body.tokenType, 'DPoP');
        assert.equal(body.jkt, jkt);

        const asBearer = await call(base(), '/me', token);
        assert.equal(asBearer.status, 401);
        assert.match(
          asBearer.challenge ?? '',
          /^DPoP error="invalid_token", error_description="The access token must be sent with the DPoP scheme/,
        );
        const thief = oidcClient.getDPoPHandle(config, await oidcClient.randomDPoPKeyPair('ES256'));
        await assert.rejects(
          oidcClient.fetchProtectedResource(config, token, url, 'GET', undefined, undefined, { DPoP: thief }),
          (error: { status?: number; cause?: { scheme: string; parameters: Record<string, string> }[] }) =>
            error.status === 401 && error.cause?.[0]?.scheme === 'dpop' && error.cause[0].parameters.error === 'invalid_dpop_proof',
        );
      });

      it('requireOrganization: 403 organization_required without org_id, 403 wrong_organization for another one', async () => {
        const ok = await call(base(), '/org', adminToken);
        assert.equal(ok.status, 200);
        assert.equal(ok.body.orgId, adminClaims.org_id);
        const noOrg = await call(base(), '/org', await craft({ org_id: undefined, org_name: undefined }));
        assert.equal(noOrg.status, 403);
        assert.equal(noOrg.body.error, 'organization_required');
        const wrong = await call(base(), '/other-org', adminToken);
        assert.equal(wrong.status, 403);
        assert.equal(wrong.body.error, 'wrong_organization');
        assert.equal((await call(base(), '/other-org', acme.token)).status, 200);
      });
    });
  }
});
