import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertConnection, updateConnection } from '../../helpers/connections.js';
import { Browser } from '../../helpers/oidc.js';
import {
  atCallback,
  authorization,
  federatedSignIn,
  formWith,
  startWorld,
  stopWorld,
  tokensOf,
  UPSTREAM_SECRET,
  userByEmail,
  type World,
} from './setup.js';

/**
 * Sign-in through a connection (issue 14, part 2 and 4): /authorize?connection=NAME, the
 * Cognito alias, the buttons, home-realm discovery, just-in-time provisioning with mapped
 * roles, the identity found again, and the refusals (cancel, forged state, another browser).
 */
describe('federation: sign-in through an oidc connection', () => {
  let w: World;
  const accounts = {
    alice: { email: 'alice@corp.test', email_verified: true, given_name: 'Alice', family_name: 'Arden', groups: ['engineers', 'staff'] },
    carol: { email: 'carol@corp.test', email_verified: true, groups: ['staff'] },
    dana: { email: 'dana@trusted.test', email_verified: true },
  };

  before(async () => {
    w = await startWorld(accounts);
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'engineer', permissions: [] });
    await insertConnection(w.gh, {
      name: 'corp',
      displayName: 'Corp SSO',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      domains: ['corp.test'],
      mapping: [{ claim: 'family_name', value: 'Arden', roles: ['engineer'] }],
    });
    // A connection of another tenant that lists Acme's application: never offered, never usable.
    await insertConnection(w.gh, {
      name: 'globex-sso',
      displayName: 'Globex SSO',
      strategy: 'oidc',
      tenantId: w.globex.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      domains: ['globex.test'],
    });
    // A system connection not enabled for the application.
    await insertConnection(w.gh, { name: 'unlisted', displayName: 'Unlisted', strategy: 'oidc', options: w.oidcOptions });
  });
  after(() => stopWorld(w));

  it('connection=NAME: provider → a new user (JIT) in the tenant, with the default and the mapped roles in the access token', async () => {
    const run = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'alice' });
    assert.ok(run.atProvider?.startsWith(`${w.upstream.issuer}/auth`), 'sent to the provider');
    const { access, id } = await tokensOf(w, run);
    const user = await userByEmail(w, 'alice@corp.test');
    assert.ok(user, 'provisioned');
    // The provider said "verified", but the connection is not trusted with email (decision 291).
    assert.equal(user.email_verified, false);
    assert.equal(user.password_hash, null);
    assert.equal(user.given_name, 'Alice');
    assert.equal(user.home_tenant_id, w.acme.tenantId);
    assert.equal(access.sub, user.id);
    assert.deepEqual([...(access.roles as string[])].sort(), ['USER', 'engineer']);
    assert.deepEqual(id.amr, ['fed']);
    const identity = await w.gh.ctx.db.selectFrom('user_identities').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    assert.equal(identity.subject, 'alice');
    assert.equal(identity.provider, 'oidc');
    assert.equal((identity.profile_data as Record<string, unknown>).email, 'alice@corp.test');
    assert.ok(!JSON.stringify(identity.profile_data).includes('token'), 'no tokens in profile_data');
    const events = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.loginSucceeded', target: user.id });
    assert.ok(
      events.some((e) => e.details.connection === 'corp' && e.details.strategy === 'oidc'),
      JSON.stringify(events),
    );
    const linked = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.identityLinked', target: user.id });
    assert.equal(linked.length, 1);
  });

  it('a provisioned account’s email is verified only when a trusted_email connection’s provider says so', async () => {
    await insertConnection(w.gh, {
      name: 'trusted',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      trustedEmail: true,
    });
    const run = await federatedSignIn(w, { params: { connection: 'trusted' }, account: 'dana' });
    assert.ok(atCallback(run.url), `signed in: ${run.url}`);
    assert.equal((await userByEmail(w, 'dana@trusted.test'))?.email_verified, true);
  });

  it('identity_provider=NAME (Cognito), a second time: the same user, found by the identity (no duplicate)', async () => {
    const before = await w.gh.rowCount('users');
    const run = await federatedSignIn(w, { params: { identity_provider: 'corp' }, account: 'alice' });
    const { access } = await tokensOf(w, run);
    assert.equal(access.sub, (await userByEmail(w, 'alice@corp.test'))?.id);
    assert.equal(await w.gh.rowCount('users'), before);
  });

  it('the sign-in page has a button for each connection enabled for the application, and only those', async () => {
    const browser = new Browser();
    const { url } = await authorization(w);
    const opened = await browser.follow(url, atCallback);
    const page = await opened.response.text();
    assert.match(page, /Continue with Corp SSO/);
    assert.doesNotMatch(page, /Globex SSO|Unlisted/);
    // Auth0 code that sends `connection: null` gets the choice, not a refusal.
    const nulled = await new Browser().follow((await authorization(w, { connection: 'null' })).url, atCallback);
    assert.equal(nulled.response.status, 200);
    assert.match(await nulled.response.text(), /Continue with Corp SSO/);
    const run = await federatedSignIn(w, { button: 'corp', account: 'carol' });
    const { access } = await tokensOf(w, run);
    assert.deepEqual(access.roles, ['USER'], 'no mapped role for carol');
  });

  it('attack: a connection of another tenant that lists the application cannot be used (button POST, connection=)', async () => {
    const browser = new Browser();
    const { url } = await authorization(w);
    const opened = await browser.follow(url, atCallback);
    const form = formWith(await opened.response.text(), '/connection/corp"');
    const forged = await browser.submit(opened.url, form.action.replace('/connection/corp', '/connection/globex-sso'), form.fields);
    assert.equal(forged.response.status, 400);
    assert.match(await forged.response.text(), /connection_unknown/);
    for (const name of ['globex-sso', 'unlisted', 'nope']) {
      const run = await federatedSignIn(w, { params: { connection: name }, account: 'alice' });
      assert.equal(run.atProvider, undefined, `${name}: never sent to a provider`);
      assert.equal(run.status, 400, `${name}: ${run.page.slice(0, 300)}`);
      assert.match(run.page, /does not offer the sign-in it asked for/);
    }
  });

  it("home-realm discovery: an email of the connection's domain goes to the provider, no password checked", async () => {
    const run = await federatedSignIn(w, { email: 'Alice@Corp.test', account: 'alice' });
    assert.ok(run.atProvider, 'sent to the provider');
    assert.match(run.atProvider, /login_hint=Alice%40Corp.test/i);
    await tokensOf(w, run);
    const other = await federatedSignIn(w, { email: 'someone@globex.test', account: 'alice' });
    assert.equal(other.atProvider, undefined, "another tenant's domain is not discovered for this application");
    assert.equal(other.status, 401, 'the password form answered');
  });

  it('the person cancels at the provider: the application receives access_denied', async () => {
    const run = await federatedSignIn(w, { params: { connection: 'corp' }, cancel: true });
    assert.ok(atCallback(run.url), `ended at ${run.url}: ${run.page.slice(0, 400)}`);
    const back = new URL(run.url).searchParams;
    assert.equal(back.get('error'), 'access_denied');
    assert.equal(back.get('state'), run.state);
    const failed = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.loginFailed' });
    assert.ok(failed.some((e) => e.details.connection === 'corp' && String(e.details.reason).startsWith('cancelled')));
  });

  it('a forged state, a replayed answer and an unknown flow end on a 4xx page, never a 500', async () => {
    const browser = new Browser();
    const cases = [
      '/login/callback?code=x&state=nonsense',
      `/login/callback?code=x&state=flw_${'0'.repeat(32)}.${'A'.repeat(43)}`,
      '/login/callback',
    ];
    for (const path of cases) {
      const response = await browser.fetch(`${w.gh.issuer}${path}`);
      assert.equal(response.status, 400, path);
      assert.match(await response.text(), /federation_state_invalid/);
    }
    const run = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'carol' });
    await tokensOf(w, run);
    // The same answer again, in the same browser: the flow has moved on.
    const replay = await run.browser.fetch(`${w.gh.issuer}/login/callback?${new URLSearchParams(run.answer)}`);
    assert.equal(replay.status, 400);
    // The right flow id with another secret.
    const [flowId] = String(run.answer?.state).split('.');
    const forged = await run.browser.fetch(`${w.gh.issuer}/login/callback?code=x&state=${flowId}.${'B'.repeat(43)}`);
    assert.equal(forged.status, 400);
  });

  it('a connection the application stopped using while the person was at the provider finishes nothing (400 connection_unknown)', async () => {
    const id = await insertConnection(w.gh, {
      name: 'leaving',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
    });
    const browser = new Browser();
    const { url } = await authorization(w, { connection: 'leaving' });
    const atProvider = await browser.follow(url, (l) => l.startsWith(w.upstream.issuer));
    const { params } = await w.upstream.signIn(atProvider.url, { account: 'carol' });
    await updateConnection(w.gh, id, { enabled_clients: [] });
    const answer = await browser.fetch(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
    assert.equal(answer.status, 400);
    assert.match(await answer.text(), /connection_unknown/);
  });

  it('login CSRF: an answer POSTed in another browser is verified but never signs that browser in', async () => {
    const mine = new Browser();
    const { url } = await authorization(w, { connection: 'corp' });
    const atProvider = await mine.follow(url, (l) => l.startsWith(w.upstream.issuer));
    const { params } = await w.upstream.signIn(atProvider.url, { account: 'carol' });
    const victim = new Browser();
    const posted = await victim.fetch(`${w.gh.issuer}/login/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    });
    assert.equal(posted.status, 303);
    const next = posted.headers.get('location') as string;
    assert.match(next, /^\/login\/callback\/continue\?flow=flw_/);
    const refused = await victim.fetch(`${w.gh.issuer}${next}`);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /started in another browser/);
    // A GET answer in another browser is refused before it is spent.
    // The browser that started it goes on.
    const landed = await mine.follow(`${w.gh.issuer}${next}`, atCallback);
    assert.ok(atCallback(landed.url), `ended at ${landed.url}`);
  });

  it('a GET answer opened in another browser is refused (403) and stays unspent for the right one', async () => {
    const mine = new Browser();
    const { url } = await authorization(w, { connection: 'corp' });
    const atProvider = await mine.follow(url, (l) => l.startsWith(w.upstream.issuer));
    const { params } = await w.upstream.signIn(atProvider.url, { account: 'carol' });
    const answer = `${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`;
    const other = await new Browser().fetch(answer);
    assert.equal(other.status, 403);
    const landed = await mine.follow(answer, atCallback);
    assert.ok(atCallback(landed.url), `ended at ${landed.url}`);
  });
});
