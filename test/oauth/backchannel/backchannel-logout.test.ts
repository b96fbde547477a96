/**
 * OIDC Back-Channel Logout 1.0: applications that register a back-channel logout URI are
 * sent a logout token when a user's sessions end (an incident action, disabling, or the
 * user's own sign-out at /v2/logout). The receiver verifies each token with jose against
 * our JWKS, as a relying party would.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { deliverBackchannelLogouts } from '../../../src/oauth/backchannel/worker.js';
import { destinationPolicy } from '../../../src/platform/http/destinations.js';
import { createOutboundClient } from '../../../src/platform/http/outbound.js';
import { PASSWORD, type TestGatehouse } from '../../helpers/gatehouse.js';
import { Browser, formOf, freePort, passwordSignIn, startListeningGatehouse } from '../../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const HOME = 'http://localhost:4000/';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A relying party's back-channel logout endpoint: records what it is sent; answers `statuses` in turn, then 200. */
class Receiver {
  readonly received: { contentType: string | undefined; body: URLSearchParams }[] = [];
  statuses: number[] = [];
  private waiting: (() => void)[] = [];
  private server!: Server;
  url = '';

  async start() {
    const port = await freePort();
    this.server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk) => {
        text += chunk;
      });
      request.on('end', () => {
        this.received.push({ contentType: request.headers['content-type'], body: new URLSearchParams(text) });
        response.writeHead(this.statuses.shift() ?? 200).end();
        for (const wake of this.waiting.splice(0)) wake();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${port}/backchannel-logout`;
  }

  /** Resolves once `count` notices have arrived in all. */
  async until(count: number): Promise<void> {
    while (this.received.length < count) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  stop() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('OIDC back-channel logout', () => {
  let gh: TestGatehouse & { issuer: string };
  let admin: string;
  let receiver: Receiver;
  let web: { id: string; client_id: string; client_secret: string; backchannel_logout_uri: string | null };
  let webConfig: client.Configuration;
  let users = 0;

  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
    receiver = new Receiver();
    await receiver.start();
    web = await gh.created('/api/v1/applications', admin, {
      name: 'Web',
      type: 'web',
      redirect_uris: [CALLBACK],
      post_logout_redirect_uris: [HOME],
      grant_types: ['authorization_code', 'refresh_token', 'password'],
      backchannel_logout_uri: receiver.url,
    });
    webConfig = await client.discovery(new URL(gh.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret), {
      execute: [client.allowInsecureRequests],
    });
  });
  after(async () => {
    await receiver.stop();
    await gh.stop();
  });

  /** Verifies a received logout token as a relying party must (§2.6), against our published JWKS. */
  async function verified(index: number): Promise<JWTPayload> {
    const notice = receiver.received[index]!;
    assert.equal(notice.contentType, 'application/x-www-form-urlencoded');
    const token = notice.body.get('logout_token') as string;
    const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${gh.issuer}/.well-known/jwks.json`)), {
      issuer: gh.issuer,
      audience: web.client_id,
      typ: 'logout+jwt',
      maxTokenAge: '5 minutes',
    });
    assert.ok(protectedHeader.kid);
    assert.deepEqual(payload.events, { [EVENT]: {} });
    assert.ok(payload.jti && payload.iat && payload.exp);
    assert.ok(payload.exp - payload.iat <= 300, 'short-lived');
    assert.equal(payload.nonce, undefined, 'never a nonce (§2.4)');
    return payload;
  }

  /** A new user signed in to the web application through the hosted pages (a browser session with a sid). */
  async function browserSignIn() {
    const email = `user${++users}@bcl.test`;
    const id = await gh.createUser(admin, { email, password: PASSWORD });
    const browser = new Browser();
    const landed = await passwordSignIn(browser, webConfig, {
      callback: CALLBACK,
      email,
      password: PASSWORD,
      params: { scope: 'openid offline_access' },
    });
    assert.ok(landed.atCallback, `expected the callback, got ${landed.url}`);
    const tokens = await client.authorizationCodeGrant(webConfig, new URL(landed.url), { pkceCodeVerifier: landed.verifier });
    return { id, email, browser, tokens, sid: tokens.claims()?.sid as string | undefined };
  }

  it('advertises back-channel logout in discovery, and stores the logout URI of an application', async () => {
    const doc = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(doc.backchannel_logout_supported, true);
    assert.equal(doc.backchannel_logout_session_supported, true);
    assert.equal(web.backchannel_logout_uri, receiver.url);
    const bad = await gh.request('POST', '/api/v1/applications', {
      token: admin,
      body: { name: 'Bad', type: 'm2m', backchannel_logout_uri: 'http://rp.example.com/logout' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_redirect_uri');
    assert.equal(bad.body.details.field, 'backchannel_logout_uri');
    const fragment = await gh.request('PATCH', `/api/v1/applications/${web.id}`, {
      token: admin,
      body: { backchannel_logout_uri: 'https://rp.example.com/logout#x' },
    });
    assert.equal(fragment.status, 400);
  });

  it('an administrator revoking a user’s access sends the application a logout token with the session’s sid', async () => {
    const user = await browserSignIn();
    assert.ok(user.sid, 'the ID token names the session');
    const before = receiver.received.length;
    const revoked = await gh.request('DELETE', `/api/v1/users/${user.id}/sessions`, { token: admin });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.backchannel_logouts, 1);
    await deliverBackchannelLogouts(gh.ctx);
    await receiver.until(before + 1);
    const payload = await verified(before);
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, user.sid);
    // The browser's session at the engine ended as well: the next authorization asks for the password.
    const again = await user.browser.follow(
      client.buildAuthorizationUrl(webConfig, {
        redirect_uri: CALLBACK,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href,
      (location) => location.startsWith(CALLBACK),
    );
    assert.equal(again.response.status, 200);
    assert.match(await again.response.text(), /name="password"/);
  });

  it('the user’s own sign-out at /v2/logout notifies the application too', async () => {
    const user = await browserSignIn();
    const before = receiver.received.length;
    const isHome = (location: string) => location.startsWith(HOME);
    const confirm = await user.browser.follow(
      `${gh.issuer}/v2/logout?client_id=${web.client_id}&returnTo=${encodeURIComponent(HOME)}`,
      isHome,
    );
    const form = formOf(await confirm.response.text());
    const done = await user.browser.submit(confirm.url, form.action, { ...form.fields, logout: 'yes' }, isHome);
    assert.equal(done.url, HOME);
    await receiver.until(before + 1);
    const payload = await verified(before);
    assert.equal(payload.sub, user.id);
    assert.equal(payload.sid, user.sid);
  });

  it('disabling a user notifies; a failed delivery is retried until the application answers 200', async () => {
    const email = `user${++users}@bcl.test`;
    const id = await gh.createUser(admin, { email, password: PASSWORD });
    const grant = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: email,
        password: PASSWORD,
        scope: 'openid offline_access',
        client_id: web.client_id,
        client_secret: web.client_secret,
      }),
    });
    assert.equal(grant.status, 200);
    const before = receiver.received.length;
    receiver.statuses = [500];
    const disabled = await gh.request('POST', `/api/v1/users/${id}/disable`, { token: admin });
    assert.equal(disabled.body.backchannel_logouts, 1);
    await deliverBackchannelLogouts(gh.ctx);
    await receiver.until(before + 1);
    const row = () => gh.ctx.db.selectFrom('backchannel_logouts').selectAll().where('user_id', '=', id).executeTakeFirstOrThrow();
    // The failed attempt is recorded (the worker may have made it); the notice waits for its retry.
    let notice = await row();
    while (notice.last_error === null && notice.status === 'pending') notice = await row();
    assert.equal(notice.status, 'pending');
    assert.match(notice.last_error ?? '', /500/);
    assert.ok(notice.next_attempt_at > new Date(), 'retried later, not at once');

    // As if the retry delay had passed.
    await gh.ctx.db
      .updateTable('backchannel_logouts')
      .set({ next_attempt_at: new Date(0) })
      .where('id', '=', notice.id)
      .execute();
    await deliverBackchannelLogouts(gh.ctx);
    await receiver.until(before + 2);
    const payload = await verified(before + 1);
    assert.equal(payload.sub, id);
    assert.equal(payload.sid, undefined, 'the password grant has no browser session');
    notice = await row();
    while (notice.status !== 'sent') notice = await row();
    assert.equal(notice.attempts, 2);
    assert.equal(notice.last_error, null);
  });

  it('sends nothing to applications without a logout URI, nor for users without grants', async () => {
    const email = `user${++users}@bcl.test`;
    const id = await gh.createUser(admin, { email, password: PASSWORD });
    await gh.signIn(email, PASSWORD);
    const revoked = await gh.request('DELETE', `/api/v1/users/${id}/sessions`, { token: admin });
    assert.deepEqual(revoked.body, { sessions_revoked: 1, grants_revoked: 0, backchannel_logouts: 0 });
  });
});

describe('where logout tokens may go in production', () => {
  it('refuses loopback, private, link-local and other special-use addresses at connect time; allows public ones', async () => {
    const client = createOutboundClient(destinationPolicy([]), 2_000);
    for (const uri of [
      'https://127.0.0.1/logout',
      'https://10.1.2.3/logout',
      'https://192.168.0.10/logout',
      'https://169.254.169.254/latest',
      'https://[::1]/logout',
      'https://[fd00::1]/logout',
      'https://[::ffff:127.0.0.1]/logout',
      'https://[64:ff9b::a00:5]/logout',
      'https://localhost/logout',
    ]) {
      const answer = await client.post(uri, { 'content-type': 'application/x-www-form-urlencoded' }, 'logout_token=x');
      assert.equal(answer.ok, false, uri);
      assert.match((answer as { error: string }).error, /not allowed/, uri);
    }
    client.close();
    assert.equal(destinationPolicy([]).allows('93.184.215.14'), true);
    assert.equal(destinationPolicy([]).allows('2606:4700::1111'), true);
  });
});
