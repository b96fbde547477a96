import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import type { Tenant as TenantRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from '../permissions/guard.js';
import { Branding, Status, TenantCreate } from './schema.js';
import { createTenant, deleteTenant, getTenant, listTenants, updateTenant } from './tenants.js';

const TenantPatch = Type.Partial(TenantCreate, { additionalProperties: false });

const Tenant = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  status: Status,
  is_system: Type.Boolean(),
  branding: Branding,
  created_at: Timestamp,
  updated_at: Timestamp,
});

const toTenant = (t: TenantRow) => ({
  ...t,
  branding: t.branding,
  created_at: t.created_at.toISOString(),
  updated_at: t.updated_at.toISOString(),
});

const tags = ['tenants'];

export const tenantRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/tenants',
      {
        schema: {
          tags,
          summary: 'List tenants (a tenant administrator sees the own tenant)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: PageOf(Tenant, 'tenants'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.read', tenant: 'tenant.profile.read' }),
      },
      async (request) => {
        const page = await listTenants(ctx, scopeOf(request), request.query);
        return { tenants: page.items.map(toTenant), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/tenants',
      {
        schema: {
          tags,
          summary: 'Create a tenant',
          security: ACCESS_TOKEN,
          body: TenantCreate,
          response: { 201: Tenant, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.create' }),
      },
      async (request, reply) => reply.status(201).send(toTenant(await createTenant(ctx, actorOf(request), request.body))),
    );

    app.get(
      '/tenants/:id',
      {
        schema: { tags, summary: 'Read a tenant', security: ACCESS_TOKEN, params: IdParams, response: { 200: Tenant, ...errorResponses } },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.read', tenant: 'tenant.profile.read' }),
      },
      async (request) => toTenant(await getTenant(ctx, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/tenants/:id',
      {
        schema: {
          tags,
          summary: 'Update a tenant (a tenant administrator: name and branding of the own tenant)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: TenantPatch,
          response: { 200: Tenant, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.update', tenant: 'tenant.profile.update' }),
      },
      async (request) => toTenant(await updateTenant(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/tenants/:id',
      {
        schema: {
          tags,
          summary: 'Delete a tenant',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.delete' }),
      },
      async (request, reply) => {
        await deleteTenant(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
