import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportPKCS8, generateKeyPair } from 'jose';
import { PRESETS } from '../../../src/authn/federation/presets.js';
import { type Connection, FederationError, type RedirectStrategy } from '../../../src/authn/federation/strategy.js';
import { strategyContext, testConnection } from '../../helpers/federation-strategy.js';
import { CONTOSO_TID, MICROSOFT_CONSUMERS_TID, type SocialProvider, startSocialProvider } from '../../helpers/social-providers.js';

const REDIRECT_URI = 'https://gatehouse.test/login/callback';
const ctx = strategyContext();
const OTHER_TID = '11111111-2222-4333-8444-555555555555';

async function refused(promise: Promise<unknown>, code: FederationError['code'], reason?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FederationError, `not a FederationError: ${error}`);
    assert.equal(error.code, code, error.reason);
    if (reason) assert.match(error.reason, reason);
    return true;
  });
}

/** start → the provider's authorization endpoint (the person set on it signs in) → finish. */
async function signIn(strategy: RedirectStrategy, connection: Connection, provider: SocialProvider) {
  const state = `state-${Math.random()}`;
  const started = await strategy.start(ctx, connection, { redirectUri: REDIRECT_URI, state });
  assert.ok(started.url.startsWith(provider.baseUrl), `the authorization URL goes to base_url: ${started.url}`);
  const params = await provider.authorize(started.url);
  return { started, params, finish: () => strategy.finish(ctx, connection, { redirectUri: REDIRECT_URI, params, saved: started.saved }) };
}

describe('google-oauth2', () => {
  let google: SocialProvider;
  before(async () => {
    google = await startSocialProvider('google', { 'g-client': 'g-secret' });
  });
  after(() => google.close());
  const connection = (options: Record<string, unknown> = {}) =>
    testConnection('google-oauth2', { client_id: 'g-client', base_url: google.baseUrl, ...options }, { client_secret: 'g-secret' });

  it('signs in with the ID token and userinfo, keeping hd in the claims', async () => {
    google.person = {
      sub: '1070001',
      email: 'ada@example.com',
      email_verified: true,
      name: 'Ada L',
      given_name: 'Ada',
      picture: 'https://lh3.example/a.png',
      hd: 'example.com',
    };
    const { started, finish } = await signIn(PRESETS['google-oauth2'], connection(), google);
    const url = new URL(started.url);
    assert.equal(url.pathname, '/o/oauth2/v2/auth');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('scope'), 'openid profile email');
    const profile = await finish();
    assert.equal(google.lastTokenRequest?.auth, 'basic', 'discovery lists client_secret_basic');
    assert.deepEqual(
      [profile.provider, profile.subject, profile.email, profile.emailVerified, profile.givenName, profile.picture, profile.claims.hd],
      ['google-oauth2', '1070001', 'ada@example.com', true, 'Ada', 'https://lh3.example/a.png', 'example.com'],
    );
  });

  it('refuses an account outside allowed_hd (the hd claim, not the hint)', async () => {
    google.person = { sub: '1070002', email: 'eve@gmail.com', email_verified: true };
    const { started, finish } = await signIn(PRESETS['google-oauth2'], connection({ allowed_hd: ['example.com'] }), google);
    assert.equal(new URL(started.url).searchParams.get('hd'), 'example.com');
    await refused(finish(), 'invalid_response', /allowed domain/);
  });

  it('takes email_verified only as the boolean true', async () => {
    google.person = { sub: '1070003', email: 'bob@example.com', email_verified: 'true' };
    const { finish } = await signIn(PRESETS['google-oauth2'], connection(), google);
    assert.equal((await finish()).emailVerified, false);
  });

  it('refuses an ID token not signed by a key of the JWKS', async () => {
    google.person = { sub: '1070004', email: 'ada@example.com', email_verified: true };
    google.foreignKey = true;
    try {
      await refused((await signIn(PRESETS['google-oauth2'], connection(), google)).finish(), 'invalid_response');
    } finally {
      google.foreignKey = false;
    }
  });

  it('refuses a userinfo answer about another person than the ID token', async () => {
    google.person = { sub: '1070005', email: 'ada@example.com', email_verified: true };
    google.idTokenOverrides = { sub: '9999999' };
    try {
      await refused((await signIn(PRESETS['google-oauth2'], connection(), google)).finish(), 'invalid_response', /sub/);
    } finally {
      google.idTokenOverrides = {};
    }
  });

  it('refuses base_url in production', async () => {
    const production = strategyContext({ production: true });
    await refused(
      PRESETS['google-oauth2'].start(production, connection(), { redirectUri: REDIRECT_URI, state: 's' }),
      'misconfigured',
      /base_url/,
    );
  });
});

