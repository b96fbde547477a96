import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { migrationsApplied } from '../db/migrate.js';
import { dependencyFailure } from '../dependency-failure.js';

const Status = Type.Object({ status: Type.String() });

/** A readiness check answers within this, whatever the database does (a balancer's check has its own timeout). */
export const READY_TIMEOUT_MS = 2_000;

/** What /readyz knows beyond the database: the node is stopping (src/main/gatehouse.ts drains it). */
export interface Readiness {
  draining: boolean;
  /** When /readyz was last asked (ms since the epoch): a balancer or an orchestrator watches this node. */
  checkedAt?: number;
}

/**
 * Liveness (the process answers) and readiness (decision 303): ready when the node is not
 * stopping, the database answers within READY_TIMEOUT_MS, the migrations are applied, and
 * the signing keys open with this node's master key (a node that cannot sign must leave
 * the balancer's rotation, not answer 500s in it).
 */
export const healthRoutes =
  (ctx: AppContext, readiness: Readiness = { draining: false }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], response: { 200: Status } } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { tags: ['health'], response: { 200: Status, 503: Status } } }, async (_request, reply) => {
      readiness.checkedAt = Date.now();
      if (readiness.draining) return reply.status(503).send({ status: 'shutting_down' });
      const status = await withTimeout(check(ctx), READY_TIMEOUT_MS, 'database_timeout');
      if (status === 'ready') return { status };
      return reply.status(503).send({ status });
    });
  };

async function check(ctx: AppContext): Promise<string> {
  try {
    await sql`select 1`.execute(ctx.db);
    if (!(await migrationsApplied(ctx.db))) return 'migrations_pending';
  } catch (error) {
    ctx.log.warn({ err: error }, 'Readiness check failed');
    return 'database_unreachable';
  }
  try {
    // Cached by the key store: this reads and unseals only when the cache has lapsed.
    await ctx.keys.privateJwks();
    return 'ready';
  } catch (error) {
    if (dependencyFailure(error)) return 'database_unreachable';
    ctx.log.error({ err: error }, 'Readiness check failed: the signing keys cannot be opened with this master key');
    return 'keys_unreadable';
  }
}

function withTimeout(work: Promise<string>, ms: number, onTimeout: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
