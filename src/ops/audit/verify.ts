import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import { chainHash, chainKey, chainOf, GENESIS, headHolds, type SealedRow, sealAll, sealedColumns, toSealedRow } from './chain.js';

export type BreakKind = 'changed' | 'missing' | 'inserted' | 'reordered';

/** The first place a chain does not hold, named: which tenant's chain, which position, which event. */
export interface ChainBreak {
  tenant_id: string | null;
  kind: BreakKind;
  /** The position in the chain where it breaks (null when the chain's head record itself is gone). */
  seq: number | null;
  /** The event found there (for `missing`: the first one after the gap, if any). */
  event_id: string | null;
  message: string;
}

export interface VerifyResult {
  ok: boolean;
  chains: number;
  /** Events checked. */
  events: number;
  /** Events committed but not chained yet (another node's sealer holds the lock). */
  unsealed: number;
  first_break?: ChainBreak;
}

const BATCH = 2000;
const LOOKAHEAD = 1000;

const inChain = (tenantId: string | null) => (tenantId === null ? sql`tenant_id is null` : sql`tenant_id = ${tenantId}::uuid`);

/**
 * Walks every chain (or one tenant's) from its retention anchor to its head and reports
 * the first break. Seals what is committed first, so a fresh event counts.
 */
export async function verifyAuditChains(
  ctx: Pick<AppContext, 'db' | 'masterKey' | 'clock'>,
  tenantId?: string | null,
): Promise<VerifyResult> {
  await sealAll(ctx);
  const tenants = tenantId === undefined ? await allChains(ctx) : [tenantId];
  let events = 0;
  for (const tenant of tenants) {
    const result = await verifyChain(ctx, tenant);
    events += result.events;
    if (result.break)
      return { ok: false, chains: tenants.length, events, unsealed: await unsealed(ctx, tenantId), first_break: result.break };
  }
  return { ok: true, chains: tenants.length, events, unsealed: await unsealed(ctx, tenantId) };
}

/** Chains known by a head record or by sealed events (so deleting a head record hides nothing). */
async function allChains(ctx: Pick<AppContext, 'db'>): Promise<(string | null)[]> {
  const { rows } = await sql<{ tenant_id: string | null }>`select tenant_id::text as tenant_id from audit_chains
    union select distinct tenant_id::text from audit_events where chain_seq is not null`.execute(ctx.db);
  return rows.map((r) => r.tenant_id).sort((a, b) => (a ?? '').localeCompare(b ?? ''));
}

async function unsealed(ctx: Pick<AppContext, 'db'>, tenantId: string | null | undefined): Promise<number> {
  const tenant = tenantId === undefined ? sql`true` : inChain(tenantId);
  const { rows } = await sql<{ n: string | number }>`select count(*) as n from audit_events where chain_seq is null and ${tenant}`.execute(
    ctx.db,
  );
  return Number(rows[0]?.n ?? 0);
}

async function headOf(ctx: Pick<AppContext, 'db' | 'masterKey'>, tenantId: string | null) {
  const head = await ctx.db.selectFrom('audit_chains').selectAll().where('chain', '=', chainOf(tenantId)).executeTakeFirst();
  if (!head) return undefined;
  const bytes = (b: Uint8Array | null) => (b ? Buffer.from(b) : GENESIS);
  return {
    holds: headHolds(chainKey(ctx.masterKey), chainOf(tenantId), head),
    last: Number(head.last_seq),
    lastHash: bytes(head.last_hash),
    pruned: Number(head.pruned_seq),
    prunedHash: bytes(head.pruned_hash),
  };
}

async function rowsAfter(
  ctx: Pick<AppContext, 'db'>,
  tenantId: string | null,
  after: { seq: number; id: string },
  limit: number,
  upTo?: number,
) {
  const bound = upTo === undefined ? sql`true` : sql`chain_seq <= ${upTo}`;
  const { rows } = await sql<Record<string, unknown>>`select ${sealedColumns} from audit_events
    where ${inChain(tenantId)} and chain_seq is not null and (chain_seq, id) > (${after.seq}, ${after.id}::uuid) and ${bound}
    order by chain_seq, id limit ${limit}`.execute(ctx.db);
  return rows.map(toSealedRow);
}

const START = { seq: -1, id: '00000000-0000-0000-0000-000000000000' };