describe('waad (Entra ID) and windowslive', () => {
  let microsoft: SocialProvider;
  before(async () => {
    microsoft = await startSocialProvider('microsoft', { 'ms-client': 'ms-secret' });
  });
  after(() => microsoft.close());
  const connection = (strategy: 'waad' | 'windowslive', options: Record<string, unknown> = {}) =>
    testConnection(strategy, { client_id: 'ms-client', base_url: microsoft.baseUrl, ...options }, { client_secret: 'ms-secret' });
  const person = (tid: string, extra: Record<string, unknown> = {}) => ({
    sub: 'pairwise-sub',
    tid,
    oid: 'a0a0a0a0-0000-4000-8000-000000000001',
    email: 'ada@contoso.com',
    preferred_username: 'ada@contoso.com',
    name: 'Ada',
    ...extra,
  });

  it('single tenant by domain: the subject is tid:oid, never the email; email unverified without xms_edov', async () => {
    microsoft.idTokenOverrides = {};
    microsoft.person = person(CONTOSO_TID);
    const { started, finish } = await signIn(PRESETS.waad, connection('waad', { tenant_domain: 'contoso.onmicrosoft.com' }), microsoft);
    assert.equal(new URL(started.url).pathname, '/contoso.onmicrosoft.com/oauth2/v2.0/authorize');
    const profile = await finish();
    assert.equal(profile.subject, `${CONTOSO_TID}:a0a0a0a0-0000-4000-8000-000000000001`);
    assert.equal(profile.provider, 'waad');
    assert.equal(profile.email, 'ada@contoso.com');
    assert.equal(profile.emailVerified, false);
  });

  it('takes the email as verified with xms_edov: true', async () => {
    microsoft.idTokenOverrides = {};
    microsoft.person = person(CONTOSO_TID, { xms_edov: true });
    const { finish } = await signIn(PRESETS.waad, connection('waad', { tenant_domain: 'contoso.onmicrosoft.com' }), microsoft);
    assert.equal((await finish()).emailVerified, true);
  });

  it('single tenant: refuses a token of another tenant', async () => {
    microsoft.idTokenOverrides = {};
    microsoft.person = person(OTHER_TID);
    const { finish } = await signIn(PRESETS.waad, connection('waad', { tenant_id: CONTOSO_TID }), microsoft);
    await refused(finish(), 'invalid_response');
  });

  it('multi-tenant: accepts any tenant by the issuer template, and only allowed_tenants when listed', async () => {
    microsoft.idTokenOverrides = {};
    microsoft.person = person(OTHER_TID);
    const any = await signIn(PRESETS.waad, connection('waad', { tenant_id: 'common' }), microsoft);
    assert.equal((await any.finish()).subject, `${OTHER_TID}:a0a0a0a0-0000-4000-8000-000000000001`);
    const listed = await signIn(
      PRESETS.waad,
      connection('waad', { tenant_id: 'organizations', allowed_tenants: [CONTOSO_TID] }),
      microsoft,
    );
    await refused(listed.finish(), 'invalid_response', /not allowed/);
  });

  it('multi-tenant: refuses a token whose iss names another tenant than its tid', async () => {
    microsoft.person = person(CONTOSO_TID);
    microsoft.idTokenOverrides = { iss: `https://login.microsoftonline.com/${OTHER_TID}/v2.0` };
    const { finish } = await signIn(PRESETS.waad, connection('waad', { tenant_id: 'common' }), microsoft);
    await refused(finish(), 'invalid_response');
    microsoft.idTokenOverrides = {};
  });

  it('refuses a token without oid (the subject is never the email)', async () => {
    microsoft.idTokenOverrides = {};
    microsoft.person = { ...person(CONTOSO_TID), oid: undefined };
    const { finish } = await signIn(PRESETS.waad, connection('waad', { tenant_id: CONTOSO_TID }), microsoft);
    await refused(finish(), 'invalid_response', /oid/);
  });

  it('windowslive: personal accounts at the consumers tenant', async () => {
    microsoft.idTokenOverrides = {};
    microsoft.person = person(MICROSOFT_CONSUMERS_TID, { sub: 'msa-sub', email: 'ada@outlook.com' });
    const { started, finish } = await signIn(PRESETS.windowslive, connection('windowslive'), microsoft);
    assert.equal(new URL(started.url).pathname, '/consumers/oauth2/v2.0/authorize');
    const profile = await finish();
    assert.deepEqual(
      [profile.provider, profile.subject, profile.email, profile.emailVerified],
      ['windowslive', 'msa-sub', 'ada@outlook.com', false],
    );
  });
});

