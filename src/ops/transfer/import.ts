import { sql } from 'kysely';
import type { Scope } from '../../directory/permissions/effective.js';
import { resolveAssignableRoles } from '../../directory/roles/roles.js';
import { assertMaySetVerified } from '../../directory/users/manage.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { asDefinition, type Definition, type DefinitionCounts, DefinitionWriter, type ImportWarning } from './definitions.js';
import { Envelope, isExportHeader } from './envelope.js';
import { csvRecords, type Numbered } from './lines.js';
import { CSV_HEADERS, csvRecord, type ImportRecord, jsonRecord, LineError, type LineErrorCode, type ResolvedRecord } from './records.js';
import { writeBatch } from './write.js';

export type ImportFormat = 'jsonl' | 'csv';

export interface ImportOptions {
  format: ImportFormat;
  /** CSV: the tenant (slug or id) every row joins; in tenant scope always the caller's. */
  tenant?: string | undefined;
  /** An encrypted Gatehouse export needs the passphrase it was made with. */
  passphrase?: string | undefined;
  /** Records written per transaction (the benchmark and tests may change it). */
  batchSize?: number;
  /** The id of the audit event the import ends with, and its first errors in it: Auth0's job (/api/v2/jobs, decision 414). */
  jobId?: string;
}

export interface LineReport {
  line: number;
  error: LineErrorCode;
  message: string;
  email?: string;
}

export interface ImportReport {
  created: number;
  updated: number;
  failed: number;
  /** The first MAX_REPORTED failures, by line (records and definition lines). */
  errors: LineReport[];
  /** Definition lines (decision 143): what was created, and what existed already and was left as it is. */
  definitions: { created: DefinitionCounts; existing: DefinitionCounts };
  /** Things done only in part: definitions ignored, API permissions not found here. */
  warnings: ImportWarning[];
}

export const MAX_REPORTED = 1000;
/** The failures an import job keeps in its audit event, for GET /api/v2/jobs/:id/errors. */
const JOB_ERRORS = 100;
/** Records a batch writes: 1,000 users' rows stay under PostgreSQL's 65,535 parameters per statement. */
const BATCH = 1000;

/**
 * Imports users (decision 141): every record is validated, the valid ones written in
 * batches (each batch one transaction: users, memberships, roles, factors and audit
 * events together), the bad ones reported by line. Upserts by email (case-insensitive),
 * so importing a file again changes nothing it has not changed already.
 */
export async function importUsers(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  lines: AsyncIterable<Numbered<string>>,
  options: ImportOptions,
): Promise<ImportReport> {
  const definitions = new DefinitionWriter(ctx, scope, actor, (warning) => {
    if (report.warnings.length < MAX_REPORTED) report.warnings.push(warning);
  });
  const report: ImportReport = {
    created: 0,
    updated: 0,
    failed: 0,
    errors: [],
    definitions: { created: definitions.created, existing: definitions.existing },
    warnings: [],
  };
  let resolver = new Resolver(ctx.db, scope);
  const fail = (line: number, error: unknown, email?: string) => {
    report.failed++;
    if (report.errors.length >= MAX_REPORTED) return;
    if (error instanceof LineError || error instanceof AppError) {
      report.errors.push({ line, error: error.code as LineErrorCode, message: error.message, ...(email && { email }) });
    } else {
      ctx.log.error({ err: error, line }, 'Import of a record failed');
      report.errors.push({ line, error: 'write_failed', message: 'The record could not be written', ...(email && { email }) });
    }
  };
  let batch: ResolvedRecord[] = [];
  // One batch is written while the next is read and checked (decision 328): the writes stay in
  // file order, each starting once the one before it committed, so every batch sees the rows
  // of the batches before it, as when nothing overlapped.
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    if (batch.length === 0) return;
    const records = batch;
    batch = [];
    await writing;
    const next = writeBatch(ctx, scope, actor, records, fail).then((written) => {
      report.created += written.created;
      report.updated += written.updated;
    });
    next.catch(() => undefined); // a failure surfaces at the next await of `writing`, not as an unhandled rejection
    writing = next;
  };
  const drain = async () => {
    await flush();
    await writing;
  };
  const seen = new Set<string>();
  for await (const { line, record } of records(lines, options, scope)) {
    if ('kind' in record) {
      // The users before it are written first; the lookups after it see what it created.
      await drain();
      try {
        await definitions.apply(line, record);
      } catch (error) {
        fail(line, error);
      }
      resolver = new Resolver(ctx.db, scope);
      continue;
    }
    if (record instanceof LineError) {
      fail(line, record);
      continue;
    }
    const key = record.email.toLowerCase();
    if (seen.has(key)) {
      fail(line, new LineError('duplicate_email'), record.email);
      continue;
    }
    seen.add(key);
    try {
      batch.push(await resolver.resolve(record));
    } catch (error) {
      fail(line, error, record.email);
      continue;
    }
    if (batch.length >= (options.batchSize ?? BATCH)) await flush();
  }
  await drain();
  report.errors.sort((a, b) => a.line - b.line);
  const jobId = options.jobId;
  await recordAudit(ctx.db, jobId ? { ids: { next: () => jobId }, clock: ctx.clock } : ctx, {
    action: 'iam.users.imported',
    actor,
    tenantId: scope.kind === 'tenant' ? scope.tenantId : null,
    details: {
      format: options.format,
      created: report.created,
      updated: report.updated,
      failed: report.failed,
      definitions_created: definitions.created,
      ...(jobId && { job: true, errors: report.errors.slice(0, JOB_ERRORS) }),
    },
  });
  return report;
}

