import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { sql } from 'kysely';
import { tenantPolicies } from '../../directory/policies/policies.js';
import { recordAudit, SYSTEM_ACTOR } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { chainHash, chainKey, chainOf, GENESIS, headMac, type SealedRow, sealAll, sealedColumns, toSealedRow } from './chain.js';

const gzipAsync = promisify(gzip);
const BATCH = 5000;
const DAY_MS = 86_400_000;
const DEFAULT_RETENTION_DAYS = 400;

export interface PrunedChain {
  tenant_id: string | null;
  /** Events archived and deleted. */
  events: number;
  /** The chain's new anchor: the seq of the last event deleted. */
  through_seq: number;
  /** The archive files written, relative to the archive directory. */
  files: string[];
  /** Set when the chain was left alone because the events due for deletion do not verify (kept as evidence; none of the batch is deleted). */
  refused?: string;
}

/**
 * Retention (decision 82): deletes each chain's events older than its tenant's
 * `audit.retention_days` (events without a tenant: the default), oldest first, after writing
 * them to `<archive dir>/<chain>/<date>-<first seq>-<last seq>.jsonl.gz`, fsync'd before the
 * delete commits. The chain keeps an anchor (seq and hash of the last deleted event), so
 * a verify afterwards still passes and any other deletion is still a break. Several nodes
 * may run it: the delete commits only if the anchor is still where this node found it.
 */
export async function pruneAuditTrail(ctx: AppContext): Promise<PrunedChain[]> {
  await sealAll(ctx);
  const chains = await ctx.db.selectFrom('audit_chains').select(['chain', 'tenant_id']).orderBy('chain').execute();
  const results: PrunedChain[] = [];
  for (const { tenant_id } of chains) {
    const days = tenant_id ? (await tenantPolicies(ctx, tenant_id)).audit.retention_days : DEFAULT_RETENTION_DAYS;
    const result = await pruneChain(ctx, tenant_id, new Date(ctx.clock.now().getTime() - days * DAY_MS));
    if (result.events > 0 || result.refused) results.push(result);
  }
  return results;
}

async function pruneChain(ctx: AppContext, tenantId: string | null, before: Date): Promise<PrunedChain> {
  const chain = chainOf(tenantId);
  const key = chainKey(ctx.masterKey);
  const result: PrunedChain = { tenant_id: tenantId, events: 0, through_seq: 0, files: [] };
  const beforeUs = BigInt(before.getTime()) * 1000n;
  const inChain = tenantId === null ? sql`tenant_id is null` : sql`tenant_id = ${tenantId}::uuid`;
  for (;;) {
    const head = await ctx.db
      .selectFrom('audit_chains')
      .select(['pruned_seq', 'pruned_hash'])
      .where('chain', '=', chain)
      .executeTakeFirstOrThrow();
    const anchor = Number(head.pruned_seq);
    const { rows } = await sql<Record<string, unknown>>`select ${sealedColumns} from audit_events
      where ${inChain} and chain_seq is not null and chain_seq > ${anchor} order by chain_seq, id limit ${BATCH}`.execute(ctx.db);
    // The oldest events, up to the first one still within retention (the chain is pruned from its start only).
    const due: SealedRow[] = [];
    for (const row of rows.map(toSealedRow)) {
      if (BigInt(row.created_us) >= beforeUs) break;
      due.push(row);
    }
    if (due.length === 0) return result;
    let prev: Buffer = head.pruned_hash ? Buffer.from(head.pruned_hash) : GENESIS;
    for (const [i, row] of due.entries()) {
      if (row.seq !== anchor + i + 1 || !row.prev?.equals(prev) || !row.hash?.equals(chainHash(key, prev, row))) {
        result.refused = `Event ${row.id} (seq ${row.seq}) does not verify; run gatehouse audit verify. The chain is left as it is.`;
        ctx.log.error({ tenant: tenantId, seq: row.seq, event: row.id }, 'Audit retention stopped: the chain does not verify');
        return result;
      }
      prev = row.hash;
    }
    const last = due.at(-1)!;
    const file = await archive(ctx, chain, due);
    const deleted = await ctx.db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('audit_chains')
        .select(['pruned_seq', 'last_seq', 'last_hash'])
        .where('chain', '=', chain)
        .forUpdate()
        .executeTakeFirstOrThrow();
      if (Number(current.pruned_seq) !== anchor) return false; // another node pruned these meanwhile
      const gone = await sql`delete from audit_events where ${inChain} and chain_seq > ${anchor} and chain_seq <= ${last.seq}`.execute(trx);
      if (Number(gone.numAffectedRows ?? 0) !== due.length)
        throw new Error(`Audit retention: expected to delete ${due.length} events of ${chain}`);
      await trx
        .updateTable('audit_chains')
        .set({
          pruned_seq: last.seq,
          pruned_hash: last.hash,
          head_mac: headMac(key, chain, {
            lastSeq: Number(current.last_seq),
            lastHash: current.last_hash ? Buffer.from(current.last_hash) : GENESIS,
            prunedSeq: last.seq,
            prunedHash: last.hash!,
          }),
          pruned_at: ctx.clock.now(),
          updated_at: ctx.clock.now(),
        })
        .where('chain', '=', chain)
        .execute();
      await recordAudit(trx, ctx, {
        action: 'iam.audit.pruned',
        actor: SYSTEM_ACTOR,
        tenantId,
        details: { events: due.length, through_seq: last.seq, before: before.toISOString(), archive: file },
      });
      return true;
    });
    if (!deleted) continue;
    result.events += due.length;
    result.through_seq = last.seq;
    result.files.push(file);
  }
}

/** Writes the events as gzipped JSON lines, fsync'd (file and directory) before the delete commits. */
async function archive(ctx: AppContext, chain: string, rows: SealedRow[]): Promise<string> {
  const dir = join(ctx.config.auditArchiveDir, chain);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = `${ctx.clock.now().toISOString().slice(0, 10)}-${rows[0]!.seq}-${rows.at(-1)!.seq}.jsonl.gz`;
  const lines = rows.map((r) => `${JSON.stringify(archived(r))}\n`).join('');
  const body = await gzipAsync(Buffer.from(lines, 'utf8'));
  const partial = join(dir, `.${name}.partial`);
  const handle = await open(partial, 'w', 0o600);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, join(dir, name));
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
  return `${chain}/${name}`;
}

/** One archived event: the export's fields, the exact time, and its links in the chain. */
function archived(r: SealedRow) {
  return {
    id: r.id,
    created_at: new Date(Number(BigInt(r.created_us) / 1000n)).toISOString(),
    created_us: r.created_us,
    tenant_id: r.tenant_id,
    action: r.action,
    outcome: r.outcome,
    actor_type: r.actor_type,
    actor_id: r.actor_id,
    target_type: r.target_type,
    target_id: r.target_id,
    ip: r.ip,
    user_agent: r.user_agent,
    details: JSON.parse(r.details_text),
    chain_seq: r.seq,
    chain_prev: r.prev?.toString('hex') ?? null,
    chain_hash: r.hash?.toString('hex') ?? null,
  };
}
