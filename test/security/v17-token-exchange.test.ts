/**
 * docs/security.md#v17-token-exchange, each invariant written as the attack: token exchange
 * (RFC 8693) never turns a token into more than its user holds, in another tenant, for an
 * API the exchanging application does not serve or may not reach; impersonation needs the
 * restricted `iam.user.impersonate`, an administrator who outranks the user, a platform
 * application as the support tool and an administrator's token issued to that very tool (a
 * tenant's application never receives it), and is time-boxed, audited and shown to the user.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import * as client from 'openid-client';
import { ConfigError, parseConfig } from '../../src/platform/config.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from '../helpers/gatehouse.js';
import { Browser, formOf } from '../helpers/oidc.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangeWorld,
  GLOBEX_API,
  ORDERS,
  oauthError,
  PLATFORM_API,
  STOCK,
  TOKEN_EXCHANGE,
  USER_ID_TYPE,
  world as w,
} from '../helpers/token-exchange.js';

/** The deployment's time box, lowered from the 15-minute maximum. */
const IMPERSONATION_TTL = 300;

let offsetMs = 0;
const clock = { now: () => new Date(Date.now() + offsetMs) };

const delegate = async (app: keyof typeof w.apps, parameters: Record<string, string>) =>
  client.genericGrantRequest(await w.discover(w.apps[app]), TOKEN_EXCHANGE, { subject_token_type: ACCESS_TOKEN_TYPE, ...parameters });

const impersonate = async (actorToken: string, userId: string, audience = PLATFORM_API, app: keyof typeof w.apps = 'desk') =>
  client.genericGrantRequest(await w.discover(w.apps[app]), TOKEN_EXCHANGE, {
    subject_token: userId,
    subject_token_type: USER_ID_TYPE,
    actor_token: actorToken,
    actor_token_type: ACCESS_TOKEN_TYPE,
    audience,
  });

/** An administrator's token for Gatehouse's API, issued to the platform's support desk (they sign in to it). */
const deskToken = async (email: string, password = PASSWORD) =>
  (await client.genericGrantRequest(await w.discover(w.apps.desk), 'password', { username: email, password, audience: w.gh.issuer }))
    .access_token;

/**
 * A user of the system tenant holding exactly these direct permissions there, with its token for Gatehouse's API
 * issued to the support desk (`token`) and the console's session-derived one (`console`).
 */
async function systemUser(email: string, permissions: string[], roles?: string[]) {
  const id = await w.gh.createUser(w.admin, { email, password: PASSWORD, name: email.split('@')[0], tenant: w.systemTenantId });
  const patched = await w.gh.request('PATCH', `/api/v1/tenants/${w.systemTenantId}/members/${id}`, {
    token: w.admin,
    body: { permissions, ...(roles && { roles }) },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  return { id, token: await deskToken(email), console: await w.gh.tokenFor(await w.gh.signIn(email, PASSWORD), 'system') };
}

describe('V17 the impersonation time box (GATEHOUSE_IMPERSONATION_TTL)', () => {
  it('is 15 minutes unless lowered, and cannot be raised or set below a minute', () => {
    assert.equal(parseConfig({}, false).impersonationTtlSeconds, 900);
    assert.equal(parseConfig({ impersonationTtlSeconds: '120' }, false).impersonationTtlSeconds, 120);
    for (const value of ['901', '3600', '59', '0', '-5', '10m', '']) {
      assert.throws(
        () => parseConfig({ impersonationTtlSeconds: value }, false),
        (error: Error) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /GATEHOUSE_IMPERSONATION_TTL/);
          return true;
        },
      );
    }
  });
});

