/**
 * Issue 18, part 2: the flows that span several requests complete while each request lands
 * on another node (HAProxy round-robin, no sticky sessions), and a change made on one node
 * holds on the others within one second (keys, retire_now, policies).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { Browser, formOf } from '../helpers/oidc.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, type Cluster, PASSWORD, startCluster } from './cluster.js';
import { onEveryNode, recordVisits } from './visits.js';

const CALLBACK = 'http://localhost:4000/callback';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
const API = 'https://orders.cluster.test';
const HOLDS_API = 'https://holds.cluster.test';
const atCallback = (location: string) => location.startsWith(CALLBACK);

/** A form on the page whose hidden `method` field is `method` (the MFA page has several). */
function formWith(page: string, method: string) {
  for (const match of page.matchAll(/<form[\s\S]*?<\/form>/g)) {
    if (match[0].includes(`name="method" value="${method}"`)) return formOf(match[0]);
  }
  throw new Error(`No ${method} form on the page:\n${page.slice(0, 3000)}`);
}

const totp = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate();

describe('three nodes behind HAProxy: flows and holds', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let admin: string;
  let tenant: string;
  let users = 0;

  const call = async (method: string, path: string, body?: unknown, token?: string, form = false) =>
    cluster.request(path, {
      method,
      headers: {
        ...(body !== undefined && { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      ...(body !== undefined && {
        body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
      }),
    });
  const created = async (path: string, body: unknown) => {
    const answer = await call('POST', path, body, admin);
    assert.equal(answer.status, 201, `${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  const newUser = async () => {
    const email = `user${++users}@cluster.test`;
    const user = await created('/api/v1/users', { email, password: PASSWORD, tenant });
    return { id: user.id as string, email };
  };
  const discover = (app: { client_id: string; client_secret?: string }, auth?: client.ClientAuth) =>
    client.discovery(new URL(cluster.url), app.client_id, undefined, auth ?? client.ClientSecretBasic(app.client_secret as string), {
      execute: [client.allowInsecureRequests],
    });

  before(async () => {
    cluster = await startCluster();
    recordVisits(cluster.url);
    admin = await cluster.adminToken();
    tenant = (await created('/api/v1/tenants', { slug: 'acme', name: 'Acme' })).id;
    const policies = await call('PATCH', `/api/v1/tenants/${tenant}/policies`, { mfa: { policy: 'required' } }, admin);
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
  });
  after(() => cluster?.stop());

  it('the hosted code flow with MFA enrolment and consent, then a refresh, each request on another node', async () => {
    const app = await created('/api/v1/applications', {
      name: 'Partner portal',
      type: 'web',
      tenant,
      first_party: false,
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    const user = await newUser();
    const config = await discover(app);
    await onEveryNode(async () => {
      const browser = new Browser();
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid email offline_access',
        prompt: 'consent',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'cluster',
      });
      const opened = await browser.follow(url.href, atCallback);
      assert.equal(opened.response.status, 200, `expected the sign-in page, got ${opened.response.status} ${opened.url}`);
      const signIn = formOf(await opened.response.text());
      const mfa = await browser.submit(
        opened.url,
        signIn.action,
        { ...signIn.fields, username: user.email, password: PASSWORD },
        atCallback,
      );
      assert.equal(mfa.response.status, 200, `expected the MFA page, got ${mfa.response.status} ${mfa.url}`);
      const enrolPage = await mfa.response.text();
      assert.match(enrolPage, /Set up two-step verification/);
      const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(enrolPage)?.[1] as string;
      const enrol = formWith(enrolPage, 'enrol');
      const codes = await browser.submit(mfa.url, enrol.action, { ...enrol.fields, code: totp(secret) });
      assert.equal(codes.response.status, 200, `expected the recovery codes, got ${codes.response.status} ${codes.url}`);
      const proceed = formWith(await codes.response.text(), 'continue');
      const consent = await browser.submit(codes.url, proceed.action, proceed.fields, atCallback);
      assert.equal(consent.response.status, 200, `expected the consent page, got ${consent.response.status} ${consent.url}`);
      const consentPage = await consent.response.text();
      assert.match(consentPage, /Allow access\?/);
      const allow = formOf(consentPage);
      const landed = await browser.submit(consent.url, allow.action, { ...allow.fields, decision: 'allow' }, atCallback);
      assert.ok(atCallback(landed.url), `expected the callback, got ${landed.response.status} ${landed.url}`);
      const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), {
        pkceCodeVerifier: verifier,
        expectedState: 'cluster',
      });
      const claims = tokens.claims();
      assert.equal(claims?.sub, user.id);
      assert.deepEqual([...((claims?.amr as string[]) ?? [])].sort(), ['mfa', 'otp', 'pwd']);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
      assert.equal((await client.fetchUserInfo(config, refreshed.access_token, user.id)).email, user.email);
    });
  });

  it('sign-up with email verification through a real SMTP peer, each request on another node', async () => {
    const open = await call('PATCH', `/api/v1/tenants/${tenant}/policies`, { signup: { enabled: true } }, admin);
    assert.equal(open.status, 200, JSON.stringify(open.body));
    const app = await created('/api/v1/applications', { name: 'Sign-up portal', type: 'web', tenant, redirect_uris: [CALLBACK] });
    const email = 'ada@signup.cluster.test';
    await onEveryNode(async () => {
      const flow = await call('POST', '/api/v1/flows/registration', { client_id: app.client_id });
      assert.equal(flow.status, 201, JSON.stringify(flow.body));
      const submitted = await call('POST', `/api/v1/flows/registration/${flow.body.id}`, { email, password: PASSWORD });
      assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
      assert.equal(submitted.body.state, 'verify_email');
      const refused = await call('POST', '/api/v1/session', { username: email, password: PASSWORD });
      assert.equal(refused.body.error, 'email_not_verified');
      const mail = await cluster.smtp.next(email, 15_000);
      const code = /(\d{6})\s*\n/.exec(mail.text.split('Your code:')[1] ?? '')?.[1] as string;
      assert.match(code, /^\d{6}$/);
      const verified = await call('POST', `/api/v1/flows/verification/${submitted.body.verification_flow.id}`, { code });
      assert.equal(verified.status, 200, JSON.stringify(verified.body));
      assert.equal(verified.body.state, 'verified');
      // The tenant requires MFA: the verified user gets as far as the MFA step.
      const signedIn = await call('POST', '/api/v1/session', { username: email, password: PASSWORD });
      assert.equal(signedIn.body.error, 'mfa_required', JSON.stringify(signedIn.body));
    });
  });

  it('the device flow, each request on another node', async () => {
    // An MFA-free tenant for the device user (the hosted MFA step is covered above).
    const plain = (await created('/api/v1/tenants', { slug: 'plain', name: 'Plain' })).id;
    const device = await created('/api/v1/applications', { name: 'TV', type: 'native', tenant: plain, grant_types: [DEVICE_CODE] });
    const deviceConfig = await discover(device, client.None());
    const email = 'tv@plain.cluster.test';
    await created('/api/v1/users', { email, password: PASSWORD, tenant: plain });
    await onEveryNode(async () => {
      const started = await client.initiateDeviceAuthorization(deviceConfig, { scope: 'openid email' });
      const browser = new Browser();
      const input = await browser.follow(started.verification_uri);
      const inputForm = formOf(await input.response.text());
      const confirm = await browser.submit(input.url, inputForm.action, { ...inputForm.fields, user_code: started.user_code });
      assert.equal(confirm.response.status, 200, `expected the confirmation, got ${confirm.response.status} ${confirm.url}`);
      const confirmForm = formOf(await confirm.response.text());
      const signIn = await browser.submit(confirm.url, confirmForm.action, confirmForm.fields);
      assert.equal(signIn.response.status, 200, `expected the sign-in page, got ${signIn.response.status} ${signIn.url}`);
      const signInForm = formOf(await signIn.response.text());
      const done = await browser.submit(signIn.url, signInForm.action, { ...signInForm.fields, username: email, password: PASSWORD });
      assert.match(await done.response.text(), /Your device is signed in/);
      const tokens = await client.genericGrantRequest(deviceConfig, DEVICE_CODE, { device_code: started.device_code });
      assert.equal(tokens.claims()?.email, email);
    });
  });

  it('the Auth0 MFA API (mfa_token, /mfa/associate, /mfa/challenge, mfa-otp), each request on another node; a code used on one node is refused on the others', async () => {
    await created('/api/v1/apis', { identifier: API, name: 'Orders', tenant });
    const app = await created('/api/v1/applications', { name: 'MFA API app', type: 'web', tenant, grant_types: ['password', MFA_OTP] });
    const user = await newUser();
    const passwordGrant = () =>
      call(
        'POST',
        '/oauth/token',
        { grant_type: 'password', username: user.email, password: PASSWORD, audience: API, scope: 'openid', ...app },
        undefined,
        true,
      );
    const otpGrant = (mfaToken: string, otp: string) =>
      call('POST', '/oauth/token', { grant_type: MFA_OTP, mfa_token: mfaToken, otp, ...app }, undefined, true);
    await onEveryNode(async () => {
      const one = await passwordGrant();
      assert.equal(one.status, 403, JSON.stringify(one.body));
      assert.equal(one.body.error, 'mfa_required');
      const associated = await call('POST', '/mfa/associate', { authenticator_types: ['otp'] }, one.body.mfa_token);
      assert.equal(associated.status, 200, JSON.stringify(associated.body));
      const challenge = await call('POST', '/mfa/challenge', {
        client_id: app.client_id,
        client_secret: app.client_secret,
        challenge_type: 'otp',
        mfa_token: one.body.mfa_token,
      });
      assert.deepEqual(challenge.body, { challenge_type: 'otp' });
      const code = totp(associated.body.secret);
      const tokens = await otpGrant(one.body.mfa_token, code);
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      assert.deepEqual(decodeJwt(tokens.body.access_token).amr, ['pwd', 'otp', 'mfa']);
      // The same code, on the next two nodes: refused on each (the replay guard is shared).
      for (let i = 0; i < 2; i++) {
        const again = await passwordGrant();
        const replay = await otpGrant(again.body.mfa_token, code);
        assert.equal(replay.body.error, 'invalid_grant', JSON.stringify(replay.body));
      }
    });
  });

  it('refresh-token rotation and reuse detection, each request on another node', async () => {
    const plain = (await created('/api/v1/tenants', { slug: 'rotation', name: 'Rotation' })).id;
    const app = await created('/api/v1/applications', {
      name: 'Rotator',
      type: 'web',
      tenant: plain,
      grant_types: ['password', 'refresh_token'],
    });
    const email = 'rotor@rotation.cluster.test';
    await created('/api/v1/users', { email, password: PASSWORD, tenant: plain });
    const token = (fields: Record<string, string>) => call('POST', '/oauth/token', { ...fields, ...app }, undefined, true);
    await onEveryNode(async () => {
      const first = await token({ grant_type: 'password', username: email, password: PASSWORD, scope: 'openid offline_access' });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const chain = [first.body.refresh_token as string];
      for (let i = 0; i < 4; i++) {
        const next = await token({ grant_type: 'refresh_token', refresh_token: chain.at(-1) as string });
        assert.equal(next.status, 200, `rotation ${i + 1}: ${JSON.stringify(next.body)}`);
        assert.ok(!chain.includes(next.body.refresh_token), 'a new refresh token each time');
        chain.push(next.body.refresh_token);
      }
      const reused = await token({ grant_type: 'refresh_token', refresh_token: chain[1] as string });
      assert.equal(reused.body.error, 'invalid_grant', 'a rotated token reused on another node');
      const newest = await token({ grant_type: 'refresh_token', refresh_token: chain.at(-1) as string });
      assert.equal(newest.body.error, 'invalid_grant', 'the reuse revoked the whole family, on every node');
    });
  });

  describe('holds within one second on every node', () => {
    let machine: { client_id: string; client_secret: string };

    const direct = async (node: number, method: string, path: string, body?: Record<string, string>, token?: string) => {
      const response = await fetch(`${cluster.nodes[node]?.url}${path}`, {
        method,
        headers: {
          ...(body && { 'content-type': path.startsWith('/oauth') ? 'application/x-www-form-urlencoded' : 'application/json' }),
          ...(token && { authorization: `Bearer ${token}` }),
        },
        ...(body && { body: path.startsWith('/oauth') ? new URLSearchParams(body).toString() : JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };
    const machineToken = async (node: number) => {
      const answer = await direct(node, 'POST', '/oauth/token', { grant_type: 'client_credentials', audience: HOLDS_API, ...machine });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.access_token as string;
    };
    const jwks = async (node: number) =>
      ((await direct(node, 'GET', '/.well-known/jwks.json')).body.keys as { kid: string }[]).map((k) => k.kid);
    /** Polls `check` on node `node` until it holds; the milliseconds that took (fails past `limitMs`). */
    const within = async (limitMs: number, node: number, what: string, check: () => Promise<boolean>) => {
      const start = Date.now();
      for (;;) {
        if (await check()) return Date.now() - start;
        if (Date.now() - start > limitMs) assert.fail(`${what} did not hold on ${cluster.nodes[node]?.name} within ${limitMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    const adminTokenOn = async (node: number) => {
      const session = await direct(node, 'POST', '/api/v1/session', { username: ADMIN_EMAIL, password: ADMIN_PASSWORD });
      const token = await direct(node, 'POST', '/api/v1/token', { organization: 'system' }, session.body.token);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      return token.body.token as string;
    };
    /** Every node has read (and cached) what it serves now. */
    const warm = async (token: string) => {
      for (let node = 0; node < 3; node++) {
        assert.equal((await direct(node, 'GET', '/api/v1/keys', undefined, token)).status, 200);
        await jwks(node);
        await machineToken(node);
      }
    };

    before(async () => {
      const api = await created('/api/v1/apis', { identifier: HOLDS_API, name: 'Holds', tenant, permissions: [{ value: 'read:x' }] });
      machine = await created('/api/v1/applications', { name: 'Worker', type: 'm2m', tenant });
      await created(`/api/v1/applications/${(machine as unknown as { id: string }).id}/grants`, {
        api_id: api.id,
        permissions: ['read:x'],
      });
    });

    it('an ordinary rotation: every node signs with the new key and publishes it within one second', async () => {
      const token = await cluster.adminToken();
      await warm(token);
      const rotated = await direct(0, 'POST', '/api/v1/keys/rotate', { alg: 'RS256' }, token);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const current = rotated.body.rotated[0].current as string;
      for (const node of [1, 2]) {
        const ms = await within(
          1000,
          node,
          'signing with the new key',
          async () => decodeProtectedHeader(await machineToken(node)).kid === current,
        );
        assert.ok((await jwks(node)).includes(current));
        console.log(`rotation seen by ${cluster.nodes[node]?.name} after ${ms} ms`);
      }
    });

    it('retire_now on one node: the old key is refused, out of the JWKS and no longer used on every other node within one second', async () => {
      // Signed by node 1 (which made the last rotation, so it signs with the current key).
      const token = await adminTokenOn(0);
      const oldKid = decodeProtectedHeader(token).kid as string;
      await warm(token);
      const rotated = await direct(0, 'POST', '/api/v1/keys/rotate', { retire_now: true } as never, token);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal(rotated.body.rotated.find((r: { alg: string }) => r.alg === 'RS256').retired, oldKid);
      for (const node of [1, 2]) {
        const ms = await within(1000, node, 'retire_now', async () => {
          const refused = (await direct(node, 'GET', '/api/v1/keys', undefined, token)).status === 401;
          const withdrawn = !(await jwks(node)).includes(oldKid);
          const notSigning = decodeProtectedHeader(await machineToken(node)).kid !== oldKid;
          return refused && withdrawn && notSigning;
        });
        console.log(`retire_now honoured by ${cluster.nodes[node]?.name} after ${ms} ms`);
      }
    });

    it('a client grant created on one node: the others issue tokens within one second (no stale "no grant")', async () => {
      const audience = 'https://grant.cluster.test';
      const api = await created('/api/v1/apis', {
        identifier: audience,
        name: 'Granted later',
        tenant,
        permissions: [{ value: 'read:y' }],
      });
      const worker = await created('/api/v1/applications', { name: 'Late worker', type: 'm2m', tenant });
      const ask = (node: number) =>
        direct(node, 'POST', '/oauth/token', {
          grant_type: 'client_credentials',
          audience,
          client_id: worker.client_id,
          client_secret: worker.client_secret,
        });
      for (let node = 0; node < 3; node++) assert.equal((await ask(node)).status, 400, 'no grant yet, on every node (and cached so)');
      const granted = await direct(
        0,
        'POST',
        `/api/v1/applications/${worker.id}/grants`,
        { api_id: api.id, permissions: ['read:y'] } as never,
        admin,
      );
      assert.equal(granted.status, 201, JSON.stringify(granted.body));
      for (const node of [1, 2]) {
        const ms = await within(1000, node, 'the new grant', async () => (await ask(node)).status === 200);
        console.log(`grant honoured by ${cluster.nodes[node]?.name} after ${ms} ms`);
      }
    });

    it('a policy change on one node is enforced by the others within one second', async () => {
      const open = (await created('/api/v1/tenants', { slug: 'policy', name: 'Policy' })).id;
      const app = await created('/api/v1/applications', { name: 'Policy app', type: 'web', tenant: open, grant_types: ['password'] });
      const email = 'policy@cluster.test';
      await created('/api/v1/users', { email, password: PASSWORD, tenant: open });
      const grant = (node: number) =>
        direct(node, 'POST', '/oauth/token', { grant_type: 'password', username: email, password: PASSWORD, scope: 'openid', ...app });
      for (let node = 0; node < 3; node++) assert.equal((await grant(node)).status, 200, 'MFA off: a password is enough on every node');
      const changed = await direct(0, 'PATCH', `/api/v1/tenants/${open}/policies`, { mfa: { policy: 'required' } } as never, admin);
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      for (const node of [1, 2]) {
        const ms = await within(1000, node, 'the MFA policy', async () => (await grant(node)).body.error === 'mfa_required');
        console.log(`policy enforced by ${cluster.nodes[node]?.name} after ${ms} ms`);
      }
    });
  });
});
