/**
 * ASVS V12 (SSRF), issue 12 item 9: a malicious tenant administrator points the URLs
 * Gatehouse calls (back-channel logout, webhooks) at internal addresses, in production.
 * Every such URL is refused when it is saved, and the outbound requests (the OAuth
 * engine's at sign-out too) check the address they connect to, so a row that names an
 * internal address anyway (written straight into the database) never opens a connection.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { deliverBackchannelLogouts } from '../../src/oauth/backchannel/worker.js';
import { destinationPolicy } from '../../src/platform/http/destinations.js';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { Browser, formOf, freePort, passwordSignIn, startListeningGatehouse } from '../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const HOME = 'http://localhost:4000/';

/** Internal destinations, in the spellings an attacker tries. */
const INTERNAL_URIS = [
  'https://127.0.0.1/logout',
  'https://127.0.0.1:8443/logout',
  'https://[::1]/logout',
  'https://169.254.169.254/latest/meta-data/',
  'https://10.0.0.5/logout',
  'https://[::ffff:127.0.0.1]/logout',
  'https://[::ffff:7f00:1]/logout',
  'https://[0:0:0:0:0:ffff:a9fe:a9fe]/logout', // ::ffff:169.254.169.254
  'https://[2002:7f00:1::]/logout', // 6to4 around 127.0.0.1
  'https://[2002:a9fe:a9fe::1]/logout', // 6to4 around the metadata address
  'https://[64:ff9b::7f00:1]/logout', // NAT64
  'https://localhost/logout', // a name that resolves to loopback
];

