import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { listedTenant } from '../../directory/permissions/effective.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { AUDIT_ACTIONS } from '../../platform/audit/catalog.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { AuditEvent as AuditEventRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { exportStream } from './export.js';
import { listAuditEvents } from './queries.js';
import { activity } from './stats.js';
import { verifyAuditChains } from './verify.js';

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

const ExportQuery = Type.Object(
  {
    format: Type.Optional(Type.Union([Type.Literal('jsonl'), Type.Literal('csv')], { default: 'jsonl' })),
    tenant: Type.Optional(Id),
    action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);

const VerifyQuery = Type.Object({ tenant: Type.Optional(Id) }, { additionalProperties: false });

const ChainBreak = Type.Object({
  tenant_id: Nullable(Type.String()),
  kind: Type.Union([Type.Literal('changed'), Type.Literal('missing'), Type.Literal('inserted'), Type.Literal('reordered')]),
  seq: Nullable(Type.Integer()),
  event_id: Nullable(Type.String()),
  message: Type.String(),
});

const VerifyResult = Type.Object({
  ok: Type.Boolean(),
  chains: Type.Integer({ description: 'Chains walked: one per tenant, and one for events without a tenant' }),
  events: Type.Integer({ description: 'Events checked' }),
  unsealed: Type.Integer({ description: 'Events committed but not chained yet' }),
  first_break: Type.Optional(ChainBreak),
});

const AUDIT_READ = { system: 'iam.audit.read', tenant: 'tenant.audit.read' } as const;

const ActivityQuery = Type.Object(
  {
    tenant: Type.Optional(Id),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Timestamp),
    interval: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')], { default: 'day' })),
  },
  { additionalProperties: false },
);

const Activity = Type.Object({
  from: Timestamp,
  to: Timestamp,
  interval: Type.Union([Type.Literal('hour'), Type.Literal('day')]),
  buckets: Type.Array(
    Type.Object({
      start: Timestamp,
      sign_ins: Type.Integer(),
      sign_in_failures: Type.Integer(),
      lockouts: Type.Integer(),
      sign_ups: Type.Integer(),
    }),
  ),
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
        onRequest: requireAccess(ctx, AUDIT_READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listAuditEvents(ctx, scopeOf(request), filter, { limit, cursor });
        return { events: page.items.map(toEvent), next_cursor: page.next_cursor };
      },
    );

    app.get(
      '/stats/activity',
      {
        schema: {
          tags: ['audit'],
          summary:
            'Sign-ins, failed sign-ins, lockouts and sign-ups per hour or day (UTC), from the audit trail: the last 30 buckets unless from/to say (a tenant administrator counts the own tenant’s)',
          security: ACCESS_TOKEN,
          querystring: ActivityQuery,
          response: { 200: Activity, ...errorResponses },
        },
        onRequest: requireAccess(ctx, AUDIT_READ),
      },
      async (request) => {
        const { tenant, ...range } = request.query;
        return activity(ctx, listedTenant(scopeOf(request), tenant) ?? null, range);
      },
    );

    app.get(
      '/audit-events/verify',
      {
        schema: {
          tags: ['audit'],
          summary: 'Checks the hash chains: every tenant’s (system administrators) or the own tenant’s, and names the first break',
          security: ACCESS_TOKEN,
          querystring: VerifyQuery,
          response: { 200: VerifyResult, ...errorResponses },
        },
        onRequest: requireAccess(ctx, AUDIT_READ),
      },
      async (request) => {
        return verifyAuditChains(ctx, listedTenant(scopeOf(request), request.query.tenant));
      },
    );

    app.get(
      '/audit-events/export',
      {
        schema: {
          tags: ['audit'],
          summary: 'The audit trail, oldest first, as JSON lines or CSV (streamed; a tenant administrator exports the own tenant’s)',
          security: ACCESS_TOKEN,
          querystring: ExportQuery,
          produces: ['application/x-ndjson', 'text/csv'],
          response: {
            200: {
              description: 'One event per line (JSON lines), or CSV with a header row',
              content: { 'application/x-ndjson': { schema: Type.String() }, 'text/csv': { schema: Type.String() } },
            },
            ...errorResponses,
          },
        },
        onRequest: requireAccess(ctx, AUDIT_READ),
      },
      async (request, reply) => {
        const { format = 'jsonl', tenant, ...filter } = request.query;
        const tenantId = listedTenant(scopeOf(request), tenant);
        await recordAudit(ctx.db, ctx, {
          action: 'iam.audit.exported',
          actor: actorOf(request),
          tenantId: tenantId ?? request.caller?.tenant.id ?? null,
          details: { format, ...(tenantId && { tenant: tenantId }), ...filter },
        });
        const stamp = ctx.clock.now().toISOString().slice(0, 10);
        reply
          .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
          .header('content-disposition', `attachment; filename="audit-events-${stamp}.${format}"`);
        // A stream, not the declared string: the type provider knows only the schema.
        return reply.send((await exportStream(ctx, { tenantId, ...filter }, format)) as never);
      },
    );
  };
