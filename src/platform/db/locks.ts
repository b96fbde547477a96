import { sql } from 'kysely';
import type { Db } from './database.js';

/**
 * Serializes transactions that share a key (a transaction-scoped advisory lock, released
 * at commit or rollback): call it first in a transaction that counts rows and then creates
 * one, so parallel requests cannot all read the same count (the per-address email caps).
 * Must run inside a transaction; on PGlite (one connection) transactions are serial anyway.
 */
export async function lockFor(trx: Db, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`gatehouse:${key}`}, 0))`.execute(trx);
}
