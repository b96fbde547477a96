import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { migrationsApplied } from '../db/migrate.js';

const Status = Type.Object({ status: Type.String() });

/** Liveness (the process answers) and readiness (the database answers, migrations applied). */
export const healthRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], response: { 200: Status } } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { tags: ['health'], response: { 200: Status, 503: Status } } }, async (_request, reply) => {
      try {
        await sql`select 1`.execute(ctx.db);
        if (!(await migrationsApplied(ctx.db))) return reply.status(503).send({ status: 'migrations_pending' });
        return { status: 'ready' };
      } catch (error) {
        ctx.log.warn({ err: error }, 'Readiness check failed');
        return reply.status(503).send({ status: 'database_unreachable' });
      }
    });
  };