/** A TCP listener that only counts the connections it is opened. */
class Listener {
  connections = 0;
  port = 0;
  private server!: Server;
  async start() {
    this.port = await freePort();
    this.server = createServer((socket) => {
      this.connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }
  stop() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('V12: SSRF through the URLs a tenant administrator saves (production)', () => {
  let gh: TestGatehouse & { issuer: string };
  let acme: TenantAdmin;
  let listener: Listener;

  before(async () => {
    gh = await startListeningGatehouse({ production: true });
    acme = await gh.tenantWithAdmin('acme');
    listener = new Listener();
    await listener.start();
  });
  after(async () => {
    await listener.stop();
    await gh.stop();
  });

  const createApp = (backchannel_logout_uri: string, more: Record<string, unknown> = {}) =>
    gh.request('POST', '/api/v1/applications', {
      token: acme.token,
      body: {
        name: 'Portal',
        type: 'web',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'],
        backchannel_logout_uri,
        ...more,
      },
    });

  it('refuses a back-channel logout URI on an internal address, when an application is created or changed', async () => {
    for (const uri of INTERNAL_URIS) {
      const created = await createApp(uri);
      assert.equal(created.status, 400, `${uri} was accepted`);
      assert.equal(created.body.error, 'destination_not_allowed', uri);
      assert.equal(created.body.details.field, 'backchannel_logout_uri', uri);
    }
    const app = await createApp('https://93.184.215.14/logout');
    assert.equal(app.status, 201, JSON.stringify(app.body));
    for (const uri of INTERNAL_URIS) {
      const changed = await gh.request('PATCH', `/api/v1/applications/${app.body.id}`, {
        token: acme.token,
        body: { backchannel_logout_uri: uri },
      });
      assert.equal(changed.status, 400, `${uri} was accepted`);
      assert.equal(changed.body.error, 'destination_not_allowed', uri);
    }
  });

  it('refuses a jwks_uri on an internal address (issue 17.3), when an application is created or changed', async () => {
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    };
    const machine = (jwks_uri: string) =>
      gh.request('POST', '/api/v1/applications', {
        token: acme.token,
        body: { name: 'Signer', type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks_uri },
      });
    for (const uri of INTERNAL_URIS) {
      const created = await machine(uri);
      assert.equal(created.status, 400, `${uri} was accepted`);
      assert.equal(created.body.error, 'destination_not_allowed', uri);
      assert.equal(created.body.details.field, 'jwks_uri', uri);
    }
    const app = await gh.request('POST', '/api/v1/applications', {
      token: acme.token,
      body: { name: 'Signer', type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    for (const uri of INTERNAL_URIS) {
      const changed = await gh.request('PATCH', `/api/v1/applications/${app.body.id}`, { token: acme.token, body: { jwks_uri: uri } });
      assert.equal(changed.status, 400, `${uri} was accepted`);
      assert.equal(changed.body.error, 'destination_not_allowed', uri);
    }
  });

  it('never fetches a jwks_uri on an internal address stored in the database (issue 17.3)', async () => {
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    };
    const app = await gh.request('POST', '/api/v1/applications', {
      token: acme.token,
      body: { name: 'Signer', type: 'm2m', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const { SignJWT, generateKeyPair } = await import('jose');
    const { privateKey } = await generateKeyPair('ES256');
    for (const stored of [`https://127.0.0.1:${listener.port}/jwks.json`, `https://localhost:${listener.port}/jwks.json`]) {
      // As if written by hand: the row names an internal address.
      await gh.ctx.db.updateTable('applications').set({ jwks: null, jwks_uri: stored }).where('id', '=', app.body.id).execute();
      await new Promise((resolve) => setTimeout(resolve, 2_100)); // the engine's client cache (2 s)
      const assertion = await new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(app.body.client_id)
        .setSubject(app.body.client_id)
        .setAudience(gh.issuer)
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(privateKey);
      const answer = await fetch(`${gh.issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          audience: 'urn:gatehouse:acme:none',
          client_id: app.body.client_id,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      });
      assert.equal(answer.status, 401, await answer.clone().text());
      assert.equal(((await answer.json()) as { error: string }).error, 'invalid_client');
      assert.equal(listener.connections, 0, `the engine connected to ${stored}`);
    }
  });

  it('refuses webhooks on 6to4 and IPv4-mapped spellings of internal addresses', async () => {
    for (const url of ['https://[2002:7f00:1::]/hook', 'https://[2002:a9fe:a9fe::]/hook', 'https://[::ffff:a9fe:a9fe]/hook']) {
      const response = await gh.request('POST', '/api/v1/webhooks', { token: acme.token, body: { url, events: ['*'] } });
      assert.equal(response.status, 400, `${url} was accepted`);
      assert.equal(response.body.error, 'webhook_destination_not_allowed', url);
    }
  });

  it('judges an IPv4-mapped address by its IPv4 part, and 6to4 as internal', () => {
    const policy = destinationPolicy([]);
    for (const address of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::ffff:10.0.0.1', '2002:7f00:1::', '2002::1']) {
      assert.equal(policy.allows(address), false, address);
    }
    // IPv4-translated (SIIT), Teredo and discard-only ranges carry or swallow IPv4 traffic too (review).
    for (const address of ['::ffff:0:7f00:1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '100::1']) {
      assert.equal(policy.allows(address), false, address);
    }
    // Public addresses stay allowed, mapped or not (listing ::ffff:0:0/96 naively in a
    // BlockList would refuse every IPv4 address).
    for (const address of ['93.184.215.14', '::ffff:93.184.215.14', '::ffff:5db8:d70e', '2606:4700::1111']) {
      assert.equal(policy.allows(address), true, address);
    }
    // A configured exception for an IPv4 address covers its mapped spelling.
    assert.equal(destinationPolicy(['127.0.0.1/32']).allows('::ffff:7f00:1'), true);
  });

  it('never connects to an internal address stored in the database: neither the engine at sign-out nor the back-channel queue', async () => {
    const app = await createApp('https://93.184.215.14/logout', {
      post_logout_redirect_uris: [HOME],
      grant_types: ['authorization_code', 'password'],
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const email = 'victim@acme.test';
    const userId = await gh.createUser(acme.token, { email, password: PASSWORD });

    for (const stored of [`https://127.0.0.1:${listener.port}/logout`, `https://localhost:${listener.port}/logout`]) {
      // As if written before this rule, or by hand: the row names an internal address.
      await gh.ctx.db.updateTable('applications').set({ backchannel_logout_uri: stored }).where('id', '=', app.body.id).execute();
      await new Promise((resolve) => setTimeout(resolve, 2_100)); // the engine's client cache (2 s)

      // The user signs in through the hosted pages and signs out at /v2/logout: the engine
      // sends its back-channel logout during that request.
      const config = await client.discovery(
        new URL(gh.issuer),
        app.body.client_id,
        undefined,
        client.ClientSecretBasic(app.body.client_secret),
        {
          execute: [client.allowInsecureRequests],
        },
      );
      const browser = new Browser();
      const landed = await passwordSignIn(browser, config, { callback: CALLBACK, email, password: PASSWORD });
      assert.ok(landed.atCallback, `expected the callback, got ${landed.url}`);
      await client.authorizationCodeGrant(config, new URL(landed.url), { pkceCodeVerifier: landed.verifier });

      const refusals = () =>
        gh.logs.filter((line) => line.includes('Back-channel logout at sign-out not delivered') && line.includes('not allowed'));
      const refusedBefore = refusals().length;
      const isHome = (location: string) => location.startsWith(HOME);
      const confirm = await browser.follow(
        `${gh.issuer}/v2/logout?client_id=${app.body.client_id}&returnTo=${encodeURIComponent(HOME)}`,
        isHome,
      );
      const form = formOf(await confirm.response.text());
      const done = await browser.submit(confirm.url, form.action, { ...form.fields, logout: 'yes' }, isHome);
      assert.equal(done.url, HOME);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(listener.connections, 0, `the engine connected to ${stored}`);
      // It did try, and was refused before connecting.
      assert.equal(refusals().length, refusedBefore + 1, 'the engine sent no back-channel logout at all');
    }

    // Gatehouse's own queue (an administrator ends the user's access) refuses it too.
    const grant = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: email,
        password: PASSWORD,
        scope: 'openid',
        client_id: app.body.client_id,
        client_secret: app.body.client_secret,
      }),
    });
    assert.equal(grant.status, 200, await grant.text());
    const revoked = await gh.request('DELETE', `/api/v1/users/${userId}/sessions`, { token: acme.token });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.ok(revoked.body.backchannel_logouts >= 1);
    assert.equal(await deliverBackchannelLogouts(gh.ctx), 0);
    const notice = await gh.ctx.db.selectFrom('backchannel_logouts').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
    assert.match(notice.last_error ?? '', /not allowed/);
    assert.equal(listener.connections, 0, 'the back-channel queue connected to an internal address');
  });
});