describe('apple', () => {
  let apple: SocialProvider;
  let appSecret: string;
  before(async () => {
    apple = await startSocialProvider('apple', { 'com.example.web': '' });
    const keys = await generateKeyPair('ES256', { extractable: true });
    appSecret = await exportPKCS8(keys.privateKey);
    apple.apple = { publicKey: keys.publicKey, teamId: 'TEAM123456', kid: 'KEY1234567' };
  });
  after(() => apple.close());
  const connection = (secret = appSecret) =>
    testConnection(
      'apple',
      { client_id: 'com.example.web', team_id: 'TEAM123456', kid: 'KEY1234567', base_url: apple.baseUrl },
      { app_secret: secret },
    );

  it('signs the client secret (ES256 JWT), gets the code by form_post and keeps the name of the user field', async () => {
    apple.person = { sub: '000123.abc', email: 'x1@privaterelay.appleid.com', email_verified: 'true', is_private_email: 'true' };
    apple.appleUser = JSON.stringify({ name: { firstName: 'Ada', lastName: 'Lovelace' }, email: 'x1@privaterelay.appleid.com' });
    const { started, finish } = await signIn(PRESETS.apple, connection(), apple);
    const url = new URL(started.url);
    assert.equal(url.searchParams.get('response_mode'), 'form_post');
    assert.equal(url.searchParams.get('scope'), 'name email');
    const profile = await finish();
    const secret = apple.lastTokenRequest?.appleSecret;
    assert.ok(secret, 'the token endpoint verified the client secret');
    assert.equal(secret.header.kid, 'KEY1234567');
    assert.equal(secret.payload.iss, 'TEAM123456');
    assert.equal(secret.payload.sub, 'com.example.web');
    assert.equal(secret.payload.aud, 'https://appleid.apple.com');
    assert.ok((secret.payload.exp as number) - (secret.payload.iat as number) <= 15_777_000);
    assert.deepEqual(
      [profile.provider, profile.subject, profile.email, profile.emailVerified, profile.givenName, profile.familyName, profile.name],
      ['apple', '000123.abc', 'x1@privaterelay.appleid.com', true, 'Ada', 'Lovelace', 'Ada Lovelace'],
    );
  });

  it('is refused by Apple when the client secret is signed with another key', async () => {
    apple.person = { sub: '000123.abc' };
    apple.appleUser = undefined;
    const other = await exportPKCS8((await generateKeyPair('ES256', { extractable: true })).privateKey);
    const { finish } = await signIn(PRESETS.apple, connection(other), apple);
    await refused(finish(), 'provider_error', /invalid_client/);
  });
});

describe('github', () => {
  let github: SocialProvider;
  before(async () => {
    github = await startSocialProvider('github', { 'gh-client': 'gh-secret' });
  });
  after(() => github.close());
  const connection = (secret = 'gh-secret') =>
    testConnection('github', { client_id: 'gh-client', base_url: github.baseUrl }, { client_secret: secret });

  it('takes the primary verified email of /user/emails as verified', async () => {
    github.person = {
      id: 583231,
      login: 'octocat',
      name: 'The Octocat',
      email: 'public@example.com',
      avatar_url: 'https://avatars.example/u/583231',
    };
    github.emails = [
      { email: 'public@example.com', primary: false, verified: true, visibility: null },
      { email: 'octo@example.com', primary: true, verified: true, visibility: 'private' },
    ];
    const { started, finish } = await signIn(PRESETS.github, connection(), github);
    assert.equal(new URL(started.url).pathname, '/login/oauth/authorize');
    const profile = await finish();
    assert.deepEqual(
      [profile.provider, profile.subject, profile.email, profile.emailVerified, profile.name, profile.picture],
      ['github', '583231', 'octo@example.com', true, 'The Octocat', 'https://avatars.example/u/583231'],
    );
  });

  it('does not take an unverified primary email as verified', async () => {
    github.person = { id: 7, login: 'newbie', name: null, email: 'new@example.com' };
    github.emails = [{ email: 'new@example.com', primary: true, verified: false, visibility: 'public' }];
    const profile = await (await signIn(PRESETS.github, connection(), github)).finish();
    assert.deepEqual([profile.subject, profile.email, profile.emailVerified, profile.name], ['7', 'new@example.com', false, 'newbie']);
  });

  it('reports a wrong client secret (an error in a 200 answer) as provider_error', async () => {
    github.person = { id: 7, login: 'newbie' };
    await refused((await signIn(PRESETS.github, connection('wrong'), github)).finish(), 'provider_error', /incorrect_client_credentials/);
  });
});

describe('facebook', () => {
  let facebook: SocialProvider;
  before(async () => {
    facebook = await startSocialProvider('facebook', { 'fb-app': 'fb-secret' });
  });
  after(() => facebook.close());
  const connection = (secret = 'fb-secret') =>
    testConnection('facebook', { client_id: 'fb-app', base_url: facebook.baseUrl }, { client_secret: secret });

  it('reads /me with its fields and never takes the email as verified', async () => {
    facebook.person = {
      id: '10158',
      name: 'Ada Lovelace',
      first_name: 'Ada',
      last_name: 'Lovelace',
      email: 'ada@example.com',
      picture: { data: { url: 'https://fb.example/p.jpg' } },
    };
    const { started, finish } = await signIn(PRESETS.facebook, connection(), facebook);
    assert.equal(new URL(started.url).pathname, '/v19.0/dialog/oauth');
    const profile = await finish();
    assert.deepEqual(
      [profile.provider, profile.subject, profile.email, profile.emailVerified, profile.givenName, profile.familyName, profile.picture],
      ['facebook', '10158', 'ada@example.com', false, 'Ada', 'Lovelace', 'https://fb.example/p.jpg'],
    );
  });

  it('reports a wrong client secret as provider_error', async () => {
    facebook.person = { id: '10158' };
    await refused((await signIn(PRESETS.facebook, connection('wrong'), facebook)).finish(), 'provider_error');
  });
});
