import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.js';
import type { AuditEvent as AuditEventRow } from '../db/schema.js';
import { requireAccess, scopeOf } from '../http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, Nullable, PageOf, PageQuery, Timestamp } from '../http/schemas.js';
import { AUDIT_ACTIONS } from './catalog.js';
import { listAuditEvents } from './queries.js';

const AuditQuery = Type.Object(
  {
    tenant: Type.Optional(Id),
    actor: Type.Optional(Type.String({ maxLength: 200 })),
    target: Type.Optional(Type.String({ maxLength: 200 })),
    action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
    ...PageQuery,
  },
  { additionalProperties: false },
);

const AuditEvent = Type.Object({
  id: Type.String(),
  created_at: Timestamp,
  tenant_id: Nullable(Type.String()),
  action: Type.String(),
  outcome: Type.String(),
  actor_type: Type.String(),
  actor_id: Nullable(Type.String()),
  target_type: Nullable(Type.String()),
  target_id: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  user_agent: Nullable(Type.String()),
  details: Type.Object({}, { additionalProperties: true }),
});

const toEvent = (e: AuditEventRow) => ({ ...e, created_at: e.created_at.toISOString() });

export const auditRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/audit-events',
      {
        schema: {
          tags: ['audit'],
          summary: 'The audit trail, newest first (a tenant administrator sees the own tenant’s)',
          security: ACCESS_TOKEN,
          querystring: AuditQuery,
          response: { 200: PageOf(AuditEvent, 'events'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.audit.read', tenant: 'tenant.audit.read' }),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listAuditEvents(ctx, scopeOf(request), filter, { limit, cursor });
        return { events: page.items.map(toEvent), next_cursor: page.next_cursor };
      },
    );
  };
