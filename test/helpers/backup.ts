import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { type Kysely, sql } from 'kysely';
import { createGatehouse, type Gatehouse } from '../../src/main/gatehouse.js';
import { listTables } from '../../src/ops/backup/catalog.js';
import { type Config, parseConfig } from '../../src/platform/config.js';
import type { Db } from '../../src/platform/db/database.js';
import { createLogger } from '../../src/platform/logger.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, ISSUER } from './gatehouse.js';

/**
 * The round trips between PGlite and PostgreSQL (test/postgres/, `npm run test:postgres`)
 * need a PostgreSQL server whatever GATEHOUSE_TEST_DATABASE_URL says.
 */
export function postgresUrl(): string {
  const url = process.env.GATEHOUSE_TEST_POSTGRES_URL;
  if (!url) throw new Error('Set GATEHOUSE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) for test/postgres/');
  return url;
}

export const PASSPHRASE = 'correct horse battery staple';

export function testConfig(options: { masterKey?: Buffer | null; dataDir?: string } = {}): Config {
  const masterKey = options.masterKey === undefined ? randomBytes(32) : options.masterKey;
  return parseConfig(
    {
      issuer: ISSUER,
      ...(masterKey && { masterKey: masterKey.toString('base64') }),
      adminEmail: ADMIN_EMAIL,
      adminPassword: ADMIN_PASSWORD,
      logLevel: 'silent',
      dataDir: options.dataDir ?? '/nonexistent',
    },
    false,
  );
}

export interface Node extends Gatehouse {
  request(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    options?: { token?: string; body?: unknown },
  ): Promise<{ status: number; body: any }>;
  signIn(username: string, password: string): Promise<{ status: number; token?: string }>;
  /** An OIH access token of the first administrator for the system tenant. */
  adminToken(): Promise<string>;
}

/** A Gatehouse on the given database (or the one the config names), driven through inject. */
export async function node(config: Config, db?: Db): Promise<Node> {
  const gatehouse = await createGatehouse(config, { ...(db && { db }), log: createLogger(config), background: false });
  const request: Node['request'] = async (method, url, options = {}) => {
    const response = await gatehouse.app.inject({
      method,
      url,
      headers: {
        ...(options.token && { authorization: `Bearer ${options.token}` }),
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(options.body !== undefined && { payload: JSON.stringify(options.body) }),
    });
    return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : undefined };
  };
  const signIn: Node['signIn'] = async (username, password) => {
    const response = await request('POST', '/api/v1/session', { body: { username, password } });
    return { status: response.status, token: response.body?.token };
  };
  return {
    ...gatehouse,
    request,
    signIn,
    async adminToken() {
      const session = await signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      const answer = await request('POST', '/api/v1/token', { token: session.token!, body: { organization: 'system' } });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body.token;
    },
  };
}

/**
 * Every table's rows in PostgreSQL's text form, sorted: equal on two databases exactly
 * when they hold the same values (jsonb, bytea, arrays, timestamps to the microsecond).
 */
export async function tableTexts(db: Kysely<any>): Promise<Record<string, string[]>> {
  return db.transaction().execute(async (trx) => {
    await sql`set local timezone = 'UTC'`.execute(trx);
    await sql`set local extra_float_digits = 3`.execute(trx);
    const texts: Record<string, string[]> = {};
    for (const table of await listTables(trx)) {
      const { rows } = await sql<{ t: string }>`select t::text as t from ${sql.table(table.name)} as t`.execute(trx);
      texts[table.name] = rows.map((r) => r.t).sort();
    }
    return texts;
  });
}

/**
 * The restored database holds what the source held before the backup, plus the backup's
 * start (recorded before its snapshot) and the restore's own event, each with its outbox row.
 */
export function assertSameData(restored: Record<string, string[]>, source: Record<string, string[]>): void {
  assert.deepEqual(Object.keys(restored).sort(), Object.keys(source).sort());
  for (const [table, rows] of Object.entries(source)) {
    const own = restored[table]!.filter((row) => !row.includes('iam.backup.restored') && !row.includes('iam.backup.started'));
    assert.equal(restored[table]!.length - own.length, table === 'audit_events' || table === 'event_outbox' ? 2 : 0, table);
    assert.deepEqual(own, rows, `table ${table} differs after the restore`);
  }
}

