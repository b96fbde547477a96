import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import * as m0001 from './migrations/0001_foundation.js';

/**
 * Versioned, forward-only migrations: each is a list of SQL statements, applied in
 * order inside one transaction. Kysely's migrator holds a PostgreSQL advisory lock
 * while it runs, so two nodes starting at once apply each migration exactly once.
 */
const MIGRATIONS: Record<string, { up: string[] }> = {
  '0001_foundation': m0001,
};

const provider: MigrationProvider = {
  async getMigrations() {
    const migrations: Record<string, Migration> = {};
    for (const [name, { up }] of Object.entries(MIGRATIONS)) {
      migrations[name] = {
        async up(db) {
          for (const statement of up) await sql.raw(statement).execute(db);
        },
      };
    }
    return migrations;
  },
};

const migrator = (db: Kysely<any>) => new Migrator({ db, provider });

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { error, results = [] } = await migrator(db).migrateToLatest();
  if (error) throw error;
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every known migration has been applied (used by /readyz). */
export async function migrationsApplied(db: Kysely<any>): Promise<boolean> {
  const migrations = await migrator(db).getMigrations();
  return migrations.every((m) => m.executedAt !== undefined);
}
