/**
 * DPoP (RFC 9449) in @gatehouse/sdk, each rule of §4.3 and §7 as the attack it stops: the
 * proofs are made with jose, the DPoP-bound access tokens (`cnf.jkt`) are signed with a test
 * key published by a local JWKS server (Gatehouse issues none yet), and the adapters run in
 * their real frameworks: Express and Fastify on real ports, the fetch adapter with the
 * Fetch API's Request and Response.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import * as forExpress from '../../../packages/sdk/src/express.js';
import * as forFastify from '../../../packages/sdk/src/fastify.js';
import * as forFetch from '../../../packages/sdk/src/fetch.js';
import {
  type AuthInfo,
  createVerifier,
  DPOP_ALGORITHMS,
  InvalidDPoPProofError,
  type InvalidDPoPProofReason,
  InvalidRequestError,
  InvalidTokenError,
  type InvalidTokenReason,
  MissingTokenError,
  type RequestInfo,
  type Verifier,
} from '../../../packages/sdk/src/index.js';

const ISSUER = 'https://gatehouse.test';
const AUDIENCE = 'https://invoices.api.test';
const URL_CALLED = 'https://api.test/invoices';
const ALGS = DPOP_ALGORITHMS.join(' ');
const nowS = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const athOf = (token: string) => createHash('sha256').update(token).digest('base64url');

interface ClientKey {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

async function clientKey(alg = 'ES256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

async function listening(server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('@gatehouse/sdk DPoP (RFC 9449)', () => {
  let jwksServer: Server;
  let jwksUri: string;
  let issuerKey: CryptoKey;
  let client: ClientKey;
  let verifier: Verifier;

  before(async () => {
    const issuerPair = await generateKeyPair('RS256', { extractable: true });
    issuerKey = issuerPair.privateKey;
    const published = { ...(await exportJWK(issuerPair.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [published] }));
    }).listen(0, '127.0.0.1');
    jwksUri = `${await listening(jwksServer)}/jwks.json`;
    client = await clientKey();
    verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri });
  });

  after(() => close(jwksServer));

  /** An access token as Gatehouse's: RS256, at+jwt; bound to `client`'s key unless `cnf` is overridden. */
  function accessToken(claims: JWTPayload = {}) {
    const now = nowS();
    return new SignJWT({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'user-1',
      client_id: 'spa',
      scope: 'read:invoices',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      cnf: { jkt: client.jkt },
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key', typ: 'at+jwt' })
      .sign(issuerKey);
  }

  /** A DPoP proof made with jose: for `token`, GET URL_CALLED, now, signed by `key` and carrying its public JWK, unless overridden. */
  function proof(
    token: string,
    options: {
      claims?: Record<string, unknown>;
      header?: Record<string, unknown>;
      key?: ClientKey;
      signWith?: CryptoKey | Uint8Array;
    } = {},
  ) {
    const key = options.key ?? client;
    return new SignJWT({ jti: randomUUID(), htm: 'GET', htu: URL_CALLED, iat: nowS(), ath: athOf(token), ...options.claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...options.header })
      .sign(options.signWith ?? key.privateKey);
  }

  const request = (token: string, dpop: string | string[] | undefined, overrides: Partial<RequestInfo> = {}): RequestInfo => ({
    method: 'GET',
    url: URL_CALLED,
    headers: { authorization: `DPoP ${token}`, dpop },
    ...overrides,
  });

  async function refusedProof(what: string, attempt: Promise<AuthInfo>, reason: InvalidDPoPProofReason) {
    await assert.rejects(
      attempt,
      (error) =>
        error instanceof InvalidDPoPProofError &&
        error.reason === reason &&
        error.status === 401 &&
        error.challengeScheme === 'DPoP' &&
        error.challengeError === 'invalid_dpop_proof',
      `${what}: invalid_dpop_proof ${reason}`,
    );
  }

  async function refusedToken(what: string, attempt: Promise<AuthInfo>, reason: InvalidTokenReason) {
    await assert.rejects(
      attempt,
      (error) => error instanceof InvalidTokenError && error.reason === reason && error.challengeScheme === 'DPoP',
      `${what}: invalid_token ${reason}`,
    );
  }

  it('accepts a bound token with a valid proof: tokenType DPoP and the key thumbprint in AuthInfo', async () => {
    const token = await accessToken();
    const auth = await verifier.verifyRequest(request(token, await proof(token)));
    assert.equal(auth.tokenType, 'DPoP');
    assert.equal(auth.jkt, client.jkt);
    assert.equal(auth.sub, 'user-1');
    // The query and fragment are not part of htu; the URL parser normalizes case and the default port.
    const withQuery = await verifier.verifyRequest(
      request(token, await proof(token, { claims: { htu: 'HTTPS://API.test:443/invoices' } }), { url: `${URL_CALLED}?page=2` }),
    );
    assert.equal(withQuery.tokenType, 'DPoP');
    // Every default algorithm works for proofs; here a second one.
    const rsaClient = await clientKey('PS256');
    const psBound = await accessToken({ cnf: { jkt: rsaClient.jkt } });
    const ps = await verifier.verifyRequest(request(psBound, await proof(psBound, { key: rsaClient, header: { alg: 'PS256' } })));
    assert.equal(ps.jkt, rsaClient.jkt);
  });

  it('refuses a proof for another method (htm) or another URL (htu)', async () => {
    const token = await accessToken();
    await refusedProof(
      'POST proof on GET',
      verifier.verifyRequest(request(token, await proof(token, { claims: { htm: 'POST' } }))),
      'wrong_method',
    );
    await refusedProof(
      'lower-case htm',
      verifier.verifyRequest(request(token, await proof(token, { claims: { htm: 'get' } }))),
      'wrong_method',
    );
    for (const htu of [
      'https://api.test/payments',
      'https://evil.test/invoices',
      'http://api.test/invoices',
      'https://api.test:8443/invoices',
      'https://api.test/invoices/',
      '/invoices',
    ]) {
      await refusedProof(htu, verifier.verifyRequest(request(token, await proof(token, { claims: { htu } }))), 'wrong_url');
    }
  });

  it('refuses a replayed proof (its jti), also when presented with another request of the same token', async () => {
    const token = await accessToken();
    const once = await proof(token);
    assert.equal((await verifier.verifyRequest(request(token, once))).tokenType, 'DPoP');
    await refusedProof('the same proof again', verifier.verifyRequest(request(token, once)), 'replayed');
    const sameJti = await proof(token, { claims: { jti: 'fixed-jti' } });
    await verifier.verifyRequest(request(token, sameJti));
    await refusedProof(
      'a new proof with a used jti',
      verifier.verifyRequest(request(token, await proof(token, { claims: { jti: 'fixed-jti' } }))),
      'replayed',
    );
  });

  it('refuses a stale proof and one issued in the future (iat outside maxAge and the clock tolerance)', async () => {
    const token = await accessToken();
    await refusedProof(
      'iat 2 minutes ago',
      verifier.verifyRequest(request(token, await proof(token, { claims: { iat: nowS() - 120 } }))),
      'stale',
    );
    await refusedProof(
      'iat in 1 minute',
      verifier.verifyRequest(request(token, await proof(token, { claims: { iat: nowS() + 60 } }))),
      'not_yet_valid',
    );
    // Within maxAge (60 s) it passes.
    assert.equal((await verifier.verifyRequest(request(token, await proof(token, { claims: { iat: nowS() - 50 } })))).tokenType, 'DPoP');
    const strict = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, dpop: { maxAge: 10, clockTolerance: 0 } });
    await refusedProof(
      'older than a configured maxAge',
      strict.verifyRequest(request(token, await proof(token, { claims: { iat: nowS() - 20 } }))),
      'stale',
    );
  });

  it('refuses a proof made for another access token (ath), or without ath', async () => {
    const token = await accessToken();
    const other = await accessToken();
    await refusedProof('ath of another token', verifier.verifyRequest(request(token, await proof(other))), 'wrong_ath');
    await refusedProof(
      'no ath',
      verifier.verifyRequest(request(token, await proof(token, { claims: { ath: undefined } }))),
      'missing_claim',
    );
  });

  it('refuses a proof signed by a key other than the one the token is bound to (a stolen token with the thief’s own proof)', async () => {
    const token = await accessToken();
    const thief = await clientKey();
    await refusedProof('the thief’s key', verifier.verifyRequest(request(token, await proof(token, { key: thief }))), 'wrong_key');
    // The victim's public JWK in the header, signed by the thief: the signature does not verify.
    await refusedProof(
      'the bound JWK, signed by another key',
      verifier.verifyRequest(request(token, await proof(token, { signWith: thief.privateKey }))),
      'bad_signature',
    );
  });

  it('refuses alg none, HMAC, a typ other than dpop+jwt, a private key in jwk, no jwk, and malformed proofs', async () => {
    const token = await accessToken();
    const claims = { jti: randomUUID(), htm: 'GET', htu: URL_CALLED, iat: nowS(), ath: athOf(token) };
    const none = `${b64url({ alg: 'none', typ: 'dpop+jwt', jwk: client.jwk })}.${b64url(claims)}.`;
    await refusedProof('alg none', verifier.verifyRequest(request(token, none)), 'alg_not_allowed');
    const hmacKey = new TextEncoder().encode('x'.repeat(32));
    await refusedProof(
      'HS256',
      verifier.verifyRequest(request(token, await proof(token, { header: { alg: 'HS256' }, signWith: hmacKey }))),
      'alg_not_allowed',
    );
    const esOnly = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, dpop: { algorithms: ['ES256'] } });
    const rsaClient = await clientKey('PS256');
    const psBound = await accessToken({ cnf: { jkt: rsaClient.jkt } });
    await refusedProof(
      'an algorithm not in the allow-list',
      esOnly.verifyRequest(request(psBound, await proof(psBound, { key: rsaClient, header: { alg: 'PS256' } }))),
      'alg_not_allowed',
    );
    for (const typ of ['JWT', 'at+jwt', undefined]) {
      await refusedProof(`typ ${typ}`, verifier.verifyRequest(request(token, await proof(token, { header: { typ } }))), 'wrong_type');
    }
    const withPrivate = await exportJWK(client.privateKey);
    await refusedProof(
      'a private key in jwk',
      verifier.verifyRequest(request(token, await proof(token, { header: { jwk: withPrivate } }))),
      'bad_key',
    );
    await refusedProof('no jwk', verifier.verifyRequest(request(token, await proof(token, { header: { jwk: undefined } }))), 'bad_key');
    await refusedProof('not a JWT', verifier.verifyRequest(request(token, 'not-a-jwt')), 'malformed');
    const twice = await proof(token);
    await refusedProof('two DPoP headers', verifier.verifyRequest(request(token, [twice, twice])), 'malformed');
    await refusedProof('joined DPoP headers', verifier.verifyRequest(request(token, `${twice}, ${twice}`)), 'malformed');
    await assert.rejects(
      verifier.verifyRequest(request(token, twice, { headers: { authorization: 'DPoP two tokens', dpop: twice } })),
      (e) => e instanceof InvalidRequestError && e.status === 400 && e.challengeScheme === 'DPoP',
      'a malformed DPoP credential: 400 invalid_request, challenged with DPoP',
    );
  });

  it('refuses a bound token without its proof: no DPoP header, the Bearer scheme, or verify() without the request', async () => {
    const token = await accessToken();
    await refusedProof('DPoP scheme without a proof', verifier.verifyRequest(request(token, undefined)), 'missing');
    const asBearer = request(token, await proof(token), { headers: { authorization: `Bearer ${token}`, dpop: await proof(token) } });
    await refusedToken('a bound token as a bearer token, even with a proof', verifier.verifyRequest(asBearer), 'dpop_required');
    await refusedToken('verify(token)', verifier.verify(token), 'dpop_required');
    await refusedToken('verifyAuthorization', verifier.verifyAuthorization(`Bearer ${token}`), 'dpop_required');
  });

  it('refuses the DPoP scheme with an unbound token, and a confirmation it cannot check', async () => {
    const unbound = await accessToken({ cnf: undefined });
    await refusedToken('DPoP scheme, bearer token', verifier.verifyRequest(request(unbound, await proof(unbound))), 'not_dpop_bound');
    const mtls = await accessToken({ cnf: { 'x5t#S256': 'a'.repeat(43) } });
    await assert.rejects(
      verifier.verifyRequest(request(mtls, await proof(mtls))),
      (e) => e instanceof InvalidTokenError && e.reason === 'invalid_claim',
    );
    await assert.rejects(verifier.verify(mtls), (e) => e instanceof InvalidTokenError && e.reason === 'invalid_claim');
    // Bearer tokens are still accepted when DPoP is not required.
    const auth = await verifier.verifyRequest(request(unbound, undefined, { headers: { authorization: `Bearer ${unbound}` } }));
    assert.equal(auth.tokenType, 'Bearer');
    assert.equal(auth.jkt, undefined);
  });

  it('with dpop.required, bearer tokens are refused and every challenge is DPoP with algs', async () => {
    const required = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUri,
      dpop: { required: true, algorithms: ['ES256', 'EdDSA'] },
    });
    const unbound = await accessToken({ cnf: undefined });
    await assert.rejects(
      required.verifyRequest(request(unbound, undefined, { headers: { authorization: `Bearer ${unbound}` } })),
      (e) =>
        e instanceof InvalidTokenError &&
        e.reason === 'dpop_required' &&
        e.challengeScheme === 'DPoP' &&
        e.dpopAlgorithms?.join(' ') === 'ES256 EdDSA',
    );
    await assert.rejects(required.verify(unbound), (e) => e instanceof InvalidTokenError && e.reason === 'dpop_required');
    await assert.rejects(
      required.verifyRequest(request(unbound, undefined, { headers: {} })),
      (e) => e instanceof MissingTokenError && e.challengeScheme === 'DPoP',
    );
    const token = await accessToken();
    assert.equal((await required.verifyRequest(request(token, await proof(token)))).tokenType, 'DPoP');
    assert.throws(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, dpop: { algorithms: ['HS256' as never] } }), TypeError);
    assert.throws(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, dpop: { algorithms: ['none' as never] } }), TypeError);
  });

  it('dpop.baseUrl: behind a proxy the proof names the public URL, not the one the server sees', async () => {
    const proxied = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, dpop: { baseUrl: 'https://api.example.com/billing/' } });
    const token = await accessToken();
    const seen = { url: 'http://10.0.0.7:3000/invoices?x=1' };
    const auth = await proxied.verifyRequest(
      request(token, await proof(token, { claims: { htu: 'https://api.example.com/billing/invoices' } }), seen),
    );
    assert.equal(auth.tokenType, 'DPoP');
    await assert.rejects(
      proxied.verifyRequest(request(token, await proof(token, { claims: { htu: 'http://10.0.0.7:3000/invoices' } }), seen)),
      (e) => e instanceof InvalidDPoPProofError && e.reason === 'wrong_url',
    );
  });

  it('the replay cache is bounded: once full, the oldest jti goes and proofs issued at or before it are refused, never replayed', async () => {
    const small = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, dpop: { replayCacheSize: 2 } });
    const token = await accessToken();
    const t = nowS();
    const first = await proof(token, { claims: { iat: t - 3 } });
    await small.verifyRequest(request(token, first));
    await small.verifyRequest(request(token, await proof(token, { claims: { iat: t - 2 } })));
    await small.verifyRequest(request(token, await proof(token, { claims: { iat: t - 1 } })));
    // `first` left the cache; its iat is now the floor, so replaying it still fails.
    await refusedProof('the evicted proof replayed', small.verifyRequest(request(token, first)), 'replayed');
    await refusedProof(
      'a new proof issued as early',
      small.verifyRequest(request(token, await proof(token, { claims: { iat: t - 3 } }))),
      'replayed',
    );
    assert.equal((await small.verifyRequest(request(token, await proof(token, { claims: { iat: t } })))).tokenType, 'DPoP');
  });

  describe('adapters', () => {
    let expressServer: Server;
    let fastify: FastifyInstance;
    const bases: Record<'express' | 'fastify' | 'fetch', string> = { express: '', fastify: '', fetch: 'https://api.test' };
    let fetchHandler: (request: Request) => Promise<Response>;
    let requiredHandler: (request: Request) => Promise<Response>;

    before(async () => {
      const summary = (auth: AuthInfo | undefined) => ({ sub: auth?.sub, tokenType: auth?.tokenType, jkt: auth?.jkt ?? null });
      const app = express();
      const authed = forExpress.requireAuth(verifier);
      app.get('/invoices', authed, (req, res) => {
        res.json(summary(forExpress.getAuth(req)));
      });
      app.post('/invoices', authed, forExpress.requirePermissions('write:invoices'), (_req, res) => {
        res.status(201).json({});
      });
      expressServer = app.listen(0, '127.0.0.1');
      bases.express = await listening(expressServer);

      fastify = Fastify();
      fastify.addHook('onRequest', forFastify.requireAuth(verifier));
      fastify.get('/invoices', async (request) => summary(request.auth));
      fastify.post('/invoices', { onRequest: forFastify.requirePermissions('write:invoices') }, async (_request, reply) =>
        reply.code(201).send({}),
      );
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      bases.fastify = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;

      const protect = forFetch.requireAuth(verifier);
      const list = protect(async (_request, auth) => Response.json(summary(auth)));
      const create = protect(async () => Response.json({}, { status: 201 }), { permissions: ['write:invoices'] });
      fetchHandler = (request) => (request.method === 'POST' ? create(request) : list(request));
      requiredHandler = forFetch.requireAuth(createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, dpop: { required: true } }))(
        async (_r, auth) => Response.json(summary(auth)),
      );
    });

    after(async () => {
      await close(expressServer);
      await fastify.close();
    });

    async function call(framework: keyof typeof bases, init: { method?: string; path?: string; headers?: Record<string, string> }) {
      const url = `${bases[framework]}${init.path ?? '/invoices'}`;
      const request = new Request(url, { method: init.method ?? 'GET', headers: init.headers ?? {} });
      const response = framework === 'fetch' ? await fetchHandler(request) : await fetch(request);
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined, challenge: response.headers.get('www-authenticate') };
    }

    for (const framework of ['express', 'fastify', 'fetch'] as const) {
      describe(framework, () => {
        const htu = (path = '/invoices') => `${bases[framework]}${path}`;

        it('accepts a DPoP-bound token with its proof for this URL, with a query string too, and sets the claims on the request', async () => {
          const token = await accessToken();
          const ok = await call(framework, {
            headers: { authorization: `DPoP ${token}`, dpop: await proof(token, { claims: { htu: htu() } }) },
          });
          assert.equal(ok.status, 200, JSON.stringify(ok.body));
          assert.deepEqual(ok.body, { sub: 'user-1', tokenType: 'DPoP', jkt: client.jkt });
          const query = await call(framework, {
            path: '/invoices?page=2',
            headers: { authorization: `DPoP ${token}`, dpop: await proof(token, { claims: { htu: htu() } }) },
          });
          assert.equal(query.status, 200, JSON.stringify(query.body));
          const unbound = await accessToken({ cnf: undefined });
          const bearer = await call(framework, { headers: { authorization: `Bearer ${unbound}` } });
          assert.deepEqual(bearer.body, { sub: 'user-1', tokenType: 'Bearer', jkt: null });
        });

        it('answers 401 with a DPoP challenge (error, error_description, algs) for a refused proof, and a replay', async () => {
          const token = await accessToken();
          const missing = await call(framework, { headers: { authorization: `DPoP ${token}` } });
          assert.equal(missing.status, 401);
          assert.equal(missing.body.error, 'invalid_dpop_proof');
          assert.equal(missing.challenge, `DPoP error="invalid_dpop_proof", error_description="A DPoP proof is required", algs="${ALGS}"`);
          const wrongUrl = await call(framework, {
            headers: { authorization: `DPoP ${token}`, dpop: await proof(token, { claims: { htu: 'https://evil.test/invoices' } }) },
          });
          assert.equal(wrongUrl.status, 401);
          assert.match(wrongUrl.challenge ?? '', /^DPoP error="invalid_dpop_proof", error_description="The DPoP proof is for another URL"/);
          const once = await proof(token, { claims: { htu: htu() } });
          assert.equal((await call(framework, { headers: { authorization: `DPoP ${token}`, dpop: once } })).status, 200);
          const replay = await call(framework, { headers: { authorization: `DPoP ${token}`, dpop: once } });
          assert.equal(replay.status, 401);
          assert.match(replay.challenge ?? '', /error_description="The DPoP proof was already used"/);
        });

        it('answers 401 DPoP invalid_token to a bound token sent as a bearer token', async () => {
          const token = await accessToken();
          const response = await call(framework, {
            headers: { authorization: `Bearer ${token}`, dpop: await proof(token, { claims: { htu: htu() } }) },
          });
          assert.equal(response.status, 401);
          assert.equal(response.body.error, 'invalid_token');
          assert.match(
            response.challenge ?? '',
            /^DPoP error="invalid_token", error_description="The access token must be sent with the DPoP scheme and a DPoP proof", algs="/,
          );
        });

        it('answers 403 insufficient_scope with a DPoP challenge to a DPoP token without the permission, and 201 with it', async () => {
          const token = await accessToken();
          const denied = await call(framework, {
            method: 'POST',
            headers: { authorization: `DPoP ${token}`, dpop: await proof(token, { claims: { htm: 'POST', htu: htu() } }) },
          });
          assert.equal(denied.status, 403);
          assert.equal(denied.body.error, 'insufficient_permissions');
          assert.equal(
            denied.challenge,
            'DPoP error="insufficient_scope", error_description="Missing required permission: write:invoices", scope="write:invoices"',
          );
          const writer = await accessToken({ scope: 'write:invoices' });
          const created = await call(framework, {
            method: 'POST',
            headers: { authorization: `DPoP ${writer}`, dpop: await proof(writer, { claims: { htm: 'POST', htu: htu() } }) },
          });
          assert.equal(created.status, 201);
          const bearer = await accessToken({ cnf: undefined });
          const bearerDenied = await call(framework, { method: 'POST', headers: { authorization: `Bearer ${bearer}` } });
          assert.equal(bearerDenied.status, 403);
          assert.match(bearerDenied.challenge ?? '', /^Bearer error="insufficient_scope"/);
        });
      });
    }

    it('behind a TLS-terminating proxy: with Express’s trust proxy and Fastify’s trustProxy, the forwarded scheme and host make the URL the proof names', async () => {
      const app = express();
      app.set('trust proxy', true);
      app.get('/invoices', forExpress.requireAuth(verifier), (req, res) => {
        res.json({ tokenType: forExpress.getAuth(req).tokenType });
      });
      const server = app.listen(0, '127.0.0.1');
      const fastifyBehind = Fastify({ trustProxy: true });
      fastifyBehind.addHook('onRequest', forFastify.requireAuth(verifier));
      fastifyBehind.get('/invoices', async (request) => ({ tokenType: request.auth?.tokenType }));
      await fastifyBehind.listen({ port: 0, host: '127.0.0.1' });
      try {
        const behind = [await listening(server), `http://127.0.0.1:${(fastifyBehind.server.address() as AddressInfo).port}`];
        for (const base of behind) {
          const token = await accessToken();
          const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' };
          const publicProof = await proof(token, { claims: { htu: 'https://api.example.com/invoices' } });
          const ok = await fetch(`${base}/invoices`, { headers: { authorization: `DPoP ${token}`, dpop: publicProof, ...forwarded } });
          assert.equal(ok.status, 200, `${base}: ${await ok.clone().text()}`);
          assert.deepEqual(await ok.json(), { tokenType: 'DPoP' });
          // The proof names the public URL; without the forwarded headers the server sees its own, and refuses it.
          const other = await proof(token, { claims: { htu: 'https://api.example.com/invoices' } });
          const direct = await fetch(`${base}/invoices`, { headers: { authorization: `DPoP ${token}`, dpop: other } });
          assert.equal(direct.status, 401);
          assert.match(direct.headers.get('www-authenticate') ?? '', /error_description="The DPoP proof is for another URL"/);
        }
        // Without trust proxy (the apps above), forwarded headers are ignored: a proof for another API's URL stays refused.
        for (const base of [bases.express, bases.fastify]) {
          const token = await accessToken();
          const spoofed = await fetch(`${base}/invoices`, {
            headers: {
              authorization: `DPoP ${token}`,
              dpop: await proof(token, { claims: { htu: 'https://api.example.com/invoices' } }),
              'x-forwarded-proto': 'https',
              'x-forwarded-host': 'api.example.com',
            },
          });
          assert.equal(spoofed.status, 401, base);
        }
      } finally {
        await close(server);
        await fastifyBehind.close();
      }
    });

    it('a Host header with a path in it does not steer the URL a proof must name (Express and Fastify, with and without baseUrl)', async () => {
      // Node passes any Host value on; `${protocol}://${host}${path}` with host "h/reports#" parses as the URL of /reports.
      const get = (base: string, headers: Record<string, string>) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const { hostname, port } = new URL(base);
          const sent = httpRequest({ host: hostname, port, path: '/invoices', headers }, (res) => {
            let body = '';
            res.on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          sent.on('error', reject);
          sent.end();
        });
      const app = express();
      app.get(
        '/invoices',
        forExpress.requireAuth(createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUri, dpop: { baseUrl: 'https://api.test' } })),
        (_req, res) => {
          res.json({});
        },
      );
      const withBase = app.listen(0, '127.0.0.1');
      try {
        const targets = [
          { base: bases.express, public: bases.express },
          { base: bases.fastify, public: bases.fastify },
          { base: await listening(withBase), public: 'https://api.test' },
        ];
        for (const target of targets) {
          const token = await accessToken();
          const host = new URL(target.base).host;
          // A proof the client made for GET /reports (never sent there), used on GET /invoices.
          const forReports = await proof(token, { claims: { htu: `${target.public}/reports` } });
          const steered = await get(target.base, { host: `${host}/reports#`, authorization: `DPoP ${token}`, dpop: forReports });
          assert.equal(steered.status, 401, `${target.base}: ${steered.body}`);
          const query = await get(target.base, { host: `${host}/reports?`, authorization: `DPoP ${token}`, dpop: forReports });
          assert.equal(query.status, 401, `${target.base}: ${query.body}`);
          // The honest request with its own Host still passes.
          const own = await proof(token, { claims: { htu: `${target.public}/invoices` } });
          assert.equal((await get(target.base, { host, authorization: `DPoP ${token}`, dpop: own })).status, 200, target.base);
        }
      } finally {
        await close(withBase);
      }
    });

    it('fetch adapter with dpop.required: no token → 401 `DPoP algs=...`; a bearer token → 401 DPoP invalid_token', async () => {
      const none = await requiredHandler(new Request('https://api.test/invoices'));
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), `DPoP algs="${ALGS}"`);
      const bearer = await accessToken({ cnf: undefined });
      const refused = await requiredHandler(new Request('https://api.test/invoices', { headers: { authorization: `Bearer ${bearer}` } }));
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_token"/);
      const token = await accessToken();
      const ok = await requiredHandler(
        new Request('https://api.test/invoices', { headers: { authorization: `DPoP ${token}`, dpop: await proof(token) } }),
      );
      assert.equal(ok.status, 200);
    });

    it('fetch adapter: authenticate() for frameworks with their own middleware, and errors other than AuthError are thrown', async () => {
      const token = await accessToken({ cnf: undefined, permissions: ['read:invoices'] });
      const request = new Request('https://api.test/invoices', { headers: { authorization: `Bearer ${token}` } });
      assert.equal((await forFetch.authenticate(verifier, request, { permissions: 'read:invoices' })).sub, 'user-1');
      await assert.rejects(
        forFetch.authenticate(verifier, request, { organization: true }),
        (e: Error & { code?: string }) => e.code === 'organization_required',
      );
      const failing = forFetch.requireAuth(verifier)(async () => {
        throw new Error('handler bug');
      });
      await assert.rejects(failing(request), /handler bug/);
    });
  });
});
