import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import type { Logger } from 'pino';
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
  /** Where a lost PostgreSQL connection is reported (a warning); without it, nowhere. */
  log?: Logger;
}

/**
 * PostgreSQL's bounds (decision 300): a request waits at most this long for a connection
 * (from the pool, or a new one while the server restarts) before it fails, and one statement
 * runs at most `STATEMENT_TIMEOUT_MS` (migrations lift it, src/platform/db/migrate.ts). A
 * transaction left idle by a node that froze is ended by the server.
 */
export const CONNECT_TIMEOUT_MS = 5_000;
export const STATEMENT_TIMEOUT_MS = 30_000;
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

/**
 * Opens the one database: PostgreSQL when a URL is given, otherwise embedded PGlite.
 * Each driver is loaded only when used, so a PostgreSQL node never loads PGlite.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Db> {
  if (options.url) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({
      connectionString: options.url,
      max: 10,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
      // A server that vanished without closing the connection (a network partition) is noticed.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // A connection the server ends (a restart: 57P01, a failover, a reset) emits 'error' on
    // its client, and an 'error' event nobody listens to ends the process. The pool listens
    // to its idle clients only; every client gets a listener of its own for the time it is
    // checked out (a request between two statements of a transaction). The failure itself
    // reaches the request through its next query, as a 503 (src/platform/unavailable.ts);
    // the pool drops the broken client on release and connects a new one when next asked.
    const lost = (error: Error) => options.log?.warn({ err: error }, 'PostgreSQL connection lost; it is replaced on the next query');
    pool.on('connect', (client) => client.on('error', lost));
    pool.on('error', lost);
    return opened(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), { kind: 'postgres', url: options.url });
  }
  // Baseline WebAssembly code only (Liftoff), not the optimized tier as well: PGlite's
  // PostgreSQL then starts sooner and holds 40-60 MB less, at some speed of its hot paths
  // (decision 327). Only PGlite runs WebAssembly in this process.
  setFlagsFromString('--liftoff-only');
  const { PGlite } = await import('@electric-sql/pglite');
  const startParams = [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((setting) => ['-c', setting])];
  const embedded = (pglite: PGlite, unlock?: () => void) =>
    opened(new Kysely<Database>({ dialect: new PGliteDialect(pglite, unlock) }), { kind: 'pglite', pglite });
  if (options.pgliteDump) return embedded(await PGlite.create({ loadDataDir: options.pgliteDump, startParams }));
  if (!options.dataDir) return embedded(await PGlite.create({ startParams }));
  mkdirSync(options.dataDir, { recursive: true });
  const unlock = lockDataDir(options.dataDir);
  try {
    return embedded(await PGlite.create(join(options.dataDir, 'pglite'), { startParams }), unlock);
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
