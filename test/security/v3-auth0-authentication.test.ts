/**
 * Issue 17.1, Auth0's Authentication API, written as the attacks (docs/security.md):
 * the `web_message` answer goes only to an allowed web origin of the application; a web
 * origin receives no code by any other response mode; revoking a JWT access token holds
 * on introspection and /userinfo, and one client cannot revoke another's; /userinfo takes
 * no token a tenant's administrator can mint (HS256).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import { pruneDeniedTokens } from '../../src/oauth/engine/denied-tokens.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../helpers/oidc.js';

const SPA = 'http://localhost:5999';
const API = 'urn:gatehouse:acme:orders';
const HS_API = 'urn:gatehouse:acme:ledger';

describe('V3/V4: Auth0 Authentication API (web_message origins, the deny list, /userinfo audience)', () => {
  let gh: TestGatehouse & { issuer: string };
  let acme: TenantAdmin;
  let spa: { client_id: string };
  let web: { client_id: string; client_secret: string };
  let other: { client_id: string; client_secret: string };
  let hsSecret: string;
  let userId: string;

  const form = (path: string, fields: Record<string, string>) =>
    fetch(`${gh.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
  const passwordToken = async (audience: string, scope = 'openid email read:orders') => {
    const response = await form('/oauth/token', {
      grant_type: 'password',
      username: 'jane@acme.test',
      password: PASSWORD,
      client_id: web.client_id,
      client_secret: web.client_secret,
      audience,
      scope,
    });
    assert.equal(response.status, 200);
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const introspect = async (token: string, caller = web) =>
    (
      (await (await form('/oauth/introspect', { token, client_id: caller.client_id, client_secret: caller.client_secret })).json()) as {
        active: boolean;
      }
    ).active;
  const userinfo = (token: string) => fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    gh = await startListeningGatehouse({ hostname: 'localhost' });
    acme = await gh.tenantWithAdmin('acme');
    await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Orders', permissions: [{ value: 'read:orders' }] });
    hsSecret = (
      await gh.created('/api/v1/apis', acme.token, {
        identifier: HS_API,
        name: 'Ledger',
        signing_alg: 'HS256',
        permissions: [{ value: 'read:ledger' }],
      })
    ).signing_secret;
    userId = await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
    spa = await gh.created('/api/v1/applications', acme.token, {
      name: 'SPA',
      type: 'spa',
      // Redirect URIs whose origins are not web origins: registered, yet no web_message answer goes there.
      redirect_uris: [`${SPA}/callback`, 'http://localhost:7000/callback', 'http://localhost:7001'],
      web_origins: [SPA],
    });
    const grants = { type: 'web', redirect_uris: ['http://localhost:4000/cb'], grant_types: ['password', 'authorization_code'] };
    web = await gh.created('/api/v1/applications', acme.token, { name: 'Web', ...grants });
    other = await gh.created('/api/v1/applications', acme.token, { name: 'Other', ...grants });
  });
  after(() => gh.stop());

  /** A browser signed in to the tenant (the hosted sign-in of the SPA). */
  async function signedInBrowser(): Promise<Browser> {
    const browser = new Browser();
    const params = new URLSearchParams({
      client_id: spa.client_id,
      response_type: 'code',
      redirect_uri: `${SPA}/callback`,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const opened = await browser.follow(`${gh.issuer}/authorize?${params}`);
    const page = formOf(await opened.response.text());
    const back = await browser.submit(opened.url, page.action, { ...page.fields, username: 'jane@acme.test', password: PASSWORD }, (l) =>
      l.startsWith(SPA),
    );
    assert.ok(back.url.startsWith(`${SPA}/callback?code=`), back.url);
    return browser;
  }
  const silent = (redirectUri: string, mode = 'web_message') =>
    new URLSearchParams({
      client_id: spa.client_id,
      response_type: 'code',
      redirect_uri: redirectUri,
      response_mode: mode,
      prompt: 'none',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 's',
    });

  const codes = async () =>
    Number(
      (
        await gh.ctx.db
          .selectFrom('oidc_models')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('model', '=', 'AuthorizationCode')
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('web_message to an origin the application does not list is refused before a code exists', async () => {
    const browser = await signedInBrowser();
    const before = await codes();
    for (const origin of ['http://localhost:7000/callback', 'http://localhost:7001', 'http://localhost:6666', `${SPA}.evil.test`]) {
      const { response } = await browser.follow(`${gh.issuer}/authorize?${silent(origin)}`);
      assert.equal(response.status, 400, origin);
      assert.doesNotMatch(await response.text(), /authorization_response|code/i);
    }
    assert.equal(await codes(), before, 'no authorization code was issued');
  });

  it('a listed web origin gets its answer posted to that origin only, in a page only it may frame', async () => {
    const browser = await signedInBrowser();
    const { response } = await browser.follow(`${gh.issuer}/authorize?${silent(SPA)}`);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, new RegExp(`frame-ancestors ${SPA.replace(/[.:/]/g, '\\$&')}(;|$)`));
    assert.equal(response.headers.get('x-frame-options'), null);
    const page = await response.text();
    assert.match(page, /"type":"authorization_response"/);
    assert.match(page, /"code":"[^"]+"/);
    assert.ok(page.includes(`postMessage(message, "${SPA}")`), 'posted to the listed origin, never "*"');
    // Every other page still forbids framing.
    const signIn = await new Browser().follow(
      `${gh.issuer}/authorize?${silent(`${SPA}/callback`, 'query').toString().replace('prompt=none', 'prompt=login')}`,
    );
    assert.match(signIn.response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  });

  it('a web origin that is not a redirect URI receives no code in a query string (no other response mode)', async () => {
    const browser = await signedInBrowser();
    const { response } = await browser.follow(`${gh.issuer}/authorize?${silent(SPA, 'query')}`, (l) => l.startsWith(SPA));
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('location'), null);
  });

  it('a pushed request (PAR) or a request object cannot send a code to a web origin by query either', async () => {
    const browser = await signedInBrowser();
    const before = await codes();
    // Anyone may push for a public client: the attacker's PKCE, the victim's browser, the web origin's query string.
    const pushed = await form('/oauth/par', Object.fromEntries(silent(SPA, 'query')));
    if (pushed.status === 201) {
      const { request_uri } = (await pushed.json()) as { request_uri: string };
      const authorize = `${gh.issuer}/authorize?${new URLSearchParams({ client_id: spa.client_id, request_uri })}`;
      const { response } = await browser.follow(authorize, (l) => l.startsWith(SPA));
      assert.doesNotMatch(response.headers.get('location') ?? '', /[?&]code=/, 'no code in the query string of the web origin');
    }
    assert.equal(pushed.status, 400, 'refused when pushed');
    // A request object carries its parameters past a check of the query string (an unsigned one is refused anyway).
    const claims = Object.fromEntries(silent(SPA, 'query'));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const { response } = await browser.follow(
      `${gh.issuer}/authorize?${new URLSearchParams({ client_id: spa.client_id, response_type: 'code', scope: 'openid', request: unsigned })}`,
      (l) => l.startsWith(SPA),
    );
    assert.doesNotMatch(response.headers.get('location') ?? '', /[?&]code=/);
    // Spellings of the same origin that are not the origin string: a trailing slash, capitals.
    for (const spelling of [`${SPA}/`, SPA.toUpperCase(), `${SPA}/#`, `${SPA}?`]) {
      const { response } = await browser.follow(`${gh.issuer}/authorize?${silent(spelling, 'query')}`, (l) => l.startsWith(SPA));
      assert.doesNotMatch(response.headers.get('location') ?? '', /[?&]code=/, spelling);
    }
    assert.equal(await codes(), before, 'no authorization code was issued');
  });

  it('a revoked access token is inactive on introspection and refused at /userinfo; its jti is listed until it expires', async () => {
    const token = await passwordToken(API);
    assert.equal(await introspect(token), true);
    assert.equal((await userinfo(token)).status, 200);
    const revoked = await form('/oauth/revoke', { token, client_id: web.client_id, client_secret: web.client_secret });
    assert.equal(revoked.status, 200);
    assert.equal(await introspect(token), false);
    const refused = await userinfo(token);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/);
    // Kept exactly until the token would have expired, then swept.
    const { jti, exp } = decodeJwt(token) as { jti: string; exp: number };
    const listed = () => gh.ctx.db.selectFrom('revoked_access_tokens').select('jti').where('jti', '=', jti).executeTakeFirst();
    await pruneDeniedTokens(gh.ctx.db, new Date(exp * 1000 - 1000));
    assert.ok(await listed(), 'still listed while the token lives');
    await pruneDeniedTokens(gh.ctx.db, new Date(exp * 1000 + 1000));
    assert.equal(await listed(), undefined, 'swept once it has expired');
  });

  it('a revoked token for Gatehouse’s own API no longer opens the admin API', async () => {
    const admin = await gh.adminToken();
    const platform = await gh.created('/api/v1/applications', admin, {
      name: 'Console',
      type: 'web',
      redirect_uris: ['http://localhost:4000/cb'],
      grant_types: ['password'],
    });
    const response = await form('/oauth/token', {
      grant_type: 'password',
      username: ADMIN_EMAIL,
      password: ADMIN_PASSWORD,
      client_id: platform.client_id,
      client_secret: platform.client_secret,
      audience: gh.issuer,
    });
    const { access_token: token } = (await response.json()) as { access_token: string };
    assert.equal((await gh.request('GET', '/api/v1/roles', { token })).status, 200);
    await form('/oauth/revoke', { token, client_id: platform.client_id, client_secret: platform.client_secret });
    const refused = await gh.request('GET', '/api/v1/roles', { token });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_token');
  });

  it('a client cannot revoke another client’s access token (answered 200, nothing listed)', async () => {
    const token = await passwordToken(API);
    const attempt = await form('/oauth/revoke', { token, client_id: other.client_id, client_secret: other.client_secret });
    assert.equal(attempt.status, 200, 'RFC 7009: the same answer');
    assert.equal(await introspect(token), true, 'still active');
    const noSecret = await form('/oauth/revoke', { token, client_id: web.client_id, client_secret: 'wrong' });
    assert.equal(noSecret.status, 401);
    assert.equal(await introspect(token), true, 'still active');
    const jti = decodeJwt(token).jti as string;
    assert.equal(await gh.ctx.db.selectFrom('revoked_access_tokens').select('jti').where('jti', '=', jti).executeTakeFirst(), undefined);
  });

  it('/userinfo refuses an HS256 token with the userinfo audience (the API’s administrators hold its secret), and a token asked without openid', async () => {
    const forged = await new SignJWT({ scope: 'openid email', client_id: web.client_id, gid: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(gh.issuer)
      .setSubject(userId)
      .setAudience([HS_API, `${gh.issuer}/userinfo`])
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(hsSecret));
    assert.equal((await userinfo(forged)).status, 401);
    const hsToken = await passwordToken(HS_API, 'openid read:ledger');
    assert.equal(decodeJwt(hsToken).aud, HS_API, 'an HS256 API’s token never names /userinfo');
    const noOpenid = await passwordToken(API, 'read:orders');
    assert.equal(decodeJwt(noOpenid).aud, API);
    assert.equal((await userinfo(noOpenid)).status, 401);
  });

  it('/userinfo answers only the claims of the OpenID scopes the token carries, and nothing once the user is disabled', async () => {
    const token = await passwordToken(API, 'openid read:orders');
    const claims = (await (await userinfo(token)).json()) as Record<string, unknown>;
    assert.equal(claims.sub, userId);
    assert.equal(claims.email, undefined, 'no email scope, no email');
    const disabled = await gh.request('POST', `/api/v1/users/${userId}/disable`, { token: acme.token, body: {} });
    assert.ok(disabled.status < 300, JSON.stringify(disabled.body));
    assert.equal((await userinfo(token)).status, 401);
  });
});
