import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, decodeJwt, exportSPKI, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  ISSUER,
  PASSWORD,
  startGatehouse,
  type TenantAdmin,
  type TestGatehouse,
} from '../../helpers/gatehouse.js';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A member with a live session and an access token for one tenant. */
interface Member {
  id: string;
  email: string;
  session: string;
  sessionId: string;
  access: string;
}

describe('access tokens, introspection and JWKS', () => {
  let gh: TestGatehouse;
  let admin: string;
  let systemTenantId: string;
  let acme: TenantAdmin;
  let roleIds: Record<string, string>;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    systemTenantId = decodeJwt(admin).org_id as string;
    acme = await gh.tenantWithAdmin('acme');
    roleIds = await gh.systemRoleIds();
  });
  after(() => gh.stop());

  /** Creates a user homed in `tenantId` (USER role unless given), signs in and gets an access token there. */
  async function member(email: string, tenantId = acme.tenantId, extra: Record<string, unknown> = {}): Promise<Member> {
    const id = await gh.createUser(admin, { email, password: PASSWORD, tenant: tenantId, ...extra });
    const signIn = await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } });
    assert.equal(signIn.status, 200);
    const access = await gh.tokenFor(signIn.body.token, tenantId);
    return { id, email, session: signIn.body.token, sessionId: signIn.body.id, access };
  }

  const introspect = async (token: string, credential = admin) => {
    const response = await gh.request('POST', '/api/v1/tokens/introspect', { token: credential, body: { token } });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };

  /** The admin-API verdict on a token: GET /api/v1/tenants/:id needs only tenant.profile.read, which USER holds. */
  const adminApi = (token: string, tenantId = acme.tenantId) => gh.request('GET', `/api/v1/tenants/${tenantId}`, { token });

  const assertRejected = async (token: string, what: string) => {
    const response = await adminApi(token);
    assert.equal(response.status, 401, `${what}: admin API status`);
    assert.equal(response.body.error, 'invalid_token', `${what}: admin API error`);
    const list = await gh.request('GET', '/api/v1/tenants', { token });
    assert.equal(list.status, 401, `${what}: GET /tenants status`);
    assert.equal(list.body.error, 'invalid_token', `${what}: GET /tenants error`);
    assert.deepEqual(await introspect(token), { active: false }, `${what}: introspection`);
  };

  describe('POST /api/v1/tokens/introspect', () => {
    it('reports an active session token as {active:true, token_type:"session"} with its user and session', async () => {
      const m = await member('intro-session@acme.test');
      const result = await introspect(m.session);
      assert.equal(result.active, true);
      assert.equal(result.token_type, 'session');
      assert.equal(result.sub, m.id);
      assert.equal(result.sid, m.sessionId);
      assert.equal(result.username, m.email);
      assert.equal(result.iss, ISSUER);
      assert.ok(Number.isInteger(result.exp) && Number.isInteger(result.iat) && result.exp > result.iat);
      assert.equal(result.org_id, undefined, 'a session token belongs to no organization');
    });

    it('reports an active access token with its organization, roles and permissions', async () => {
      const m = await member('intro-access@acme.test');
      const claims = decodeJwt(m.access);
      const result = await introspect(m.access);
      assert.equal(result.active, true);
      assert.equal(result.token_type, 'access_token');
      assert.equal(result.sub, m.id);
      assert.equal(result.sid, m.sessionId);
      assert.equal(result.username, m.email);
      assert.equal(result.org_id, acme.tenantId);
      assert.equal(result.org_name, 'ACME');
      assert.deepEqual(result.roles, ['USER']);
      assert.deepEqual(result.permissions, ['tenant.profile.read']);
      assert.equal(result.client_id, 'gatehouse');
      assert.equal(result.iss, ISSUER);
      assert.equal(result.aud, ISSUER);
      assert.equal(result.jti, claims.jti);
      assert.equal(result.exp, claims.exp);
      assert.equal(result.iat, claims.iat);
    });

    it('answers {active:false} and nothing else for garbage tokens', async () => {
      for (const token of ['garbage', 'ghs_not-a-session', 'a.b.c', 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln']) {
        assert.deepEqual(await introspect(token), { active: false }, token);
      }
    });

    it('answers {active:false} for a signed-out session token and for an access token of that session', async () => {
      const m = await member('intro-signed-out@acme.test');
      assert.equal((await introspect(m.session)).active, true);
      assert.equal((await introspect(m.access)).active, true);
      assert.equal((await gh.request('DELETE', '/api/v1/session', { token: m.session })).status, 204);
      assert.deepEqual(await introspect(m.session), { active: false });
      assert.deepEqual(await introspect(m.access), { active: false });
    });

    it('answers {active:false} at once for the session and access tokens of a user a system admin disables', async () => {
      const m = await member('intro-disabled@acme.test');
      assert.equal((await adminApi(m.access)).status, 200);
      const disable = await gh.request('PATCH', `/api/v1/users/${m.id}`, { token: admin, body: { status: 'disabled' } });
      assert.equal(disable.status, 200);
      assert.equal(disable.body.status, 'disabled');
      assert.deepEqual(await introspect(m.session), { active: false });
      assert.deepEqual(await introspect(m.access), { active: false });
      const api = await adminApi(m.access);
      assert.equal(api.status, 401);
      assert.equal(api.body.error, 'invalid_token');
      assert.equal((await gh.request('GET', '/api/v1/session', { token: m.session })).status, 401);
      assert.equal((await gh.request('POST', '/api/v1/token', { token: m.session, body: { organization: acme.tenantId } })).status, 401);
    });

    it('answers {active:false} for the access token of a suspended tenant while the session stays active', async () => {
      const { tenantId } = await gh.tenantWithAdmin('intro-suspended');
      const m = await member('intro-suspended@intro-suspended.test', tenantId);
      assert.equal((await introspect(m.access)).active, true);
      const suspend = await gh.request('PATCH', `/api/v1/tenants/${tenantId}`, { token: admin, body: { status: 'suspended' } });
      assert.equal(suspend.status, 200);
      assert.deepEqual(await introspect(m.access), { active: false });
      assert.equal((await introspect(m.session)).active, true, 'the session is not the tenant’s');
    });

    it('answers {active:false} for an expired access token signed with the real key', async () => {
      const m = await member('intro-expired@acme.test');
      const now = Math.floor(Date.now() / 1000);
      const expired = await forge(m, { iat: now - 1200, exp: now - 600 });
      assert.deepEqual(await introspect(expired), { active: false });
    });

    it('answers 403 forbidden to a tenant administrator (introspection is a system permission)', async () => {
      const m = await member('intro-by-tenant-admin@acme.test');
      const response = await gh.request('POST', '/api/v1/tokens/introspect', { token: acme.token, body: { token: m.access } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      assert.equal(response.body.details?.required, 'iam.token.introspect');
    });

    it('answers 403 forbidden to a plain member introspecting their own token', async () => {
      const m = await member('intro-self@acme.test');
      const response = await gh.request('POST', '/api/v1/tokens/introspect', { token: m.access, body: { token: m.access } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
    });

    it('answers 401 invalid_token when the credential is a session token, even the system admin’s', async () => {
      const session = await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      const response = await gh.request('POST', '/api/v1/tokens/introspect', { token: session, body: { token: session } });
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'invalid_token');
    });

    it('answers 401 unauthorized without a credential', async () => {
      const response = await gh.request('POST', '/api/v1/tokens/introspect', { body: { token: 'anything' } });
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'unauthorized');
    });

    it('answers 400 for a missing token, a non-string token and an unknown field', async () => {
      const cases: [unknown, string][] = [
        [{}, 'missing_field'],
        [{ token: 42 }, 'invalid_type'],
        [{ token: 'x', token_type_hint: 'access_token', extra: 1 }, 'unknown_field'],
      ];
      for (const [body, error] of cases) {
        const response = await gh.request('POST', '/api/v1/tokens/introspect', { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, error, JSON.stringify(body));
      }
    });
  });

  /** A token with the claims Gatehouse issues for `m` in acme, with overrides; `undefined` drops a claim. */
  async function forge(
    m: Member,
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    key?: CryptoKey | Uint8Array,
  ): Promise<string> {
    const current = await gh.ctx.keys.current();
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      iss: ISSUER,
      sub: m.id,
      aud: ISSUER,
      iat: now,
      exp: now + 600,
      jti: randomUUID(),
      sid: m.sessionId,
      client_id: 'gatehouse',
      org_id: acme.tenantId,
      org_name: 'ACME',
      roles: ['USER'],
      permissions: ['tenant.profile.read'],
      email: m.email,
      name: null,
      ...claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return new SignJWT(payload as JWTPayload)
      .setProtectedHeader({ alg: 'RS256', kid: current.kid, typ: 'at+jwt', ...header } as never)
      .sign(key ?? current.privateKey);
  }

  describe('JWT verification of access tokens', () => {
    let m: Member;
    let publicJwk: JWK;

    before(async () => {
      m = await member('forged@acme.test');
      const { kid } = await gh.ctx.keys.current();
      const jwks = (await gh.request('GET', '/.well-known/jwks.json')).body as { keys: JWK[] };
      publicJwk = jwks.keys.find((k) => k.kid === kid)!;
      assert.ok(publicJwk, 'the current key is in the JWKS');
    });

    it('accepts a token forged with the real key, iss, aud, typ and a live sid (positive control)', async () => {
      const token = await forge(m);
      const response = await adminApi(token);
      assert.equal(response.status, 200);
      assert.equal(response.body.id, acme.tenantId);
      const result = await introspect(token);
      assert.equal(result.active, true);
      assert.equal(result.sub, m.id);
    });

    it('rejects an expired token', async () => {
      const now = Math.floor(Date.now() / 1000);
      await assertRejected(await forge(m, { iat: now - 1200, exp: now - 600 }), 'expired');
    });

    it('rejects a token from another issuer', async () => {
      await assertRejected(await forge(m, { iss: 'https://evil.test' }), 'wrong iss');
    });

    it('rejects a token for another audience, and one without an audience', async () => {
      await assertRejected(await forge(m, { aud: 'https://some-api.test' }), 'wrong aud');
      await assertRejected(await forge(m, { aud: undefined }), 'no aud');
    });

    it('rejects a token signed by a key that is not in the JWKS, under an unknown kid or under the real kid', async () => {
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      await assertRejected(await forge(m, {}, { kid: 'not-in-the-jwks' }, privateKey), 'unknown kid');
      await assertRejected(await forge(m, {}, {}, privateKey), 'foreign key under the real kid');
    });

    it('rejects an unsigned token (alg "none")', async () => {
      const real = decodeJwt(await forge(m));
      const none = `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(real)}.`;
      await assertRejected(none, 'alg none');
      const { kid } = await gh.ctx.keys.current();
      const noneWithKid = `${b64url({ alg: 'none', typ: 'at+jwt', kid })}.${b64url(real)}.`;
      await assertRejected(noneWithKid, 'alg none with the real kid');
    });

    it('rejects HS256 tokens signed with the RSA public key as the HMAC secret (algorithm confusion)', async () => {
      const spkiPem = await exportSPKI((await importJWK(publicJwk, 'RS256')) as CryptoKey);
      const secrets: [string, Uint8Array][] = [
        ['SPKI PEM', new TextEncoder().encode(spkiPem)],
        ['n', new TextEncoder().encode(publicJwk.n!)],
        ['JWK JSON', new TextEncoder().encode(JSON.stringify(publicJwk))],
      ];
      for (const [what, secret] of secrets) {
        await assertRejected(await forge(m, {}, { alg: 'HS256' }, secret), `HS256 with the public key as ${what}`);
      }
    });

    it('rejects a token whose typ is not at+jwt (an ID token or plain JWT)', async () => {
      await assertRejected(await forge(m, {}, { typ: 'JWT' }), 'typ JWT');
    });

    it('rejects a real token whose payload was altered (escalating to the system tenant)', async () => {
      const [header, , signature] = m.access.split('.');
      const claims = { ...decodeJwt(m.access), org_id: systemTenantId, roles: ['ADMIN'], permissions: ['all'] };
      const tampered = `${header}.${b64url(claims)}.${signature}`;
      await assertRejected(tampered, 'tampered payload');
      const list = await gh.request('GET', '/api/v1/users', { token: tampered });
      assert.equal(list.status, 401);
    });

    it('rejects a validly signed token without a sid, with a revoked sid, or with another user’s sid', async () => {
      await assertRejected(await forge(m, { sid: undefined }), 'no sid');
      const other = await member('forged-other@acme.test');
      await assertRejected(await forge(m, { sid: other.sessionId }), 'another user’s sid');
      const revoked = await member('forged-revoked@acme.test');
      await gh.request('DELETE', '/api/v1/session', { token: revoked.session });
      await assertRejected(await forge(revoked), 'revoked sid');
    });

    it('rejects a validly signed token for a tenant the user is not a member of', async () => {
      const response = await gh.request('GET', `/api/v1/tenants/${systemTenantId}`, {
        token: await forge(m, { org_id: systemTenantId, roles: ['ADMIN'], permissions: ['all'] }),
      });
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'invalid_token');
    });
  });

  describe('suspended tenants', () => {
    it('stops its members getting tokens for it (403 tenant_suspended), hides it from /organizations, and ends its access tokens', async () => {
      const { tenantId } = await gh.tenantWithAdmin('suspendable');
      const m = await member('suspended-member@suspendable.test', tenantId);
      await gh.request('POST', `/api/v1/tenants/${acme.tenantId}/members`, { token: admin, body: { userId: m.id } });
      const orgsBefore = (await gh.request('GET', '/api/v1/organizations', { token: m.session })).body.organizations as { id: string }[];
      assert.deepEqual(orgsBefore.map((o) => o.id).sort(), [acme.tenantId, tenantId].sort());

      const suspend = await gh.request('PATCH', `/api/v1/tenants/${tenantId}`, { token: admin, body: { status: 'suspended' } });
      assert.equal(suspend.status, 200);
      assert.equal(suspend.body.status, 'suspended');

      for (const organization of [tenantId, 'suspendable']) {
        const issued = await gh.request('POST', '/api/v1/token', { token: m.session, body: { organization } });
        assert.equal(issued.status, 403, organization);
        assert.equal(issued.body.error, 'tenant_suspended', organization);
      }
      const orgsAfter = (await gh.request('GET', '/api/v1/organizations', { token: m.session })).body.organizations as { id: string }[];
      assert.deepEqual(
        orgsAfter.map((o) => o.id),
        [acme.tenantId],
      );
      const api = await adminApi(m.access, tenantId);
      assert.equal(api.status, 401);
      assert.equal(api.body.error, 'invalid_token');
      assert.equal((await gh.request('POST', '/api/v1/token', { token: m.session, body: { organization: acme.tenantId } })).status, 200);

      const resume = await gh.request('PATCH', `/api/v1/tenants/${tenantId}`, { token: admin, body: { status: 'active' } });
      assert.equal(resume.status, 200);
      const reissued = await gh.request('POST', '/api/v1/token', { token: m.session, body: { organization: tenantId } });
      assert.equal(reissued.status, 200, 'a resumed tenant issues tokens again');
    });

    it('stops its tenant administrator’s admin API access at once', async () => {
      const tenant = await gh.tenantWithAdmin('suspended-admin');
      assert.equal((await gh.request('GET', '/api/v1/users', { token: tenant.token })).status, 200);
      await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}`, { token: admin, body: { status: 'suspended' } });
      const response = await gh.request('GET', '/api/v1/users', { token: tenant.token });
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'invalid_token');
    });
  });

  describe('removed memberships', () => {
    it('answers 403 not_a_member on POST /token, drops the organization and ends the issued access token', async () => {
      const m = await member('removed@acme.test');
      assert.equal((await adminApi(m.access)).status, 200);
      const removed = await gh.request('DELETE', `/api/v1/tenants/${acme.tenantId}/members/${m.id}`, { token: admin });
      assert.equal(removed.status, 204);

      const issued = await gh.request('POST', '/api/v1/token', { token: m.session, body: { organization: acme.tenantId } });
      assert.equal(issued.status, 403);
      assert.equal(issued.body.error, 'not_a_member');
      assert.deepEqual((await gh.request('GET', '/api/v1/organizations', { token: m.session })).body.organizations, []);
      const api = await adminApi(m.access);
      assert.equal(api.status, 401);
      assert.equal(api.body.error, 'invalid_token');
      assert.deepEqual(await introspect(m.access), { active: false });
    });
  });

  describe('permissions are recomputed on every request', () => {
    it('a role removed from a member stops working on the admin API at once, and a direct grant starts at once', async () => {
      const tenant = await gh.tenantWithAdmin('demoted');
      assert.equal((await gh.request('GET', '/api/v1/users', { token: tenant.token })).status, 200);

      const demote = await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}/members/${tenant.adminId}`, {
        token: admin,
        body: { roles: [roleIds.USER] },
      });
      assert.equal(demote.status, 200);
      const denied = await gh.request('GET', '/api/v1/users', { token: tenant.token });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error, 'forbidden');
      assert.equal(
        (await gh.request('GET', `/api/v1/tenants/${tenant.tenantId}`, { token: tenant.token })).status,
        200,
        'USER still reads the profile',
      );
      const create = await gh.request('POST', '/api/v1/users', {
        token: tenant.token,
        body: { email: 'late@demoted.test', password: PASSWORD },
      });
      assert.equal(create.status, 403);

      const grant = await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}/members/${tenant.adminId}`, {
        token: admin,
        body: { permissions: ['tenant.account.read'] },
      });
      assert.equal(grant.status, 200);
      assert.equal((await gh.request('GET', '/api/v1/users', { token: tenant.token })).status, 200);
    });

    it('a permission removed from a tenant role stops working at once for its holders', async () => {
      const tenant = await gh.tenantWithAdmin('reshaped');
      const role = await gh.created('/api/v1/roles', tenant.token, { name: 'auditor', permissions: ['tenant.audit.read'] });
      const m = await member('auditor@reshaped.test', tenant.tenantId, { roles: [role.id] });
      assert.equal((await gh.request('GET', '/api/v1/audit-events', { token: m.access })).status, 200);
      const reshape = await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: tenant.token, body: { permissions: [] } });
      assert.equal(reshape.status, 200);
      const denied = await gh.request('GET', '/api/v1/audit-events', { token: m.access });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error, 'forbidden');
    });

    it('introspection reports the permissions as they are now, not as the token was issued', async () => {
      const tenant = await gh.tenantWithAdmin('introspected');
      const role = await gh.created('/api/v1/roles', tenant.token, { name: 'reader', permissions: ['tenant.account.read'] });
      const m = await member('reader@introspected.test', tenant.tenantId, { roles: [role.id] });
      const before = await gh.request('POST', '/api/v1/tokens/introspect', { token: admin, body: { token: m.access } });
      assert.deepEqual(before.body.permissions, ['tenant.account.read']);
      assert.deepEqual(before.body.roles, ['reader']);
      await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: tenant.token, body: { permissions: ['tenant.audit.read'] } });
      const after = await gh.request('POST', '/api/v1/tokens/introspect', { token: admin, body: { token: m.access } });
      assert.equal(after.body.active, true);
      assert.deepEqual(after.body.permissions, ['tenant.audit.read']);
    });
  });

  describe('GET /.well-known/jwks.json', () => {
    it('publishes only the public members of the RS256 (kty, kid, alg, use, n, e) and ES256 (kty, kid, alg, use, crv, x, y) keys', async () => {
      const response = await gh.request('GET', '/.well-known/jwks.json');
      assert.equal(response.status, 200);
      assert.ok(response.body.keys.length >= 1);
      for (const key of response.body.keys) {
        if (key.alg === 'RS256') {
          assert.deepEqual(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
          assert.equal(key.kty, 'RSA');
        } else {
          assert.equal(key.alg, 'ES256');
          assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
          assert.equal(key.kty, 'EC');
        }
        assert.equal(key.use, 'sig');
      }
      const { kid } = await gh.ctx.keys.current();
      assert.ok(
        response.body.keys.some((k: { kid: string }) => k.kid === kid),
        'the current signing key is published',
      );
      for (const name of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.ok(!JSON.stringify(response.body).includes(`"${name}"`), name);
    });

    it('lets caches keep it: cache-control public', async () => {
      const response = await gh.request('GET', '/.well-known/jwks.json');
      assert.match(String(response.headers['cache-control']), /\bpublic\b/);
      assert.doesNotMatch(String(response.headers['cache-control']), /no-store/);
    });

    it('publishes the key that verifies issued tokens (the kid in the token header)', async () => {
      const m = await member('jwks-kid@acme.test');
      const kid = JSON.parse(Buffer.from(m.access.split('.')[0]!, 'base64url').toString()).kid;
      const response = await gh.request('GET', '/.well-known/jwks.json');
      assert.ok(response.body.keys.some((k: { kid: string }) => k.kid === kid));
    });
  });
});
