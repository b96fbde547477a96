import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import { confirmFactor, enrolTotp } from '../../src/authn/mfa/index.js';
import { addIdentity } from '../../src/directory/users/identities.js';
import {
  atCallback,
  CALLBACK,
  federatedSignIn,
  formWith,
  startWorld,
  stopWorld,
  UPSTREAM_SECRET,
  type World,
} from '../flows/federation/setup.js';
import { insertConnection } from '../helpers/connections.js';
import { ADMIN_EMAIL, PASSWORD } from '../helpers/gatehouse.js';

/**
 * The review of issue 14 (federation), as attacks: a tenant administrator with a connection
 * of its own, and an outside attacker on the sign-in's routes. Each test is one finding,
 * written first as the attack that succeeded (docs/security.md cites them).
 */
describe('security: federation', () => {
  let w: World;
  const accounts: Record<string, Record<string, unknown>> = {
    // The connection's provider is the attacker's: it asserts whatever address it likes, "verified".
    fakeAdmin: { email: ADMIN_EMAIL, email_verified: true },
    xenia: { email: 'xenia@globex.test', email_verified: true },
    pat: { email: 'pat@example.test', email_verified: true },
  };

  before(async () => {
    w = await startWorld(accounts);
  });
  after(() => stopWorld(w));

  it('a trusted_email connection of the system tenant never links a system administrator by email', async () => {
    // A member of the system tenant holding only tenant.connections.write (a common
    // permission) makes a connection of the system tenant with trusted_email, for an
    // application of that tenant: the system administrator's account lives in the system
    // tenant only, so "the account lives only in the connection's tenant" held.
    const sys = await w.gh.systemAdmin();
    const app = await w.gh.created('/api/v1/applications', sys.token, { name: 'Ops', type: 'web', redirect_uris: [CALLBACK] });
    await w.gh.created('/api/v1/apis', sys.token, { identifier: 'urn:gatehouse:system:ops', name: 'Ops API' });
    await insertConnection(w.gh, {
      name: 'sys-trusted',
      strategy: 'oidc',
      tenantId: sys.systemTenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [app.client_id],
      trustedEmail: true,
    });
    const config = await client.discovery(new URL(w.gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const run = await federatedSignIn(
      { ...w, app, config },
      { params: { connection: 'sys-trusted', audience: 'urn:gatehouse:system:ops' }, account: 'fakeAdmin' },
    );
    assert.ok(!atCallback(run.url), `signed in as the system administrator: ${run.url}`);
    assert.match(run.url, /\/login\/link\/flw_/, `the account must be proved: ${run.url} ${run.page.slice(0, 300)}`);
    const identities = await w.gh.ctx.db.selectFrom('user_identities').select('subject').where('user_id', '=', sys.id).execute();
    assert.equal(identities.length, 0);
  });

  it('upstream MFA of a tenant connection never stands in for the second factor of an account that lives elsewhere too', async () => {
    // Xenia is globex's, with a TOTP; she is a member of acme too and once linked her
    // identity at acme's connection (her password and TOTP proved it). Acme's administrator
    // runs that provider and sets upstream_mfa: the provider says "mfa" for her subject.
    const xenia = await w.gh.createUser(w.globex.token, { email: 'xenia@globex.test', password: PASSWORD });
    const actor = { type: 'user' as const, id: xenia, ip: null, userAgent: null };
    const enrolment = await enrolTotp(w.gh.ctx, actor, xenia);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), digits: 6, period: 30 });
    await confirmFactor(w.gh.ctx, actor, xenia, enrolment.factorId, { otp: totp.generate() });
    const now = new Date();
    await w.gh.ctx.db
      .insertInto('memberships')
      .values({ tenant_id: w.acme.tenantId, user_id: xenia, created_at: now, updated_at: now })
      .execute();
    const id = await insertConnection(w.gh, {
      name: 'acme-vouch',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      upstreamMfa: true,
    });
    await addIdentity(w.gh.ctx.db, {
      connectionId: id,
      subject: 'xenia',
      userId: xenia,
      provider: 'oidc',
      profileData: {},
      at: now,
      proved: true,
    });

    const run = await federatedSignIn(w, { params: { connection: 'acme-vouch' }, account: 'xenia', amr: ['pwd', 'mfa'] });
    assert.ok(!atCallback(run.url), `signed in as globex's Xenia without her TOTP: ${run.url}`);
    assert.match(run.url, /\/interaction\/[\w-]+\/mfa$/, 'her own second factor is asked');
  });

  it('bad input on every new route is a 4xx with a stable code, never a 500', async () => {
    const flowId = `flw_${'0'.repeat(32)}`;
    const state = `${flowId}.${'A'.repeat(43)}`;
    const form = (body: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body).toString(),
    });
    const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const probes: [string, RequestInit?][] = [
      ['/login/callback'],
      [`/login/callback?state=${state}&code=x`],
      ['/login/callback?state=a&state=b&code[]=x'],
      ['/login/callback?connection=a&connection=b&state=x'],
      ['/login/callback?connection=nope', form({ SAMLResponse: '%%%not-base64', RelayState: state })],
      ['/login/callback', form({ SAMLResponse: Buffer.from('<x/>').toString('base64'), RelayState: state })],
      ['/login/callback', json({ state: ['x'], code: { a: 1 } })],
      ['/login/callback', json([1, 2])],
      ['/login/callback', json('text')],
      ['/login/callback', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'state=x' }],
      ['/login/callback', form({ state: 'x'.repeat(200_000) })],
      ['/login/callback/continue'],
      ['/login/callback/continue?flow=x'],
      [`/login/callback/continue?flow=${flowId}`],
      ['/login/callback/continue?flow=a&flow=b'],
      ['/login/link/x'],
      [`/login/link/${flowId}`],
      [`/login/link/${flowId}`, form({ password: 'x', csrf: 'y' })],
      [`/login/link/${flowId}`, json({ password: ['x'], csrf: 1 })],
      ['/samlp/metadata'],
      ['/samlp/metadata?connection='],
      ['/samlp/metadata?connection=a&connection=b'],
      ['/samlp/metadata?connection=nope'],
      ['/interaction/x/connection-cancelled?flow=x'],
      ['/interaction/x/connection/foo', form({ csrf: 'x' })],
      ['/interaction/x/connection/foo/login', json({ username: ['a'], password: { b: 1 } })],
    ];
    const failed: string[] = [];
    for (const [path, init] of probes) {
      const response = await fetch(`${w.gh.issuer}${path}`, { redirect: 'manual', ...init });
      const body = await response.text();
      if (response.status >= 500 || response.status < 400)
        failed.push(`${init?.method ?? 'GET'} ${path.slice(0, 80)}: ${response.status} ${body.slice(0, 200)}`);
    }
    assert.deepEqual(failed, []);
  });

  it('an identity a tenant connection provisioned stops reaching the account once it lives in another tenant too', async () => {
    // Acme's administrator signs in through acme's own connection as pat@example.test: a
    // new account, homed in acme, with that identity. The person later takes the account
    // over (a reset), joins globex and becomes its administrator: acme's provider must no
    // longer sign in as them (decision 180: no longer the home tenant's alone).
    const id = await insertConnection(w.gh, {
      name: 'acme-jit',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
    });
    const first = await federatedSignIn(w, { params: { connection: 'acme-jit' }, account: 'pat' });
    assert.ok(atCallback(first.url), `provisioned: ${first.url} ${first.page.slice(0, 200)}`);
    const pat = await w.gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'pat@example.test').executeTakeFirstOrThrow();
    const now = new Date();
    await w.gh.ctx.db
      .insertInto('memberships')
      .values({ tenant_id: w.globex.tenantId, user_id: pat.id, created_at: now, updated_at: now })
      .execute();

    const again = await federatedSignIn(w, { params: { connection: 'acme-jit' }, account: 'pat' });
    assert.ok(!atCallback(again.url), `acme's provider signed in as globex's member: ${again.url}`);
    assert.match(again.url, /\/login\/link\/flw_/, 'the account must be proved');
    const identity = await w.gh.ctx.db.selectFrom('user_identities').selectAll().where('connection_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(identity.user_id, pat.id);
    assert.equal(identity.proved, false);

    // The owner (who set a password by a reset) proves it: from then on the identity reaches the account.
    const hash = await w.gh.ctx.passwords.hash(PASSWORD);
    await w.gh.ctx.db.updateTable('users').set({ password_hash: hash }).where('id', '=', pat.id).execute();
    const form = formWith(again.page, '/login/link/');
    const proved = await again.browser.submit(again.url, form.action, { ...form.fields, password: PASSWORD }, atCallback);
    assert.ok(atCallback(proved.url), `proved: ${proved.url}`);
    const marked = await w.gh.ctx.db.selectFrom('user_identities').selectAll().where('connection_id', '=', id).execute();
    assert.deepEqual(
      marked.map((i) => [i.user_id, i.proved]),
      [[pat.id, true]],
    );
    const third = await federatedSignIn(w, { params: { connection: 'acme-jit' }, account: 'pat' });
    assert.ok(atCallback(third.url), `a proved identity signs in: ${third.url}`);

    // Acme's administrator points the connection elsewhere (any option but a secret): the
    // new provider could answer with pat's subject, so the owner's proof must be given again.
    const patched = await w.gh.request('PATCH', `/api/v1/connections/${id}`, {
      token: w.acme.token,
      body: { options: { scope: 'openid email profile' } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    const fourth = await federatedSignIn(w, { params: { connection: 'acme-jit' }, account: 'pat' });
    assert.ok(!atCallback(fourth.url), `the re-pointed connection signed in as globex's member: ${fourth.url}`);
    assert.match(fourth.url, /\/login\/link\/flw_/, 'the account must be proved again');
  });

  it('a trusted_email system connection never links a system administrator by email either', async () => {
    // A system operator holding only iam.connection.write (a narrow iam.* role) makes a
    // system connection with trusted_email: its provider asserts the ADMIN's address.
    const sys = await w.gh.systemAdmin();
    const app = await w.gh.created('/api/v1/applications', sys.token, { name: 'Console', type: 'web', redirect_uris: [CALLBACK] });
    await w.gh.created('/api/v1/apis', sys.token, { identifier: 'urn:gatehouse:system:console', name: 'Console API' });
    await insertConnection(w.gh, {
      name: 'system-trusted',
      strategy: 'oidc',
      tenantId: null,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [app.client_id],
      trustedEmail: true,
    });
    const config = await client.discovery(new URL(w.gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const run = await federatedSignIn(
      { ...w, app, config },
      { params: { connection: 'system-trusted', audience: 'urn:gatehouse:system:console' }, account: 'fakeAdmin' },
    );
    assert.ok(!atCallback(run.url), `signed in as the system administrator: ${run.url}`);
    assert.match(run.url, /\/login\/link\/flw_/);
  });

  it('a role holding only tenant.connections.write cannot make or steer a trusted_email connection (it would link the tenant administrator)', async () => {
    // With trusted_email, acme's connection links by email every account of acme alone: the
    // tenant administrator's too. A "connections" role below TENANT_ADMIN must not get that.
    const role = await w.gh.created('/api/v1/roles', w.acme.token, {
      name: 'connector',
      permissions: ['tenant.connections.read', 'tenant.connections.write'],
    });
    await w.gh.createUser(w.acme.token, { email: 'connector@acme.test', password: PASSWORD, roles: [role.id] });
    const token = await w.gh.tokenFor(await w.gh.signIn('connector@acme.test', PASSWORD), w.acme.tenantId);
    const body = (name: string, extra: Record<string, unknown> = {}) => ({
      name,
      strategy: 'oidc',
      options: { ...w.oidcOptions, client_secret: UPSTREAM_SECRET },
      enabled_clients: [w.app.client_id],
      ...extra,
    });
    const trusted = await w.gh.request('POST', '/api/v1/connections', { token, body: body('connector-trusted', { trusted_email: true }) });
    assert.equal(trusted.status, 403, JSON.stringify(trusted.body));
    assert.equal(trusted.body.error, 'forbidden');
    const count = await w.gh.ctx.db.selectFrom('connections').select('id').where('name', '=', 'connector-trusted').execute();
    assert.equal(count.length, 0);

    // A plain connection it may make; turning trusted_email on, or steering a trusted one, it may not.
    const plain = await w.gh.created('/api/v1/connections', token, body('connector-plain'));
    const on = await w.gh.request('PATCH', `/api/v1/connections/${plain.id}`, { token, body: { trusted_email: true } });
    assert.equal(on.status, 403);
    const admins = await w.gh.created('/api/v1/connections', w.acme.token, body('acme-trusted', { trusted_email: true }));
    const steer = await w.gh.request('PATCH', `/api/v1/connections/${admins.id}`, {
      token,
      body: { options: { issuer: 'http://127.0.0.1:1/evil' } },
    });
    assert.equal(steer.status, 403);
    const off = await w.gh.request('PATCH', `/api/v1/connections/${admins.id}`, { token, body: { trusted_email: false } });
    assert.equal(off.status, 200, 'making it untrusted is always allowed');
  });
});
