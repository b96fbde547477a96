import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import type { Role as RoleRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, LongPageQuery, Nullable, PageOf, Timestamp } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from '../permissions/guard.js';
import { createRole, deleteRole, getRole, listRoles, updateRole } from './roles.js';
import { roleFields } from './schema.js';

const RoleCreate = Type.Object(
  {
    ...roleFields,
    tenant: Type.Optional(Type.String({ format: 'uuid', description: 'System administrators: the tenant of a tenant role' })),
  },
  { additionalProperties: false },
);
const RolePatch = Type.Partial(Type.Object(roleFields), { additionalProperties: false });

const Role = Type.Object({
  id: Type.String(),
  tenant_id: Nullable(Type.String()),
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  is_system: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const toRole = (r: RoleRow) => ({ ...r, created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() });

const tags = ['roles'];

/** The article's role API, guarded by tenant.roles.* (own tenant) or iam.role.* (global roles). */
export const roleRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/roles',
      {
        schema: {
          tags,
          summary: 'List the global roles and the own tenant’s roles',
          security: ACCESS_TOKEN,
          querystring: Type.Object({ tenant: Type.Optional(Id), ...LongPageQuery }, { additionalProperties: false }),
          response: { 200: PageOf(Role, 'roles'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.role.read', tenant: 'tenant.roles.read' }),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listRoles(ctx, scopeOf(request), filter, { limit, cursor });
        return { roles: page.items.map(toRole), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/roles',
      {
        schema: { tags, summary: 'Create a role', security: ACCESS_TOKEN, body: RoleCreate, response: { 201: Role, ...errorResponses } },
        onRequest: requireAccess(ctx, { system: 'iam.role.create', tenant: 'tenant.roles.create' }),
      },
      async (request, reply) => reply.status(201).send(toRole(await createRole(ctx, scopeOf(request), actorOf(request), request.body))),
    );

    app.get(
      '/roles/:id',
      {
        schema: { tags, summary: 'Read a role', security: ACCESS_TOKEN, params: IdParams, response: { 200: Role, ...errorResponses } },
        onRequest: requireAccess(ctx, { system: 'iam.role.read', tenant: 'tenant.roles.read' }),
      },
      async (request) => toRole(await getRole(ctx, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/roles/:id',
      {
        schema: {
          tags,
          summary: 'Update a role',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: RolePatch,
          response: { 200: Role, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.role.update', tenant: 'tenant.roles.update' }),
      },
      async (request) => toRole(await updateRole(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/roles/:id',
      {
        schema: {
          tags,
          summary: 'Delete a role',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.role.delete', tenant: 'tenant.roles.delete' }),
      },
      async (request, reply) => {
        await deleteRole(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