/** Parses the lines into records (or the line's error); file-level problems throw before anything is written. */
async function* records(
  lines: AsyncIterable<Numbered<string>>,
  options: ImportOptions,
  scope: Scope,
): AsyncGenerator<{ line: number; record: ImportRecord | LineError | Definition }> {
  const tenant = scope.kind === 'tenant' ? (options.tenant ?? scope.tenantId) : options.tenant;
  if (options.format === 'csv') {
    let headers: string[] | undefined;
    for await (const { line, value } of csvRecords(lines)) {
      if (!headers) {
        headers = checkHeaders(value);
        continue;
      }
      yield { line, record: attempt(() => csvRecord(line, headers!, value, tenant)) };
    }
    if (!headers) throw new AppError('invalid_import_file', 'The CSV file is empty: it needs a header line');
    return;
  }
  let envelope: Envelope | undefined;
  let first = true;
  for await (const { line, value } of lines) {
    if (value.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(value);
    } catch {
      raw = undefined;
    }
    if (first && isExportHeader(raw)) {
      first = false;
      envelope = await Envelope.open(raw, options.passphrase);
      continue;
    }
    first = false;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      yield { line, record: new LineError('malformed_json') };
      continue;
    }
    const definition = asDefinition(raw as Record<string, unknown>);
    if (definition) {
      yield { line, record: definition };
      continue;
    }
    const record = attempt(() => jsonRecord(line, raw as Record<string, unknown>, envelope));
    // CSV rows join the tenant option; in tenant scope a JSON line with no membership joins the caller's tenant.
    if (!(record instanceof LineError) && record.tenants.length === 0 && tenant) record.tenants.push({ tenant, roles: undefined });
    yield { line, record };
  }
}

function attempt(parse: () => ImportRecord): ImportRecord | LineError {
  try {
    return parse();
  } catch (error) {
    if (error instanceof LineError) return error;
    throw error;
  }
}

function checkHeaders(headers: string[]): string[] {
  const known = new Set<string>(CSV_HEADERS);
  const trimmed = headers.map((h) => h.trim());
  const unknown = trimmed.filter((h) => !known.has(h));
  if (unknown.length > 0) {
    throw new AppError('invalid_csv_header', `Unknown CSV column(s): ${unknown.join(', ')}`, { unknown, allowed: CSV_HEADERS });
  }
  if (!trimmed.includes('email')) throw new AppError('invalid_csv_header', 'The CSV header has no "email" column', { missing: ['email'] });
  const twice = trimmed.filter((h, i) => trimmed.indexOf(h) !== i);
  if (twice.length > 0) throw new AppError('invalid_csv_header', `Column(s) named twice: ${twice.join(', ')}`, { duplicate: twice });
  return trimmed;
}

/**
 * Tenants and roles by name, each looked up once per import, and the caller's right to
 * import into a tenant and to assign a set of roles, each checked once.
 */
class Resolver {
  private readonly tenants = new Map<string, Promise<string | undefined>>();
  private readonly roleSets = new Map<string, Promise<string[]>>();
  private readonly groupSets = new Map<string, Promise<string[]>>();

  constructor(
    private readonly db: Db,
    private readonly scope: Scope,
  ) {}

