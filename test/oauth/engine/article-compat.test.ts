import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';

/**
 * The Auth0 requests of the article in ../shared/reference (section 2.1), sent as written
 * there with only the base URL changed: "code written against Auth0 as in the article works
 * against Gatehouse by changing the base URL" (issue 3).
 */
describe('the article’s Auth0 code against Gatehouse', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let app: { client_id: string; client_secret: string };
  const redirectUri = 'http://localhost:4000/callback';

  before(async () => {
    gh = await startListeningGatehouse();
    const admin = await gh.adminToken();
    await gh.created('/api/v1/apis', admin, { identifier: 'https://example.com', name: 'Example', permissions: [{ value: 'get:users' }] });
    app = await gh.created('/api/v1/applications', admin, {
      name: 'Article app',
      type: 'web',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'password'],
    });
  });
  after(() => gh.stop());

  it('2.1.1: the password grant with audience and scope email returns a JWT for the API', async () => {
    const response = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: ADMIN_EMAIL,
        password: ADMIN_PASSWORD,
        client_id: app.client_id,
        client_secret: app.client_secret,
        audience: 'https://example.com',
        scope: 'email',
      }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number };
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 600);
    const claims = decodeJwt(body.access_token);
    assert.equal(claims.aud, 'https://example.com');
    assert.equal(claims.iss, gh.issuer);
  });

  it('2.1.2: /authorize with the article’s parameters, then the code exchange with a stray Bearer header and the secret in the body', async () => {
    // The article POSTs to /authorize; Gatehouse takes the browser redirect (GET), as the
    // engine answers POST only with SameSite=None cookies (decision 49).
    const browser = new Browser();
    const params = new URLSearchParams({ response_type: 'code', client_id: app.client_id, connection: 'null', redirect_uri: redirectUri });
    const { response, url } = await browser.follow(`${gh.issuer}/authorize?${params}`);
    assert.equal(response.status, 200);
    const { action, fields } = formOf(await response.text());
    const back = await browser.submit(url, action, { ...fields, username: ADMIN_EMAIL, password: ADMIN_PASSWORD }, (l) =>
      l.startsWith(redirectUri),
    );
    const code = new URL(back.url).searchParams.get('code');
    assert.ok(code, back.url);

    const token = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { authorization: 'Bearer MFA_TOKEN', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: app.client_id,
        client_secret: app.client_secret,
        code,
        redirect_uri: redirectUri,
      }),
    });
    const body = (await token.json()) as { access_token?: string; error?: string; error_description?: string };
    assert.equal(token.status, 200, JSON.stringify(body));
    assert.ok(body.access_token);
  });
});
