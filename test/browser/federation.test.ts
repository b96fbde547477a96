import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, type JWTPayload } from 'jose';
import type { Page } from 'playwright-core';
import { checkPage, screenshot } from '../helpers/browser.js';
import { type BrowserApp, startBrowserApp } from '../helpers/browser-app.js';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { startListeningGatehouse } from '../helpers/oidc.js';
import { NAMEID_PERSISTENT, startTestIdpServer, type TestIdpServer } from '../helpers/saml-idp.js';
import { PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, SUFFIX, startSlapd } from '../helpers/slapd.js';

/**
 * Issue 14's "Done when", tried as a new user would in Chromium: the tenant administrator
 * sets each connection up through the public admin API (POST /api/v1/connections), and a
 * person signs in through it on the hosted pages: an `oidc` connection to a SECOND
 * Gatehouse (button, `connection=`, home-realm discovery, linking to an existing account),
 * a `samlp` connection to a samlify IdP, an `ad` connection to a real slapd. Each new hosted
 * page is screenshotted and checked with axe-core; the access token (issued for an API, so a
 * JWT) must carry the role the connection's mapping grants.
 */

const API = 'urn:gatehouse:acme:api';

/** The application's tokens' claims (the access token's and the ID token's), from the code at the callback the page shows. */
async function tokenClaims(b: BrowserApp, page: Page, verifier: string): Promise<{ access: JWTPayload; id: JWTPayload }> {
  const tokens = await b.tokensAt(page, verifier);
  return { access: decodeJwt(tokens.access_token), id: decodeJwt(tokens.id_token as string) };
}

/** Roles of a token, sorted. */
const rolesOf = (claims: JWTPayload) => [...((claims.roles as string[] | undefined) ?? [])].sort();

/** The first Gatehouse with an API (so access tokens are JWTs) and the role a mapping grants. */
async function startAcme(role: string): Promise<BrowserApp> {
  const b = await startBrowserApp();
  await b.gh.created('/api/v1/apis', b.tenant.token, { identifier: API, name: 'Acme API' });
  await b.gh.created('/api/v1/roles', b.tenant.token, { name: role, permissions: [] });
  return b;
}

/** POST /api/v1/connections as the tenant administrator: must answer 201. */
async function createConnection(b: BrowserApp, body: Record<string, unknown>) {
  const created = await b.gh.created('/api/v1/connections', b.tenant.token, { enabled_clients: [b.app.client_id], ...body });
  assert.match(created.id, /^con_[0-9a-f]{32}$/);
  for (const secret of ['client_secret', 'bind_password']) assert.equal(secret in created.options, false, `${secret} is write-only`);
  return created;
}

