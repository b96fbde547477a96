/**
 * Browser-facing OAuth 2.0 / OpenID Connect flows, driven over real HTTP by openid-client
 * (a certified relying-party library none of us wrote) and by plain form posts to the
 * hosted pages, as a browser without JavaScript would send them.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { PASSWORD, type TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf } from '../../helpers/oidc.js';
import {
  type AppBody,
  admin,
  CALLBACK,
  createApp,
  DEVICE_CODE,
  discover,
  flowsServer,
  gh,
  isCallback,
  newUser,
  signInThrough,
} from './flows-setup.js';

const ORDERS_API = 'https://orders.example.com';

describe('OAuth / OIDC flows with openid-client and the hosted pages', () => {
  flowsServer();

  describe('organizations and consent', () => {
    let acme: TenantAdmin;
    let globex: TenantAdmin;
    let member: { id: string; email: string; name: string };
    let orgApp: AppBody;
    let orgConfig: client.Configuration;

    before(async () => {
      acme = await gh.tenantWithAdmin('acme');
      globex = await gh.tenantWithAdmin('globex');
      member = await newUser(acme.tenantId);
      await gh.created(`/api/v1/tenants/${globex.tenantId}/members`, admin, { userId: member.id });
      await gh.created('/api/v1/apis', admin, {
        identifier: ORDERS_API,
        name: 'Orders',
        permissions: [{ value: 'read:orders' }, { value: 'write:orders' }],
      });
      orgApp = await createApp({ name: 'Org portal', type: 'web', redirect_uris: [CALLBACK], organization_required: true });
      orgConfig = await discover(orgApp);
    });

    async function orgAuthorize(extra: Record<string, string>) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(orgConfig, {
        redirect_uri: CALLBACK,
        scope: 'openid read:orders',
        audience: ORDERS_API,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        ...extra,
      });
      return { url: url.href, verifier, state };
    }

    async function accessTokenClaims(callback: string, verifier: string, state: string) {
      const tokens = await client.authorizationCodeGrant(orgConfig, new URL(callback), {
        pkceCodeVerifier: verifier,
        expectedState: state,
      });
      const { payload, protectedHeader } = await jwtVerify(
        tokens.access_token,
        createRemoteJWKSet(new URL(`${gh.issuer}/.well-known/jwks.json`)),
        {
          issuer: gh.issuer,
          audience: ORDERS_API,
        },
      );
      assert.equal(protectedHeader.typ, 'at+jwt');
      return payload;
    }

    it('a member of two tenants picks one on the organization page; the access token carries org_id and org_name', async () => {
      const browser = new Browser();
      const { url, verifier, state } = await orgAuthorize({});
      const picker = await signInThrough(browser, url, member.email);
      assert.equal(picker.response.status, 200, `expected the organization picker, got ${picker.response.status} ${picker.url}`);
      const page = await picker.response.text();
      assert.match(page, /Choose an organization/);
      assert.match(page, new RegExp(`value="${acme.tenantId}"`));
      assert.match(page, new RegExp(`value="${globex.tenantId}"`));
      const form = formOf(page);
      const landed = await browser.submit(picker.url, form.action, { ...form.fields, organization: globex.tenantId }, isCallback);
      assert.ok(isCallback(landed.url), `got ${landed.response.status} ${landed.url}`);

      const claims = await accessTokenClaims(landed.url, verifier, state);
      assert.equal(claims.sub, member.id);
      assert.equal(claims.org_id, globex.tenantId);
      assert.equal(claims.org_name, 'GLOBEX');
      assert.equal(claims.client_id, orgApp.client_id);
      // The API scopes, and the OpenID scopes granted with them, as Auth0's tokens carry (decision 389).
      assert.equal(claims.scope, 'openid read:orders');
    });

    it('organization=<slug> skips the picker', async () => {
      const browser = new Browser();
      const { url, verifier, state } = await orgAuthorize({ organization: 'acme' });
      const landed = await signInThrough(browser, url, member.email);
      assert.ok(isCallback(landed.url), `expected no picker, got ${landed.response.status} ${landed.url}`);
      const claims = await accessTokenClaims(landed.url, verifier, state);
      assert.equal(claims.org_id, acme.tenantId);
      assert.equal(claims.org_name, 'ACME');
    });

    it('a third-party application asks for consent; deny sends access_denied to the redirect URI, allow a code', async () => {
      const thirdParty = await createApp({ name: 'Partner app', type: 'web', redirect_uris: [CALLBACK], first_party: false });
      const config = await discover(thirdParty);
      const user = await newUser();
      const browser = new Browser();
      const authorize = async (state: string, verifier: string) =>
        client.buildAuthorizationUrl(config, {
          redirect_uri: CALLBACK,
          scope: 'openid email',
          state,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        }).href;

      const consent = await signInThrough(browser, await authorize('deny-me', client.randomPKCECodeVerifier()), user.email);
      assert.equal(consent.response.status, 200, `expected the consent page, got ${consent.response.status} ${consent.url}`);
      const page = await consent.response.text();
      assert.match(page, /Allow access\?/);
      assert.match(page, /Partner app/);
      const form = formOf(page);
      const denied = await browser.submit(consent.url, form.action, { ...form.fields, decision: 'deny' }, isCallback);
      assert.ok(isCallback(denied.url), `got ${denied.response.status} ${denied.url}`);
      const params = new URL(denied.url).searchParams;
      assert.equal(params.get('error'), 'access_denied');
      assert.equal(params.get('state'), 'deny-me');
      assert.equal(params.get('code'), null);

      // Still signed in: the consent page comes again at once; allowing gives a code.
      const verifier = client.randomPKCECodeVerifier();
      const again = await browser.follow(await authorize('allow-me', verifier), isCallback);
      assert.equal(again.response.status, 200, `expected the consent page, got ${again.response.status} ${again.url}`);
      const allowForm = formOf(await again.response.text());
      const allowed = await browser.submit(again.url, allowForm.action, { ...allowForm.fields, decision: 'allow' }, isCallback);
      assert.ok(isCallback(allowed.url), `got ${allowed.response.status} ${allowed.url}`);
      const tokens = await client.authorizationCodeGrant(config, new URL(allowed.url), {
        pkceCodeVerifier: verifier,
        expectedState: 'allow-me',
      });
      assert.equal(tokens.claims()?.sub, user.id);
      assert.equal(tokens.claims()?.email, user.email);
    });
  });

  describe('device authorization grant', () => {
    it('device code → /activate (code, confirm, sign in) → polling returns tokens', async () => {
      const device = await createApp({ name: 'TV app', type: 'native', grant_types: [DEVICE_CODE] });
      const config = await discover(device, client.None());
      const user = await newUser();
      const started = await client.initiateDeviceAuthorization(config, { scope: 'openid email' });
      assert.equal(started.verification_uri, `${gh.issuer}/activate`);
      assert.match(started.user_code, /^[A-Z]{4}-[A-Z]{4}$/);

      const poll = () =>
        fetch(`${gh.issuer}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: DEVICE_CODE, device_code: started.device_code, client_id: device.client_id }),
        });
      const pending = await poll();
      assert.equal(pending.status, 400);
      assert.equal(((await pending.json()) as { error: string }).error, 'authorization_pending');

      const browser = new Browser();
      const input = await browser.follow(started.verification_uri);
      assert.equal(input.response.status, 200);
      const inputPage = await input.response.text();
      assert.match(inputPage, /name="user_code"/);
      const inputForm = formOf(inputPage);
      const confirm = await browser.submit(input.url, inputForm.action, { ...inputForm.fields, user_code: started.user_code });
      assert.equal(confirm.response.status, 200, `expected the confirmation, got ${confirm.response.status} ${confirm.url}`);
      const confirmPage = await confirm.response.text();
      assert.match(confirmPage, /TV app/);
      const confirmForm = formOf(confirmPage);
      const afterConfirm = await browser.submit(confirm.url, confirmForm.action, confirmForm.fields);
      assert.equal(afterConfirm.response.status, 200, `expected the sign-in page, got ${afterConfirm.response.status} ${afterConfirm.url}`);
      const signInPage = await afterConfirm.response.text();
      assert.match(signInPage, /<input[^>]*name="password"/);
      const signInForm = formOf(signInPage);
      const done = await browser.submit(afterConfirm.url, signInForm.action, {
        ...signInForm.fields,
        username: user.email,
        password: PASSWORD,
      });
      assert.equal(done.response.status, 200, `got ${done.response.status} ${done.url}`);
      assert.match(await done.response.text(), /Your device is signed in/);

      const tokens = await client.genericGrantRequest(config, DEVICE_CODE, { device_code: started.device_code });
      assert.ok(tokens.access_token);
      assert.equal(tokens.claims()?.sub, user.id);
      assert.equal(tokens.claims()?.email, user.email);
      assert.equal(tokens.claims()?.aud, device.client_id);
      assert.equal((await client.fetchUserInfo(config, tokens.access_token, user.id)).email, user.email);
      // Used once: polling again fails.
      const reused = await poll();
      assert.equal(reused.status, 400);
      assert.equal(((await reused.json()) as { error: string }).error, 'invalid_grant');
    });
  });
});
