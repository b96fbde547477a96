import { type Kysely, sql } from 'kysely';

/**
 * What a backup holds, read from PostgreSQL's own catalog rather than listed by hand: every
 * table of Gatehouse's schema (tables added by later migrations are included without a
 * change here), in foreign-key order. Kysely's migration tables are left out; the names of
 * the applied migrations travel in the header as the schema version.
 */
export const EXCLUDED_TABLES = new Set(['kysely_migration', 'kysely_migration_lock']);

export interface TableShape {
  name: string;
  /** Stored columns (generated columns are recomputed, not restored), with their SQL type. */
  columns: { name: string; type: string }[];
}

export const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** The tables in an order where each comes after every table it references. */
export async function listTables(db: Kysely<any>): Promise<TableShape[]> {
  const { rows: columns } = await sql<{ table: string; column: string; type: string }>`
    select c.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as type
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
    where n.nspname = current_schema() and c.relkind in ('r', 'p')
    order by c.relname, a.attnum`.execute(db);
  const { rows: references } = await sql<{ table: string; referenced: string }>`
    select distinct c.relname as table, r.relname as referenced
    from pg_constraint k
    join pg_class c on c.oid = k.conrelid
    join pg_class r on r.oid = k.confrelid
    join pg_namespace n on n.oid = c.relnamespace
    where k.contype = 'f' and n.nspname = current_schema() and c.oid <> r.oid`.execute(db);

  const tables = new Map<string, TableShape>();
  for (const row of columns) {
    if (EXCLUDED_TABLES.has(row.table)) continue;
    const table = tables.get(row.table) ?? { name: row.table, columns: [] };
    table.columns.push({ name: row.column, type: row.type });
    tables.set(row.table, table);
  }
  const needs = new Map<string, Set<string>>([...tables.keys()].map((name) => [name, new Set<string>()]));
  for (const { table, referenced } of references) {
    if (tables.has(referenced)) needs.get(table)?.add(referenced);
  }
  // Kahn's algorithm, by name among the ready ones so the order is stable.
  const ordered: TableShape[] = [];
  while (needs.size > 0) {
    const ready = [...needs].filter(([, deps]) => deps.size === 0).map(([name]) => name);
    // A cycle of foreign keys (none today): take the rest by name; a row order that breaks it fails the restore whole.
    const next = ready.length > 0 ? ready.sort() : [...needs.keys()].sort();
    for (const name of next) {
      ordered.push(tables.get(name)!);
      needs.delete(name);
      for (const deps of needs.values()) deps.delete(name);
    }
  }
  return ordered;
}

/** The schema's sequences (serial and identity columns), whose positions a restore sets again. */
export async function listSequences(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind = 'S' order by c.relname`.execute(db);
  return rows.map((r) => r.name);
}

/** The migrations applied to this database, in order: its schema version. */
export async function appliedMigrations(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.map((r) => r.name);
}
