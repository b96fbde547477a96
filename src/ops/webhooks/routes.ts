import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { EventDelivery, Webhook as WebhookRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { listDeliveries, redeliver } from './deliveries.js';
import { createWebhook, deleteWebhook, getWebhook, listWebhooks, rotateWebhookSecret, updateWebhook, type WithSecret } from './webhooks.js';

const fields = {
  url: Type.String({
    minLength: 1,
    maxLength: 2000,
    description: 'http(s); loopback, private, link-local and other internal addresses are refused unless configured',
  }),
  events: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
    minItems: 1,
    maxItems: 100,
    description: 'Event names of the catalog, or prefixes ending in * (iam.user.*, or * for every event)',
  }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  active: Type.Optional(
    Type.Boolean({ description: 'Default true; an inactive webhook receives nothing, and its pending deliveries wait' }),
  ),
};
const WebhookCreate = Type.Object(
  {
    ...fields,
    tenant: Type.Optional(
      Type.String({
        format: 'uuid',
        description: 'System administrators: the tenant whose events it receives (default: every tenant, system-wide)',
      }),
    ),
  },
  { additionalProperties: false },
);
const WebhookPatch = Type.Partial(Type.Object(fields), { additionalProperties: false });

const webhookFields = {
  id: Type.String(),
  tenant_id: Nullable(Type.String({ description: 'null: system-wide, every tenant’s events' })),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Type.String(),
  active: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
};
/** Never the secret. */
const Webhook = Type.Object(webhookFields, { title: 'Webhook' });
const WebhookWithSecret = Type.Object(
  {
    ...webhookFields,
    secret: Type.String({ description: 'Signs every delivery (Gatehouse-Signature). Shown in this answer only' }),
  },
  { title: 'WebhookWithSecret' },
);

const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]);
const Delivery = Type.Object(
  {
    id: Type.String(),
    webhook_id: Type.String(),
    event_id: Type.String(),
    event: Type.String(),
    tenant_id: Nullable(Type.String()),
    status: DeliveryStatus,
    attempts: Type.Integer(),
    next_attempt_at: Nullable(Timestamp),
    last_status: Nullable(Type.Integer({ description: 'HTTP status of the last attempt' })),
    last_error: Nullable(Type.String()),
    redelivery_of: Nullable(Type.String()),
    created_at: Timestamp,
    delivered_at: Nullable(Timestamp),
  },
  { title: 'WebhookDelivery' },
);

const toWebhook = (w: WebhookRow) => ({
  id: w.id,
  tenant_id: w.tenant_id,
  url: w.url,
  events: w.events,
  description: w.description,
  active: w.active,
  created_at: w.created_at.toISOString(),
  updated_at: w.updated_at.toISOString(),
});
const withSecret = ({ webhook, secret }: WithSecret) => ({ ...toWebhook(webhook), secret });
const toDelivery = (d: EventDelivery) => ({
  id: d.id,
  webhook_id: d.webhook_id as string,
  event_id: d.event_id,
  event: d.event,
  tenant_id: d.tenant_id,
  status: d.status,
  attempts: d.attempts,
  next_attempt_at: d.status === 'pending' ? d.next_attempt_at.toISOString() : null,
  last_status: d.last_status,
  last_error: d.last_error,
  redelivery_of: d.redelivery_of,
  created_at: d.created_at.toISOString(),
  delivered_at: d.delivered_at?.toISOString() ?? null,
});

const tags = ['webhooks'];
const READ = { system: 'iam.webhook.read', tenant: 'tenant.webhook.read' } as const;
const WRITE = { system: 'iam.webhook.write', tenant: 'tenant.webhook.write' } as const;
const DeliveryParams = Type.Object({ id: Id, deliveryId: Id }, { additionalProperties: false });

/** Webhooks of a tenant (or system-wide), their signed deliveries, and redelivery. */
export const webhookRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/webhooks',
      {
        schema: {
          tags,
          summary: 'List webhooks (a tenant administrator sees the own tenant’s)',
          security: ACCESS_TOKEN,
          querystring: Type.Object({ tenant: Type.Optional(Id), ...PageQuery }, { additionalProperties: false }),
          response: { 200: PageOf(Webhook, 'webhooks'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listWebhooks(ctx, scopeOf(request), filter, { limit, cursor });
        return { webhooks: page.items.map(toWebhook), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/webhooks',
      {
        schema: {
          tags,
          summary: 'Create a webhook; its signing secret is in this answer only',
          security: ACCESS_TOKEN,
          body: WebhookCreate,
          response: { 201: WebhookWithSecret, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) =>
        reply.status(201).send(withSecret(await createWebhook(ctx, scopeOf(request), actorOf(request), request.body))),
    );

    app.get(
      '/webhooks/:id',
      {
        schema: {
          tags,
          summary: 'Read a webhook',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Webhook, ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toWebhook(await getWebhook(ctx, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/webhooks/:id',
      {
        schema: {
          tags,
          summary: 'Update a webhook',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: WebhookPatch,
          response: { 200: Webhook, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => toWebhook(await updateWebhook(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/webhooks/:id',
      {
        schema: {
          tags,
          summary: 'Delete a webhook and its delivery records',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteWebhook(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/webhooks/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: 'Replace the signing secret; the new one is in this answer only and signs every delivery from now on',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: WebhookWithSecret, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => withSecret(await rotateWebhookSecret(ctx, scopeOf(request), actorOf(request), request.params.id)),
    );

    app.get(
      '/webhooks/:id/deliveries',
      {
        schema: {
          tags,
          summary: 'The webhook’s deliveries, newest first: status, HTTP status, attempts, next attempt, last error',
          security: ACCESS_TOKEN,
          params: IdParams,
          querystring: Type.Object({ status: Type.Optional(DeliveryStatus), ...PageQuery }, { additionalProperties: false }),
          response: { 200: PageOf(Delivery, 'deliveries'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listDeliveries(ctx, scopeOf(request), request.params.id, filter, { limit, cursor });
        return { deliveries: page.items.map(toDelivery), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/webhooks/:id/deliveries/:deliveryId/redeliver',
      {
        schema: {
          tags,
          summary: 'Deliver a finished delivery’s event again, as a new delivery',
          security: ACCESS_TOKEN,
          params: DeliveryParams,
          response: { 202: Delivery, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) =>
        reply
          .status(202)
          .send(toDelivery(await redeliver(ctx, scopeOf(request), actorOf(request), request.params.id, request.params.deliveryId))),
    );
  };
