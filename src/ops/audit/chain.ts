import { createHmac, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';

/**
 * The audit chain (decision 80). Each tenant's events form one chain (events without a
 * tenant form the `global` one): event n carries `hash = HMAC(key, hash(n-1) || canonical
 * JSON of its fields)`, keyed with a key derived from the master key, so someone who can
 * only write the database cannot recompute the chain after changing a row.
 */
export const GLOBAL_CHAIN = 'global';
export const GENESIS = Buffer.alloc(32);

export const chainOf = (tenantId: string | null): string => tenantId ?? GLOBAL_CHAIN;

/** The fields an event's hash covers, read as the database holds them (exact time, jsonb text). */
export interface ChainRow {
  id: string;
  tenant_id: string | null;
  created_us: string;
  action: string;
  outcome: string;
  actor_type: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details_text: string;
}

/** A sealed row: its fields and its place in the chain. */
export interface SealedRow extends ChainRow {
  seq: number;
  prev: Buffer | null;
  hash: Buffer | null;
}

/** Columns of `audit_events` as the chain reads them (timestamps in microseconds, jsonb as text). */
export const chainColumns = sql<ChainRow>`id::text as id, tenant_id::text as tenant_id,
  ((extract(epoch from created_at) * 1000000)::bigint)::text as created_us, action, outcome, actor_type, actor_id,
  target_type, target_id, ip, user_agent, details::text as details_text`;

export const sealedColumns = sql<SealedRow>`${chainColumns}, chain_seq::text as seq, chain_prev as prev, chain_hash as hash`;

/** Normalizes what the drivers return (pg: Buffer and string, PGlite: Uint8Array and number). */
export function toSealedRow(row: Record<string, unknown>): SealedRow {
  const bytes = (value: unknown) => (value == null ? null : Buffer.from(value as Uint8Array));
  return { ...(row as unknown as ChainRow), seq: Number(row.seq), prev: bytes(row.prev), hash: bytes(row.hash) };
}

export function chainKey(masterKey: Buffer): Buffer {
  return createHmac('sha256', masterKey).update('gatehouse audit chain v1', 'utf8').digest();
}

export function canonical(row: ChainRow): string {
  return JSON.stringify([
    1,
    row.id,
    row.tenant_id,
    row.created_us,
    row.action,
    row.outcome,
    row.actor_type,
    row.actor_id,
    row.target_type,
    row.target_id,
    row.ip,
    row.user_agent,
    row.details_text,
  ]);
}

/** The state of a chain's head record, as its MAC covers it. */
export interface ChainHead {
  lastSeq: number;
  lastHash: Buffer;
  prunedSeq: number;
  prunedHash: Buffer;
}

/**
 * The head record's own MAC: without the key, the head cannot be set back to an earlier
 * event (which would let the sealer chain altered events anew) or its anchor moved.
 */
export function headMac(key: Buffer, chain: string, head: ChainHead): Buffer {
  return createHmac('sha256', key)
    .update(JSON.stringify(['head', chain, head.lastSeq, head.lastHash.toString('hex'), head.prunedSeq, head.prunedHash.toString('hex')]))
    .digest();
}

/** Whether a stored head record carries its MAC (the state before any event has none). */
export function headHolds(
  key: Buffer,
  chain: string,
  row: {
    last_seq: number | string;
    last_hash: Uint8Array | null;
    pruned_seq: number | string;
    pruned_hash: Uint8Array | null;
    head_mac: Uint8Array | null;
  },
): boolean {
  if (!row.head_mac) return false;
  const mac = headMac(key, chain, {
    lastSeq: Number(row.last_seq),
    lastHash: row.last_hash ? Buffer.from(row.last_hash) : GENESIS,
    prunedSeq: Number(row.pruned_seq),
    prunedHash: row.pruned_hash ? Buffer.from(row.pruned_hash) : GENESIS,
  });
  return timingSafeEqual(mac, Buffer.from(row.head_mac));
}

export function chainHash(key: Buffer, prev: Buffer, row: ChainRow): Buffer {
  return createHmac('sha256', key).update(prev).update(canonical(row), 'utf8').digest();
}

export const SEAL_BATCH = 1000;
const SEAL_LOCK = sql`select pg_try_advisory_xact_lock(hashtext('gatehouse:audit-chain')) as locked`;

/**
 * Chains the events committed since the last run, in id order, up to one batch; returns how
 * many it sealed (0 when another node holds the sealer's lock). Runs after commit, so the
 * hot paths that write events take no lock and make no extra round trip.
 */
export async function sealBatch(ctx: Pick<AppContext, 'db' | 'masterKey' | 'clock'>): Promise<number> {
  const key = chainKey(ctx.masterKey);
  return ctx.db.transaction().execute(async (trx) => {
    const { rows: lock } = await SEAL_LOCK.execute(trx);
    if (!(lock[0] as { locked: boolean } | undefined)?.locked) return 0;
    const { rows } =
      await sql<ChainRow>`select ${chainColumns} from audit_events where chain_seq is null order by id limit ${SEAL_BATCH}`.execute(trx);
    if (rows.length === 0) return 0;
    const chains = [...new Set(rows.map((r) => chainOf(r.tenant_id)))];
    const heads = new Map<string, { seq: number; hash: Buffer; tenantId: string | null; prunedSeq: number; prunedHash: Buffer }>();
    const forged = new Set<string>();
    for (const head of await trx
      .selectFrom('audit_chains')
      .select(['chain', 'tenant_id', 'last_seq', 'last_hash', 'pruned_seq', 'pruned_hash', 'head_mac'])
      .where('chain', 'in', chains)
      .execute()) {
      // A head that does not carry its MAC was set by someone without the key: chain nothing
      // onto it (verify reports it), or altered events would be chained anew.
      if (!headHolds(key, head.chain, head)) {
        forged.add(head.chain);
        continue;
      }
      heads.set(head.chain, {
        seq: Number(head.last_seq),
        hash: head.last_hash ? Buffer.from(head.last_hash) : GENESIS,
        tenantId: head.tenant_id,
        prunedSeq: Number(head.pruned_seq),
        prunedHash: head.pruned_hash ? Buffer.from(head.pruned_hash) : GENESIS,
      });
    }
    const sealable = rows.filter((row) => !forged.has(chainOf(row.tenant_id)));
    if (sealable.length === 0) return 0;
    const sealed = sealable.map((row) => {
      const chain = chainOf(row.tenant_id);
      const head = heads.get(chain) ?? { seq: 0, hash: GENESIS, tenantId: row.tenant_id, prunedSeq: 0, prunedHash: GENESIS };
      const hash = chainHash(key, head.hash, row);
      heads.set(chain, { ...head, seq: head.seq + 1, hash, tenantId: row.tenant_id });
      return sql`(${row.id}::uuid, ${head.seq + 1}::bigint, ${head.hash}::bytea, ${hash}::bytea)`;
    });
    await sql`update audit_events as e set chain_seq = v.seq, chain_prev = v.prev, chain_hash = v.hash
      from (values ${sql.join(sealed)}) as v (id, seq, prev, hash) where e.id = v.id`.execute(trx);
    const now = ctx.clock.now();
    await trx
      .insertInto('audit_chains')
      .values(
        chains
          .filter((chain) => !forged.has(chain))
          .map((chain) => {
            const head = heads.get(chain)!;
            return {
              chain,
              tenant_id: head.tenantId,
              last_seq: head.seq,
              last_hash: head.hash,
              head_mac: headMac(key, chain, {
                lastSeq: head.seq,
                lastHash: head.hash,
                prunedSeq: head.prunedSeq,
                prunedHash: head.prunedHash,
              }),
              updated_at: now,
            };
          }),
      )
      .onConflict((oc) =>
        oc.column('chain').doUpdateSet((eb) => ({
          last_seq: eb.ref('excluded.last_seq'),
          last_hash: eb.ref('excluded.last_hash'),
          head_mac: eb.ref('excluded.head_mac'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
    return sealable.length;
  });
}

/** Seals until nothing is left (verify and export call it first, so they see every committed event). */
export async function sealAll(ctx: Pick<AppContext, 'db' | 'masterKey' | 'clock'>): Promise<number> {
  let total = 0;
  for (;;) {
    const sealed = await sealBatch(ctx);
    total += sealed;
    if (sealed < SEAL_BATCH) return total;
  }
}
