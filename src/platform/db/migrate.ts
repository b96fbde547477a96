import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import * as m0001 from './migrations/0001_foundation.js';
import * as m0002 from './migrations/0002_oauth.js';
import * as m0003 from './migrations/0003_policies_email.js';
import * as m0004 from './migrations/0004_protection.js';
import * as m0005 from './migrations/0005_mfa.js';
import * as m0006 from './migrations/0006_delivery.js';
import * as m0007 from './migrations/0007_audit_chain.js';
import * as m0009 from './migrations/0009_mfa_policy.js';
import * as m0010 from './migrations/0010_incidents.js';
import * as m0011 from './migrations/0011_flows.js';
import * as m0012 from './migrations/0012_signup.js';
import * as m0014 from './migrations/0014_passwordless.js';
import * as m0018 from './migrations/0018_phone_verified.js';
import * as m0020 from './migrations/0020_oidc_hashed_ids.js';
import * as m0021 from './migrations/0021_protection_validation.js';
import * as m0022 from './migrations/0022_queue_leases.js';
import * as m0023 from './migrations/0023_federation.js';
import * as m0024 from './migrations/0024_federation_roles.js';
import * as m0025 from './migrations/0025_review.js';
import * as m0026 from './migrations/0026_change_feed.js';
import * as m0027 from './migrations/0027_search_indexes.js';
import * as m0028 from './migrations/0028_actions.js';
import * as m0029 from './migrations/0029_groups.js';
import * as m0030 from './migrations/0030_bot_defence.js';
import * as m0031 from './migrations/0031_auth0_authentication.js';
import * as m0032 from './migrations/0032_admin_api_grants.js';
import * as m0033 from './migrations/0033_modern_oauth.js';
import * as m0034 from './migrations/0034_token_exchange.js';
import * as m0035 from './migrations/0035_session_connection.js';

/**
 * Versioned, forward-only migrations: each is a list of SQL statements, applied in
 * order inside one transaction, then its `data` step when it has one (a change of rows
 * that SQL cannot express, in the same transaction). Kysely's migrator holds a PostgreSQL
 * advisory lock while it runs, so two nodes starting at once apply each migration exactly once.
 */
const MIGRATIONS: Record<string, { up: string[]; data?: (db: Kysely<any>) => Promise<void> }> = {
  '0001_foundation': m0001,
  '0002_oauth': m0002,
  '0003_policies_email': m0003,
  '0004_protection': m0004,
  '0005_mfa': m0005,
  '0006_delivery': m0006,
  '0007_audit_chain': m0007,
  '0009_mfa_policy': m0009,
  '0010_incidents': m0010,
  '0011_flows': m0011,
  '0012_signup': m0012,
  '0014_passwordless': m0014,
  '0018_phone_verified': m0018,
  '0020_oidc_hashed_ids': m0020,
  '0021_protection_validation': m0021,
  '0022_queue_leases': m0022,
  '0023_federation': m0023,
  '0024_federation_roles': m0024,
  '0025_review': m0025,
  '0026_change_feed': m0026,
  '0027_search_indexes': m0027,
  '0028_actions': m0028,
  '0029_groups': m0029,
  '0030_bot_defence': m0030,
  '0031_auth0_authentication': m0031,
  '0032_admin_api_grants': m0032,
  '0033_modern_oauth': m0033,
  '0034_token_exchange': m0034,
  '0035_session_connection': m0035,
};

/** Every migration this code knows, in order: the schema version a backup must match. */
export const MIGRATION_NAMES = Object.keys(MIGRATIONS).sort();

const provider: MigrationProvider = {
  async getMigrations() {
    const migrations: Record<string, Migration> = {};
    for (const [name, { up, data }] of Object.entries(MIGRATIONS)) {
      migrations[name] = {
        async up(db) {
          // An index built over millions of rows may take longer than a request's statement may (decision 300).
          await sql`set local statement_timeout = 0`.execute(db);
          for (const statement of up) await sql.raw(statement).execute(db);
          await data?.(db);
        },
      };
    }
    return migrations;
  },
};

/**
 * Kysely looks for its migration tables in every schema unless told which one; name the
 * current schema, so Gatehouse in a schema of its own (search_path) next to another copy
 * in the same database still gets its own migration tables.
 */
async function migrator(db: Kysely<any>): Promise<Migrator> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({ db, provider, ...(rows[0]?.schema && { migrationTableSchema: rows[0].schema }) });
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  // A restart finds every migration applied: one query says so, instead of the migrator's
  // catalog lookups, table checks and lock (about a second on PGlite; decision 330).
  if (await migrationsApplied(db)) return [];
  const { error, results = [] } = await (await migrator(db)).migrateToLatest();
  if (error) throw error;
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * True when every known migration has been applied (the start, and /readyz every second):
 * a read of Kysely's migration table in the current schema, false when there is none yet.
 */
export async function migrationsApplied(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ schema: string; present: boolean }>`
    select current_schema() as schema, to_regclass(quote_ident(current_schema()) || '.kysely_migration') is not null as present`.execute(
    db,
  );
  if (!rows[0]?.present) return false;
  // Every known one, and none unknown (a newer version's: the migrator refuses to start on it).
  const applied = await sql<{ known: string | number; total: string | number }>`
    select count(*) filter (where name = any(${MIGRATION_NAMES})) as known, count(*) as total
    from ${sql.id(rows[0].schema, 'kysely_migration')}`.execute(db);
  const { known, total } = applied.rows[0] ?? { known: 0, total: 0 };
  return Number(known) === MIGRATION_NAMES.length && Number(total) === MIGRATION_NAMES.length;
}
