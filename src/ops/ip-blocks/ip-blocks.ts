import { BlockList, isIP } from 'node:net';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { isUniqueViolation } from '../../platform/db/database.js';
import type { IpBlock } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { unmapped } from '../../platform/ip.js';
import { ShortCache } from '../../platform/short-cache.js';

/** How long a node reuses the block list it read at most; any node's change drops it on every node at the commit. */
export const IP_BLOCK_CACHE_MS = 2_000;

export interface Cidr {
  /** The canonical text: address/prefix, lower case. */
  text: string;
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses an address or a CIDR range (IPv4 or IPv6); a bare address is a /32 or /128. */
export function parseCidr(input: string): Cidr {
  const [rawAddress = '', rawPrefix, ...rest] = input.trim().toLowerCase().split('/');
  const address = unmapped(rawAddress);
  const version = isIP(address);
  const invalid = () =>
    new AppError('invalid_cidr', `"${input}" is not an IP address or CIDR range (e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/32)`);
  if (version === 0 || rest.length > 0) throw invalid();
  const max = version === 4 ? 32 : 128;
  if (rawPrefix !== undefined && !/^\d{1,3}$/.test(rawPrefix)) throw invalid();
  const prefix = rawPrefix === undefined ? max : Number(rawPrefix);
  if (prefix > max) throw invalid();
  const family = version === 4 ? 'ipv4' : 'ipv6';
  return { text: `${address}/${prefix}`, address, prefix, family };
}

const blockListOf = (cidrs: readonly Cidr[]) => {
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return list;
};

/** Whether an address falls in a block list (its IPv4-mapped IPv6 form counts as IPv4). */
export function listContains(list: BlockList, ip: string): boolean {
  const address = unmapped(ip);
  const version = isIP(address);
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

/**
 * This node's copy of the block list, dropped by any node's change (ctx.changes) and kept
 * IP_BLOCK_CACHE_MS at most.
 * One per node, built by the route registry (src/main/routes.ts) for the request hook and
 * the admin routes, so a change made on this node takes effect here at once.
 */
export interface BlockedAddresses {
  /** Whether requests from `ip` are refused now. */
  has(ip: string): Promise<boolean>;
  /** Forgets the copy: the next request reads the list again. */
  forget(): void;
}

export function blockedAddresses(ctx: AppContext): BlockedAddresses {
  const cache = new ShortCache<BlockList>(IP_BLOCK_CACHE_MS, { feed: ctx.changes, topics: ['ip_blocks'] });
  const read = async () => {
    const rows = await ctx.db
      .selectFrom('ip_blocks')
      .select('cidr')
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', ctx.clock.now())]))
      .execute();
    return blockListOf(rows.map((r) => parseCidr(r.cidr)));
  };
  return {
    has: async (ip) => listContains(await cache.get('all', read), ip),
    forget: () => cache.delete('all'),
  };
}

export interface IpBlockInput {
  cidr: string;
  reason: string;
  expires_at?: string | undefined;
}

/**
 * Blocks an address or range. A block that would cover the caller's own address is refused
 * (`ip_block_self`), so an administrator cannot lock themselves out of the API by mistake.
 */
export async function createIpBlock(ctx: AppContext, blocked: BlockedAddresses, actor: Actor, input: IpBlockInput): Promise<IpBlock> {
  const cidr = parseCidr(input.cidr);
  if (actor.ip && listContains(blockListOf([cidr]), actor.ip)) {
    throw new AppError('ip_block_self', `${cidr.text} contains your own address; block it from another one`, { cidr: cidr.text });
  }
  const expiresAt = input.expires_at === undefined ? null : new Date(input.expires_at);
  if (expiresAt && expiresAt <= ctx.clock.now()) {
    throw new AppError('invalid_field', 'expires_at is in the past', { field: 'expires_at' });
  }
  const block = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('ip_blocks')
      .values({
        id: ctx.ids.next(),
        cidr: cidr.text,
        reason: input.reason,
        expires_at: expiresAt,
        created_by: actor.id,
        created_at: ctx.clock.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch((error) => {
        if (isUniqueViolation(error, 'ip_blocks_cidr_key')) throw new AppError('ip_block_exists', `${cidr.text} is blocked already`);
        throw error;
      });
    await recordAudit(trx, ctx, {
      action: 'iam.ip.blockCreated',
      actor,
      target: { type: 'ip_block', id: row.id },
      details: { cidr: row.cidr, reason: row.reason, expires_at: row.expires_at?.toISOString() ?? null },
    });
    return row;
  });
  blocked.forget();
  return block;
}

export async function listIpBlocks(ctx: AppContext): Promise<IpBlock[]> {
  return ctx.db.selectFrom('ip_blocks').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
}

export async function deleteIpBlock(ctx: AppContext, blocked: BlockedAddresses, actor: Actor, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = await trx.deleteFrom('ip_blocks').where('id', '=', id).returning(['id', 'cidr']).executeTakeFirst();
    if (!row) throw notFound('IP block');
    await recordAudit(trx, ctx, {
      action: 'iam.ip.blockDeleted',
      actor,
      target: { type: 'ip_block', id: row.id },
      details: { cidr: row.cidr },
    });
  });
  blocked.forget();
}
