import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, createLocalJWKSet, decodeJwt, decodeProtectedHeader, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { PUBLISH_MARGIN_S } from '../../../src/oauth/keys/queries.js';
import { SEAL_CONTEXT } from '../../../src/oauth/keys/signing-keys.js';
import { verifyAccessToken } from '../../../src/oauth/tokens/access-tokens.js';
import { unseal } from '../../../src/platform/crypto/secrets.js';
import type { Clock } from '../../../src/platform/ids.js';
import type { SigningKey } from '../../../src/platform/ports/signing-keys.js';
import { ISSUER, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

interface KeyRow {
  kid: string;
  alg: string;
  status: 'next' | 'current' | 'retired';
  created_at: string;
  retired_at: string | null;
  withdrawn_at: string | null;
  published: boolean;
}

describe('signing keys: RS256 and ES256, rotation with overlap, several nodes', () => {
  /** The clock both nodes read: it stands still unless a test moves it. */
  let nowMs = Date.now();
  const clock: Clock = { now: () => new Date(nowMs) };
  const advance = (seconds: number) => {
    nowMs += seconds * 1000;
  };

  let gh: TestGatehouse;
  /** A second node on the same database, with its own key store cache. */
  let node2: TestGatehouse;
  let acme: TenantAdmin;

  before(async () => {
    gh = await startGatehouse({ clock });
  });
  after(async () => {
    await node2?.stop();
    await gh.stop();
  });

  const jwks = async (on = gh) => {
    const response = await on.request('GET', '/.well-known/jwks.json');
    assert.equal(response.status, 200);
    return response.body as { keys: JWK[] };
  };
  const jwksKids = async (on = gh) => (await jwks(on)).keys.map((k) => k.kid);
  const keyRows = async (token: string, on = gh): Promise<KeyRow[]> => {
    const response = await on.request('GET', '/api/v1/keys', { token });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.keys;
  };
  const held = (rows: KeyRow[], alg: string, status: KeyRow['status']) =>
    rows.filter((r) => r.alg === alg && r.status === status).map((r) => r.kid);
  const rotate = async (token: string, body?: unknown) => {
    const response = await gh.request('POST', '/api/v1/keys/rotate', { token, ...(body !== undefined && { body }) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.rotated as Array<{ alg: string; current: string; retired: string; next: string }>;
  };
  /** The admin API with an access token: GET /api/v1/tenants/:id (tenant.profile.read). */
  const adminApi = (token: string, tenantId: string, on = gh) => on.request('GET', `/api/v1/tenants/${tenantId}`, { token });

  it('a database with only the one RS256 key of earlier versions gets the missing keys at the next start', async () => {
    const before = await gh.ctx.db.selectFrom('signing_keys').select(['kid', 'alg', 'status']).execute();
    const rsaCurrent = before.find((k) => k.alg === 'RS256' && k.status === 'current')!;
    await gh.ctx.db.deleteFrom('signing_keys').where('kid', '!=', rsaCurrent.kid).execute();

    node2 = await startGatehouse({ sameDatabaseAs: gh, clock });
    const after = await gh.ctx.db.selectFrom('signing_keys').select(['kid', 'alg', 'status']).execute();
    assert.equal(after.length, 4);
    assert.deepEqual(after.find((k) => k.alg === 'RS256' && k.status === 'current')?.kid, rsaCurrent.kid, 'the existing key stays current');
    for (const alg of ['RS256', 'ES256']) {
      for (const status of ['current', 'next']) assert.equal(after.filter((k) => k.alg === alg && k.status === status).length, 1);
    }
    const created = await gh.ctx.db
      .selectFrom('audit_events')
      .select(['target_id', 'actor_type', 'details'])
      .where('action', '=', 'iam.key.created')
      .execute();
    for (const key of after.filter((k) => k.kid !== rsaCurrent.kid)) {
      const event = created.find((e) => e.target_id === key.kid);
      assert.ok(event, `iam.key.created for ${key.alg} ${key.status}`);
      assert.equal(event.actor_type, 'system');
      assert.deepEqual(event.details, { alg: key.alg, status: key.status });
    }
    // The first node learns of the new keys within its cache period; this is the shortcut.
    gh.ctx.keys.invalidate();
    acme = await gh.tenantWithAdmin('acme');
  });

  it('publishes a current and a next key for RS256 (RSA 2048) and ES256 (P-256), only their public members', async () => {
    const { keys } = await jwks();
    assert.equal(keys.length, 4);
    for (const key of keys) {
      assert.equal(key.use, 'sig');
      if (key.alg === 'RS256') {
        assert.deepEqual(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
        assert.equal(key.kty, 'RSA');
        assert.equal(Buffer.from(key.n!, 'base64url').length, 256, 'a 2048-bit modulus');
      } else {
        assert.equal(key.alg, 'ES256');
        assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
        assert.equal(key.kty, 'EC');
        assert.equal(key.crv, 'P-256');
      }
    }
    const text = JSON.stringify(keys);
    for (const name of PRIVATE_MEMBERS) assert.ok(!text.includes(`"${name}"`), `no "${name}" in the JWKS`);

    const admin = await gh.adminToken();
    const rows = await keyRows(admin);
    assert.deepEqual(rows.map((r) => r.kid).sort(), keys.map((k) => k.kid!).sort());
    for (const row of rows) {
      assert.deepEqual(Object.keys(row).sort(), ['alg', 'created_at', 'kid', 'published', 'retired_at', 'status', 'withdrawn_at']);
      assert.equal(row.withdrawn_at, null);
      assert.equal(row.published, true);
      assert.equal(row.retired_at, null);
    }
    assert.deepEqual(held(rows, 'RS256', 'current'), [(await gh.ctx.keys.current()).kid]);
    assert.deepEqual(held(rows, 'RS256', 'current'), [(await gh.ctx.keys.current('RS256')).kid]);
    assert.deepEqual(held(rows, 'ES256', 'current'), [(await gh.ctx.keys.current('ES256')).kid]);
    assert.equal(kidOf(admin), held(rows, 'RS256', 'current')[0], 'tokens are signed with the current RS256 key');

    const { keys: privateKeys } = await gh.ctx.keys.privateJwks();
    assert.deepEqual(
      privateKeys.map((k) => [k.kid, k.alg, k.use]),
      [
        [held(rows, 'RS256', 'current')[0], 'RS256', 'sig'],
        [held(rows, 'ES256', 'current')[0], 'ES256', 'sig'],
      ],
      'private JWKs: the current keys, RS256 first, never a next key',
    );
    for (const key of privateKeys) assert.equal(typeof key.d, 'string');
  });

  it('accepts on the API a token signed by any published key, ES256 and `next` keys included', async () => {
    const claims = decodeJwt(acme.token);
    const sign = (alg: string, kid: string, key: CryptoKey) =>
      new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(key);
    const es = await gh.ctx.keys.current('ES256');
    const esToken = await sign('ES256', es.kid, es.privateKey);
    assert.equal((await adminApi(esToken, acme.tenantId)).status, 200, 'the current ES256 key');

    const next = await gh.ctx.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('status', '=', 'next')
      .where('alg', '=', 'RS256')
      .executeTakeFirstOrThrow();
    const nextJwk = JSON.parse(unseal(gh.ctx.masterKey, next.private_jwk_sealed, `${SEAL_CONTEXT}:${next.kid}`));
    const nextToken = await sign('RS256', next.kid, (await importJWK(nextJwk, 'RS256')) as CryptoKey);
    assert.equal((await adminApi(nextToken, acme.tenantId)).status, 200, 'the next RS256 key');

    const rs = await gh.ctx.keys.current('RS256');
    const mismatch = await sign('RS256', es.kid, rs.privateKey);
    assert.equal((await adminApi(mismatch, acme.tenantId)).status, 401, 'an RS256 signature under the kid of an ES256 key');
  });

  it('documents the JWKS in the OpenAPI document as RSA or EC public keys, with no private member', async () => {
    const doc = (await gh.request('GET', '/api/v1/openapi.json')).body;
    const schema = doc.paths['/.well-known/jwks.json'].get.responses['200'].content['application/json'].schema;
    const variants = schema.properties.keys.items.anyOf as Array<{ properties: Record<string, unknown>; additionalProperties: boolean }>;
    assert.deepEqual(
      variants.map((v) => Object.keys(v.properties).sort()),
      [
        ['alg', 'e', 'kid', 'kty', 'n', 'use'],
        ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'],
      ],
    );
    for (const variant of variants) assert.equal(variant.additionalProperties, false);
    const rotate = doc.paths['/api/v1/keys/rotate'].post;
    assert.deepEqual(Object.keys(rotate.responses['200'].content['application/json'].schema.properties), ['rotated']);
  });

  it('lets only a holder of iam.key.read list keys, and of iam.key.rotate rotate them', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/keys'],
      ['POST', '/api/v1/keys/rotate'],
    ] as const) {
      const asTenantAdmin = await gh.request(method, url, { token: acme.token });
      assert.equal(asTenantAdmin.status, 403, `${method} ${url} as a tenant administrator`);
      assert.equal(asTenantAdmin.body.error, 'forbidden');
      const anonymous = await gh.request(method, url);
      assert.equal(anonymous.status, 401, `${method} ${url} without a token`);
    }
    assert.equal((await gh.ctx.db.selectFrom('signing_keys').select('kid').execute()).length, 4, 'nothing was rotated');
  });

  describe('a rotation on one node', () => {
    let admin: string;
    let rowsBefore: KeyRow[];
    let oldKey: SigningKey;
    /** Issued before the rotation by each node. */
    let oldToken: string;
    let node2Token: string;
    let rotated: Awaited<ReturnType<typeof rotate>>;
    let rotatedAt: number;

    before(async () => {
      admin = await gh.adminToken();
      rowsBefore = await keyRows(admin);
      oldKey = await gh.ctx.keys.current();
      oldToken = acme.token;
      assert.equal(kidOf(oldToken), oldKey.kid);
      // The second node has read the key set before the rotation.
      assert.equal((await node2.ctx.keys.current()).kid, oldKey.kid);
      rotatedAt = clock.now().getTime();
      rotated = await rotate(admin);
    });

    it('makes each next key current, retires the current one and publishes a new next key', async () => {
      assert.deepEqual(
        rotated.map((r) => r.alg),
        ['RS256', 'ES256'],
      );
      for (const r of rotated) {
        assert.equal(r.current, held(rowsBefore, r.alg, 'next')[0], `${r.alg}: the next key is current`);
        assert.equal(r.retired, held(rowsBefore, r.alg, 'current')[0], `${r.alg}: the current key is retired`);
        assert.ok(!rowsBefore.some((k) => k.kid === r.next), `${r.alg}: the next key is new`);
      }
      const rows = await keyRows(admin);
      assert.equal(rows.length, 6);
      for (const r of rotated) {
        assert.deepEqual(held(rows, r.alg, 'current'), [r.current]);
        assert.deepEqual(held(rows, r.alg, 'next'), [r.next]);
        assert.deepEqual(held(rows, r.alg, 'retired'), [r.retired]);
        const retired = rows.find((k) => k.kid === r.retired)!;
        assert.equal(Date.parse(retired.retired_at!), rotatedAt, 'retired now, by the injected clock');
        assert.equal(retired.published, true);
      }
      assert.deepEqual((await jwksKids()).sort(), rows.map((r) => r.kid).sort(), 'the JWKS holds next, current and retired keys');
      assert.equal((await gh.ctx.keys.current('ES256')).kid, rotated[1]!.current);

      const { keys } = await gh.ctx.keys.privateJwks();
      assert.deepEqual(
        keys.map((k) => k.kid),
        [rotated[0]!.current, rotated[1]!.current, rotated[0]!.retired, rotated[1]!.retired],
        'private JWKs: current keys first, then the published retired ones, no next key',
      );
    });

    it('signs new tokens with the new key at once on the rotating node; they verify on both nodes', async () => {
      const fresh = await gh.tokenFor(await gh.signIn(acme.adminEmail, 'a-long-test-password'), acme.tenantId);
      assert.equal(kidOf(fresh), rotated[0]!.current);
      assert.equal((await adminApi(fresh, acme.tenantId)).status, 200);
      assert.equal((await adminApi(fresh, acme.tenantId, node2)).status, 200, 'the other node knew the key as `next`');
      const { payload } = await jwtVerify(fresh, createLocalJWKSet(await jwks(node2)), { issuer: ISSUER, audience: ISSUER });
      assert.equal(payload.org_id, acme.tenantId);
    });

    it('the other node signs with the new key at once too (the change feed), and both nodes still verify the retired key', async () => {
      node2Token = await node2.tokenFor(await node2.signIn(acme.adminEmail, 'a-long-test-password'), acme.tenantId);
      assert.equal(kidOf(node2Token), rotated[0]!.current, 'the rotation dropped its cached key set');
      assert.deepEqual((await jwksKids(node2)).sort(), (await jwksKids()).sort());
      assert.equal((await adminApi(node2Token, acme.tenantId)).status, 200);
      assert.equal((await adminApi(oldToken, acme.tenantId, node2)).status, 200, 'the retired key is still published and accepted');
      assert.equal((await adminApi(oldToken, acme.tenantId)).status, 200);

      // invalidate() is the shortcut on one node: the next call reads the database.
      node2.ctx.keys.invalidate();
      assert.equal((await node2.ctx.keys.current()).kid, rotated[0]!.current);
    });

    it('records iam.key.rotated with the old and new kids, by the administrator who rotated, and iam.key.created for the new next keys', async () => {
      const events = await gh.auditEvents(await gh.adminToken(), { action: 'iam.key.rotated' });
      assert.equal(events.length, 2);
      const adminId = decodeJwt(admin).sub;
      for (const r of rotated) {
        const event = events.find((e) => e.details.alg === r.alg)!;
        assert.ok(event, r.alg);
        assert.equal(event.actor_type, 'user');
        assert.equal(event.actor_id, adminId);
        assert.equal(event.target_type, 'signing_key');
        assert.equal(event.target_id, r.current);
        assert.deepEqual(event.details, {
          alg: r.alg,
          previous_kid: r.retired,
          current_kid: r.current,
          next_kid: r.next,
          retired_now: false,
        });
      }
      const created = await gh.auditEvents(await gh.adminToken(), { action: 'iam.key.created', target: rotated[0]!.next });
      assert.equal(created.length, 1);
      assert.deepEqual(created[0]!.details, { alg: 'RS256', status: 'next' });
    });

    it('a token signed before the rotation works on the API until it expires', async () => {
      assert.equal((await adminApi(oldToken, acme.tenantId)).status, 200);
      advance(9 * 60);
      const late = await adminApi(oldToken, acme.tenantId);
      assert.equal(late.status, 200, '9 minutes after it was issued');
      advance(2 * 60);
      const expired = await adminApi(oldToken, acme.tenantId);
      assert.equal(expired.status, 401, 'expired');
      assert.equal(expired.body.error, 'invalid_token');
    });

    /** A token signed now with the retired key, checked by signature, issuer, audience and expiry alone. */
    const signedWithOldKey = async () => {
      const now = Math.floor(clock.now().getTime() / 1000);
      const claims = decodeJwt(oldToken);
      return new SignJWT({ ...claims, iat: now, exp: now + 600, jti: randomUUID() })
        .setProtectedHeader({ alg: 'RS256', kid: oldKey.kid, typ: 'at+jwt' })
        .sign(oldKey.privateKey);
    };

    it('keeps the retired key published until the longest token lifetime (and an API’s longer one) has passed, then drops it', async () => {
      const grace = 3600 + PUBLISH_MARGIN_S;
      const published = async () => (await jwksKids()).includes(oldKey.kid);
      nowMs = rotatedAt + (grace - 2) * 1000;
      assert.equal(await published(), true, 'still published just before the grace ends');
      assert.ok(await verifyAccessToken(gh.ctx, await signedWithOldKey()));
      const whilePublished = await gh.ctx.keys.privateJwks();
      assert.ok(whilePublished.keys.some((k) => k.kid === oldKey.kid));

      // An API whose tokens live two hours keeps the key published longer.
      await gh.ctx.db
        .insertInto('apis')
        .values({
          id: randomUUID(),
          tenant_id: acme.tenantId,
          identifier: 'https://long-lived.test',
          name: 'Long-lived tokens',
          token_lifetime: 7200,
          signing_alg: 'RS256',
          signing_secret_sealed: null,
          updated_at: clock.now(),
        })
        .execute();
      advance(4);
      gh.ctx.keys.invalidate();
      assert.equal(await published(), true, 'an API issues tokens that live 7200 s');

      await gh.ctx.db.deleteFrom('apis').execute();
      gh.ctx.keys.invalidate();
      assert.equal(await published(), false, 'gone once the longest lifetime has passed');
      const { keys, version } = await gh.ctx.keys.privateJwks();
      assert.ok(!keys.some((k) => k.kid === oldKey.kid), 'not among the private JWKs either');
      assert.deepEqual(
        keys.map((k) => k.kid),
        [rotated[0]!.current, rotated[1]!.current],
      );
      assert.notEqual(version, whilePublished.version, 'the version changes with the set');
      await assert.rejects(verifyAccessToken(gh.ctx, await signedWithOldKey()), { code: 'invalid_token' });

      const rows = await keyRows(await gh.adminToken());
      const row = rows.find((k) => k.kid === oldKey.kid)!;
      assert.equal(row.status, 'retired', 'the row stays, for the audit trail');
      assert.equal(row.published, false);
    });
  });

  it('rotates the keys of one algorithm when asked, and refuses an unknown algorithm or field', async () => {
    const admin = await gh.adminToken();
    const before = await keyRows(admin);
    const [only, ...rest] = await rotate(admin, { alg: 'ES256' });
    assert.equal(rest.length, 0);
    assert.equal(only!.alg, 'ES256');
    assert.equal(only!.current, held(before, 'ES256', 'next')[0]);
    const after = await keyRows(admin);
    assert.deepEqual(held(after, 'RS256', 'current'), held(before, 'RS256', 'current'), 'RS256 untouched');
    assert.deepEqual(held(after, 'RS256', 'next'), held(before, 'RS256', 'next'));
    assert.equal((await gh.ctx.keys.current('ES256')).kid, only!.current);

    for (const body of [{ alg: 'HS256' }, { alg: 'none' }, { algorithm: 'RS256' }]) {
      const response = await gh.request('POST', '/api/v1/keys/rotate', { token: admin, body });
      assert.equal(response.status, 400, JSON.stringify(body));
    }
    assert.equal((await keyRows(admin)).length, after.length, 'nothing rotated');
  });
});
