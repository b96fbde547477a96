/**
 * ASVS V3 (session management), issue 12 item 10: logout CSRF. Another site sends the
 * browser to `GET /v2/logout`; the Gatehouse session must survive unless the user confirms
 * (a POST carrying the engine's xsrf token), or the request carries a valid `id_token_hint`
 * of the signed-in user with a registered return URI (Auth0's rule for its OIDC logout).
 * And every page the engine renders carries our pages' security headers (no framing, a
 * CSP), its own auto-submitting forms still working under that CSP.
 *
 * The browser here runs a page's script as a browser would: only when the page's CSP
 * allows it (its nonce or its hash), and only the two scripts these pages have (the
 * engine's `document.forms[0].submit()`, a click on a button).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { PASSWORD, type TestGatehouse } from '../helpers/gatehouse.js';
import { Browser, formOf, passwordSignIn, startListeningGatehouse } from '../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const HOME = 'http://localhost:4000/';
const isHome = (location: string) => location.startsWith(HOME);
const isCallback = (location: string) => location.startsWith(CALLBACK);

/** The page's script, if its CSP lets it run. */
function runnableScript(page: string, csp: string | null): string | undefined {
  const script = /<script(?: nonce="([^"]*)")?>([\s\S]*?)<\/script>/.exec(page);
  if (!script) return undefined;
  const [, nonce, body = ''] = script;
  if (csp === null) return body;
  const sources = /(?:^|;)\s*script-src ([^;]*)/.exec(csp)?.[1]?.split(/\s+/) ?? [];
  const hash = `'sha256-${createHash('sha256').update(body).digest('base64')}'`;
  return sources.includes(hash) || (nonce !== undefined && sources.includes(`'nonce-${nonce}'`)) ? body : undefined;
}

/** Opens `url` and does what a browser with JavaScript does on the pages it gets, until a page stays or `stopAt` matches. */
async function browse(browser: Browser, url: string, stopAt?: (location: string) => boolean) {
  let { response, url: at } = await browser.follow(url, stopAt);
  for (let step = 0; step < 3 && response.status === 200; step++) {
    const page = await response.clone().text();
    const script = runnableScript(page, response.headers.get('content-security-policy'));
    if (!script) break;
    const form = formOf(page);
    const clicked = /getElementById\('([^']+)'\)\.click\(\)/.exec(script)?.[1];
    const button = clicked && new RegExp(`<button[^>]*id="${clicked}"[^>]*>`).exec(page)?.[0];
    const submitter = button ? { [/name="([^"]*)"/.exec(button)?.[1] ?? '']: /value="([^"]*)"/.exec(button)?.[1] ?? '' } : {};
    if (!script.includes('document.forms[0].submit()') && !button) break;
    ({ response, url: at } = await browser.submit(at, form.action, { ...form.fields, ...submitter }, stopAt));
  }
  return { response, url: at };
}

