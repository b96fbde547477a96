import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from './pglite-driver.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** Where a database's notifications are heard (src/platform/db/change-feed.ts). */
export type NotificationSource = { kind: 'postgres'; url: string } | { kind: 'pglite'; pglite: PGlite };

/**
 * The notification source of each database this module opened. Kysely hides its driver, and a
 * listener needs what is under it: a dedicated connection to the same URL, or the PGlite
 * instance itself. Nodes sharing one opened database (tests) share its source.
 */
const sources = new WeakMap<Db, NotificationSource>();

export function notificationSource(db: Db): NotificationSource | undefined {
  return sources.get(db);
}

function opened(db: Db, source: NotificationSource): Db {
  sources.set(db, source);
  return db;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; when absent, PGlite in `dataDir`. */
  url?: string | undefined;
  dataDir?: string;
  /** PGlite only: start from a dumped data directory instead of `dataDir`. */
  pgliteDump?: Blob;
}

/**
 * Opens the one database: PostgreSQL when a URL is given, otherwise embedded PGlite.
 * Each driver is loaded only when used, so a PostgreSQL node never loads PGlite.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Db> {
  if (options.url) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: options.url, max: 10 });
    // An idle connection that the server ends (a restart, a failover) is dropped from the
    // pool and replaced on the next query, where any error surfaces; it must not crash the process.
    pool.on('error', () => {});
    return opened(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), { kind: 'postgres', url: options.url });
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const embedded = (pglite: PGlite, unlock?: () => void) =>
    opened(new Kysely<Database>({ dialect: new PGliteDialect(pglite, unlock) }), { kind: 'pglite', pglite });
  if (options.pgliteDump) return embedded(await PGlite.create({ loadDataDir: options.pgliteDump }));
  if (!options.dataDir) return embedded(await PGlite.create());
  mkdirSync(options.dataDir, { recursive: true });
  const unlock = lockDataDir(options.dataDir);
  try {
    return embedded(await PGlite.create(join(options.dataDir, 'pglite')), unlock);
  } catch (error) {
    unlock();
    throw error;
  }
}

/** Another live process holds the embedded database (a start-up error, not a crash). */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

/**
 * PGlite is one process's database: a second process opening the same directory would
 * corrupt it. A pid file keeps the second one out (a stale file from a crash is taken over).
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'pglite.pid');
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const owner = Number(readFileSync(path, 'utf8'));
    if (owner !== process.pid && isAlive(owner)) {
      throw new DatabaseInUseError(
        `The embedded database in ${dataDir} is in use by process ${owner}. Stop it, or run several nodes on PostgreSQL (GATEHOUSE_DATABASE_URL).`,
      );
    }
    writeFileSync(path, String(process.pid));
  }
  return () => rmSync(path, { force: true });
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the error is PostgreSQL's unique_violation on the named index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string };
  if (e?.code !== '23505') return false;
  if (!constraint) return true;
  return e.constraint === constraint || (e.message ?? '').includes(`"${constraint}"`);
}
