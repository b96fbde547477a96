import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { auth } from 'express-openid-connect';
import { decodeJwt } from 'jose';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf, freePort, startListeningGatehouse } from '../../helpers/oidc.js';

const API = 'urn:gatehouse:acme:orders';

/**
 * Auth0's `express-openid-connect` (its quick start for Express web apps) against
 * Gatehouse (issue 17.1): sign-in with an API audience, then the user's claims read from
 * /userinfo with that API's access token (Auth0 names /userinfo as its second audience).
 */
describe('express-openid-connect against Gatehouse', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let server: Server;
  let appUrl: string;

  before(async () => {
    gh = await startListeningGatehouse({ hostname: 'localhost' });
    const acme = await gh.tenantWithAdmin('acme');
    await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Orders', permissions: [{ value: 'read:orders' }] });
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD, name: 'Jane Doe' });
    const port = await freePort();
    appUrl = `http://localhost:${port}`;
    const client = await gh.created('/api/v1/applications', acme.token, {
      name: 'Acme Express',
      type: 'web',
      redirect_uris: [`${appUrl}/callback`],
    });
    const app = express();
    // The quick start's configuration, with Gatehouse's issuer and the application's credentials.
    app.use(
      auth({
        authRequired: false,
        issuerBaseURL: gh.issuer,
        baseURL: appUrl,
        clientID: client.client_id,
        clientSecret: client.client_secret,
        secret: 'a-long-random-secret-for-the-session-cookie-0123456789',
        authorizationParams: { response_type: 'code', audience: API, scope: 'openid profile email read:orders' },
      }),
    );
    app.get('/profile', async (req, res) => {
      res.json({ userinfo: await req.oidc.fetchUserInfo(), access_token: req.oidc.accessToken?.access_token });
    });
    server = await new Promise<Server>((resolve) => {
      const listening = app.listen(port, '127.0.0.1', () => resolve(listening));
    });
    assert.equal((server.address() as AddressInfo).port, port);
  });
  after(async () => {
    server?.close();
    await gh?.stop();
  });

  it('signs in with an API audience and reads the user’s claims through /userinfo with the API token', async () => {
    const browser = new Browser();
    const opened = await browser.follow(`${appUrl}/login`);
    assert.equal(opened.response.status, 200, opened.url);
    const form = formOf(await opened.response.text());
    const landed = await browser.submit(opened.url, form.action, { ...form.fields, username: 'jane@acme.test', password: PASSWORD });
    assert.equal(new URL(landed.url).origin, appUrl, landed.url);
    const profile = await browser.fetch(`${appUrl}/profile`);
    assert.equal(profile.status, 200, await profile.clone().text());
    const body = (await profile.json()) as { userinfo: Record<string, unknown>; access_token: string };
    assert.equal(body.userinfo.email, 'jane@acme.test');
    assert.equal(body.userinfo.name, 'Jane Doe');
    const claims = decodeJwt(body.access_token);
    assert.deepEqual(claims.aud, [API, `${gh.issuer}/userinfo`]);
    assert.match(String(claims.scope), /\bopenid\b/);
  });
});
