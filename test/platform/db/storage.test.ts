import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { SYSTEM_PERMISSIONS } from '../../../src/directory/permissions/catalog.js';
import { createContext, createGatehouse, type Gatehouse } from '../../../src/main/gatehouse.js';
import { createServer } from '../../../src/main/routes.js';
import { parseConfig } from '../../../src/platform/config.js';
import { type Db, openDatabase } from '../../../src/platform/db/database.js';
import { migrateToLatest, migrationsApplied } from '../../../src/platform/db/migrate.js';
import { createLogger } from '../../../src/platform/logger.js';
import { emptyPostgresDatabase, TEST_DATABASE_URL } from '../../helpers/database.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

const MIGRATIONS_DIR = new URL('../../../src/platform/db/migrations/', import.meta.url);
const MIGRATION_NAMES = readdirSync(MIGRATIONS_DIR)
  .filter((file) => /^\d{4}_\w+\.ts$/.test(file))
  .map((file) => file.replace(/\.ts$/, ''))
  .sort();

const ADMIN_EMAIL = 'first-admin@storage.test';

/** The configuration of a node; nodes of one deployment share the master key. */
const nodeConfig = (masterKey: string) =>
  parseConfig({ issuer: 'http://storage.test', masterKey, adminEmail: ADMIN_EMAIL, logLevel: 'silent', dataDir: '/nonexistent' }, false);

/**
 * An empty database: no migrations, no seed. On PostgreSQL a database of its own, and each
 * `connect()` is a new connection pool (a separate node). On PGlite, one in-process
 * instance: PGlite is one process's database, so every "node" shares that instance.
 */
async function emptyDatabase(): Promise<{ connect(): Promise<Db>; drop(): Promise<void>; separateNodes: boolean }> {
  if (TEST_DATABASE_URL) {
    const empty = await emptyPostgresDatabase(TEST_DATABASE_URL);
    return { separateNodes: true, connect: () => openDatabase({ url: empty.url }), drop: empty.drop };
  }
  const db = await openDatabase({});
  return { separateNodes: false, connect: async () => db, drop: () => db.destroy() };
}

async function count(db: Db, query: string): Promise<number> {
  const result = await sql<{ n: string }>`${sql.raw(query)}`.execute(db);
  return Number(result.rows[0]!.n);
}

