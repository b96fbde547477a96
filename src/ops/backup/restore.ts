import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { type Kysely, sql } from 'kysely';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { Config } from '../../platform/config.js';
import type { Db } from '../../platform/db/database.js';
import { MIGRATION_NAMES, migrateToLatest } from '../../platform/db/migrate.js';
import { AppError } from '../../platform/errors.js';
import type { Clock, IdGenerator } from '../../platform/ids.js';
import type { Manifest } from './backup.js';
import { listTables, quote, type TableShape } from './catalog.js';
import { BackupDecryptor } from './format.js';

export interface RestoreTarget {
  db: Db;
  /** The target's configuration: its master key, or the data dir of its development key. */
  config: Pick<Config, 'masterKey' | 'dataDir'>;
  clock: Clock;
  ids: IdGenerator;
}

export interface RestoreOptions {
  actor: Actor;
  /** Replace the contents of a database that is in use. */
  force?: boolean;
}

export interface RestoreSummary {
  schema: string[];
  createdAt: string;
  rows: Record<string, number>;
  /** Where the backup's master key was written (a target with a development key), if anywhere. */
  masterKeyWritten?: string;
}

/** A control line, parsed; or a row, as its raw JSON text (the database parses it). */
type Line = { type: string; [key: string]: unknown } | string;

const BATCH = 1000;

const corrupt = (what: string) => new AppError('backup_corrupt', `The backup file is not consistent: ${what}`);

/**
 * Loads a backup into a database, in one transaction: either everything is restored or
 * nothing changes. Checked before anything is written: the passphrase, the schema version
 * (the backup's migrations must be exactly this code's), the master key, and that the
 * target is not in use (unless `force`, which replaces its contents, never merges).
 */
export async function restoreBackup(
  file: AsyncIterable<Buffer | Uint8Array>,
  passphrase: string,
  target: RestoreTarget,
  options: RestoreOptions,
): Promise<RestoreSummary> {
  const decryptor = await BackupDecryptor.open(file, passphrase);
  const lines = readLines(decryptor.chunks());
  try {
    checkSchema(decryptor.header.schema);
    return await restoreLines(lines, decryptor.header.schema, target, options);
  } finally {
    await lines.return(undefined);
    await decryptor.close();
  }
}

function checkSchema(schema: string[]): void {
  if (schema.join(',') !== MIGRATION_NAMES.join(',')) {
    throw new AppError(
      'backup_schema_mismatch',
      `The backup has schema version ${schema.at(-1) ?? '(none)'} (${schema.length} migrations); this Gatehouse has ${MIGRATION_NAMES.at(-1)} (${MIGRATION_NAMES.length}). Restore it with the Gatehouse version that wrote it`,
      { backup: schema, expected: MIGRATION_NAMES },
    );
  }
}

async function restoreLines(
  lines: AsyncGenerator<Line>,
  schema: string[],
  target: RestoreTarget,
  options: RestoreOptions,
): Promise<RestoreSummary> {
  const first = await lines.next();
  const manifest = first.value as Manifest | undefined;
  if (first.done || !manifest || typeof manifest === 'string' || manifest.type !== 'manifest') throw corrupt('no manifest');
  const masterKey = Buffer.from(manifest.master_key, 'base64');
  const keyFile = planMasterKey(target.config, masterKey);

  await migrateToLatest(target.db);
  const tables = await listTables(target.db);
  checkSameTables(manifest.tables, tables);
  if (!options.force && (await inUse(target.db))) {
    throw new AppError(
      'database_not_empty',
      'The target database is in use (it has tenants or users). Restore into an empty database, or pass --force to replace its contents',
    );
  }

  const trx = await target.db.startTransaction().execute();
  let keyWritten = false;
  try {
    if (tables.length > 0) await sql.raw(`truncate table ${tables.map((t) => quote(t.name)).join(', ')}`).execute(trx);
    const rows = await load(trx, lines, manifest.tables);
    await recordAudit(trx, target, {
      action: 'iam.backup.restored',
      actor: options.actor,
      details: { backup_created_at: manifest.created_at, rows: Object.values(rows).reduce((a, b) => a + b, 0), forced: !!options.force },
    });
    if (keyFile) {
      keyFile.write();
      keyWritten = true;
    }
    await trx.commit().execute();
    return { schema, createdAt: manifest.created_at, rows, ...(keyFile && { masterKeyWritten: keyFile.path }) };
  } catch (error) {
    await trx.rollback().execute();
    if (keyWritten) keyFile?.undo();
    throw error;
  }
}

