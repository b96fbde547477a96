/**
 * Issue 17.3: `private_key_jwt` with the application's JWKS or `jwks_uri` (fetched and
 * cached), assertions that cannot be replayed, signed request objects (RFC 9101) and the
 * FAPI 2.0 Security Profile, through openid-client.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import * as client from 'openid-client';
import { Browser } from '../../helpers/oidc.js';
import { type AppBody, admin, CALLBACK, createApp, flowsServer, gh, newUser } from '../engine/flows-setup.js';
import { appKeys, discoverWithKey, oauthError, openAuthorize, signInAt } from './setup.js';

const API = 'https://ledger.modern.test/';

describe('private_key_jwt, request objects and FAPI 2.0 with openid-client', () => {
  flowsServer();
  let apiId: string;
  before(async () => {
    apiId = (await gh.created<{ id: string }>('/api/v1/apis', admin, { identifier: API, name: 'Ledger', permissions: [{ value: 'read' }] }))
      .id;
  });
  const grant = (app: AppBody) => gh.created(`/api/v1/applications/${app.id}/grants`, admin, { api_id: apiId, permissions: ['read'] });

  it('refuses settings that cannot work: a private key, private_key_jwt without keys, a public client with it, FAPI with a secret', async () => {
    const key = await appKeys();
    const { generateKeyPair, exportJWK } = await import('jose');
    const pair = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(pair.privateKey);
    const refusals: [Record<string, unknown>, string][] = [
      [{ type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [privateJwk] } }, 'invalid_jwks'],
      [{ type: 'm2m', token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_jwks'],
      [
        { type: 'spa', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } },
        'auth_method_not_allowed',
      ],
      [{ type: 'web', redirect_uris: [CALLBACK], fapi_profile: '2.0' }, 'fapi_requirement'],
      [
        {
          type: 'web',
          redirect_uris: [CALLBACK],
          fapi_profile: '2.0',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [key.jwk] },
          grant_types: ['authorization_code', 'password'],
        },
        'fapi_requirement',
      ],
      [
        { type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://localhost:9/jwks', jwks: { keys: [key.jwk] } },
        'invalid_jwks',
      ],
    ];
    for (const [body, code] of refusals) {
      const answer = await gh.request('POST', '/api/v1/applications', { token: admin, body: { name: 'Refused', ...body } });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.error, code, JSON.stringify(answer.body));
    }
  });

  it('authenticates a machine application with private_key_jwt and its inline JWKS, once per assertion', async () => {
    const key = await appKeys('PS256');
    const m2m = await createApp({ name: 'Signer', type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } });
    await grant(m2m);
    const config = await discoverWithKey(m2m, key.signer);
    const tokens = await client.clientCredentialsGrant(config, { audience: API });
    assert.ok(tokens.access_token);
    // Its client secret no longer works: the application signs.
    const bySecret = await client.discovery(
      new URL(gh.issuer),
      m2m.client_id,
      undefined,
      client.ClientSecretBasic(m2m.client_secret as string),
      {
        execute: [client.allowInsecureRequests],
      },
    );
    assert.equal((await oauthError(client.clientCredentialsGrant(bySecret, { audience: API }))).error, 'invalid_client');
    // Another key's assertion is refused.
    const stranger = await appKeys('PS256', key.kid);
    assert.equal(
      (await oauthError(client.clientCredentialsGrant(await discoverWithKey(m2m, stranger.signer), { audience: API }))).error,
      'invalid_client',
    );
    // One assertion, sent twice: the second is refused (jti).
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'PS256', kid: key.kid })
      .setIssuer(m2m.client_id)
      .setSubject(m2m.client_id)
      .setAudience(gh.issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(key.privateKey);
    const send = () =>
      fetch(`${gh.issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          audience: API,
          client_id: m2m.client_id,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }).toString(),
      });
    assert.equal((await send()).status, 200);
    const replayed = await send();
    assert.equal(replayed.status, 401);
    assert.equal(((await replayed.json()) as { error: string }).error, 'invalid_client');
  });

  describe('keys at a jwks_uri', () => {
    let server: Server;
    let fetches = 0;
    let keys: object[] = [];
    before(async () => {
      server = createServer((_req, res) => {
        fetches++;
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify({ keys }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('fetches the keys once and keeps them as the answer’s Cache-Control says', async () => {
      const key = await appKeys('ES256');
      keys = [key.jwk];
      const port = (server.address() as { port: number }).port;
      const m2m = await createApp({
        name: 'Keys at a URI',
        type: 'm2m',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: `http://localhost:${port}/jwks.json`,
      });
      await grant(m2m);
      const config = await discoverWithKey(m2m, key.signer);
      for (let i = 0; i < 3; i++) assert.ok((await client.clientCredentialsGrant(config, { audience: API })).access_token);
      assert.equal(fetches, 1, 'one fetch for three token requests');
    });

    it('in production, refuses a jwks_uri that leads to an internal address', async () => {
      const { startGatehouse } = await import('../../helpers/gatehouse.js');
      const prod = await startGatehouse({ production: true, issuer: 'https://gatehouse.test' });
      try {
        const token = await prod.adminToken();
        const answer = await prod.request('POST', '/api/v1/applications', {
          token,
          body: { name: 'Internal', type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://127.0.0.1/jwks.json' },
        });
        assert.equal(answer.status, 400);
        assert.equal(answer.body.error, 'destination_not_allowed');
      } finally {
        await prod.stop();
      }
    });
  });

  it('takes a request object signed with the application’s key, and refuses an unsigned request when it requires one', async () => {
    const key = await appKeys('ES256');
    const web = await createApp({
      name: 'JAR',
      type: 'web',
      redirect_uris: [CALLBACK],
      jwks: { keys: [key.jwk] },
      require_signed_request_object: true,
    });
    const config = await client.discovery(
      new URL(gh.issuer),
      web.client_id,
      undefined,
      client.ClientSecretBasic(web.client_secret as string),
      {
        execute: [client.allowInsecureRequests],
      },
    );
    const verifier = client.randomPKCECodeVerifier();
    const params = {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    const plain = await openAuthorize(new Browser(), client.buildAuthorizationUrl(config, params));
    assert.equal(new URL(plain.url).searchParams.get('error'), 'invalid_request');
    const url = await client.buildAuthorizationUrlWithJAR(config, params, key.signer);
    assert.ok(url.searchParams.get('request'), 'the parameters travel in the request object');
    assert.equal(url.searchParams.get('redirect_uri'), null);
    const user = await newUser();
    const callback = await signInAt(new Browser(), url, user.email);
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier });
    assert.equal(tokens.claims()?.sub, user.id);
    // Signed by another key: refused.
    const forged = await client.buildAuthorizationUrlWithJAR(config, params, (await appKeys('ES256', key.kid)).signer);
    const refused = await openAuthorize(new Browser(), forged);
    assert.match(refused.url + refused.body, /invalid_request_object/);
  });

  it('runs a FAPI 2.0 flow: PAR, PKCE S256, DPoP and private_key_jwt, and refuses what the profile forbids', async () => {
    const key = await appKeys('ES256');
    const fapi = await createApp({
      name: 'Bank',
      type: 'web',
      redirect_uris: [CALLBACK],
      fapi_profile: '2.0',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.jwk] },
    });
    const stored = fapi as unknown as Record<string, unknown>;
    assert.equal(stored.require_pushed_authorization_requests, true);
    assert.equal(stored.dpop_bound_access_tokens, true);
    const config = await discoverWithKey(fapi, key.signer);
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const verifier = client.randomPKCECodeVerifier();
    const params = {
      redirect_uri: CALLBACK,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    // Not pushed: refused.
    const plain = await openAuthorize(new Browser(), client.buildAuthorizationUrl(config, params));
    assert.equal(new URL(plain.url).searchParams.get('error'), 'invalid_request');
    // Pushed without PKCE: refused at the PAR endpoint.
    const noPkce = await oauthError(client.buildAuthorizationUrlWithPAR(config, { redirect_uri: CALLBACK, scope: 'openid' }, { DPoP }));
    assert.equal(noPkce.error, 'invalid_request');
    const user = await newUser();
    const callback = await signInAt(new Browser(), await client.buildAuthorizationUrlWithPAR(config, params, { DPoP }), user.email);
    assert.equal(callback.searchParams.get('iss'), gh.issuer, 'RFC 9207: the issuer in the authorization response');
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP });
    assert.equal(tokens.token_type, 'dpop');
    assert.equal(tokens.claims()?.sub, user.id);
  });

  it('refuses a FAPI 2.0 code exchange without a DPoP proof', async () => {
    const key = await appKeys('ES256');
    const fapi = await createApp({
      name: 'Bank 2',
      type: 'web',
      redirect_uris: [CALLBACK],
      fapi_profile: '2.0',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.jwk] },
    });
    const config = await discoverWithKey(fapi, key.signer);
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(
      config,
      {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      },
      { DPoP },
    );
    const callback = await signInAt(new Browser(), url, (await newUser()).email);
    const refused = await oauthError(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }));
    assert.equal(refused.error, 'invalid_grant');
  });
});