async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('storage: migrations, concurrent first start, health and readiness', () => {
  describe(`a fresh, empty database (${TEST_DATABASE_URL ? 'PostgreSQL, two nodes with two connection pools' : 'PGlite, two bootstraps sharing the instance'})`, () => {
    let empty: Awaited<ReturnType<typeof emptyDatabase>>;
    const masterKey = randomBytes(32).toString('base64');
    const nodes: Gatehouse[] = [];

    before(async () => {
      empty = await emptyDatabase();
    });
    after(async () => {
      for (const node of nodes) await node.app.close();
      if (empty.separateNodes) for (const node of nodes) await node.ctx.db.destroy().catch(() => {});
      await empty.drop().catch(() => {});
    });

    it('is not ready before migrations: /readyz answers 503 migrations_pending while /healthz answers 200', async () => {
      const config = nodeConfig(masterKey);
      const db = await empty.connect();
      assert.equal(await migrationsApplied(db), false);
      const app = await createServer(await createContext(config, createLogger(config), db));
      try {
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 503);
        assert.deepEqual(ready.json(), { status: 'migrations_pending' });
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        assert.equal(health.statusCode, 200);
        assert.deepEqual(health.json(), { status: 'ok' });
      } finally {
        await app.close();
        if (empty.separateNodes) await db.destroy();
      }
    });

    it('two nodes starting at once end with one system tenant, three system roles, one current signing key per algorithm and one admin', async () => {
      const config = nodeConfig(masterKey);
      const start = async () => createGatehouse(config, { db: await empty.connect(), log: createLogger(config) });
      const started = await Promise.allSettled([start(), start()]);
      for (const result of started) if (result.status === 'fulfilled') nodes.push(result.value);
      for (const result of started)
        assert.equal(result.status, 'fulfilled', `both nodes start: ${(result as PromiseRejectedResult).reason}`);
      const [a, b] = nodes as [Gatehouse, Gatehouse];
      const db = a.ctx.db;

      assert.equal(await count(db, 'select count(*) as n from tenants where is_system'), 1);
      assert.equal(await count(db, `select count(*) as n from tenants where slug = 'system'`), 1);
      const roles = await db
        .selectFrom('roles')
        .select('name')
        .where('tenant_id', 'is', null)
        .where('is_system', '=', true)
        .orderBy('name')
        .execute();
      assert.deepEqual(
        roles.map((r) => r.name),
        ['ADMIN', 'TENANT_ADMIN', 'USER'],
      );
      assert.equal(await count(db, 'select count(*) as n from roles'), 3);
      assert.equal(await count(db, `select count(*) as n from signing_keys where status = 'current'`), 2);
      assert.equal(await count(db, `select count(distinct alg) as n from signing_keys where status = 'current'`), 2);
      assert.equal(await count(db, `select count(*) as n from signing_keys where status = 'next'`), 2);
      assert.equal(await count(db, 'select count(*) as n from permissions where is_system'), Object.keys(SYSTEM_PERMISSIONS).length);
      assert.equal(await count(db, 'select count(*) as n from users'), 1);
      assert.equal(
        await count(
          db,
          `select count(*) as n from membership_roles mr join roles r on r.id = mr.role_id join tenants t on t.id = mr.tenant_id
           where t.is_system and r.name = 'ADMIN'`,
        ),
        1,
      );
      assert.equal(await count(db, `select count(*) as n from audit_events where action = 'iam.user.created'`), 1);
      assert.equal(await count(db, `select count(*) as n from audit_events where action = 'iam.tenant.created'`), 1);
      assert.equal(await count(db, 'select count(*) as n from kysely_migration'), MIGRATION_NAMES.length);

      // Exactly one node created the administrator and reports its generated password; it works on both nodes.
      const generated = nodes.map((node) => node.bootstrapped.admin?.generatedPassword).filter(Boolean) as string[];
      assert.equal(generated.length, 1, 'one generated password is printed, not one per node');
      for (const node of [a, b]) {
        const signIn = await node.app.inject({
          method: 'POST',
          url: '/api/v1/session',
          payload: { username: ADMIN_EMAIL, password: generated[0] },
        });
        assert.equal(signIn.statusCode, 200, signIn.body);
      }

      // Both nodes publish the same key set.
      const jwks = await Promise.all(
        [a, b].map(async (node) => (await node.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()),
      );
      assert.equal(jwks[0].keys.length, 4, 'current and next, RS256 and ES256');
      assert.deepEqual(jwks[0], jwks[1]);
    });

    it('a later start on the same database creates nothing and prints no password', async () => {
      const config = nodeConfig(masterKey);
      const db = nodes[0]!.ctx.db;
      const before = await count(
        db,
        'select (select count(*) from users) + (select count(*) from roles) + (select count(*) from tenants) + (select count(*) from signing_keys) + (select count(*) from permissions) as n',
      );
      const third = await createGatehouse(config, { db: await empty.connect(), log: createLogger(config) });
      nodes.push(third);
      assert.deepEqual(third.bootstrapped, {});
      const after = await count(
        db,
        'select (select count(*) from users) + (select count(*) from roles) + (select count(*) from tenants) + (select count(*) from signing_keys) + (select count(*) from permissions) as n',
      );
      assert.equal(after, before);
    });

    it('migrations are idempotent: a second migrateToLatest applies nothing, and every migration is recorded once', async () => {
      const db = nodes[0]!.ctx.db;
      assert.equal(await migrationsApplied(db), true);
      assert.deepEqual(await migrateToLatest(db), []);
      assert.deepEqual(await migrateToLatest(db), []);
      const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
      assert.deepEqual(
        recorded.rows.map((r) => r.name),
        MIGRATION_NAMES,
      );
    });

    it('is ready once migrated: /readyz answers 200 ready', async () => {
      const ready = await nodes[0]!.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready' });
    });

    it('answers /readyz 503 database_unreachable once its database is closed, while /healthz still answers 200', async () => {
      const node = nodes.at(-1)!;
      if (empty.separateNodes) await node.ctx.db.destroy();
      else await empty.drop();
      const ready = await node.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.deepEqual(ready.json(), { status: 'database_unreachable' });
      const health = await node.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok' });
    });
  });

  describe('migrations are forward-only', () => {
    it('each migration file is a numbered list of SQL statements to apply, with no down step', async () => {
      assert.ok(MIGRATION_NAMES.length >= 1);
      // Numbers only grow and never repeat; parallel branches reserve numbers, so a branch may have gaps until all are merged.
      const numbers = MIGRATION_NAMES.map((name) => Number(name.slice(0, 4)));
      assert.equal(numbers[0], 1);
      for (const [index, name] of MIGRATION_NAMES.entries()) {
        if (index > 0) assert.ok(numbers[index]! > numbers[index - 1]!, `${name} is numbered after ${MIGRATION_NAMES[index - 1]}`);
      }
      for (const name of MIGRATION_NAMES) {
        const migration = await import(new URL(`${name}.ts`, MIGRATIONS_DIR).href);
        assert.ok(Array.isArray(migration.up) && migration.up.length > 0, `${name} has up statements`);
        for (const statement of migration.up) assert.equal(typeof statement, 'string');
        assert.equal(migration.down, undefined, `${name} has no down step`);
      }
    });
  });

  describe('health of a running Gatehouse', () => {
    let gh: TestGatehouse;
    before(async () => {
      gh = await startGatehouse();
    });
    after(() => gh.stop());

    it('answers GET /healthz 200 {status: ok} and GET /readyz 200 {status: ready} without a token', async () => {
      const health = await gh.request('GET', '/healthz');
      assert.equal(health.status, 200);
      assert.deepEqual(health.body, { status: 'ok' });
      const ready = await gh.request('GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ready' });
    });
  });

  describe('a PostgreSQL URL that points to a closed port', () => {
    it('answers /readyz 503 database_unreachable (and /healthz 200)', async () => {
      const url = `postgres://gatehouse@127.0.0.1:${await closedPort()}/gatehouse`;
      const config = parseConfig(
        { issuer: 'http://storage.test', masterKey: randomBytes(32).toString('base64'), databaseUrl: url, logLevel: 'silent' },
        false,
      );
      const db = await openDatabase({ url });
      const app = await createServer(await createContext(config, createLogger(config), db));
      try {
        const ready = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(ready.statusCode, 503);
        assert.deepEqual(ready.json(), { status: 'database_unreachable' });
        const health = await app.inject({ method: 'GET', url: '/healthz' });
        assert.equal(health.statusCode, 200);
      } finally {
        await app.close();
        await db.destroy();
      }
    });

    it('refuses to start: createGatehouse rejects with the connection error', async () => {
      const url = `postgres://gatehouse@127.0.0.1:${await closedPort()}/gatehouse`;
      const config = parseConfig(
        { issuer: 'http://storage.test', masterKey: randomBytes(32).toString('base64'), databaseUrl: url, logLevel: 'silent' },
        false,
      );
      await assert.rejects(
        createGatehouse(config, { log: createLogger(config) }),
        (error: Error & { code?: string; errors?: Array<{ code?: string }> }) => {
          const codes = [error.code, ...(error.errors ?? []).map((e) => e.code)];
          assert.ok(codes.includes('ECONNREFUSED'), `${error.message} ${codes.join(',')}`);
          return true;
        },
      );
    });
  });
});