describe('V17 token exchange', () => {
  exchangeWorld({ impersonationTtlSeconds: String(IMPERSONATION_TTL) }, clock);

  describe('delegation', () => {
    it('refuses a token of another tenant: globex’s token at acme’s service, acme’s token at globex’s service', async () => {
      const bobs = await w.userToken(w.apps.globexFront, w.bob.email, GLOBEX_API);
      const crossed = await oauthError(delegate('orders', { subject_token: bobs, audience: STOCK }));
      assert.equal(crossed.error, 'invalid_grant');
      // And says no more than for a token that is not one: nothing tells that it lives in another tenant.
      const garbage = await oauthError(delegate('orders', { subject_token: 'not-a-token', audience: STOCK }));
      assert.equal(crossed.description, garbage.description, JSON.stringify(crossed));
      const alices = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      assert.equal((await oauthError(delegate('globexService', { subject_token: alices, audience: GLOBEX_API }))).error, 'invalid_grant');
      // Nor can globex's administrator make its application serve or target acme's APIs.
      const set = await w.gh.request('PUT', `/api/v1/applications/${w.apps.globexService.id}/token-exchange`, {
        token: w.globex.token,
        body: { subject_audiences: [ORDERS], target_audiences: [STOCK], impersonation_audiences: [] },
      });
      assert.equal(set.status, 400);
      assert.equal(set.body.error, 'unknown_api');
      // And acme's service cannot target globex's API.
      assert.equal((await oauthError(delegate('orders', { subject_token: alices, audience: GLOBEX_API }))).error, 'invalid_target');
    });

    it('refuses a revoked subject token (its grant ended) and an expired one', async () => {
      const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      assert.ok((await delegate('orders', { subject_token: subject, audience: STOCK })).access_token);
      const revoked = await w.gh.request('POST', `/api/v1/applications/${w.apps.front.id}/revoke-tokens`, { token: w.acme.token });
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      assert.equal((await oauthError(delegate('orders', { subject_token: subject, audience: STOCK }))).error, 'invalid_grant');

      const fresh = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      offsetMs = 3600_000; // an hour on: far past its 10 minutes
      try {
        assert.equal((await oauthError(delegate('orders', { subject_token: fresh, audience: STOCK }))).error, 'invalid_grant');
      } finally {
        offsetMs = 0;
      }
      // A forged token (another signature) is refused too.
      const [header, payload] = fresh.split('.');
      const forged = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
      assert.equal((await oauthError(delegate('orders', { subject_token: forged, audience: STOCK }))).error, 'invalid_grant');
    });

    it('refuses scope escalation: a scope the user does not hold for the target API', async () => {
      const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      const refused = await oauthError(delegate('orders', { subject_token: subject, audience: STOCK, scope: 'read:stock write:stock' }));
      assert.equal(refused.error, 'invalid_scope');
      const unknown = await oauthError(delegate('orders', { subject_token: subject, audience: STOCK, scope: 'read:orders' }));
      assert.equal(unknown.error, 'invalid_scope', 'a scope of another API is not the target’s');
    });

    it('refuses an application not allowed the target audience, or a token for an API it does not serve', async () => {
      const forOrders = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      // The orders service may exchange to STOCK only.
      assert.equal((await oauthError(delegate('orders', { subject_token: forOrders, audience: ORDERS }))).error, 'invalid_target');
      // The stock service serves STOCK: a token for ORDERS is not its to exchange.
      assert.equal((await oauthError(delegate('stock', { subject_token: forOrders, audience: ORDERS }))).error, 'invalid_grant');
      // The support desk has no delegation at all.
      assert.equal((await oauthError(delegate('support', { subject_token: forOrders, audience: STOCK }))).error, 'invalid_grant');
    });

    it('refuses a subject token signed with an API’s HS256 secret: its holders could have written any claims', async () => {
      // acme's legacy API signs with a shared secret, which its service and acme's administrators hold.
      const LEGACY = 'urn:gatehouse:acme:legacy';
      const created = await w.gh.request('POST', '/api/v1/apis', {
        token: w.acme.token,
        body: { identifier: LEGACY, name: 'Legacy', signing_alg: 'HS256', permissions: [{ value: 'read:legacy' }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const secret = new TextEncoder().encode(created.body.signing_secret as string);
      const set = (subject: string[]) =>
        w.gh.request('PUT', `/api/v1/applications/${w.apps.orders.id}/token-exchange`, {
          token: w.acme.token,
          body: { subject_audiences: subject, target_audiences: [STOCK], impersonation_audiences: [] },
        });
      // Saving it as a subject audience is refused, and nothing is written.
      const saved = await set([ORDERS, LEGACY]);
      assert.equal(saved.status, 400, JSON.stringify(saved.body));
      assert.equal(saved.body.error, 'hs256_subject_api');
      assert.deepEqual(saved.body.details.identifiers, [LEGACY]);
      const kept = await w.gh.request('GET', `/api/v1/applications/${w.apps.orders.id}/token-exchange`, { token: w.acme.token });
      assert.deepEqual(kept.body.subject_audiences, [ORDERS]);
      // A row saved before that check (or written behind the API's back) is still refused at the token endpoint.
      const row = { application_id: w.apps.orders.id, api_id: created.body.id as string, use: 'subject' as const };
      await w.gh.ctx.db.insertInto('application_exchange_apis').values(row).execute();
      try {
        const genuine = await w.userToken(w.apps.front, w.alice.email, LEGACY);
        // The secret's holder re-signs alice's token: a month long, a second factor she never
        // gave, and an actor chain naming the platform's administrator.
        const { iat: _iat, exp: _exp, ...claims } = decodeJwt(genuine);
        const forged = await new SignJWT({ ...claims, amr: ['pwd', 'mfa', 'hwk'], act: { sub: w.adminId } })
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
          .setIssuedAt()
          .setExpirationTime('30d')
          .sign(secret);
        const refused = await oauthError(delegate('orders', { subject_token: forged, audience: STOCK }));
        assert.equal(refused.error, 'invalid_grant', 'a forged subject token must not become an RS256 token for another API');
        // The genuine one cannot be told from a forgery, so it is refused too.
        assert.equal((await oauthError(delegate('orders', { subject_token: genuine, audience: STOCK }))).error, 'invalid_grant');
      } finally {
        assert.equal((await set([ORDERS])).status, 200);
      }
    });

    it('refuses an actor_token in delegation (the application is the actor)', async () => {
      const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      const refused = await oauthError(
        delegate('orders', { subject_token: subject, audience: STOCK, actor_token: w.admin, actor_token_type: ACCESS_TOKEN_TYPE }),
      );
      assert.equal(refused.error, 'invalid_request');
    });
  });

  describe('impersonation', () => {
    let support: { id: string; token: string; console: string };
    let admin: string;

    it('a support engineer with iam.user.impersonate gets a token for alice through the platform desk, time-boxed, naming them in act, audited', async () => {
      support = await systemUser('support@gatehouse.test', ['iam.user.impersonate']);
      admin = await deskToken(ADMIN_EMAIL, ADMIN_PASSWORD);
      const first = await impersonate(support.token, w.alice.id);
      assert.equal(first.issued_token_type, ACCESS_TOKEN_TYPE);
      assert.equal(first.refresh_token, undefined);
      const claims = decodeJwt(first.access_token);
      assert.equal(claims.sub, w.alice.id);
      assert.equal(claims.aud, PLATFORM_API);
      assert.equal(claims.client_id, w.apps.desk.client_id);
      // It acts in alice's home tenant, with what she holds there for the API (nothing of the platform's).
      assert.equal(claims.org_id, w.acme.tenantId);
      assert.deepEqual(claims.permissions, []);
      assert.deepEqual(claims.act, { sub: support.id });
      assert.ok((claims.exp as number) - (claims.iat as number) <= IMPERSONATION_TTL, 'no longer than the time box');
      // Introspection by the desk judges it live.
      const introspected = await client.tokenIntrospection(await w.discover(w.apps.desk), first.access_token);
      assert.equal(introspected.active, true);

      // A second token within the time box belongs to the same impersonation and ends with it.
      const second = await impersonate(support.token, w.alice.id);
      assert.ok((decodeJwt(second.access_token).exp as number) <= (claims.exp as number) + 1);

      // acme's administrators see both in their audit trail.
      const started = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.impersonationStarted', target: w.alice.id });
      assert.equal(started.length, 1, 'the start is audited once');
      assert.equal(started[0]?.actor_id, support.id);
      const tokens = (await w.gh.auditEvents(w.acme.token, { action: 'iam.token.created', target: w.alice.id })).filter(
        (e) => e.details.impersonation_id === started[0]?.details.impersonation_id,
      );
      assert.equal(tokens.length, 2, 'each token is audited');
      const rows = await w.gh.ctx.db.selectFrom('impersonations').selectAll().where('user_id', '=', w.alice.id).execute();
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.tenant_id, w.acme.tenantId);
      assert.equal((rows[0]!.expires_at.getTime() - rows[0]!.started_at.getTime()) / 1000, IMPERSONATION_TTL);
    });

    it('refuses a tenant’s application as the support tool: unauthorized_client, no token, the admin token never used', async () => {
      // acme's administrators run "our support tool" (a confidential application with the grant) and hold its secret.
      const listed = await w.gh.request('PUT', `/api/v1/applications/${w.apps.support.id}/token-exchange`, {
        token: w.acme.token,
        body: { subject_audiences: [], target_audiences: [], impersonation_audiences: [STOCK] },
      });
      assert.equal(listed.status, 400, JSON.stringify(listed.body));
      assert.equal(listed.body.error, 'impersonation_platform_only');
      // Even with the setting in the database (written before this rule), and whichever token the engineer hands it.
      const stock = await w.gh.ctx.db.selectFrom('apis').select('id').where('identifier', '=', STOCK).executeTakeFirstOrThrow();
      await w.gh.ctx.db
        .insertInto('application_exchange_apis')
        .values({ application_id: w.apps.support.id, api_id: stock.id, use: 'impersonation' })
        .execute();
      const before = await w.gh.ctx.db.selectFrom('impersonations').select('id').execute();
      const tool = await w.discover(w.apps.support);
      for (const token of [support.token, support.console, admin]) {
        const refused = await oauthError(impersonate(token, w.alice.id, STOCK, 'support'));
        assert.equal(refused.error, 'unauthorized_client');
        assert.equal(refused.status, 400);
        // Keycloak's shape of the request is refused alike.
        const keycloak = await oauthError(
          client.genericGrantRequest(tool, TOKEN_EXCHANGE, {
            subject_token: token,
            subject_token_type: ACCESS_TOKEN_TYPE,
            requested_subject: w.alice.id,
            audience: STOCK,
          }),
        );
        assert.equal(keycloak.error, 'unauthorized_client');
      }
      assert.equal((await w.gh.ctx.db.selectFrom('impersonations').select('id').execute()).length, before.length, 'nothing opened');
      const created = await w.gh.auditEvents(w.acme.token, { action: 'iam.token.created', target: w.alice.id });
      assert.ok(
        created.every((e) => e.details.client_id !== w.apps.support.client_id),
        'no token issued to the tenant’s tool',
      );
      await w.gh.ctx.db.deleteFrom('application_exchange_apis').where('application_id', '=', w.apps.support.id).execute();
    });

    it('refuses an actor token not issued to the desk: the console’s session token, another platform application’s', async () => {
      assert.equal((await oauthError(impersonate(support.console, w.alice.id))).error, 'invalid_grant');
      const other = await w.gh.created<{ id: string; client_id: string; client_secret: string }>('/api/v1/applications', w.admin, {
        name: 'Platform dashboard',
        type: 'web',
        grant_types: ['password'],
      });
      const dashboard = await client.discovery(
        new URL(w.gh.issuer),
        other.client_id,
        undefined,
        client.ClientSecretBasic(other.client_secret),
        {
          execute: [client.allowInsecureRequests],
        },
      );
      const fromDashboard = (
        await client.genericGrantRequest(dashboard, 'password', {
          username: 'support@gatehouse.test',
          password: PASSWORD,
          audience: w.gh.issuer,
        })
      ).access_token;
      assert.equal((await oauthError(impersonate(fromDashboard, w.alice.id))).error, 'invalid_grant');
      const refusals = await w.gh.auditEvents(w.admin, { action: 'iam.token.exchangeRefused' });
      assert.ok(refusals.filter((e) => e.actor_id === support.id && e.details.reason === 'actor_token_client').length >= 2);
    });

    it('accepts Keycloak’s shape of the same request: the administrator’s token as subject_token, the user as requested_subject', async () => {
      const tokens = await client.genericGrantRequest(await w.discover(w.apps.desk), TOKEN_EXCHANGE, {
        subject_token: support.token,
        subject_token_type: ACCESS_TOKEN_TYPE,
        requested_subject: w.alice.id,
        audience: PLATFORM_API,
      });
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims.sub, w.alice.id);
      assert.deepEqual(claims.act, { sub: support.id });
      // The same checks hold: a system user without iam.user.impersonate.
      const reader = await systemUser('keycloak-reader@gatehouse.test', ['iam.account.read']);
      const refused = await oauthError(
        client.genericGrantRequest(await w.discover(w.apps.desk), TOKEN_EXCHANGE, {
          subject_token: reader.token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          requested_subject: w.alice.id,
          audience: PLATFORM_API,
        }),
      );
      assert.equal(refused.error, 'access_denied');
      // Still one impersonation: this token joined the running one.
      const started = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.impersonationStarted', target: w.alice.id });
      assert.equal(started.length, 1);
    });

    it('alice sees it on her account page under "Support access"', async () => {
      const browser = new Browser();
      const signIn = await browser.fetch(`${w.gh.issuer}/account/sign-in`);
      const { action, fields } = formOf(await signIn.text());
      const home = await browser.submit(`${w.gh.issuer}/account/sign-in`, action, {
        ...fields,
        username: w.alice.email,
        password: PASSWORD,
      });
      assert.equal(home.url, `${w.gh.issuer}/account`);
      assert.match(await home.response.text(), /href="\/account\/support-access"/);
      const page = await browser.fetch(`${w.gh.issuer}/account/support-access`);
      assert.equal(page.status, 200);
      const text = await page.text();
      assert.match(text, /<h1>Support access<\/h1>/);
      assert.match(text, /support \(support@gatehouse\.test\) through Support desk in /);
      assert.match(text, /Active now/);
      assert.match(text, /From .* UTC until .* UTC/);
      assert.equal((text.match(/data-impersonation=/g) ?? []).length, 1);
      // The JSON twin, with her session token.
      const listed = await w.gh.request('GET', '/api/v1/users/me/impersonations', { token: await w.gh.signIn(w.alice.email, PASSWORD) });
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.equal(listed.body.impersonations.length, 1);
      const [entry] = listed.body.impersonations;
      assert.equal(entry.by_email, 'support@gatehouse.test');
      assert.equal(entry.application, 'Support desk');
      assert.equal(entry.active, true);
      assert.equal((Date.parse(entry.expires_at) - Date.parse(entry.started_at)) / 1000, IMPERSONATION_TTL);
      // Nobody else's account lists it.
      const bobs = await w.gh.request('GET', '/api/v1/users/me/impersonations', { token: await w.gh.signIn(w.bob.email, PASSWORD) });
      assert.deepEqual(bobs.body.impersonations, []);
    });

    it('refuses an administrator without the permission: a system user with other permissions, a user’s API token', async () => {
      const reader = await systemUser('reader@gatehouse.test', ['iam.account.read', 'iam.account.update']);
      assert.equal((await oauthError(impersonate(reader.token, w.alice.id))).error, 'access_denied');
      // A user's own API token is no actor token.
      const alices = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      assert.equal((await oauthError(impersonate(alices, w.alice.id))).error, 'invalid_grant');
      const refusals = await w.gh.auditEvents(w.admin, { action: 'iam.token.exchangeRefused' });
      assert.ok(refusals.some((e) => e.actor_id === reader.id && e.details.reason === 'permission'));
    });

    it('refuses an administrator who does not outrank the user, and lets one who does', async () => {
      // A system administrator (ADMIN: `all`) who is also a member of acme.
      const roles = await w.gh.systemRoleIds();
      const boss = await systemUser('boss@gatehouse.test', [], [roles.ADMIN as string]);
      const added = await w.gh.request('POST', `/api/v1/tenants/${w.acme.tenantId}/members`, { token: w.admin, body: { userId: boss.id } });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const refused = await oauthError(impersonate(support.token, boss.id));
      assert.equal(refused.error, 'access_denied');
      // boss's home is the system tenant: the refusal is recorded there.
      const events = await w.gh.auditEvents(w.admin, { action: 'iam.token.exchangeRefused', target: boss.id });
      assert.equal(events[0]?.details.reason, 'not_outranked');
      // The first system administrator holds `all`, which outranks everyone.
      const byAdmin = await impersonate(admin, boss.id);
      assert.deepEqual(decodeJwt(byAdmin.access_token).act, { sub: w.adminId });
    });

    it('reaches only the desk’s platform APIs; a user of any tenant acts in their home tenant', async () => {
      // bob is of globex: the platform desk serves every user, in their home tenant.
      const forBob = decodeJwt((await impersonate(support.token, w.bob.id)).access_token);
      assert.equal(forBob.org_id, w.globex.tenantId);
      const globexStarted = await w.gh.auditEvents(w.globex.token, { action: 'iam.user.impersonationStarted', target: w.bob.id });
      assert.equal(globexStarted.length, 1);
      // No tenant's API: a platform application's tokens are for the system tenant's APIs only (decision 200).
      assert.equal((await oauthError(impersonate(support.token, w.alice.id, STOCK))).error, 'invalid_target');
      assert.equal((await oauthError(impersonate(support.token, w.alice.id, GLOBEX_API))).error, 'invalid_target');
      const saved = await w.gh.request('PUT', `/api/v1/applications/${w.apps.desk.id}/token-exchange`, {
        token: w.admin,
        body: { subject_audiences: [], target_audiences: [], impersonation_audiences: [PLATFORM_API, STOCK] },
      });
      assert.equal(saved.status, 400);
      assert.equal(saved.body.error, 'unknown_api');
      // A subject that is not a user id, and a user who does not exist, answer alike.
      assert.equal((await oauthError(impersonate(support.token, 'alice@acme.test'))).error, 'invalid_grant');
      assert.equal((await oauthError(impersonate(support.token, '00000000-0000-4000-8000-000000000000'))).error, 'invalid_grant');
    });

    it('an impersonated or delegated token opens nothing of the admin API, whatever the user holds there', async () => {
      // boss holds `all` in the system tenant and is a member of acme (the test above): the administrator impersonates them.
      const boss = await w.gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'boss@gatehouse.test').executeTakeFirstOrThrow();
      const asBoss = (await impersonate(admin, boss.id)).access_token;
      const subject = await w.userToken(w.apps.front, w.alice.email, ORDERS);
      const delegated = (await delegate('orders', { subject_token: subject, audience: STOCK })).access_token;
      for (const token of [asBoss, delegated]) {
        for (const path of ['/api/v1/users', `/api/v1/tenants/${w.acme.tenantId}/members`, '/api/v1/apis']) {
          const answer = await w.gh.request('GET', path, { token });
          assert.equal(answer.status, 401, `${path}: ${JSON.stringify(answer.body)}`);
        }
        // Nor is it an actor token for another impersonation.
        assert.equal((await oauthError(impersonate(token, w.alice.id))).error, 'invalid_grant');
      }
      // No audience names the admin API: the issuer is no API the desk may impersonate for.
      assert.equal((await oauthError(impersonate(admin, boss.id, w.gh.issuer))).error, 'invalid_target');
      assert.equal((await oauthError(delegate('orders', { subject_token: subject, audience: w.gh.issuer }))).error, 'invalid_target');
    });

    it('a new impersonation starts after the time box: audited and listed again', async () => {
      offsetMs = (IMPERSONATION_TTL + 5) * 1000;
      try {
        // The support engineer's own token (10 minutes) must still be live: sign in to the desk again at the new time.
        await impersonate(await deskToken('support@gatehouse.test'), w.alice.id);
      } finally {
        offsetMs = 0;
      }
      const started = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.impersonationStarted', target: w.alice.id });
      assert.equal(started.length, 2);
    });
  });
});
