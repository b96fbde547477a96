import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { type Db, openDatabase } from '../../src/platform/db/database.js';
import { migrateToLatest } from '../../src/platform/db/migrate.js';
import { PGliteDialect } from '../../src/platform/db/pglite-driver.js';
import type { Database } from '../../src/platform/db/schema.js';

/** Tests run on PGlite, or on PostgreSQL when this is set (CI sets it). */
export const TEST_DATABASE_URL = process.env.GATEHOUSE_TEST_DATABASE_URL || undefined;

const MIGRATIONS_DIR = new URL('../../src/platform/db/migrations/', import.meta.url);
const CACHE_DIR = new URL('../../node_modules/.cache/gatehouse-test/', import.meta.url);

/**
 * An empty PostgreSQL database of its own on the test server (a whole database, not a
 * schema: the migrator looks at the catalog of the whole database, and must not see
 * another test file's schema vanish under it). `drop` removes it, connections and all.
 */
export async function emptyPostgresDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `gh_test_${randomBytes(6).toString('hex')}`;
  const admin = await openDatabase({ url });
  await sql.raw(`create database ${name}`).execute(admin);
  await admin.destroy();
  const own = new URL(url);
  own.pathname = `/${name}`;
  return {
    url: own.toString(),
    drop: async () => {
      const admin = await openDatabase({ url });
      await sql.raw(`drop database if exists ${name} with (force)`).execute(admin);
      await admin.destroy();
    },
  };
}

/**
 * A fresh, migrated database for one test file. On PostgreSQL: a database of its own.
 * On PGlite: a clone of a migrated template (initdb and migrations run once, not per file).
 */
export async function freshDatabase(): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (TEST_DATABASE_URL) {
    const empty = await emptyPostgresDatabase(TEST_DATABASE_URL);
    const db = await openDatabase({ url: empty.url });
    await migrateToLatest(db);
    return {
      db,
      drop: async () => {
        await db.destroy();
        await empty.drop();
      },
    };
  }
  const db = await openDatabase({ pgliteDump: await migratedTemplate() });
  return { db, drop: () => db.destroy() };
}

async function migratedTemplate(): Promise<Blob> {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_DIR).sort()) hash.update(file).update(readFileSync(new URL(file, MIGRATIONS_DIR)));
  const path = join(CACHE_DIR.pathname, `template-${hash.digest('hex').slice(0, 16)}.tar.gz`);
  if (!existsSync(path)) {
    const pglite = await PGlite.create();
    const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
    await migrateToLatest(db);
    const dump = await pglite.dumpDataDir('gzip');
    await db.destroy();
    mkdirSync(CACHE_DIR.pathname, { recursive: true });
    const partial = `${path}.${process.pid}`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, path);
  }
  return new Blob([readFileSync(path)]);
}
