import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { logoutState } from '../../../src/authn/federation/logout.js';
import { insertConnection } from '../../helpers/connections.js';
import { Browser, formOf } from '../../helpers/oidc.js';
import {
  atCallback,
  authorization,
  federatedSignIn,
  formWith,
  startWorld,
  stopWorld,
  UPSTREAM_SECRET,
  userByEmail,
  type World,
} from './setup.js';

/**
 * Auth0's `/v2/logout?federated` (issue 17, decisions 456–458): a session signed in through
 * an OIDC connection remembers it; a federated sign-out goes on to the provider's
 * end-session endpoint and, back at `/login/logout-callback`, on to the application's
 * registered returnTo. Without `federated`, or for a session of Gatehouse's own password,
 * the provider is never visited.
 */
describe('federation: /v2/logout?federated', () => {
  let w: World;
  let connectionId: string;
  const HOME = 'http://localhost:4000/signed-out';
  const PASSWORD = 'correct horse battery staple 42';
  const isHome = (location: string) => location.startsWith(HOME);
  const accounts = { alice: { email: 'alice@corp.test', email_verified: true } };

  before(async () => {
    w = await startWorld(accounts);
    connectionId = await insertConnection(w.gh, {
      name: 'corp',
      displayName: 'Corp SSO',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      domains: ['corp.test'],
    });
    const patched = await w.gh.request('PATCH', `/api/v1/applications/${(w.app as unknown as { id: string }).id}`, {
      token: w.acme.token,
      body: { post_logout_redirect_uris: [HOME] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const bob = await w.gh.createUser(w.acme.token, { email: 'bob@acme.test', password: PASSWORD });
    // As if bob had followed the verification email.
    await w.gh.ctx.db.updateTable('users').set({ email_verified: true }).where('id', '=', bob).execute();
  });
  after(() => stopWorld(w));

  const logoutUrl = (federated: boolean) =>
    `${w.gh.issuer}/v2/logout?${federated ? 'federated&' : ''}client_id=${w.app.client_id}&returnTo=${encodeURIComponent(HOME)}`;

  /** Opens a sign-out URL and presses its confirmation (the page presses it itself with script); where it sends the browser. */
  async function logOut(browser: Browser, url: string) {
    const stop = (location: string) => isHome(location) || location.startsWith(w.upstream.issuer);
    const confirm = await browser.follow(url, stop);
    assert.equal(confirm.response.status, 200, `expected the confirmation page, got ${confirm.response.status} ${confirm.url}`);
    const form = formOf(await confirm.response.text());
    assert.match(form.action, /\/v2\/logout\/confirm$/);
    return { form, landed: await browser.submit(confirm.url, form.action, { ...form.fields, logout: 'yes' }, stop) };
  }

  const liveSessions = async (userId: string) =>
    w.gh.ctx.db.selectFrom('sessions').selectAll().where('user_id', '=', userId).where('revoked_at', 'is', null).execute();

  async function aliceSignedIn() {
    const run = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'alice' });
    assert.ok(atCallback(run.url), `ended at ${run.url} (${run.status}): ${run.page.slice(0, 400)}`);
    const user = await userByEmail(w, 'alice@corp.test');
    assert.ok(user);
    return { browser: run.browser, userId: user.id };
  }

  it('a session signed in through the connection: federated → the provider ends its session → back at the returnTo', async () => {
    const { browser, userId } = await aliceSignedIn();
    const [session] = await liveSessions(userId);
    assert.equal(session?.connection_id, connectionId, 'the session remembers its connection');

    const before = w.upstream.endSessionRequests.length;
    const { form, landed } = await logOut(browser, logoutUrl(true));
    assert.equal(form.fields.federated, '1', 'the confirmation carries federated');
    const atProvider = new URL(landed.url);
    assert.equal(atProvider.origin + atProvider.pathname, `${w.upstream.issuer}/session/end`, `sent to ${landed.url}`);
    assert.equal(atProvider.searchParams.get('client_id'), 'gatehouse');
    assert.equal(atProvider.searchParams.get('post_logout_redirect_uri'), `${w.gh.issuer}/login/logout-callback`);
    assert.ok(atProvider.searchParams.get('state'), 'a state to come back with');
    assert.equal(atProvider.searchParams.get('id_token_hint'), null, 'the provider ID token is not kept (decision 457)');
    // Gatehouse's own sign-out is done before the browser leaves.
    assert.equal((await liveSessions(userId)).length, 0);

    const back = await w.upstream.endSession(landed.url);
    assert.equal(w.upstream.endSessionRequests.length, before + 1, 'the provider end-session was visited');
    assert.ok(back.startsWith(`${w.gh.issuer}/login/logout-callback?`), `the provider sent the browser to ${back}`);
    const home = await browser.follow(back, isHome);
    assert.equal(home.url, HOME);

    // Signed out at Gatehouse: the sign-in page again, not the application's callback.
    const again = await browser.follow((await authorization(w)).url, atCallback);
    assert.equal(again.response.status, 200, `got ${again.response.status} ${again.url}`);
  });

  it('without federated the provider is not visited', async () => {
    const { browser, userId } = await aliceSignedIn();
    const before = w.upstream.endSessionRequests.length;
    const { form, landed } = await logOut(browser, logoutUrl(false));
    assert.equal(form.fields.federated, undefined);
    assert.equal(landed.url, HOME);
    assert.equal(w.upstream.endSessionRequests.length, before);
    assert.equal((await liveSessions(userId)).length, 0);
  });

  it("a user of Gatehouse's own password with federated just signs out", async () => {
    const { url } = await authorization(w);
    const browser = new Browser();
    const page = await browser.follow(url, atCallback);
    const form = formWith(await page.response.text(), '/login"');
    const signedIn = await browser.submit(
      page.url,
      form.action,
      { ...form.fields, username: 'bob@acme.test', password: PASSWORD },
      atCallback,
    );
    assert.ok(atCallback(signedIn.url), `got ${signedIn.response.status} ${signedIn.url}`);
    const bob = await userByEmail(w, 'bob@acme.test');
    assert.ok(bob);
    const [session] = await liveSessions(bob.id);
    assert.equal(session?.connection_id, null);

    const before = w.upstream.endSessionRequests.length;
    const { landed } = await logOut(browser, logoutUrl(true));
    assert.equal(landed.url, HOME);
    assert.equal(w.upstream.endSessionRequests.length, before);
    assert.equal((await liveSessions(bob.id)).length, 0);
  });

  it('the way back redirects only where the engine chose: an altered or expired state is refused, a missing one ends at the signed-out page', async () => {
    const good = logoutState(w.gh.ctx, HOME);
    const ok = await fetch(`${w.gh.issuer}/login/logout-callback?state=${encodeURIComponent(good)}`, { redirect: 'manual' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), HOME);

    // The same MAC over another place, or another place under a made-up MAC: refused, no redirect.
    const [payload, tag] = good.split('.');
    const evil = Buffer.from(JSON.stringify({ to: 'https://evil.example/', exp: Date.now() + 60_000 })).toString('base64url');
    for (const state of [`${evil}.${tag}`, `${payload}.${'A'.repeat(43)}`, `${payload}`, 'https://evil.example/']) {
      const refused = await fetch(`${w.gh.issuer}/login/logout-callback?state=${encodeURIComponent(state)}`, { redirect: 'manual' });
      assert.equal(refused.status, 400, state);
      assert.equal(refused.headers.get('location'), null);
    }

    // Expired: made with a clock 16 minutes behind.
    const now = w.gh.ctx.clock.now();
    const old = logoutState({ ...w.gh.ctx, clock: { now: () => new Date(now.getTime() - 16 * 60_000) } }, HOME);
    const expired = await fetch(`${w.gh.issuer}/login/logout-callback?state=${encodeURIComponent(old)}`, { redirect: 'manual' });
    assert.equal(expired.status, 400);

    const missing = await fetch(`${w.gh.issuer}/login/logout-callback`, { redirect: 'manual' });
    assert.equal(missing.status, 303);
    assert.equal(missing.headers.get('location'), '/v2/logout/success');
  });
});
