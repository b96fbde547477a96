import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import * as OTPAuth from 'otpauth';
import { confirmFactor, enrolTotp } from '../../src/authn/mfa/index.js';
import { addIdentity } from '../../src/directory/users/identities.js';
import { atCallback, CALLBACK, federatedSignIn, startWorld, stopWorld, UPSTREAM_SECRET, type World } from '../flows/federation/setup.js';
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
    await addIdentity(w.gh.ctx.db, { connectionId: id, subject: 'xenia', userId: xenia, provider: 'oidc', profileData: {}, at: now });

    const run = await federatedSignIn(w, { params: { connection: 'acme-vouch' }, account: 'xenia', amr: ['pwd', 'mfa'] });
    assert.ok(!atCallback(run.url), `signed in as globex's Xenia without her TOTP: ${run.url}`);
    assert.match(run.url, /\/interaction\/[\w-]+\/mfa$/, 'her own second factor is asked');
  });
});