async function verifyChain(
  ctx: Pick<AppContext, 'db' | 'masterKey'>,
  tenantId: string | null,
): Promise<{ events: number; break?: ChainBreak }> {
  const key = chainKey(ctx.masterKey);
  const selfOk = (r: SealedRow) => r.hash !== null && r.prev !== null && chainHash(key, r.prev, r).equals(r.hash);
  const breakAt = (kind: BreakKind, seq: number | null, eventId: string | null, message: string): ChainBreak => ({
    tenant_id: tenantId,
    kind,
    seq,
    event_id: eventId,
    message,
  });
  // Retention may prune this chain while it is walked: a break at or below the new anchor is no break; walk again.
  for (let attempt = 0; ; attempt++) {
    const head = await headOf(ctx, tenantId);
    if (!head) {
      const [any] = await rowsAfter(ctx, tenantId, START, 1);
      return any ? { events: 0, break: breakAt('missing', null, null, 'The chain’s head record is missing') } : { events: 0 };
    }
    if (!head.holds) {
      return {
        events: 0,
        break: breakAt(
          'changed',
          head.last,
          null,
          'The chain’s head record was changed: its MAC does not match (set back or moved by hand)',
        ),
      };
    }
    let prev: Buffer = head.prunedHash;
    let expected = head.pruned + 1;
    let events = 0;
    let found: ChainBreak | undefined;
    let after = START;
    walk: for (;;) {
      const rows = await rowsAfter(ctx, tenantId, after, BATCH, head.last);
      for (const r of rows) {
        if (selfOk(r) && r.prev!.equals(prev) && r.seq === expected) {
          prev = r.hash!;
          expected++;
          events++;
          continue;
        }
        found = await classify(ctx, tenantId, r, { prev, expected, pruned: head.pruned }, selfOk, breakAt);
        break walk;
      }
      if (rows.length < BATCH) break;
      after = rows.at(-1)!;
    }
    if (!found && (expected - 1 !== head.last || !prev.equals(head.lastHash))) {
      found = breakAt('missing', expected, null, `Events from seq ${expected} to the head (seq ${head.last}) are missing`);
    }
    if (!found) {
      const { rows } = await sql<{ id: string; seq: string | number }>`select id::text as id, chain_seq as seq from audit_events
        where ${inChain(tenantId)} and chain_seq > (select last_seq from audit_chains where chain = ${chainOf(tenantId)}) limit 1`.execute(
        ctx.db,
      );
      const extra = rows[0];
      if (extra) found = breakAt('inserted', Number(extra.seq), extra.id, 'An event claims a place beyond the chain’s head');
    }
    if (!found) return { events };
    const again = await headOf(ctx, tenantId);
    if (attempt < 3 && again && again.pruned !== head.pruned) continue;
    return { events, break: found };
  }
}

/** Names what is wrong at `r`, the first row that does not follow from its predecessor. */
async function classify(
  ctx: Pick<AppContext, 'db'>,
  tenantId: string | null,
  r: SealedRow,
  at: { prev: Buffer; expected: number; pruned: number },
  selfOk: (r: SealedRow) => boolean,
  breakAt: (kind: BreakKind, seq: number | null, eventId: string | null, message: string) => ChainBreak,
): Promise<ChainBreak> {
  if (r.seq < at.expected) {
    const where = r.seq <= at.pruned ? 'a position retention already pruned' : `seq ${r.seq}, which another event holds`;
    return breakAt('inserted', r.seq, r.id, `Event ${r.id} was inserted at ${where}`);
  }
  const ahead = await rowsAfter(ctx, tenantId, r, LOOKAHEAD);
  const linksHere = (q: SealedRow) => selfOk(q) && q.prev!.equals(at.prev);
  if (!selfOk(r)) {
    if (ahead[0] && linksHere(ahead[0])) {
      return breakAt('inserted', r.seq, r.id, `Event ${r.id} at seq ${r.seq} was inserted: the next event follows the one before it`);
    }
    return breakAt('changed', r.seq, r.id, `Event ${r.id} at seq ${r.seq} was changed: its hash does not match its contents`);
  }
  if (!r.prev!.equals(at.prev)) {
    const successor = ahead.find(linksHere);
    if (successor) {
      return breakAt(
        'reordered',
        r.seq,
        r.id,
        `Event ${r.id} at seq ${r.seq} is out of order: event ${successor.id} (seq ${successor.seq}) belongs here`,
      );
    }
    const gap = r.seq > at.expected ? `seq ${at.expected} to ${r.seq - 1}` : `before seq ${r.seq}`;
    return breakAt('missing', at.expected, r.id, `Events are missing (${gap}): event ${r.id} does not follow the one before it`);
  }
  return breakAt('changed', r.seq, r.id, `Event ${r.id} was renumbered: it holds seq ${r.seq} where ${at.expected} was expected`);
}
