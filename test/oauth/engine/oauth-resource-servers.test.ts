/**
 * Tokens for APIs (resource servers), checked by the libraries resource servers really use:
 * openid-client for client credentials, Auth0's express-oauth2-jwt-bearer in an Express
 * app, AWS's aws-jwt-verify and jose. Plus the token endpoint's error answers (RFC 6749).
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import express from 'express';
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { PASSWORD, type TestGatehouse } from '../../helpers/gatehouse.js';
import { startListeningGatehouse } from '../../helpers/oidc.js';

const INVOICES_API = 'https://invoices.example.com';
const ES_API = 'https://es.example.com';
const HS_API = 'https://hs.example.com';
const UNGRANTED_API = 'https://ungranted.example.com';

interface AppBody {
  id: string;
  client_id: string;
  client_secret: string;
}

interface TokenAnswer {
  status: number;
  contentType: string | null;
  body: Record<string, any>;
}

/** aws-jwt-verify fetches JWKS with node:https only; our test issuer is plain http, so give it a fetcher (its documented extension point). */
const httpFetcher: Fetcher = {
  async fetch(uri) {
    const response = await fetch(uri);
    if (response.status !== 200) throw new Error(`JWKS fetch ${uri}: ${response.status}`);
    return response.arrayBuffer();
  },
};

const sortedScopes = (scope: unknown) =>
  String(scope ?? '')
    .split(' ')
    .filter(Boolean)
    .sort();

