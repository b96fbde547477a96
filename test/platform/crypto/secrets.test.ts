import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { unseal } from '../../../src/platform/crypto/secrets.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

const ARGON2ID_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';
const SEAL_CONTEXT = 'gatehouse:signing-key';

/**
 * docs/security.md#v6-stored-cryptography: "No secret (password, token, key, OTP seed) is ever logged, returned after
 * creation, or stored in plaintext." One full flow runs first; then its logs, its
 * responses and every row of every table are searched for each secret it used.
 */
describe('no secret is logged, returned after creation, or stored in plaintext', () => {
  let gh: TestGatehouse;
  /** Every password the flow typed, right or wrong. */
  const passwords = new Set<string>([ADMIN_PASSWORD, PASSWORD]);
  /** Every session token and access token the flow received. */
  const tokens = new Set<string>();
  /** Session token → session id, as POST /session answered. */
  const sessions = new Map<string, string>();
  /** Bodies of every response after the one that created a secret. */
  const laterResponses: Array<{ what: string; text: string }> = [];

  /** The signature of a JWT, or the random part of an opaque token. */
  const secretPart = (token: string) => (token.includes('.') ? token.split('.')[2]! : token.slice(token.indexOf('_') + 1));
  const secret = (label: string) => `${label}-${randomBytes(9).toString('base64url')}`;

  async function signIn(username: string, password: string, rememberMe?: boolean) {
    passwords.add(password);
    const response = await gh.request('POST', '/api/v1/session', {
      body: { username, password, ...(rememberMe !== undefined && { 'remember-me': rememberMe }) },
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    tokens.add(response.body.token);
    sessions.set(response.body.token, response.body.id);
    return response.body.token as string;
  }

  async function tokenFor(session: string, organization: string) {
    const token = await gh.tokenFor(session, organization);
    tokens.add(token);
    return token;
  }

  /** A GET (or other read) whose body is kept for the search. */
  async function read(method: 'GET' | 'POST', url: string, token: string, body?: unknown) {
    const response = await gh.request(method, url, { token, ...(body !== undefined && { body }) });
    assert.ok(response.status < 300, `${method} ${url}: ${response.status} ${JSON.stringify(response.body)}`);
    laterResponses.push({ what: `${method} ${url}`, text: JSON.stringify(response.body) });
    return response.body;
  }

  /** Every row of every table of the Gatehouse schema, as JSON text (bytea as \x hex). */
  async function dumpDatabase(): Promise<Map<string, string>> {
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(gh.ctx.db);
    const dump = new Map<string, string>();
    for (const { table_name } of tables.rows) {
      const rows = await sql<{ row: string }>`select row_to_json(t)::text as row from ${sql.table(table_name)} t`.execute(gh.ctx.db);
      dump.set(table_name, rows.rows.map((r) => r.row).join('\n'));
    }
    return dump;
  }

  let aliceId: string;
  let bobId: string;

  before(async () => {
    gh = await startGatehouse();
    const { tenantId, token: tenantAdmin } = await gh.tenantWithAdmin('secrets');

    // Sign in, token, and users created with passwords.
    const adminSession = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
    const admin = await tokenFor(adminSession, 'system');
    const alicePassword = secret('a-first');
    passwords.add(alicePassword);
    aliceId = await gh.createUser(admin, { email: 'alice@secrets.test', password: alicePassword, name: 'Alice', tenant: tenantId });
    const bobPassword = secret('b-first');
    passwords.add(bobPassword);
    bobId = await gh.createUser(tenantAdmin, { email: 'bob@secrets.test', password: bobPassword });

    // Failed sign-ins: wrong password for a real account, and an unknown account.
    for (const [username, password] of [
      ['alice@secrets.test', secret('alice-wrong-guess')],
      ['nobody@secrets.test', secret('nobody-guess')],
      [ADMIN_EMAIL, secret('admin-wrong-guess')],
    ] as const) {
      passwords.add(password);
      const failed = await gh.request('POST', '/api/v1/session', { body: { username, password } });
      assert.equal(failed.status, 401);
      assert.equal(failed.body.error, 'invalid_credentials');
      laterResponses.push({ what: `failed sign-in ${username}`, text: JSON.stringify(failed.body) });
    }

    // Alice signs in, gets a token, then her password is changed (by the system admin) and
    // Bob's by his tenant administrator; both sign in again with the new passwords.
    const aliceSession = await signIn('alice@secrets.test', alicePassword, true);
    await tokenFor(aliceSession, tenantId);
    const aliceNew = secret('a-second');
    passwords.add(aliceNew);
    const changed = await gh.request('PATCH', `/api/v1/users/${aliceId}`, { token: admin, body: { password: aliceNew } });
    assert.equal(changed.status, 200);
    laterResponses.push({ what: 'PATCH alice password', text: JSON.stringify(changed.body) });
    const bobNew = secret('b-second');
    passwords.add(bobNew);
    const bobChanged = await gh.request('PATCH', `/api/v1/users/${bobId}`, { token: tenantAdmin, body: { password: bobNew } });
    assert.equal(bobChanged.status, 200);
    laterResponses.push({ what: 'PATCH bob password', text: JSON.stringify(bobChanged.body) });
    const aliceAgain = await signIn('alice@secrets.test', aliceNew);
    const aliceToken = await tokenFor(aliceAgain, tenantId);
    const bobSession = await signIn('bob@secrets.test', bobNew);

    // Reads that show users, sessions, members and the audit trail; introspection of each token.
    await read('GET', '/api/v1/users', admin);
    await read('GET', `/api/v1/users/${aliceId}`, admin);
    await read('GET', `/api/v1/users/${bobId}`, tenantAdmin);
    await read('GET', '/api/v1/users/me', aliceAgain);
    await read('GET', `/api/v1/tenants/${tenantId}`, aliceToken);
    await read('GET', '/api/v1/session', bobSession);
    await read('GET', '/api/v1/organizations', aliceAgain);
    await read('GET', `/api/v1/tenants/${tenantId}/members`, admin);
    await read('GET', '/api/v1/audit-events?limit=200', admin);
    await read('GET', '/api/v1/audit-events', tenantAdmin);
    for (const token of [aliceAgain, aliceToken, aliceSession, bobSession]) {
      await read('POST', '/api/v1/tokens/introspect', admin, { token });
    }
    const signOut = await gh.request('DELETE', '/api/v1/session', { token: bobSession });
    assert.equal(signOut.status, 204);
    tokens.add(tenantAdmin);
    tokens.add(admin);
  });
  after(() => gh.stop());

  it('writes no password, session token or access token into any log line', () => {
    assert.ok(gh.logs.length > 20, 'the flow was logged (at debug level)');
    assert.ok(passwords.size >= 9 && tokens.size >= 8);
    for (const line of gh.logs) {
      for (const password of passwords) assert.ok(!line.includes(password), `a log line holds a password: ${line.slice(0, 300)}`);
      for (const token of tokens) {
        assert.ok(!line.includes(token), `a log line holds a token: ${line.slice(0, 300)}`);
        // Not even the secret part of a JWT (its signature) or of a session token.
        assert.ok(!line.includes(secretPart(token)), `a log line holds part of a token: ${line.slice(0, 300)}`);
      }
    }
  });

  it('never returns a password, a password hash or a token in a later response', () => {
    assert.ok(laterResponses.length > 15);
    for (const { what, text } of laterResponses) {
      assert.doesNotMatch(text, /password_hash|\$argon2/, `${what} shows a password hash`);
      for (const password of passwords) assert.ok(!text.includes(password), `${what} returns a password`);
      for (const token of tokens) assert.ok(!text.includes(token), `${what} returns a token`);
    }
  });

  it('stores every password as an argon2id hash with m=19456, t=2, p=1', async () => {
    const users = await gh.ctx.db.selectFrom('users').select(['email', 'password_hash']).where('password_hash', 'is not', null).execute();
    assert.ok(users.length >= 4);
    for (const user of users)
      assert.ok(user.password_hash!.startsWith(ARGON2ID_PREFIX), `${user.email}: ${user.password_hash!.slice(0, 40)}`);
    const alice = await gh.ctx.db.selectFrom('users').select('password_hash').where('id', '=', aliceId).executeTakeFirstOrThrow();
    const bob = await gh.ctx.db.selectFrom('users').select('password_hash').where('id', '=', bobId).executeTakeFirstOrThrow();
    assert.notEqual(alice.password_hash, bob.password_hash);
  });

  it('stores a session as the SHA-256 of its token (32 bytes), not the token', async () => {
    assert.ok(sessions.size >= 4);
    for (const [token, id] of sessions) {
      const row = await gh.ctx.db.selectFrom('sessions').select('token_hash').where('id', '=', id).executeTakeFirstOrThrow();
      const hash = Buffer.from(row.token_hash);
      assert.equal(hash.length, 32);
      assert.deepEqual(hash, createHash('sha256').update(token).digest());
    }
  });

  it('holds no password or token in any column of any table (every row dumped as JSON)', async () => {
    const dump = await dumpDatabase();
    for (const table of ['users', 'sessions', 'signing_keys', 'audit_events', 'event_outbox']) assert.ok(dump.has(table), table);
    for (const [table, text] of dump) {
      for (const password of passwords) assert.ok(!text.includes(password), `${table} holds a password in plaintext`);
      for (const token of tokens) {
        assert.ok(!text.includes(token), `${table} holds a token`);
        assert.ok(!text.includes(secretPart(token)), `${table} holds the secret part of a token`);
        assert.ok(!text.includes(Buffer.from(token).toString('hex')), `${table} holds a token as bytes`);
      }
    }
    // The sessions table holds the digests, as the previous test proved; the dump shows them as hex.
    const [firstToken] = sessions.keys();
    assert.ok(dump.get('sessions')!.includes(createHash('sha256').update(firstToken!).digest('hex')));
  });

  it('seals the private signing key: its private members are not in clear, and only the master key opens it', async () => {
    const keys = await gh.ctx.db.selectFrom('signing_keys').select(['kid', 'public_jwk', 'private_jwk_sealed']).execute();
    assert.ok(keys.length >= 1);
    const dump = [...(await dumpDatabase()).values()].join('\n');
    for (const key of keys) {
      const sealed = key.private_jwk_sealed;
      // base64url never holds a quote: any JSON member name would show up.
      assert.doesNotMatch(sealed, /"/, 'the sealed value is not JSON');
      const jwk = JSON.parse(unseal(gh.ctx.masterKey, sealed, `${SEAL_CONTEXT}:${key.kid}`));
      assert.equal(typeof jwk.d, 'string');
      const publicJwk = key.public_jwk as Record<string, string>;
      const members = jwk.kty === 'RSA' ? (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) : (['d'] as const);
      if (jwk.kty === 'RSA') {
        assert.ok(jwk.d.length > 300, 'an RSA-2048 private exponent');
        assert.equal(jwk.n, publicJwk.n, 'the sealed key is the published one');
      } else {
        assert.equal(jwk.crv, 'P-256');
        assert.equal(jwk.d.length, 43, 'a P-256 private scalar');
        assert.deepEqual([jwk.x, jwk.y], [publicJwk.x, publicJwk.y], 'the sealed key is the published one');
      }
      for (const member of members) {
        assert.ok(!sealed.includes(jwk[member]), `private member ${member} appears in the sealed value`);
        assert.ok(!dump.includes(jwk[member].slice(0, 64)), `private member ${member} appears in the database`);
        for (const line of gh.logs) assert.ok(!line.includes(jwk[member].slice(0, 64)), `private member ${member} is logged`);
      }
      assert.throws(() => unseal(randomBytes(32), sealed, `${SEAL_CONTEXT}:${key.kid}`), 'another key cannot open it');
      assert.throws(() => unseal(gh.ctx.masterKey, sealed, 'gatehouse:another-use'), 'the sealed value is bound to its use');
    }
    const masterKey = gh.ctx.masterKey.toString('base64');
    assert.ok(!dump.includes(masterKey), 'the master key is not in the database');
    for (const line of gh.logs) assert.ok(!line.includes(masterKey), 'the master key is not logged');
  });

  it('publishes only public members in the JWKS', async () => {
    const jwks = await gh.request('GET', '/.well-known/jwks.json');
    assert.equal(jwks.status, 200);
    assert.ok(jwks.body.keys.length >= 1);
    assert.deepEqual(jwks.body.keys.map((key: { kty: string }) => key.kty).sort(), ['EC', 'EC', 'RSA', 'RSA']);
    for (const key of jwks.body.keys) {
      const expected = key.kty === 'RSA' ? ['alg', 'e', 'kid', 'kty', 'n', 'use'] : ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'];
      assert.deepEqual(Object.keys(key).sort(), expected);
    }
  });
});
