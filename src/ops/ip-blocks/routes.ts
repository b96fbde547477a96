import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { requireAccess } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { IpBlock as IpBlockRow } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams, Nullable, Timestamp } from '../../platform/http/schemas.js';
import { type BlockedAddresses, createIpBlock, deleteIpBlock, listIpBlocks } from './ip-blocks.js';

const IpBlockCreate = Type.Object(
  {
    cidr: Type.String({
      minLength: 2,
      maxLength: 64,
      description: 'An IPv4 or IPv6 address, or a CIDR range (203.0.113.0/24, 2001:db8::/32)',
    }),
    reason: Type.String({ minLength: 1, maxLength: 500, pattern: '^[^\\p{C}]+$' }),
    expires_at: Type.Optional({ ...Timestamp, description: 'When the block ends by itself (default: never)' }),
  },
  { additionalProperties: false },
);
const IpBlock = Type.Object(
  {
    id: Type.String(),
    cidr: Type.String({ description: 'Canonical form: address/prefix' }),
    reason: Type.String(),
    expires_at: Nullable(Timestamp),
    active: Type.Boolean({ description: 'Whether the block applies now (false once expired)' }),
    created_by: Nullable(Type.String()),
    created_at: Timestamp,
  },
  { title: 'IpBlock' },
);

const tags = ['incidents'];

/** Blocked addresses and ranges: system administrators only (a block applies to every tenant). */
export const ipBlockRoutes =
  (ctx: AppContext, blocked: BlockedAddresses): FastifyPluginAsyncTypebox =>
  async (app) => {
    const toBlock = (b: IpBlockRow) => ({
      id: b.id,
      cidr: b.cidr,
      reason: b.reason,
      expires_at: b.expires_at?.toISOString() ?? null,
      active: b.expires_at === null || b.expires_at > ctx.clock.now(),
      created_by: b.created_by,
      created_at: b.created_at.toISOString(),
    });

    app.get(
      '/ip-blocks',
      {
        schema: {
          tags,
          summary: 'Blocked IP addresses and ranges, newest first',
          security: ACCESS_TOKEN,
          response: { 200: Type.Object({ ip_blocks: Type.Array(IpBlock) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.ip_block.read' }),
      },
      async () => ({ ip_blocks: (await listIpBlocks(ctx)).map(toBlock) }),
    );

    app.post(
      '/ip-blocks',
      {
        schema: {
          tags,
          summary: 'Block an IP address or CIDR range: its requests are refused with 403 ip_blocked within 2 seconds on every node',
          security: ACCESS_TOKEN,
          body: IpBlockCreate,
          response: { 201: IpBlock, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.ip_block.write' }),
      },
      async (request, reply) => reply.status(201).send(toBlock(await createIpBlock(ctx, blocked, actorOf(request), request.body))),
    );

    app.delete(
      '/ip-blocks/:id',
      {
        schema: {
          tags,
          summary: 'Unblock: remove a block',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.ip_block.write' }),
      },
      async (request, reply) => {
        await deleteIpBlock(ctx, blocked, actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };

/** Public, read-only endpoints a blocked address still reaches: health checks, discovery and the JWKS. */
const OPEN_PATHS = /^\/(healthz|readyz|metrics)(\?|$)|^\/\.well-known\//;

/**
 * The onRequest hook that refuses blocked addresses (decision 122): every route but the
 * public read-only ones — sign-in, tokens, the hosted pages, MFA and the admin API alike.
 */
export function ipBlockHook(blocked: BlockedAddresses) {
  return async (request: FastifyRequest) => {
    if (OPEN_PATHS.test(request.url)) return;
    if (await blocked.has(request.ip)) throw new AppError('ip_blocked', 'Requests from your address are blocked');
  };
}