describe('tokens for APIs, verified by resource-server libraries', () => {
  let gh: TestGatehouse & { issuer: string };
  let admin: string;
  let jwksUri: string;
  let m2m: AppBody;
  let hsSecret: string;
  let basic: client.Configuration;
  let post: client.Configuration;

  const basicAuth = (id: string, secret: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  /** A raw request to the token endpoint (or another engine endpoint), answer parsed. */
  async function post_(path: string, body: string | Record<string, string>, headers: Record<string, string> = {}): Promise<TokenAnswer> {
    const response = await fetch(`${gh.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: typeof body === 'string' ? body : new URLSearchParams(body),
    });
    const text = await response.text();
    let parsed: Record<string, any> = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      assert.fail(`${path} answered ${response.status} with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    return { status: response.status, contentType: response.headers.get('content-type'), body: parsed };
  }

  const m2mToken = (body: Record<string, string>) =>
    post_('/oauth/token', { grant_type: 'client_credentials', ...body }, { authorization: basicAuth(m2m.client_id, m2m.client_secret) });

  /** Asserts an RFC 6749 error answer: status, `error`, a JSON body with a description. */
  function assertOAuthError(answer: TokenAnswer, status: number, error: string) {
    assert.equal(answer.status, status, `expected ${status} ${error}, got ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, error, JSON.stringify(answer.body));
    assert.equal(typeof answer.body.error_description, 'string');
    assert.match(answer.contentType ?? '', /^application\/json/);
  }

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    jwksUri = `${gh.issuer}/.well-known/jwks.json`;
    const api = (body: Record<string, unknown>) => gh.created('/api/v1/apis', admin, body);
    const invoices = await api({
      identifier: INVOICES_API,
      name: 'Invoices',
      permissions: [{ value: 'read:invoices' }, { value: 'write:invoices' }, { value: 'delete:invoices' }],
      permissions_in_token: true,
    });
    const es = await api({ identifier: ES_API, name: 'EC API', signing_alg: 'ES256', permissions: [{ value: 'read:es' }] });
    const hs = await api({ identifier: HS_API, name: 'HS API', signing_alg: 'HS256', permissions: [{ value: 'read:hs' }] });
    hsSecret = hs.signing_secret;
    assert.equal(typeof hsSecret, 'string', 'an HS256 API answers its shared secret once');
    await api({ identifier: UNGRANTED_API, name: 'Ungranted', permissions: [{ value: 'read:x' }] });

    m2m = await gh.created<AppBody>('/api/v1/applications', admin, { name: 'Billing worker', type: 'm2m' });
    const grant = (apiId: string, permissions: string[]) =>
      gh.created(`/api/v1/applications/${m2m.id}/grants`, admin, { api_id: apiId, permissions });
    await grant(invoices.id, ['read:invoices', 'write:invoices']);
    await grant(es.id, ['read:es']);
    await grant(hs.id, ['read:hs']);

    const options = { execute: [client.allowInsecureRequests] };
    basic = await client.discovery(new URL(gh.issuer), m2m.client_id, undefined, client.ClientSecretBasic(m2m.client_secret), options);
    post = await client.discovery(new URL(gh.issuer), m2m.client_id, undefined, client.ClientSecretPost(m2m.client_secret), options);
  });
  after(() => gh.stop());

  describe('client credentials (openid-client)', () => {
    it('issues an at+jwt for the audience, signed by a JWKS key, with the granted permissions as scope and claim', async () => {
      for (const config of [basic, post]) {
        const tokens = await client.clientCredentialsGrant(config, { audience: INVOICES_API });
        assert.equal(tokens.token_type.toLowerCase(), 'bearer');
        assert.equal(tokens.expires_in, 600);
        assert.equal(tokens.refresh_token, undefined);
        const header = decodeProtectedHeader(tokens.access_token);
        assert.equal(header.typ, 'at+jwt');
        assert.equal(header.alg, 'RS256');
        const keys = ((await (await fetch(jwksUri)).json()) as { keys: JWK[] }).keys;
        assert.ok(
          keys.some((k) => k.kid === header.kid && k.kty === 'RSA'),
          `kid ${header.kid} is in the JWKS`,
        );
        const claims = decodeJwt(tokens.access_token);
        assert.equal(claims.iss, gh.issuer);
        assert.equal(claims.aud, INVOICES_API);
        assert.equal(claims.client_id, m2m.client_id);
        assert.equal(claims.sub, m2m.client_id);
        assert.ok(typeof claims.jti === 'string' && claims.jti.length > 0);
        assert.equal((claims.exp as number) - (claims.iat as number), 600);
        assert.deepEqual(sortedScopes(claims.scope), ['read:invoices', 'write:invoices']);
        assert.deepEqual([...(claims.permissions as string[])].sort(), ['read:invoices', 'write:invoices']);
        assert.deepEqual(sortedScopes(tokens.scope), ['read:invoices', 'write:invoices']);
      }
    });

    it('a scope narrows the token to a subset of the grant', async () => {
      const tokens = await client.clientCredentialsGrant(basic, { audience: INVOICES_API, scope: 'read:invoices' });
      assert.equal(decodeJwt(tokens.access_token).scope, 'read:invoices');
    });

    it('no permissions claim for an API without permissions_in_token', async () => {
      const tokens = await client.clientCredentialsGrant(basic, { audience: ES_API });
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims.scope, 'read:es');
      assert.equal(claims.permissions, undefined);
    });

    it('refuses: no grant for the API (access_denied), a scope not granted (invalid_scope), no audience (invalid_request)', async () => {
      assertOAuthError(await m2mToken({ audience: UNGRANTED_API }), 400, 'access_denied');
      assertOAuthError(await m2mToken({ audience: INVOICES_API, scope: 'read:invoices delete:invoices' }), 400, 'invalid_scope');
      assertOAuthError(await m2mToken({ audience: INVOICES_API, scope: 'read:es' }), 400, 'invalid_scope');
      assertOAuthError(await m2mToken({}), 400, 'invalid_request');
      // openid-client sees the same refusal.
      await assert.rejects(client.clientCredentialsGrant(basic, { audience: UNGRANTED_API }), (error: unknown) => {
        assert.ok(error instanceof client.ResponseBodyError);
        assert.equal(error.error, 'access_denied');
        return true;
      });
    });

    it('a wrong secret is invalid_client (401), by client_secret_basic and by client_secret_post', async () => {
      const wrong = `${m2m.client_secret.slice(0, -2)}xx`;
      const byBasic = await post_(
        '/oauth/token',
        { grant_type: 'client_credentials', audience: INVOICES_API },
        { authorization: basicAuth(m2m.client_id, wrong) },
      );
      assertOAuthError(byBasic, 401, 'invalid_client');
      const byPost = await post_('/oauth/token', {
        grant_type: 'client_credentials',
        audience: INVOICES_API,
        client_id: m2m.client_id,
        client_secret: wrong,
      });
      assertOAuthError(byPost, 401, 'invalid_client');
      const unknown = await post_('/oauth/token', {
        grant_type: 'client_credentials',
        audience: INVOICES_API,
        client_id: 'no-such-client',
        client_secret: m2m.client_secret,
      });
      assertOAuthError(unknown, 401, 'invalid_client');
      // The right secret in the body works (client_secret_post), as in the article's curl examples.
      const right = await post_('/oauth/token', {
        grant_type: 'client_credentials',
        audience: INVOICES_API,
        client_id: m2m.client_id,
        client_secret: m2m.client_secret,
      });
      assert.equal(right.status, 200, JSON.stringify(right.body));
    });
  });

  describe('express-oauth2-jwt-bearer (Auth0’s Express SDK) in a real Express app', () => {
    let server: Server;
    let base: string;

    before(async () => {
      const app = express();
      app.set('env', 'test'); // Express's default error handler answers the SDK's errors without logging them
      // The issuer is plain http on 127.0.0.1: the SDK accepts that outside NODE_ENV=production.
      // strict: RFC 9068 profile checks (typ at+jwt, iat, sub, client_id, jti).
      const checkJwt = auth({ issuerBaseURL: gh.issuer, audience: INVOICES_API, strict: true });
      app.get('/invoices', checkJwt, requiredScopes('read:invoices'), (req, res) => {
        res.json({ sub: req.auth?.payload.sub, scope: req.auth?.payload.scope });
      });
      app.delete('/invoices/1', checkJwt, requiredScopes('delete:invoices'), (_req, res) => {
        res.status(204).end();
      });
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const call = (method: string, path: string, token?: string) =>
      fetch(`${base}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

    it('accepts our access token, refuses a wrong audience (401) and a missing permission (403)', async () => {
      const token = (await client.clientCredentialsGrant(basic, { audience: INVOICES_API })).access_token;
      const ok = await call('GET', '/invoices', token);
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { sub: m2m.client_id, scope: decodeJwt(token).scope });

      const otherAudience = (await client.clientCredentialsGrant(basic, { audience: ES_API })).access_token;
      const wrongAudience = await call('GET', '/invoices', otherAudience);
      assert.equal(wrongAudience.status, 401);
      assert.match(wrongAudience.headers.get('www-authenticate') ?? '', /invalid_token/);

      const noToken = await call('GET', '/invoices');
      assert.equal(noToken.status, 401);

      const forged = `${token.slice(0, -4)}AAAA`;
      assert.equal((await call('GET', '/invoices', forged)).status, 401);

      const missingPermission = await call('DELETE', '/invoices/1', token);
      assert.equal(missingPermission.status, 403);
      assert.match(missingPermission.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    });
  });

  describe('aws-jwt-verify and jose', () => {
    it('JwtRsaVerifier verifies our RS256 access token with the JWKS, and refuses another audience', async () => {
      const verifier = JwtRsaVerifier.create(
        { issuer: gh.issuer, audience: INVOICES_API, jwksUri },
        { jwksCache: new SimpleJwksCache({ fetcher: httpFetcher }) },
      );
      const token = (await client.clientCredentialsGrant(basic, { audience: INVOICES_API })).access_token;
      const payload = await verifier.verify(token);
      assert.equal(payload.aud, INVOICES_API);
      assert.equal(payload.client_id, m2m.client_id);

      const other = JwtRsaVerifier.create(
        { issuer: gh.issuer, audience: 'https://someone-else.example.com', jwksUri },
        { jwksCache: new SimpleJwksCache({ fetcher: httpFetcher }) },
      );
      await assert.rejects(other.verify(token), /audience/i);
      const wrongIssuer = JwtRsaVerifier.create(
        { issuer: 'https://not-gatehouse.example.com', audience: INVOICES_API, jwksUri },
        { jwksCache: new SimpleJwksCache({ fetcher: httpFetcher }) },
      );
      await assert.rejects(wrongIssuer.verify(token), /issuer/i);
    });

    it('jose.jwtVerify with createRemoteJWKSet verifies it (typ at+jwt), and refuses a wrong audience', async () => {
      const token = (await client.clientCredentialsGrant(basic, { audience: INVOICES_API })).access_token;
      const jwks = createRemoteJWKSet(new URL(jwksUri));
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: gh.issuer, audience: INVOICES_API, typ: 'at+jwt' });
      assert.equal(protectedHeader.alg, 'RS256');
      assert.equal(payload.client_id, m2m.client_id);
      await assert.rejects(jwtVerify(token, jwks, { issuer: gh.issuer, audience: ES_API }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    });
  });

  describe('signing algorithms per API', () => {
    it('an HS256 API’s token verifies with its shared secret and not with the JWKS', async () => {
      const token = (await client.clientCredentialsGrant(basic, { audience: HS_API })).access_token;
      const header = decodeProtectedHeader(token);
      assert.equal(header.alg, 'HS256');
      assert.equal(header.typ, 'at+jwt');
      const { payload } = await jwtVerify(token, new TextEncoder().encode(hsSecret), {
        issuer: gh.issuer,
        audience: HS_API,
        algorithms: ['HS256'],
      });
      assert.equal(payload.scope, 'read:hs');
      await assert.rejects(jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), { issuer: gh.issuer, audience: HS_API }));
      await assert.rejects(jwtVerify(token, new TextEncoder().encode(`${hsSecret}x`), { algorithms: ['HS256'] }), {
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });

    it('an ES256 API’s token carries the kid of an EC P-256 key from the JWKS and verifies with it', async () => {
      const token = (await client.clientCredentialsGrant(basic, { audience: ES_API })).access_token;
      const header = decodeProtectedHeader(token);
      assert.equal(header.alg, 'ES256');
      const keys = ((await (await fetch(jwksUri)).json()) as { keys: JWK[] }).keys;
      const key = keys.find((k) => k.kid === header.kid);
      assert.ok(key, `kid ${header.kid} is in the JWKS`);
      assert.equal(key.kty, 'EC');
      assert.equal(key.crv, 'P-256');
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), {
        issuer: gh.issuer,
        audience: ES_API,
        typ: 'at+jwt',
      });
      assert.equal(payload.scope, 'read:es');
    });
  });

  describe('resource owner password grant (the article’s flow)', () => {
    let user: { id: string; email: string };
    let withoutPassword: AppBody;
    let withPassword: AppBody;
    const CALLBACK = 'https://app.example.com/callback';

    before(async () => {
      const email = 'ropc@resource.test';
      user = { id: await gh.createUser(admin, { email, password: PASSWORD }), email };
      withoutPassword = await gh.created<AppBody>('/api/v1/applications', admin, {
        name: 'No ROPC',
        type: 'web',
        redirect_uris: [CALLBACK],
      });
      withPassword = await gh.created<AppBody>('/api/v1/applications', admin, {
        name: 'ROPC',
        type: 'web',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'refresh_token', 'password'],
      });
    });

    const passwordGrant = (app: AppBody, username: string, password: string) =>
      post_('/oauth/token', {
        grant_type: 'password',
        username,
        password,
        audience: INVOICES_API,
        scope: 'openid read:invoices',
        client_id: app.client_id,
        client_secret: app.client_secret,
      });

    it('is refused with unauthorized_client for an application without the password grant', async () => {
      assertOAuthError(await passwordGrant(withoutPassword, user.email, PASSWORD), 400, 'unauthorized_client');
    });

    it('issues an access token for the audience when the application has it enabled', async () => {
      const answer = await passwordGrant(withPassword, user.email, PASSWORD);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(String(answer.body.token_type).toLowerCase(), 'bearer');
      const { payload, protectedHeader } = await jwtVerify(answer.body.access_token, createRemoteJWKSet(new URL(jwksUri)), {
        issuer: gh.issuer,
        audience: INVOICES_API,
      });
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(payload.sub, user.id);
      assert.equal(payload.client_id, withPassword.client_id);
      // With openid, the granted OpenID scopes too and /userinfo as the second audience, as Auth0's (decision 389).
      assert.equal(payload.scope, 'openid read:invoices');
      assert.deepEqual(payload.aud, [INVOICES_API, `${gh.issuer}/userinfo`]);
      assert.ok(answer.body.id_token, 'openid gives an ID token');
      const idToken = decodeJwt(answer.body.id_token);
      assert.equal(idToken.sub, user.id);
      assert.equal(idToken.aud, withPassword.client_id);
      assert.equal(idToken.iss, gh.issuer);
    });

    it('a wrong password and an unknown user get the same invalid_grant', async () => {
      const wrong = await passwordGrant(withPassword, user.email, 'not-the-password-at-all');
      const unknown = await passwordGrant(withPassword, 'nobody@resource.test', PASSWORD);
      assertOAuthError(wrong, 400, 'invalid_grant');
      assertOAuthError(unknown, 400, 'invalid_grant');
      assert.deepEqual(unknown.body, wrong.body);
    });
  });

  describe('protocol errors are RFC 6749 JSON, never a 500', () => {
    const auth_ = () => ({ authorization: basicAuth(m2m.client_id, m2m.client_secret) });

    it('unsupported and missing grant_type', async () => {
      assertOAuthError(await post_('/oauth/token', { grant_type: 'urn:example:nonsense' }, auth_()), 400, 'unsupported_grant_type');
      assertOAuthError(await post_('/oauth/token', { audience: INVOICES_API }, auth_()), 400, 'invalid_request');
    });

    it('malformed bodies', async () => {
      const bodies: [string, string][] = [
        // A JSON object is taken as Auth0 takes it (decision 386); anything else JSON is not.
        ['application/json', JSON.stringify(['client_credentials', INVOICES_API])],
        ['application/json', '{not json'],
        ['application/x-www-form-urlencoded', '%%%&&&==='],
        ['application/x-www-form-urlencoded', 'grant_type=client_credentials&grant_type=password'],
        ['text/plain', 'grant_type=client_credentials'],
      ];
      for (const [contentType, body] of bodies) {
        const answer = await post_('/oauth/token', body, { ...auth_(), 'content-type': contentType });
        assert.ok(answer.status >= 400 && answer.status < 500, `${contentType} ${body}: got ${answer.status}`);
        assertOAuthError(answer, 400, 'invalid_request');
      }
    });

    it('a body over the limit is 413 invalid_request', async () => {
      const answer = await post_('/oauth/token', { grant_type: 'client_credentials', audience: 'x'.repeat(70_000) }, auth_());
      assertOAuthError(answer, 413, 'invalid_request');
    });

    it('garbage tokens at /oauth/introspect and /oauth/revoke', async () => {
      for (const token of ['garbage', 'x'.repeat(5000)]) {
        const introspected = await post_('/oauth/introspect', { token }, auth_());
        assert.equal(introspected.status, 200, JSON.stringify(introspected.body));
        assert.deepEqual(introspected.body, { active: false });
        const revoked = await post_('/oauth/revoke', { token }, auth_());
        assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      }
      // Something shaped like a JWT but not ours (alg none): inactive, and revoking it changes
      // nothing (RFC 7009 §2.2: 200 all the same; our JWTs enter the deny list, decision 391).
      const jwtShaped = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
      const forged = await post_('/oauth/introspect', { token: jwtShaped }, auth_());
      assert.equal(forged.status, 200);
      assert.deepEqual(forged.body, { active: false });
      const revokedForged = await post_('/oauth/revoke', { token: jwtShaped }, auth_());
      assert.equal(revokedForged.status, 200);
      assert.equal(await gh.rowCount('revoked_access_tokens'), 0);
      assertOAuthError(await post_('/oauth/introspect', { token: 'garbage' }), 400, 'invalid_request');
      assertOAuthError(await post_('/oauth/introspect', {}, auth_()), 400, 'invalid_request');
      assertOAuthError(await post_('/oauth/revoke', {}, auth_()), 400, 'invalid_request');
      assertOAuthError(
        await post_('/oauth/introspect', { token: 'garbage' }, { authorization: basicAuth(m2m.client_id, 'wrong') }),
        401,
        'invalid_client',
      );
    });

    it('GET on the POST-only endpoints is 405 invalid_request', async () => {
      for (const path of ['/oauth/token', '/oauth2/token', '/oauth/introspect', '/oauth/revoke', '/oauth/device/code']) {
        const response = await fetch(`${gh.issuer}${path}?grant_type=client_credentials`);
        assert.equal(response.status, 405, path);
        assert.equal(response.headers.get('allow'), 'POST');
        assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
        const body = (await response.json()) as { error: string; error_description: string };
        assert.equal(body.error, 'invalid_request');
        assert.equal(typeof body.error_description, 'string');
      }
    });
  });
});