  async resolve(record: ImportRecord): Promise<ResolvedRecord> {
    assertMaySetVerified(this.scope, record);
    const { tenants, home_tenant, ...rest } = record;
    const memberships: ResolvedRecord['memberships'] = [];
    for (const entry of tenants) {
      const tenantId = await this.tenant(entry.tenant);
      if (memberships.some((m) => m.tenantId === tenantId)) continue;
      memberships.push({
        tenantId,
        roleIds: await this.roles(tenantId, entry.roles ?? ['USER']),
        named: entry.roles !== undefined,
        ...(entry.groups !== undefined && { groupIds: await this.groups(tenantId, entry.groups) }),
      });
    }
    const homeTenantId = home_tenant !== undefined ? await this.tenant(home_tenant) : memberships[0]?.tenantId;
    if (this.scope.kind === 'tenant' && homeTenantId !== undefined && homeTenantId !== this.scope.tenantId) {
      throw new LineError('tenant_not_allowed');
    }
    return { ...rest, homeTenantId, memberships };
  }

  private async tenant(ref: string): Promise<string> {
    let found = this.tenants.get(ref);
    if (!found) {
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
      found = this.db
        .selectFrom('tenants')
        .select('id')
        .where((eb) => (uuid ? eb('id', '=', ref) : eb(eb.fn('lower', ['slug']), '=', ref.toLowerCase())))
        .executeTakeFirst()
        .then((row) => row?.id);
      this.tenants.set(ref, found);
    }
    const id = await found;
    if (!id) throw new LineError('unknown_tenant', `No tenant ${JSON.stringify(ref)}`);
    if (this.scope.kind === 'tenant' && id !== this.scope.tenantId) throw new LineError('tenant_not_allowed');
    return id;
  }

  /**
   * Group names (any letter case) of the tenant (decision 368); joining one gives its roles,
   * so the caller must be able to assign them directly (resolveAssignableRoles).
   */
  private groups(tenantId: string, names: string[]): Promise<string[]> {
    const key = `${tenantId}\0${[...names].sort().join('\0')}`;
    let found = this.groupSets.get(key);
    if (!found) {
      found = (async () => {
        if (names.length === 0) return [];
        const lowered = names.map((n) => n.toLowerCase());
        const rows = await this.db
          .selectFrom('groups')
          .select(['id', 'name'])
          .where('tenant_id', '=', tenantId)
          .where((eb) => eb(eb.fn('lower', ['name']), 'in', lowered))
          .execute();
        const missing = names.filter((n) => !rows.some((row) => row.name.toLowerCase() === n.toLowerCase()));
        if (missing.length > 0)
          throw new LineError('unknown_group', `No group ${missing.map((m) => JSON.stringify(m)).join(', ')} in the tenant`);
        const roles = await this.db
          .selectFrom('group_roles')
          .select('role_id')
          .where(
            'group_id',
            'in',
            rows.map((r) => r.id),
          )
          .execute();
        await resolveAssignableRoles(
          this.db,
          this.scope,
          tenantId,
          roles.map((r) => r.role_id),
        );
        return rows.map((r) => r.id);
      })();
      this.groupSets.set(key, found);
    }
    return found;
  }

  /** Role names (any letter case) or ids, global or the tenant's own, each assignable by the caller. */
  private roles(tenantId: string, refs: string[]): Promise<string[]> {
    const key = `${tenantId}\0${[...refs].sort().join('\0')}`;
    let found = this.roleSets.get(key);
    if (!found) {
      found = (async () => {
        const lowered = refs.map((r) => r.toLowerCase());
        const rows = await this.db
          .selectFrom('roles')
          .select(['id', 'name'])
          .where(sql<boolean>`(tenant_id is null or tenant_id = ${tenantId})`)
          .where((eb) => eb.or([eb(eb.fn('lower', ['name']), 'in', lowered), eb(sql`id::text`, 'in', refs)]))
          .execute();
        const missing = refs.filter((r) => !rows.some((row) => row.id === r || row.name.toLowerCase() === r.toLowerCase()));
        if (missing.length > 0)
          throw new LineError('unknown_role', `No role ${missing.map((m) => JSON.stringify(m)).join(', ')} in the tenant`);
        const roles = await resolveAssignableRoles(
          this.db,
          this.scope,
          tenantId,
          rows.map((r) => r.id),
        );
        return roles.map((r) => r.id);
      })();
      this.roleSets.set(key, found);
    }
    return found;
  }
}
