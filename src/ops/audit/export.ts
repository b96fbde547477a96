import { Readable } from 'node:stream';
import type { AppContext } from '../../platform/context.js';
import { csvLine } from '../../platform/http/csv.js';
import { sealAll } from './chain.js';

export type ExportFormat = 'jsonl' | 'csv';

export interface ExportFilter {
  /** The one tenant exported; undefined: every tenant (system scope only). */
  tenantId: string | undefined;
  action?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/** An exported event: the API's fields, plus its place in the chain, so an export can be checked later. */
export interface ExportedEvent {
  id: string;
  created_at: string;
  tenant_id: string | null;
  action: string;
  outcome: string;
  actor_type: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  chain_seq: number | null;
  chain_hash: string | null;
}

export const CSV_COLUMNS = [
  'id',
  'created_at',
  'tenant_id',
  'action',
  'outcome',
  'actor_type',
  'actor_id',
  'target_type',
  'target_id',
  'ip',
  'user_agent',
  'details',
  'chain_seq',
  'chain_hash',
] as const;

const BATCH = 1000;

/** Events oldest first, read 1,000 at a time by id, so memory stays flat however many there are. */
export async function* exportedEvents(ctx: Pick<AppContext, 'db'>, filter: ExportFilter): AsyncGenerator<ExportedEvent[]> {
  let after: string | undefined;
  for (;;) {
    let query = ctx.db
      .selectFrom('audit_events')
      .select([...CSV_COLUMNS])
      .orderBy('id')
      .limit(BATCH);
    if (filter.tenantId) query = query.where('tenant_id', '=', filter.tenantId);
    if (filter.action) query = query.where('action', '=', filter.action);
    if (filter.from) query = query.where('created_at', '>=', new Date(filter.from));
    if (filter.to) query = query.where('created_at', '<', new Date(filter.to));
    if (after) query = query.where('id', '>', after);
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows.map((r) => ({
      ...r,
      created_at: r.created_at.toISOString(),
      chain_seq: r.chain_seq === null ? null : Number(r.chain_seq),
      chain_hash: r.chain_hash === null ? null : Buffer.from(r.chain_hash).toString('hex'),
    }));
    if (rows.length < BATCH) return;
    after = rows.at(-1)!.id;
  }
}

/** The export as a stream of text: JSON lines, or CSV with a header row. Seals first, so the chain fields are filled. */
export async function exportStream(ctx: Pick<AppContext, 'db' | 'masterKey' | 'clock'>, filter: ExportFilter, format: ExportFormat) {
  await sealAll(ctx);
  async function* lines() {
    if (format === 'csv') yield csvLine(CSV_COLUMNS);
    for await (const batch of exportedEvents(ctx, filter)) {
      yield format === 'csv'
        ? batch.map((event) => csvLine(CSV_COLUMNS.map((column) => event[column]))).join('')
        : batch.map((event) => `${JSON.stringify(event)}\n`).join('');
    }
  }
  return Readable.from(lines());
}