export async function collect(stream: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

export async function* bytes(buffer: Buffer): AsyncGenerator<Buffer> {
  // In pieces of odd sizes, as a file or socket would hand them over.
  for (let i = 0; i < buffer.length; i += 10_007) yield buffer.subarray(i, i + 10_007);
}

export const rowCounts = async (db: Kysely<any>) =>
  Object.fromEntries(Object.entries(await tableTexts(db)).map(([table, rows]) => [table, rows.length]));

export const HS_API = 'https://hs.backup.test';

/** What a test deployment holds, and what must still work after a restore. */
export interface Fixture {
  /** Every user with a password: all must sign in after the restore. */
  users: { email: string; password: string }[];
  /** OIH access tokens issued before the backup: one signed by a key retired since, one by the current key. */
  accessTokens: string[];
  m2m: { client_id: string; client_secret: string };
  hsSecret: string;
}

export async function clientCredentials(n: Node, m2m: Fixture['m2m'], audience: string) {
  const response = await n.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}`,
    },
    payload: new URLSearchParams({ grant_type: 'client_credentials', audience }).toString(),
  });
  return { status: response.statusCode, body: JSON.parse(response.body) };
}

/**
 * Fills a deployment: a tenant, users made through the API (awkward metadata) and by SQL
 * (enough rows for several encrypted chunks), an HS256 API with a sealed secret, a machine
 * application with a hashed secret and a grant, a key rotation, sessions and tokens.
 */
export async function populate(n: Node, bulk = 150): Promise<Fixture> {
  const admin = await n.adminToken();
  const created = async (path: string, body: unknown) => {
    const answer = await n.request('POST', path, { token: admin, body });
    assert.equal(answer.status, 201, `${path}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  const tenant = await created('/api/v1/tenants', { slug: 'acme', name: 'Acme' });
  const users: Fixture['users'] = [];
  for (let i = 0; i < 5; i++) {
    const user = { email: `user${i}@acme.test`, password: `password-${i}-${randomBytes(6).toString('hex')}` };
    await created('/api/v1/users', {
      ...user,
      tenant: tenant.id,
      user_metadata: { nested: { list: [1, 2.5, 'ünïcode ✓', null, true], quote: 'a"b\\c\nd' }, big: 1.5e300 },
    });
    users.push(user);
  }
  const bulkPassword = 'bulk-password-for-everyone';
  const hash = await n.ctx.passwords.hash(bulkPassword);
  await sql`
    insert into users (id, email, status, password_hash, home_tenant_id, user_metadata, app_metadata, created_at, updated_at)
    select gen_random_uuid(), 'bulk' || i || '@acme.test', 'active', ${hash}, ${tenant.id}::uuid,
      jsonb_build_object('i', i, 'note', repeat('x', 400)), '{}', now() - i * interval '1 microsecond', now()
    from generate_series(1, ${bulk}::int) as i`.execute(n.ctx.db);
  for (let i = 1; i <= bulk; i++) users.push({ email: `bulk${i}@acme.test`, password: bulkPassword });

  const hs = await created('/api/v1/apis', { identifier: HS_API, name: 'HS', signing_alg: 'HS256', permissions: [{ value: 'read:hs' }] });
  const m2m = await created('/api/v1/applications', { name: 'Worker', type: 'm2m' });
  await created(`/api/v1/applications/${m2m.id}/grants`, { api_id: hs.id, permissions: ['read:hs'] });
  assert.equal((await clientCredentials(n, m2m, HS_API)).status, 200);

  const accessTokens = [admin];
  assert.equal((await n.request('POST', '/api/v1/keys/rotate', { token: admin, body: {} })).status, 200);
  accessTokens.push(await n.adminToken());
  // Token events are written within 25 ms (decision 48): let them land before the snapshot.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return { users, accessTokens, m2m: { client_id: m2m.client_id, client_secret: m2m.client_secret }, hsSecret: hs.signing_secret };
}

/**
 * What the issue asks of a restored deployment: every user signs in with their password,
 * tokens signed before the backup verify against the restored JWKS and still open the admin
 * API, and the machine client's secret and the HS256 API's secret (HMAC digest and sealed
 * column, both under the master key) still work.
 */
export async function assertDeploymentWorks(n: Node, fixture: Fixture): Promise<void> {
  const failed: string[] = [];
  for (let i = 0; i < fixture.users.length; i += 8) {
    const batch = fixture.users.slice(i, i + 8);
    const answers = await Promise.all(batch.map((u) => n.signIn(u.email, u.password)));
    answers.forEach((answer, j) => {
      if (answer.status !== 200) failed.push(`${batch[j]!.email}: ${answer.status}`);
    });
  }
  assert.deepEqual(failed, [], 'every user signs in after the restore');

  const jwks = createLocalJWKSet((await n.request('GET', '/.well-known/jwks.json')).body);
  for (const token of fixture.accessTokens) {
    await jwtVerify(token, jwks, { issuer: ISSUER, audience: ISSUER });
    const keys = await n.request('GET', '/api/v1/keys', { token });
    assert.equal(keys.status, 200, 'a token issued before the backup still opens the admin API');
  }

  const answer = await clientCredentials(n, fixture.m2m, HS_API);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  await jwtVerify(answer.body.access_token, new TextEncoder().encode(fixture.hsSecret), { algorithms: ['HS256'], audience: HS_API });
}
