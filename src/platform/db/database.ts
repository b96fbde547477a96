import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from './pglite-driver.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

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
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  // Baseline WebAssembly code only (Liftoff), not the optimized tier as well: PGlite's
  // PostgreSQL then starts sooner and holds 40-60 MB less, at some speed of its hot paths
  // (decision 327). Only PGlite runs WebAssembly in this process.
  setFlagsFromString('--liftoff-only');
  const { PGlite } = await import('@electric-sql/pglite');
  const startParams = [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((setting) => ['-c', setting])];
  if (options.pgliteDump) {
    return new Kysely<Database>({ dialect: new PGliteDialect(await PGlite.create({ loadDataDir: options.pgliteDump, startParams })) });
  }
  if (!options.dataDir) return new Kysely<Database>({ dialect: new PGliteDialect(await PGlite.create({ startParams })) });
  mkdirSync(options.dataDir, { recursive: true });
  const unlock = lockDataDir(options.dataDir);
  try {
    const pglite = await PGlite.create(join(options.dataDir, 'pglite'), { startParams });
    return new Kysely<Database>({ dialect: new PGliteDialect(pglite, unlock) });
  } catch (error) {
    unlock();
    throw error;
  }
}

/**
 * PGlite runs PostgreSQL as one process inside this one, and WebAssembly memory never shrinks:
 * whatever PostgreSQL touches once stays resident. initdb's defaults are sized for a server
 * (128 MB of shared buffers, 100 connections' worth of shared memory, 64 MB for maintenance);
 * these fit one embedded connection (decision 326, docs/operations.md#memory).
 */
export const PGLITE_SETTINGS: readonly string[] = ['shared_buffers=16MB', 'max_connections=5', 'maintenance_work_mem=16MB'];

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
