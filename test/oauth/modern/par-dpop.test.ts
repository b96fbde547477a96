/**
 * Issue 17.3: PAR (RFC 9126) and DPoP (RFC 9449) through openid-client, the certified
 * relying-party library: a pushed request, an application that requires one, tokens bound
 * to a DPoP key (`cnf.jkt`), refused without their proof at /userinfo and at refresh, the
 * server nonce, and proofs that cannot be replayed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import express from 'express';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as client from 'openid-client';
import * as forExpress from '../../../packages/sdk/src/express.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from '../../helpers/gatehouse.js';
import { Browser } from '../../helpers/oidc.js';
import { type AppBody, admin, CALLBACK, createApp, discover, flowsServer, gh, newUser } from '../engine/flows-setup.js';
import { oauthError, openAuthorize, signInAt } from './setup.js';

const API = 'https://orders.modern.test/';

describe('PAR and DPoP with openid-client', () => {
  flowsServer();
  let web: AppBody;
  let webConfig: client.Configuration;
  let m2m: AppBody;
  before(async () => {
    const api = await gh.created<{ id: string }>('/api/v1/apis', admin, {
      identifier: API,
      name: 'Orders',
      permissions: [{ value: 'read:orders' }],
    });
    assert.ok(api.id);
    web = await createApp({ name: 'Web', type: 'web', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'] });
    webConfig = await discover(web);
    m2m = await createApp({ name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${m2m.id}/grants`, admin, { api_id: api.id, permissions: ['read:orders'] });
  });

  it('discovery lists PAR, DPoP and request objects, and no HMAC client authentication', async () => {
    const metadata = webConfig.serverMetadata();
    assert.equal(metadata.pushed_authorization_request_endpoint, `${gh.issuer}/oauth/par`);
    assert.equal(metadata.require_pushed_authorization_requests, undefined, 'PAR is per application, not required for all');
    assert.deepEqual(metadata.dpop_signing_alg_values_supported, ['ES256', 'PS256', 'Ed25519', 'EdDSA']);
    assert.equal(metadata.request_parameter_supported, true);
    assert.equal(metadata.request_uri_parameter_supported, false, 'request_uri only through PAR');
    assert.ok(metadata.token_endpoint_auth_methods_supported?.includes('private_key_jwt'));
    assert.ok(!metadata.token_endpoint_auth_methods_supported?.includes('client_secret_jwt'));
    assert.ok(!metadata.token_endpoint_auth_signing_alg_values_supported?.includes('HS256'));
    assert.ok(!metadata.request_object_signing_alg_values_supported?.includes('HS256'));
  });

  it('a pushed authorization request signs the user in and its code is exchanged', async () => {
    const user = await newUser();
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(webConfig, {
      redirect_uri: CALLBACK,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
    assert.match(url.searchParams.get('request_uri') as string, /^urn:ietf:params:oauth:request_uri:/);
    const callback = await signInAt(new Browser(), url, user.email);
    const tokens = await client.authorizationCodeGrant(webConfig, callback, { pkceCodeVerifier: verifier });
    assert.equal(tokens.claims()?.sub, user.id);
  });

  it('an application that requires PAR is refused a plain authorization request, and served a pushed one', async () => {
    const strict = await createApp({
      name: 'PAR only',
      type: 'web',
      redirect_uris: [CALLBACK],
      require_pushed_authorization_requests: true,
    });
    assert.equal((strict as unknown as { require_pushed_authorization_requests: boolean }).require_pushed_authorization_requests, true);
    const config = await discover(strict);
    const verifier = client.randomPKCECodeVerifier();
    const params = {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    // The application is known and its redirect URI registered: the refusal goes back to it (RFC 6749 §4.1.2.1).
    const plain = await openAuthorize(new Browser(), client.buildAuthorizationUrl(config, params));
    const refusal = new URL(plain.url);
    assert.equal(refusal.origin + refusal.pathname, CALLBACK);
    assert.equal(refusal.searchParams.get('error'), 'invalid_request');
    assert.match(refusal.searchParams.get('error_description') as string, /pushed authorization request/i);
    assert.equal(refusal.searchParams.get('code'), null);
    const user = await newUser();
    const callback = await signInAt(new Browser(), await client.buildAuthorizationUrlWithPAR(config, params), user.email);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
    assert.ok(tokens.access_token);
  });

  describe('an application that requires DPoP', () => {
    let app: AppBody;
    let config: client.Configuration;
    let user: { id: string; email: string };
    let keyPair: client.CryptoKeyPair;
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

    before(async () => {
      app = await createApp({
        name: 'DPoP web',
        type: 'web',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'refresh_token'],
        dpop_bound_access_tokens: true,
      });
      config = await discover(app);
      user = await newUser();
      keyPair = await client.randomDPoPKeyPair('ES256');
      const DPoP = client.getDPoPHandle(config, keyPair);
      const verifier = client.randomPKCECodeVerifier();
      const url = await client.buildAuthorizationUrlWithPAR(
        config,
        {
          redirect_uri: CALLBACK,
          scope: 'openid email offline_access',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        },
        { DPoP },
      );
      const callback = await signInAt(new Browser(), url, user.email);
      tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP });
    });

    it('issues DPoP tokens: /userinfo answers with the proof and refuses the token without it', async () => {
      assert.equal(tokens.token_type, 'dpop');
      assert.ok(tokens.refresh_token);
      const DPoP = client.getDPoPHandle(config, keyPair);
      const info = await client.fetchUserInfo(config, tokens.access_token, user.id, { DPoP });
      assert.equal(info.email, user.email);
      // As a bearer token, and as a DPoP token without a proof or with another key's proof.
      const bearer = await fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.ok([400, 401].includes(bearer.status), `status ${bearer.status}`);
      assert.match(JSON.stringify(await bearer.json()), /invalid_(token|request)/);
      const unproved = await fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `DPoP ${tokens.access_token}` } });
      assert.ok([400, 401].includes(unproved.status), `status ${unproved.status}`);
      assert.doesNotMatch(await unproved.text(), /email/);
      const otherKey = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
      const stolen = await oauthError(client.fetchUserInfo(config, tokens.access_token, user.id, { DPoP: otherKey }));
      assert.equal(stolen.status, 401);
    });

    it('refuses the refresh without a proof, and rotates it with one', async () => {
      const refused = await oauthError(client.refreshTokenGrant(config, tokens.refresh_token as string));
      assert.equal(refused.error, 'invalid_grant');
      const DPoP = client.getDPoPHandle(config, keyPair);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string, undefined, { DPoP });
      assert.equal(refreshed.token_type, 'dpop');
      tokens = refreshed;
    });

    it('asks for a server nonce (use_dpop_nonce) and answers it in DPoP-Nonce', async () => {
      const proofKey = await client.randomDPoPKeyPair('ES256');
      const jwk = await exportJWK(proofKey.publicKey);
      const proof = await dpopProof(proofKey, jwk, 'POST', `${gh.issuer}/oauth/token`);
      const answer = await fetch(`${gh.issuer}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64')}`,
          dpop: proof,
        },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string }).toString(),
      });
      assert.equal(answer.status, 400);
      assert.equal(((await answer.json()) as { error: string }).error, 'use_dpop_nonce');
      assert.ok(answer.headers.get('dpop-nonce'), 'the nonce to use comes with the refusal');
    });
  });

  it('binds a JWT access token for an API to the key: cnf.jkt is the key’s thumbprint', async () => {
    const config = await discover(m2m);
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const DPoP = client.getDPoPHandle(config, keyPair);
    const forApi = await client.clientCredentialsGrant(config, { audience: API }, { DPoP });
    assert.equal(forApi.token_type, 'dpop');
    const claims = decodeJwt(forApi.access_token);
    assert.equal(claims.aud, API);
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    assert.deepEqual(claims.cnf, { jkt });
    // Introspection (RFC 9449 §6.2) says so to a resource server: a DPoP token, with its cnf.
    const introspected = await client.tokenIntrospection(config, forApi.access_token);
    assert.equal(introspected.active, true);
    assert.equal(introspected.token_type, 'DPoP');
    assert.deepEqual(introspected.cnf, { jkt });
  });

  it('Done when: an API built with @gatehouse/sdk accepts only DPoP-bound tokens, each with its proof (openid-client)', async () => {
    const api = express();
    api.get('/orders', forExpress.requireAuth({ issuer: gh.issuer, audience: API, dpop: { required: true } }), (req, res) => {
      const auth = forExpress.getAuth(req);
      res.json({ sub: auth.sub, tokenType: auth.tokenType, jkt: auth.jkt });
    });
    const server = createServer(api).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`);
      const config = await discover(m2m);
      const keyPair = await client.randomDPoPKeyPair('ES256');
      const DPoP = client.getDPoPHandle(config, keyPair);
      const bound = await client.clientCredentialsGrant(config, { audience: API }, { DPoP });
      const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));

      // With its proof (openid-client makes one per request): accepted, and the API sees the binding.
      const ok = await client.fetchProtectedResource(config, bound.access_token, url, 'GET', undefined, undefined, { DPoP });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { sub: m2m.client_id, tokenType: 'DPoP', jkt });

      // The same token as a bearer token, or with another key's proof: refused.
      const asBearer = await fetch(url, { headers: { authorization: `Bearer ${bound.access_token}` } });
      assert.equal(asBearer.status, 401);
      assert.match(asBearer.headers.get('www-authenticate') ?? '', /^DPoP /);
      const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
      await assert.rejects(client.fetchProtectedResource(config, bound.access_token, url, 'GET', undefined, undefined, { DPoP: thief }));

      // A bearer token of the same API, from the same application: refused on this API.
      const bearer = await client.clientCredentialsGrant(config, { audience: API });
      assert.equal(bearer.token_type, 'bearer');
      const refused = await fetch(url, { headers: { authorization: `Bearer ${bearer.access_token}` } });
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /^DPoP /);
    } finally {
      server.close();
    }
  });

  it('attack: a DPoP-bound token for the admin API is refused there as a bearer token', async () => {
    const console = await createApp({ name: 'Console', type: 'web', redirect_uris: [CALLBACK], grant_types: ['password'] });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const answer = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await dpopProof(keyPair, await exportJWK(keyPair.publicKey), 'POST', `${gh.issuer}/oauth/token`),
      },
      body: new URLSearchParams({
        grant_type: 'password',
        username: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
        client_id: console.client_id,
        client_secret: console.client_secret as string,
        audience: gh.issuer,
      }).toString(),
    });
    const tokens = (await answer.json()) as { access_token: string; token_type: string };
    assert.equal(answer.status, 200, JSON.stringify(tokens));
    assert.equal(tokens.token_type, 'DPoP');
    assert.ok(decodeJwt(tokens.access_token).cnf);
    const tenants = await fetch(`${gh.issuer}/api/v1/tenants`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(tenants.status, 401);
    assert.equal(((await tenants.json()) as { error: string }).error, 'invalid_token');
  });

  it('attack: a DPoP-bound API token with openid is refused at /userinfo as a bearer token (and answered with its proof)', async () => {
    const app = await createApp({ name: 'Realm', type: 'web', redirect_uris: [CALLBACK], grant_types: ['password'] });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const jwk = await exportJWK(keyPair.publicKey);
    const answer = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await dpopProof(keyPair, jwk, 'POST', `${gh.issuer}/oauth/token`),
      },
      body: new URLSearchParams({
        grant_type: 'password',
        username: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
        client_id: app.client_id,
        client_secret: app.client_secret as string,
        audience: API,
        scope: 'openid email',
      }).toString(),
    });
    const tokens = (await answer.json()) as { access_token: string; token_type: string };
    assert.equal(answer.status, 200, JSON.stringify(tokens));
    assert.ok(decodeJwt(tokens.access_token).cnf, 'bound to the key');
    assert.ok((decodeJwt(tokens.access_token).aud as string[]).includes(`${gh.issuer}/userinfo`));
    // Stolen: sent as a bearer token, or as a DPoP token without a proof or with another key's.
    const bearer = await fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(bearer.status, 401);
    assert.doesNotMatch(await bearer.text(), /email/);
    const unproved = await fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    assert.equal(unproved.status, 401);
    const other = await client.randomDPoPKeyPair('ES256');
    const wrongKey = await fetch(`${gh.issuer}/userinfo`, {
      headers: {
        authorization: `DPoP ${tokens.access_token}`,
        dpop: await dpopProof(other, await exportJWK(other.publicKey), 'GET', `${gh.issuer}/userinfo`),
      },
    });
    assert.equal(wrongKey.status, 401);
    // Its holder, with a proof of the key, still reads it.
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(tokens.access_token))).toString('base64url');
    const proved = await fetch(`${gh.issuer}/userinfo`, {
      headers: {
        authorization: `DPoP ${tokens.access_token}`,
        dpop: await dpopProof(keyPair, jwk, 'GET', `${gh.issuer}/userinfo`, { ath }),
      },
    });
    assert.equal(proved.status, 200, await proved.clone().text());
    assert.equal(((await proved.json()) as { email: string }).email, ADMIN_EMAIL);
  });

  it('binds the refresh token of a public client to its key: another key, or none, cannot use it', async () => {
    const spa = await createApp({
      name: 'SPA',
      type: 'spa',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const config = await client.discovery(new URL(gh.issuer), spa.client_id, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const DPoP = client.getDPoPHandle(config, keyPair);
    const user = await newUser();
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      dpop_jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)),
    });
    const callback = await signInAt(new Browser(), url, user.email);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP });
    assert.equal(tokens.token_type, 'dpop');
    const rt = tokens.refresh_token as string;
    assert.equal((await oauthError(client.refreshTokenGrant(config, rt))).error, 'invalid_grant');
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    assert.equal((await oauthError(client.refreshTokenGrant(config, rt, undefined, { DPoP: other }))).error, 'invalid_grant');
    const refreshed = await client.refreshTokenGrant(config, rt, undefined, { DPoP });
    assert.ok(refreshed.access_token);
  });

  it('refuses a proof presented twice (replay), also when two requests race with it', async () => {
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const jwk = await exportJWK(keyPair.publicKey);
    const basic = `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}`;
    const send = (proof: string) =>
      fetch(`${gh.issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, dpop: proof },
        body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }).toString(),
      });
    const proof = await dpopProof(keyPair, jwk, 'POST', `${gh.issuer}/oauth/token`);
    const first = await send(proof);
    assert.equal(first.status, 200, await first.clone().text());
    assert.equal(((await first.json()) as { token_type: string }).token_type, 'DPoP');
    const again = await send(proof);
    assert.equal(again.status, 400);
    assert.equal(((await again.json()) as { error: string }).error, 'invalid_grant');
    const racing = await dpopProof(keyPair, jwk, 'POST', `${gh.issuer}/oauth/token`);
    const answers = await Promise.all(Array.from({ length: 6 }, () => send(racing)));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400, 400, 400, 400, 400]);
  });
});

/** A DPoP proof made by hand (to present it twice, or without a nonce). */
export async function dpopProof(keyPair: client.CryptoKeyPair, jwk: object, htm: string, htu: string, extra: Record<string, unknown> = {}) {
  const { SignJWT } = await import('jose');
  return new SignJWT({ htm, htu, jti: crypto.randomUUID(), ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: jwk as never })
    .setIssuedAt()
    .sign(keyPair.privateKey);
}