/** Reads the lines after the manifest: every table in the manifest's order, its rows, the sequences. */
async function load(trx: Kysely<any>, lines: AsyncGenerator<Line>, tables: TableShape[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  let table: TableShape | undefined;
  let batch: string[] = [];
  const flush = async () => {
    if (table && batch.length > 0) await insertRows(trx, table, batch);
    batch = [];
  };
  for await (const line of lines) {
    if (typeof line === 'string') {
      if (!table) throw corrupt('a row outside its table');
      batch.push(line);
      counts[table.name] = (counts[table.name] ?? 0) + 1;
      if (batch.length >= BATCH) await flush();
    } else if (line.type === 'table') {
      table = tables[next++];
      if (!table || table.name !== line.name) throw corrupt(`table ${String(line.name)} out of order`);
      counts[table.name] = 0;
    } else if (line.type === 'end_table') {
      await flush();
      if (!table || line.name !== table.name || line.rows !== counts[table.name]) throw corrupt(`row count of ${String(line.name)}`);
      table = undefined;
    } else if (line.type === 'sequences') {
      for (const [name, [value, called]] of Object.entries(line.positions as Record<string, [string, boolean]>)) {
        await sql`select setval(${quote(name)}, ${value}::bigint, ${called})`.execute(trx).catch((error: Error) => {
          throw new AppError('backup_rejected', `The database refused the position of sequence ${name}: ${error.message}`);
        });
      }
    } else if (line.type === 'end') {
      if (next !== tables.length) throw corrupt('tables are missing');
      return counts;
    } else {
      throw corrupt(`unknown line ${String(line.type)}`);
    }
  }
  throw corrupt('no end marker');
}

/**
 * One statement per batch: PostgreSQL parses the rows and casts each text value to its
 * column's type itself. A row with another number of values is not inserted, and then the
 * count of inserted rows tells.
 */
async function insertRows(trx: Kysely<any>, table: TableShape, rows: string[]): Promise<void> {
  const names = table.columns.map((c) => quote(c.name)).join(', ');
  const values = table.columns.map((c, i) => `(r->>${i})::${c.type}`).join(', ');
  const into = sql.raw(`insert into ${quote(table.name)} (${names}) overriding system value select ${values}`);
  const width = table.columns.length;
  let inserted: bigint | undefined;
  try {
    const result = await sql`${into} from json_array_elements(${`[${rows.join(',')}]`}::json) as r
      where json_typeof(r) = 'array' and json_array_length(r) = ${width}`.execute(trx);
    inserted = result.numAffectedRows;
  } catch (error) {
    throw new AppError('backup_rejected', `The database refused the rows of ${table.name}: ${(error as Error).message}`);
  }
  if (inserted !== BigInt(rows.length)) throw corrupt(`a row of ${table.name} has not ${width} values`);
}

/** Same tables, same columns, same types: what the schema version promises, checked. */
function checkSameTables(backup: TableShape[], target: TableShape[]): void {
  const shape = (tables: TableShape[]) =>
    JSON.stringify(
      [...tables].sort((a, b) => a.name.localeCompare(b.name)).map((t) => [t.name, t.columns.map((c) => `${c.name}:${c.type}`)]),
    );
  if (shape(backup) !== shape(target)) {
    throw new AppError('backup_schema_mismatch', "The backup's tables differ from this database's, although the schema versions match");
  }
}

/** A database that has served: the first start creates the system tenant. */
async function inUse(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ used: boolean }>`select exists (select 1 from tenants) or exists (select 1 from users) as used`.execute(db);
  return rows[0]?.used === true;
}

/**
 * The restored rows need the backup's master key. A target configured with a key must have
 * that one; a target with a development key gets the backup's key in its data dir.
 */
function planMasterKey(config: RestoreTarget['config'], masterKey: Buffer) {
  if (masterKey.length !== 32) throw corrupt('the master key');
  if (config.masterKey) {
    if (!config.masterKey.equals(masterKey)) {
      throw new AppError(
        'master_key_mismatch',
        "GATEHOUSE_MASTER_KEY differs from the backup's master key: the restored secrets could not be read. Set the source deployment's key (or unset it to take the backup's key into the data dir)",
      );
    }
    return undefined;
  }
  const path = join(config.dataDir, 'master.key');
  const previous = existsSync(path) ? readFileSync(path) : undefined;
  return {
    path,
    write() {
      mkdirSync(config.dataDir, { recursive: true });
      // Kept beside it: a crash between this write and the commit leaves the old data with
      // the new key, and the old key is then what reads it.
      if (previous) writeFileSync(`${path}.previous`, previous, { mode: 0o600 });
      writeFileSync(`${path}.restore`, `${masterKey.toString('base64')}\n`, { mode: 0o600 });
      renameSync(`${path}.restore`, path);
    },
    undo() {
      if (previous) writeFileSync(path, previous, { mode: 0o600 });
      else rmSync(path, { force: true });
    },
  };
}

/** The decrypted payload, line by line, parsed. */
async function* readLines(chunks: AsyncGenerator<Buffer>): AsyncGenerator<Line> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of chunks) {
    const text = rest + decoder.write(chunk);
    let start = 0;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n', start)) {
      yield parse(text.slice(start, newline));
      start = newline + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.length > 0) yield parse(rest);
}

function parse(text: string): Line {
  if (text.startsWith('[')) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw corrupt('a line is not JSON');
  }
}