describe('V3: logout CSRF and the security headers of the engine’s pages', () => {
  let gh: TestGatehouse & { issuer: string };
  let web: { client_id: string; client_secret: string };
  let config: client.Configuration;
  let users = 0;

  before(async () => {
    gh = await startListeningGatehouse();
    const admin = await gh.adminToken();
    web = await gh.created('/api/v1/applications', admin, {
      name: 'Portal',
      type: 'web',
      redirect_uris: [CALLBACK],
      post_logout_redirect_uris: [HOME],
      grant_types: ['authorization_code', 'password'],
    });
    config = await client.discovery(new URL(gh.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret), {
      execute: [client.allowInsecureRequests],
    });
  });
  after(() => gh.stop());

  async function newUser() {
    const email = `user${++users}@logout.test`;
    await gh.createUser(await gh.adminToken(), { email, password: PASSWORD });
    return email;
  }

  /** A browser signed in to Gatehouse (the session cookie), with the session token to check it by. */
  async function signedIn(email: string) {
    const browser = new Browser();
    const response = await browser.fetch(`${gh.issuer}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: email, password: PASSWORD }),
    });
    assert.equal(response.status, 200);
    const { token } = (await response.json()) as { token: string };
    return { browser, token };
  }
  const alive = async (token: string) =>
    (await fetch(`${gh.issuer}/api/v1/organizations`, { headers: { authorization: `Bearer ${token}` } })).status === 200;

  /** An ID token of the user for the application (the password grant). */
  async function idTokenOf(email: string): Promise<string> {
    const tokens = await client.genericGrantRequest(config, 'password', { username: email, password: PASSWORD, scope: 'openid' });
    assert.ok(tokens.id_token);
    return tokens.id_token;
  }

  it('a cross-site GET /v2/logout leaves a signed-in browser’s session alive: it asks for confirmation', async () => {
    const { browser, token } = await signedIn(await newUser());
    // Without a return URI of a named application (with one, Auth0's sign-out: decision 394).
    for (const url of [`${gh.issuer}/v2/logout`, `${gh.issuer}/v2/logout?client_id=${web.client_id}`]) {
      const landed = await browse(browser, url, isHome);
      assert.ok(await alive(token), `${url} ended the session without a click`);
      assert.equal(landed.response.status, 200);
      assert.match(await landed.response.text(), /name="logout" value="yes"/, 'the confirmation page');
    }
  });

  it('an id_token_hint of another user (the attacker’s own) or without a registered returnTo does not end it either', async () => {
    const { browser, token } = await signedIn(await newUser());
    const attackers = await idTokenOf(await newUser());
    await browse(browser, `${gh.issuer}/v2/logout?id_token_hint=${attackers}&post_logout_redirect_uri=${encodeURIComponent(HOME)}`, isHome);
    assert.ok(await alive(token), 'another user’s id_token_hint ended the session');
  });

  it('the confirmation (a POST with the engine’s xsrf token) ends the session', async () => {
    const { browser, token } = await signedIn(await newUser());
    const confirm = await browse(browser, `${gh.issuer}/v2/logout?client_id=${web.client_id}`);
    const form = formOf(await confirm.response.text());
    await browser.submit(confirm.url, form.action, { ...form.fields, logout: 'yes' });
    assert.equal(await alive(token), false);
  });

  it('Auth0’s sign-out: client_id with a registered returnTo ends the session and returns there without a question; an unregistered returnTo is refused', async () => {
    const { browser, token } = await signedIn(await newUser());
    const refused = await browse(
      browser,
      `${gh.issuer}/v2/logout?client_id=${web.client_id}&returnTo=${encodeURIComponent('https://evil.example/')}`,
    );
    assert.equal(refused.response.status, 400, 'an unregistered returnTo');
    assert.ok(await alive(token), 'a refused sign-out ends nothing');
    const done = await browse(browser, `${gh.issuer}/v2/logout?client_id=${web.client_id}&returnTo=${encodeURIComponent(HOME)}`, isHome);
    assert.equal(done.url, HOME);
    assert.equal(await alive(token), false);
  });

  it('a valid id_token_hint of the signed-in user with a registered returnTo ends the session without a click', async () => {
    // Signed in to Gatehouse only.
    const email = await newUser();
    const { browser, token } = await signedIn(email);
    const hint = await idTokenOf(email);
    const withoutReturn = await browse(browser, `${gh.issuer}/v2/logout?id_token_hint=${hint}`, isHome);
    assert.ok(await alive(token), 'without a registered returnTo it asks');
    assert.match(await withoutReturn.response.text(), /name="logout" value="yes"/);
    const done = await browse(browser, `${gh.issuer}/v2/logout?id_token_hint=${hint}&returnTo=${encodeURIComponent(HOME)}`, isHome);
    assert.equal(done.url, HOME);
    assert.equal(await alive(token), false);

    // Signed in through the hosted pages (the engine's session too), with the ID token of that sign-in.
    const hosted = new Browser();
    const landed = await passwordSignIn(hosted, config, { callback: CALLBACK, email, password: PASSWORD });
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), { pkceCodeVerifier: landed.verifier });
    const out = await browse(
      hosted,
      `${gh.issuer}/v2/logout?id_token_hint=${tokens.id_token}&post_logout_redirect_uri=${encodeURIComponent(HOME)}`,
      isHome,
    );
    assert.equal(out.url, HOME);
    const again = await hosted.follow(landed.request, isCallback);
    assert.match(await again.response.text(), /name="password"/, 'signed out of the engine too');
  });

  it('every page the engine renders forbids framing and carries a CSP; its auto-submitting forms still run', async () => {
    const { browser } = await signedIn(await newUser());
    const pages: { what: string; response: Response; script?: boolean }[] = [
      {
        what: 'logout, nobody signed in (the engine’s own form)',
        response: await new Browser().fetch(`${gh.issuer}/v2/logout`),
        script: true,
      },
      { what: 'logout confirmation', response: await browser.fetch(`${gh.issuer}/v2/logout`) },
      { what: 'logout done', response: await new Browser().fetch(`${gh.issuer}/v2/logout/success`) },
      { what: 'device code entry', response: await new Browser().fetch(`${gh.issuer}/activate`) },
      {
        what: 'device code from the link (the engine’s own form)',
        response: await new Browser().fetch(`${gh.issuer}/activate?user_code=BCDF-GHJK`),
        script: true,
      },
      { what: 'protocol error', response: await new Browser().fetch(`${gh.issuer}/authorize?client_id=nobody&response_type=code`) },
    ];
    for (const { what, response, script } of pages) {
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/, what);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', what);
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/, what);
      assert.match(csp, /default-src 'none'/, what);
      if (script) assert.ok(runnableScript(await response.text(), csp), `${what}: its script is allowed by its CSP`);
    }
  });
});

describe('V3: a front-channel logout URI cannot write into the sign-out page’s CSP', () => {
  let gh: TestGatehouse & { issuer: string };

  before(async () => {
    gh = await startListeningGatehouse();
  });
  after(() => gh.stop());

  // The sign-out page lists the origins of every application's frontchannel_logout_uri in its
  // `frame-src`; a host may hold `;` and `,`, so a registered client (no administrator needed)
  // could end that directive and add its own (`sandbox`, or a `script-src` that comes first and
  // blocks the page's script) to the page every user signed in to it sees, other applications' frames included.
  const hosts = ['https://rp.test;sandbox/logout', 'https://rp.test;script-src/logout', 'https://rp.test,x/logout'];

  it('is refused when an application is registered (RFC 7591) or saved with one whose host is not a host name', async () => {
    const acme = await gh.tenantWithAdmin('acme-fcl');
    const { token } = await gh.created<{ token: string }>('/api/v1/initial-access-tokens', acme.token, { description: 'partners' });
    for (const uri of hosts) {
      const registered = await fetch(`${gh.issuer}/oidc/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ redirect_uris: [CALLBACK], frontchannel_logout_uri: uri }),
      });
      assert.equal(registered.status, 400, uri);
      const saved = await gh.request('POST', '/api/v1/applications', {
        token: acme.token,
        body: { name: 'RP', type: 'web', redirect_uris: [CALLBACK], frontchannel_logout_uri: uri },
      });
      assert.equal(saved.status, 400, uri);
    }
    const good = await gh.request('POST', '/api/v1/applications', {
      token: acme.token,
      body: { name: 'RP', type: 'web', redirect_uris: [CALLBACK], frontchannel_logout_uri: 'http://localhost:4000/logout' },
    });
    assert.equal(good.status, 201);
  });
});
