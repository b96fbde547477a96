import { type Kysely, sql } from 'kysely';
import type { Actor } from '../../platform/audit/record.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { Db } from '../../platform/db/database.js';
import type { Clock, IdGenerator } from '../../platform/ids.js';
import { appliedMigrations, listSequences, listTables, quote, type TableShape } from './catalog.js';
import { BackupEncryptor, checkPassphrase, DEFAULT_KDF } from './format.js';

/**
 * The payload, before encryption: one JSON value per line. First a manifest (schema
 * version, the master key, every table's columns and types), then per table a `table`
 * line, its rows (one JSON array per row, each value in PostgreSQL's own text form, so
 * jsonb, bytea, arrays and timestamps come back exactly as they were) and an `end_table`
 * line with the row count, then the sequences' positions and an `end` line.
 */
export interface Manifest {
  type: 'manifest';
  schema: string[];
  created_at: string;
  /** The master key the sealed columns and HMAC digests depend on (decision 71). */
  master_key: string;
  tables: TableShape[];
  sequences: string[];
}

export interface BackupSource {
  db: Db;
  masterKey: Buffer;
  clock: Clock;
  ids: IdGenerator;
}

export interface BackupSummary {
  rows: Record<string, number>;
  bytes: number;
}

export interface BackupOptions {
  /** Who asked, for `iam.backup.created` (recorded once the file is complete). */
  actor: Actor;
  /** Filled in as the backup is written. */
  summary?: BackupSummary;
  /** Key derivation cost (tests of other versions may lower it); default scrypt N=2^15, r=8, p=1. */
  kdf?: { N: number; r: number; p: number };
}

const BATCH = 2000;
const CURSOR = 'gatehouse_backup';

/**
 * The encrypted backup as a stream of bytes, read in one `REPEATABLE READ READ ONLY`
 * transaction: one snapshot of every table, while other connections keep writing
 * (PGlite has one connection, so there writes wait until the backup is read). Rows are
 * read through a cursor in batches, so memory stays bounded at any size.
 */
export async function* backupStream(source: BackupSource, passphrase: string, options: BackupOptions): AsyncGenerator<Buffer> {
  checkPassphrase(passphrase);
  const summary = options.summary ?? { rows: {}, bytes: 0 };
  // Recorded before the first byte leaves: a caller who drops the connection before the
  // end still holds most of the file, and must not go unrecorded.
  await recordAudit(source.db, source, { action: 'iam.backup.started', actor: options.actor });
  const trx = await source.db.startTransaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute();
  let committed = false;
  try {
    for (const setting of ["datestyle = 'ISO'", "intervalstyle = 'postgres'", 'extra_float_digits = 3', "bytea_output = 'hex'"]) {
      await sql.raw(`set local ${setting}`).execute(trx);
    }
    const schema = await appliedMigrations(trx);
    const tables = await listTables(trx);
    const sequences = await listSequences(trx);
    const createdAt = source.clock.now().toISOString();
    const encryptor = await BackupEncryptor.create(passphrase, { schema, created_at: createdAt }, options.kdf ?? DEFAULT_KDF);
    const emit = function* (chunks: Buffer[]) {
      for (const chunk of chunks) {
        summary.bytes += chunk.length;
        yield chunk;
      }
    };
    yield* emit([encryptor.preamble]);
    const manifest: Manifest = {
      type: 'manifest',
      schema,
      created_at: createdAt,
      master_key: source.masterKey.toString('base64'),
      tables,
      sequences,
    };
    yield* emit(encryptor.push(`${JSON.stringify(manifest)}\n`));
    for (const table of tables) {
      yield* emit(encryptor.push(`${JSON.stringify({ type: 'table', name: table.name })}\n`));
      let count = 0;
      for await (const lines of readTable(trx, table)) {
        count += lines.length;
        yield* emit(encryptor.push(`${lines.join('\n')}\n`));
      }
      summary.rows[table.name] = count;
      yield* emit(encryptor.push(`${JSON.stringify({ type: 'end_table', name: table.name, rows: count })}\n`));
    }
    const positions: Record<string, [string, boolean]> = {};
    for (const name of sequences) {
      const { rows } = await sql<{ last_value: string; is_called: boolean }>`
        select last_value::text as last_value, is_called from ${sql.table(name)}`.execute(trx);
      positions[name] = [rows[0]!.last_value, rows[0]!.is_called];
    }
    yield* emit(encryptor.push(`${JSON.stringify({ type: 'sequences', positions })}\n`));
    yield* emit(encryptor.push(`${JSON.stringify({ type: 'end', rows: summary.rows })}\n`));
    await trx.commit().execute();
    committed = true;
    yield* emit([encryptor.finish()]);
  } finally {
    if (!committed) await trx.rollback().execute();
  }
  const total = Object.values(summary.rows).reduce((a, b) => a + b, 0);
  await recordAudit(source.db, source, {
    action: 'iam.backup.created',
    actor: options.actor,
    details: { tables: Object.keys(summary.rows).length, rows: total, bytes: summary.bytes },
  });
}

/**
 * A table's rows in batches, each row as the line of the file: a JSON array of the values'
 * text forms (null stays null), built by the database (no parsing and re-encoding here).
 */
async function* readTable(trx: Kysely<any>, table: TableShape): AsyncGenerator<string[]> {
  const columns = table.columns.map((c) => `${quote(c.name)}::text`).join(', ');
  await sql
    .raw(`declare ${CURSOR} no scroll cursor for select array_to_json(array[${columns}])::text as r from ${quote(table.name)}`)
    .execute(trx);
  try {
    for (;;) {
      const { rows } = await sql.raw<{ r: string }>(`fetch ${BATCH} from ${CURSOR}`).execute(trx);
      if (rows.length === 0) return;
      yield rows.map((row) => row.r);
    }
  } finally {
    // After a failed fetch the transaction is aborted and the cursor gone with it.
    await sql
      .raw(`close ${CURSOR}`)
      .execute(trx)
      .catch(() => undefined);
  }
}
