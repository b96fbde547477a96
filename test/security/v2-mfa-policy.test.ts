import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import { PASSWORD, startGatehouse, type TenantAdmin } from '../helpers/gatehouse.js';
import { Browser, formOf, passwordSignIn, startListeningGatehouse } from '../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const atCallback = (location: string) => location.startsWith(CALLBACK);
const MFA_STEP = /\/interaction\/[\w-]+\/mfa$/;

/**
 * Issue 12, item 3 (ASVS V2): a tenant's "MFA required" cannot be skipped through another
 * tenant's application. The chosen organization's policy, the user's home tenant's and the
 * application's all apply, the strictest wins, on every path, and a change holds for the
 * very next request (decision 190).
 */
describe('issue 12 item 3: MFA policies hold through any application, on every path', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let admin: string;
  let alpha: TenantAdmin;
  let beta: TenantAdmin;
  /** Homed in alpha (MFA optional), TENANT_ADMIN of beta (MFA required), no factor. */
  const outsider = { email: 'olga@alpha.test', id: '' };
  let platform: { client_id: string; client_secret: string };
  let config: client.Configuration;
  /** The server's clock runs ahead by `ahead` ms: each TOTP code below falls in its own time step. */
  let ahead = 0;
  const clock = { now: () => new Date(Date.now() + ahead) };

  const setMfa = (tenant: TenantAdmin, policy: string) =>
    gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}/policies`, { token: tenant.token, body: { mfa: { policy } } });
  const discover = (app: { client_id: string; client_secret: string }) =>
    client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, { execute: [client.allowInsecureRequests] });
  const tokenRequest = (fields: Record<string, string>) =>
    fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: platform.client_id, client_secret: platform.client_secret, ...fields }),
    });

  /** An authorization request of the platform application, through the sign-in page and the password: where the browser lands. */
  async function signInThrough(browser: Browser, conf: client.Configuration, email: string, extra: Record<string, string> = {}) {
    const next = await passwordSignIn(browser, conf, { callback: CALLBACK, email, password: PASSWORD, params: extra });
    return { ...next, page: next.atCallback ? '' : await next.response.text() };
  }

  before(async () => {
    gh = await startListeningGatehouse({ clock });
    admin = await gh.adminToken();
    alpha = await gh.tenantWithAdmin('alpha');
    beta = await gh.tenantWithAdmin('beta');
    assert.equal((await setMfa(beta, 'required')).status, 200);
    outsider.id = await gh.createUser(alpha.token, { email: outsider.email, password: PASSWORD });
    const roles = await gh.systemRoleIds();
    await gh.created(`/api/v1/tenants/${beta.tenantId}/members`, admin, { userId: outsider.id, roles: [roles.TENANT_ADMIN] });
    // A platform application: made by a system administrator, in the system tenant (MFA optional).
    platform = await gh.created('/api/v1/applications', admin, {
      name: 'Platform portal',
      type: 'web',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token', 'password', DEVICE_CODE],
    });
    config = await discover(platform);
  });
  after(() => gh.stop());

  it('B’s administrator signs in through a system-tenant application with organization=B: the password alone issues no code', async () => {
    const landed = await signInThrough(new Browser(), config, beta.adminEmail, { organization: beta.tenantId, audience: gh.issuer });
    assert.ok(!atCallback(landed.url), `a code was issued with the password alone: ${landed.url}`);
    assert.match(landed.url, MFA_STEP);
    assert.match(landed.page, /Set up two-step verification/);
  });

  it('a member of B homed elsewhere (MFA optional there) naming organization=B must do MFA too: the organization’s policy applies', async () => {
    const landed = await signInThrough(new Browser(), config, outsider.email, { organization: beta.tenantId });
    assert.ok(!atCallback(landed.url), `a code was issued with the password alone: ${landed.url}`);
    assert.match(landed.url, MFA_STEP);
  });

  it('an organization picked after the password brings the user back to the MFA step before any code is issued', async () => {
    const picking = await gh.created('/api/v1/applications', admin, {
      name: 'Picking portal',
      type: 'web',
      redirect_uris: [CALLBACK],
      organization_required: true,
    });
    const browser = new Browser();
    const picker = await signInThrough(browser, await discover(picking), outsider.email);
    assert.match(picker.page, new RegExp(`value="${beta.tenantId}"`), 'the picker offers B');
    const { action, fields } = formOf(picker.page);
    const chosen = await browser.submit(picker.url, action, { ...fields, organization: beta.tenantId }, atCallback);
    assert.ok(!atCallback(chosen.url), `a code for B was issued with the password alone: ${chosen.url}`);
    assert.match(chosen.url, MFA_STEP);
  });

  it('the device flow with organization=B asks for the second factor after the password', async () => {
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid', organization: beta.tenantId });
    const browser = new Browser();
    const input = await browser.follow(started.verification_uri);
    const inputForm = formOf(await input.response.text());
    const confirm = await browser.submit(input.url, inputForm.action, { ...inputForm.fields, user_code: started.user_code });
    const confirmForm = formOf(await confirm.response.text());
    const signIn = await browser.submit(confirm.url, confirmForm.action, confirmForm.fields);
    const signInForm = formOf(await signIn.response.text());
    const done = await browser.submit(signIn.url, signInForm.action, {
      ...signInForm.fields,
      username: outsider.email,
      password: PASSWORD,
    });
    assert.doesNotMatch(await done.response.text(), /Your device is signed in/);
    assert.match(done.url, MFA_STEP);
  });

  it('the password grant of a system-tenant application answers mfa_required for B’s administrator (the home tenant’s policy)', async () => {
    const response = await tokenRequest({ grant_type: 'password', username: beta.adminEmail, password: PASSWORD, audience: gh.issuer });
    const body = (await response.json()) as { error?: string; mfa_token?: string; access_token?: string };
    assert.equal(response.status, 403, JSON.stringify(body));
    assert.equal(body.error, 'mfa_required');
    assert.equal(body.access_token, undefined);
    assert.ok(body.mfa_token);
  });

  it('a refresh token stops working at once when its organization starts requiring MFA, and the refusal spends nothing', async () => {
    const gamma = await gh.tenantWithAdmin('gamma');
    await gh.createUser(gamma.token, { email: 'gil@gamma.test', password: PASSWORD });
    const signedIn = await signInThrough(new Browser(), config, 'gil@gamma.test', {
      organization: gamma.tenantId,
      scope: 'openid offline_access',
    });
    assert.ok(atCallback(signedIn.url), 'MFA optional, no factor: the password is enough');
    const tokens = await client.authorizationCodeGrant(config, new URL(signedIn.url), { pkceCodeVerifier: signedIn.verifier });
    const refreshToken = tokens.refresh_token as string;
    assert.ok(refreshToken);

    assert.equal((await setMfa(gamma, 'required')).status, 200);
    const refused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken });
    const body = (await refused.json()) as { error?: string; access_token?: string };
    assert.equal(refused.status, 400, JSON.stringify(body));
    assert.equal(body.error, 'invalid_grant');
    assert.equal(body.access_token, undefined);

    // Checked before rotation: with the policy back, the same refresh token still works.
    assert.equal((await setMfa(gamma, 'optional')).status, 200);
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken });
    assert.equal(refreshed.status, 200);
  });

  it('OIH POST /api/v1/token: a password-only session gets no token once its home tenant requires MFA, whichever organization it names', async () => {
    const refused = await gh.request('POST', '/api/v1/token', {
      token: await gh.signIn(outsider.email, PASSWORD),
      body: { organization: beta.tenantId },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'mfa_step_required');

    const epsilon = await gh.tenantWithAdmin('epsilon');
    const id = await gh.createUser(epsilon.token, { email: 'eva@epsilon.test', password: PASSWORD });
    await gh.created(`/api/v1/tenants/${alpha.tenantId}/members`, admin, { userId: id });
    const session = await gh.signIn('eva@epsilon.test', PASSWORD);
    assert.equal((await setMfa(epsilon, 'required')).status, 200);
    // Alpha (MFA optional) is named, but the user's home tenant now requires MFA.
    const elsewhere = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: alpha.tenantId } });
    assert.equal(elsewhere.status, 403, JSON.stringify(elsewhere.body));
    assert.equal(elsewhere.body.error, 'mfa_step_required');
  });

  it('no cache window: a policy switched on at one node holds for the next token request at another', async () => {
    const delta = await gh.tenantWithAdmin('delta');
    await gh.createUser(delta.token, { email: 'dora@delta.test', password: PASSWORD });
    const other = await startGatehouse({ sameDatabaseAs: gh });
    try {
      const session = await other.signIn('dora@delta.test', PASSWORD);
      const before = await other.request('POST', '/api/v1/token', { token: session, body: { organization: delta.tenantId } });
      assert.equal(before.status, 200, 'MFA optional, no factor: a token');
      assert.equal((await setMfa(delta, 'required')).status, 200);
      const after = await other.request('POST', '/api/v1/token', { token: session, body: { organization: delta.tenantId } });
      assert.equal(after.status, 403, `the other node still answered ${after.status}`);
      assert.equal(after.body.error, 'mfa_step_required');
    } finally {
      await other.stop();
    }
  });

  /** What an authenticator app shows for `secret`, in the next time step of the server's clock. */
  const nextTotp = (secret: string) => {
    ahead += 30_000;
    return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 }).generate({
      timestamp: clock.now().getTime(),
    });
  };

  it('B allows only passkeys: an authenticator app enrolled at home proves nothing for B, hosted or OIH (decision 198)', async () => {
    const theta = await gh.tenantWithAdmin('theta');
    const patch = (mfa: Record<string, unknown>) =>
      gh.request('PATCH', `/api/v1/tenants/${theta.tenantId}/policies`, { token: theta.token, body: { mfa } });
    // A tenant cannot make MFA impossible: an empty list of factors is refused.
    const empty = await patch({ policy: 'required', factors: [] });
    assert.equal(empty.status, 400, JSON.stringify(empty.body));
    assert.equal(empty.body.error, 'invalid_field');
    assert.equal((await patch({ policy: 'required', factors: ['webauthn'] })).status, 200);

    // Homed in alpha (MFA optional, every factor allowed), a member of B, with a TOTP factor only.
    const id = await gh.createUser(alpha.token, { email: 'tom@alpha.test', password: PASSWORD });
    await gh.created(`/api/v1/tenants/${theta.tenantId}/members`, admin, { userId: id });
    const session = await gh.signIn('tom@alpha.test', PASSWORD);
    const enrolled = await gh.request('POST', '/api/v1/users/me/mfa/otp', { token: session, body: {} });
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolled.body.id}/confirm`, {
      token: session,
      body: { otp: nextTotp(enrolled.body.secret) },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));

    // OIH: the session proved a TOTP (amr otp, mfa): no token for B.
    const refused = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: theta.tenantId } });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'mfa_step_required');
    const home = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: alpha.tenantId } });
    assert.equal(home.status, 200, 'at home the same session gets its token');

    // Hosted sign-in with organization=B: the authenticator app is not offered, and no code is issued.
    const browser = new Browser();
    const landed = await signInThrough(browser, config, 'tom@alpha.test', { organization: theta.tenantId });
    assert.ok(!atCallback(landed.url), `a code was issued: ${landed.url}`);
    assert.match(landed.url, MFA_STEP);
    const otpForm = [...landed.page.matchAll(/<form[\s\S]*?<\/form>/g)].find((form) => form[0].includes('name="method" value="otp"'));
    if (otpForm) {
      const { action, fields } = formOf(otpForm[0]);
      const answered = await browser.submit(landed.url, action, { ...fields, code: nextTotp(enrolled.body.secret) }, atCallback);
      assert.ok(!atCallback(answered.url), `a TOTP answer issued a code for B: ${answered.url}`);
    }
    assert.equal(otpForm, undefined, 'the authenticator app is offered for B');
  });
});
