import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import type { Permission as PermissionRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams, LongPageQuery, Nullable, PageOf, Timestamp } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from './guard.js';
import { createPermission, deletePermission, getPermission, listPermissions, updatePermission } from './permissions.js';
import { PermissionCreate } from './schema.js';

const PermissionPatch = Type.Object({ description: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false });

const Permission = Type.Object({
  id: Type.String(),
  key: Type.String(),
  description: Type.String(),
  tenant_id: Nullable(Type.String()),
  is_system: Type.Boolean(),
  restricted: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const toPermission = (p: PermissionRow) => ({ ...p, created_at: p.created_at.toISOString(), updated_at: p.updated_at.toISOString() });

const tags = ['permissions'];
const read = { system: 'iam.permission.read', tenant: 'tenant.permissions.read' } as const;

/** The article's permission API (`/permission/:id`), with plural aliases. */
export const permissionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/permissions',
      {
        schema: {
          tags,
          summary: 'List system permissions, global custom ones and the own tenant’s',
          security: ACCESS_TOKEN,
          querystring: Type.Object(LongPageQuery, { additionalProperties: false }),
          response: { 200: PageOf(Permission, 'permissions'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, read),
      },
      async (request) => {
        const page = await listPermissions(ctx, scopeOf(request), request.query);
        return { permissions: page.items.map(toPermission), next_cursor: page.next_cursor };
      },
    );

    for (const base of ['/permission', '/permissions']) {
      const hide = base === '/permissions';
      app.post(
        base,
        {
          schema: {
            tags,
            hide,
            summary: 'Create a custom permission',
            security: ACCESS_TOKEN,
            body: PermissionCreate,
            response: { 201: Permission, ...errorResponses },
          },
          onRequest: requireAccess(ctx, { system: 'iam.permission.create', tenant: 'tenant.permissions.create' }),
        },
        async (request, reply) =>
          reply.status(201).send(toPermission(await createPermission(ctx, scopeOf(request), actorOf(request), request.body))),
      );

      app.get(
        `${base}/:id`,
        {
          schema: {
            tags,
            hide,
            summary: 'Read a permission',
            security: ACCESS_TOKEN,
            params: IdParams,
            response: { 200: Permission, ...errorResponses },
          },
          onRequest: requireAccess(ctx, read),
        },
        async (request) => toPermission(await getPermission(ctx, scopeOf(request), request.params.id)),
      );

      app.patch(
        `${base}/:id`,
        {
          schema: {
            tags,
            hide,
            summary: 'Update a custom permission’s description',
            security: ACCESS_TOKEN,
            params: IdParams,
            body: PermissionPatch,
            response: { 200: Permission, ...errorResponses },
          },
          onRequest: requireAccess(ctx, { system: 'iam.permission.update', tenant: 'tenant.permissions.update' }),
        },
        async (request) => toPermission(await updatePermission(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
      );

      app.delete(
        `${base}/:id`,
        {
          schema: {
            tags,
            hide,
            summary: 'Delete a custom permission (and take it out of roles and grants)',
            security: ACCESS_TOKEN,
            params: IdParams,
            response: { 204: Type.Null(), ...errorResponses },
          },
          onRequest: requireAccess(ctx, { system: 'iam.permission.delete', tenant: 'tenant.permissions.delete' }),
        },
        async (request, reply) => {
          await deletePermission(ctx, scopeOf(request), actorOf(request), request.params.id);
          return reply.status(204).send(null);
        },
      );
    }
  };