describe('federation in Chromium: an oidc connection to a second Gatehouse', () => {
  let b: BrowserApp;
  let upstream: TestGatehouse & { issuer: string };
  let upstreamTenant: TenantAdmin;

  before(async () => {
    b = await startAcme('engineer');
    // The upstream Gatehouse on 127.0.0.1: another host than the first (localhost), as a real upstream is.
    upstream = await startListeningGatehouse();
    upstreamTenant = await upstream.tenantWithAdmin('upstream');
    for (const [email, given, family] of [
      ['ada@upstream.test', 'Ada', 'Lovelace'],
      ['grace@upstream.test', 'Grace', 'Hopper'],
      ['linus@upstream.test', 'Linus', 'Lovelace'],
    ])
      await upstream.createUser(upstreamTenant.token, { email, password: PASSWORD, given_name: given, family_name: family });
    // At the upstream: a web application whose redirect URI is the first Gatehouse's one callback.
    const rp = await upstream.created('/api/v1/applications', upstreamTenant.token, {
      name: 'Acme Gatehouse',
      type: 'web',
      redirect_uris: [`${b.gh.issuer}/login/callback`],
    });
    await createConnection(b, {
      name: 'upstream-gh',
      strategy: 'oidc',
      display_name: 'Upstream Gatehouse',
      options: { issuer: upstream.issuer, client_id: rp.client_id, client_secret: rp.client_secret, scope: 'openid profile email' },
      domains: ['upstream.test'],
      mapping: [{ claim: 'family_name', value: 'Lovelace', roles: ['engineer'] }],
    });
  });
  after(async () => {
    await b?.stop();
    await upstream?.stop();
  });

  /** At the upstream Gatehouse's hosted sign-in page: signs in and comes back to the application. */
  async function signInUpstream(page: Page, email: string, name: string) {
    await page.waitForURL((url) => url.href.startsWith(upstream.issuer));
    assert.equal(await page.locator('#username').count(), 1, `the upstream's sign-in page, not ${page.url()}`);
    await screenshot(page, name);
    const username = page.locator('#username');
    if ((await username.inputValue()) !== email) await username.fill(email);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
  }

  it('connection=NAME → the upstream Gatehouse → back at the application with the mapped role', async () => {
    const page = await b.newPage();
    const verifier = await b.openSignIn(page, { connection: 'upstream-gh', audience: API });
    await signInUpstream(page, 'ada@upstream.test', 'federation-oidc-upstream-sign-in');
    await page.waitForURL(b.isCallback);
    const { access: claims, id } = await tokenClaims(b, page, verifier);
    assert.deepEqual(rolesOf(claims), ['USER', 'engineer']);
    assert.equal(id.email, 'ada@upstream.test');
    const users = await b.gh.request('GET', `/api/v1/users?email=${encodeURIComponent('ada@upstream.test')}`, { token: b.tenant.token });
    const ada = users.body.users.find((u: { email: string }) => u.email === 'ada@upstream.test');
    assert.equal(claims.sub, ada.id, 'provisioned just in time');
    await page.context().close();
  });

  it('the sign-in page shows the button (axe-clean); the button leads to the upstream', async () => {
    const page = await b.newPage();
    const verifier = await b.openSignIn(page, { audience: API });
    const button = page.getByRole('button', { name: 'Continue with Upstream Gatehouse' });
    assert.equal(await button.count(), 1);
    assert.deepEqual(await checkPage(page, 'federation-sign-in-buttons'), []);
    await button.click();
    await signInUpstream(page, 'grace@upstream.test', 'federation-oidc-upstream-by-button');
    await page.waitForURL(b.isCallback);
    const { access: claims, id } = await tokenClaims(b, page, verifier);
    assert.equal(id.email, 'grace@upstream.test');
    assert.deepEqual(rolesOf(claims), ['USER'], 'Hopper is not mapped to engineer');
    await page.context().close();
  });

  it('home-realm discovery: an email at upstream.test goes straight to the upstream, no password typed', async () => {
    const page = await b.newPage();
    const verifier = await b.openSignIn(page, { audience: API });
    await page.fill('#username', 'ada@upstream.test');
    await page.click('form[action$="/login"] button[type=submit]');
    await page.waitForURL((url) => url.href.startsWith(upstream.issuer));
    assert.equal(await page.inputValue('#username'), 'ada@upstream.test', 'the typed address as login_hint');
    await signInUpstream(page, 'ada@upstream.test', 'federation-oidc-upstream-hrd');
    await page.waitForURL(b.isCallback);
    assert.deepEqual(rolesOf((await tokenClaims(b, page, verifier)).access), ['USER', 'engineer']);
    await page.context().close();
  });

  it('linking: an existing account with the same email proves its password on the link page, and the sign-in is that account', async () => {
    const existing = await b.gh.createUser(b.tenant.token, { email: 'linus@upstream.test', password: PASSWORD, given_name: 'Linus' });
    const page = await b.newPage();
    const verifier = await b.openSignIn(page, { connection: 'upstream-gh', audience: API });
    await signInUpstream(page, 'linus@upstream.test', 'federation-oidc-upstream-link');
    await page.waitForURL(/\/login\/link\//);
    assert.deepEqual(await checkPage(page, 'federation-link'), []);
    await page.fill('#password', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForLoadState();
    assert.match(page.url(), /\/login\/link\//);
    assert.equal((await page.locator('[role=alert], #form-error').count()) > 0, true, 'the refusal is shown');
    assert.deepEqual(await checkPage(page, 'federation-link-wrong-password'), []);
    const before = await b.gh.request('GET', `/api/v1/users/${existing}/identities`, { token: b.tenant.token });
    assert.deepEqual(before.body.identities, [], 'a wrong password links nothing');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(b.isCallback);
    const { access: claims, id } = await tokenClaims(b, page, verifier);
    assert.equal(claims.sub, existing, 'signed in as the existing account');
    assert.equal(id.sub, existing);
    assert.deepEqual(rolesOf(claims), ['USER', 'engineer']);
    const identities = await b.gh.request('GET', `/api/v1/users/${existing}/identities`, { token: b.tenant.token });
    assert.equal(identities.status, 200);
    assert.equal(identities.body.identities.length, 1);
    assert.equal(identities.body.identities[0].connection, 'upstream-gh');
    assert.equal(identities.body.identities[0].provider, 'oidc');
    await page.context().close();

    // The identity now leads to that account: the next sign-in (another browser) asks for no proof.
    const again = await b.newPage();
    const next = await b.openSignIn(again, { connection: 'upstream-gh', audience: API });
    await signInUpstream(again, 'linus@upstream.test', 'federation-oidc-upstream-linked');
    await again.waitForURL(b.isCallback);
    assert.equal((await tokenClaims(b, again, next)).access.sub, existing);
    await again.context().close();
  });

  it("the account area's Linked accounts lists the identity (axe-clean), and Unlink removes it", async () => {
    // Linus, linked by the previous test, signs in to his account with his own password.
    const page = await b.newPage();
    await page.goto(`${b.gh.issuer}/account`);
    await page.fill('#username', 'linus@upstream.test');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/account$/), page.click('button[type=submit]')]);
    await Promise.all([page.waitForURL(/\/account\/identities$/), page.click('nav a[href="/account/identities"]')]);
    assert.equal(await page.textContent('h1'), 'Linked accounts');
    assert.equal(await page.locator('#identities li').count(), 1);
    assert.match((await page.textContent('#identities li')) ?? '', /Upstream Gatehouse/);
    assert.deepEqual(await checkPage(page, 'federation-account-identities'), []);
    await Promise.all([
      page.waitForURL(/notice=identity_unlinked/),
      page.getByRole('button', { name: 'Unlink Upstream Gatehouse' }).click(),
    ]);
    assert.equal(await page.locator('#identities li').count(), 0);
    assert.equal(await page.textContent('p#identities'), 'No linked accounts.');
    assert.deepEqual(await checkPage(page, 'federation-account-identities-unlinked'), []);
    const linus = (await b.gh.request('GET', '/api/v1/users?email=linus%40upstream.test', { token: b.tenant.token })).body.users[0];
    const identities = await b.gh.request('GET', `/api/v1/users/${linus.id}/identities`, { token: b.tenant.token });
    assert.deepEqual(identities.body.identities, []);
    await page.context().close();

    // Unlinked, the identity is a stranger again: its next sign-in asks for the proof once more.
    const again = await b.newPage();
    await b.openSignIn(again, { connection: 'upstream-gh' });
    await signInUpstream(again, 'linus@upstream.test', 'federation-oidc-upstream-unlinked');
    await again.waitForURL(/\/login\/link\//);
    await again.context().close();
  });

  it('a connection the application may not use ends on the federation error page (axe-clean)', async () => {
    const page = await b.newPage();
    await b.openSignIn(page, { connection: 'no-such-connection' });
    assert.equal(await page.locator('h1').count(), 1);
    assert.match((await page.content()) ?? '', /connection_unknown/);
    assert.deepEqual(await checkPage(page, 'federation-error'), []);
    await page.context().close();
  });
});

describe('federation in Chromium: a samlp connection', () => {
  let b: BrowserApp;
  let idp: TestIdpServer;

  before(async () => {
    [b, idp] = await Promise.all([startAcme('finance'), startTestIdpServer()]);
    await createConnection(b, {
      name: 'okta',
      strategy: 'samlp',
      display_name: 'Okta',
      options: { metadataUrl: idp.metadataUrl, emails_verified: true },
      mapping: [{ claim: 'groups', value: 'Finance', roles: ['finance'] }],
    });
  });
  after(async () => {
    await b?.stop();
    await idp?.close();
  });

  it('connection=NAME → the IdP → the ACS → continue → the application, with the role of a multi-valued groups attribute', async () => {
    idp.answer = {
      nameId: 'okta-0001',
      nameIdFormat: NAMEID_PERSISTENT,
      attributes: { email: 'pat@okta.test', firstName: 'Pat', groups: ['Staff', 'Finance'] },
    };
    const page = await b.newPage();
    const visited: string[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest()) visited.push(`${r.method()} ${r.url()}`);
    });
    const verifier = await b.openSignIn(page, { connection: 'okta', audience: API });
    await page.waitForURL(b.isCallback);
    assert.equal(idp.requests.length, 1, 'the IdP saw one AuthnRequest');
    const path = visited.map((v) =>
      v
        .replace(b.gh.issuer, '')
        .replace(idp.ssoUrl, 'IdP')
        .replace(/[?#].*$/, ''),
    );
    assert.ok(path.includes('GET IdP'), path.join('\n'));
    assert.ok(path.includes('POST /login/callback'), 'the Response POSTed to the ACS');
    assert.ok(path.includes('GET /login/callback/continue'), 'then the continue step, a top-level GET');
    const { access: claims, id } = await tokenClaims(b, page, verifier);
    assert.equal(id.email, 'pat@okta.test');
    assert.deepEqual(rolesOf(claims), ['USER', 'finance']);
    await page.context().close();
  });

  it('a Response the strategy refuses (unsigned) ends on the federation error page (axe-clean), nobody signed in', async () => {
    idp.answer = { nameId: 'okta-0002', nameIdFormat: NAMEID_PERSISTENT, attributes: { email: 'eve@okta.test' }, sign: 'none' };
    const page = await b.newPage();
    await b.openSignIn(page, { connection: 'okta' });
    await page.waitForURL((url) => url.href.startsWith(`${b.gh.issuer}/login/callback`));
    await page.waitForLoadState();
    assert.match(await page.content(), /federation_failed/);
    assert.deepEqual(await checkPage(page, 'federation-error-saml'), []);
    const users = await b.gh.request('GET', `/api/v1/users?email=${encodeURIComponent('eve@okta.test')}`, { token: b.tenant.token });
    assert.equal(users.body.users.filter((u: { email: string }) => u.email === 'eve@okta.test').length, 0);
    await page.context().close();
  });
});

describe('federation in Chromium: an ad (LDAP) connection', () => {
  let b: BrowserApp;
  let slapd: Slapd;

  before(async () => {
    [b, slapd] = await Promise.all([startAcme('engineer'), startSlapd()]);
    await createConnection(b, {
      name: 'corp-ldap',
      strategy: 'ad',
      display_name: 'Corporate directory',
      options: { url: slapd.url, base_dn: SUFFIX, bind_dn: SERVICE_DN, bind_password: SERVICE_PASSWORD },
      domains: ['example.org'],
      mapping: [{ claim: 'groups', value: 'engineering', roles: ['engineer'] }],
    });
  });
  after(async () => {
    await b?.stop();
    await slapd?.stop();
  });

  it("home-realm discovery → the directory form (axe-clean); a wrong password again; the right one → the application with the group's role", async () => {
    const page = await b.newPage();
    const verifier = await b.openSignIn(page, { audience: API });
    await page.fill('#username', 'ann@example.org');
    await page.click('form[action$="/login"] button[type=submit]');
    await page.waitForURL(/\/interaction\/[^/]+\/login$/);
    assert.match((await page.textContent('h1')) ?? '', /Corporate directory/);
    assert.deepEqual(await checkPage(page, 'federation-directory'), []);
    assert.equal(await page.inputValue('#username'), 'ann@example.org', 'the typed address, kept');
    await page.fill('#password', 'wrong');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/connection\/corp-ldap\/login$/);
    assert.match(await page.content(), /Wrong username or password/);
    assert.deepEqual(await checkPage(page, 'federation-directory-wrong-password'), []);
    assert.equal(await page.inputValue('#username'), 'ann@example.org');
    // The directory finds her by mail (the default user filter); she only types her password.
    await page.fill('#password', PEOPLE.ann.password);
    await page.click('button[type=submit]');
    await page.waitForURL(b.isCallback);
    const { access: claims, id } = await tokenClaims(b, page, verifier);
    assert.equal(id.email, 'ann@example.org');
    assert.deepEqual(rolesOf(claims), ['USER', 'engineer']);
    await page.context().close();
  });

  it('the button → the directory form → signed in; bob, in no mapped group, gets no role', async () => {
    const page = await b.newPage();
    const verifier = await b.openSignIn(page, { audience: API });
    await page.getByRole('button', { name: 'Continue with Corporate directory' }).click();
    await page.waitForURL(/\/connection\/corp-ldap$/);
    await page.fill('#username', 'bob');
    await page.fill('#password', PEOPLE.bob.password);
    await page.click('button[type=submit]');
    await page.waitForURL(b.isCallback);
    const { access: claims, id } = await tokenClaims(b, page, verifier);
    assert.equal(id.email, 'bob@example.org');
    assert.deepEqual(rolesOf(claims), ['USER']);
    await page.context().close();
  });
});
