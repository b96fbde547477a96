import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from '../permissions/guard.js';
import { addRoleApiPermissions, listRoleApiPermissions, removeRoleApiPermissions } from './api-permissions.js';

const PermissionRefs = Type.Object(
  {
    permissions: Type.Array(
      Type.Object({ api_id: Id, value: Type.String({ minLength: 1, maxLength: 280, pattern: '^\\S+$' }) }, { additionalProperties: false }),
      { minItems: 1, maxItems: 500 },
    ),
  },
  { additionalProperties: false },
);

const RoleApiPermissions = Type.Object(
  {
    permissions: Type.Array(
      Type.Object({ api_id: Type.String(), api_identifier: Type.String(), value: Type.String(), description: Type.String() }),
    ),
  },
  { title: 'RoleApiPermissions' },
);

const tags = ['roles'];
const UPDATE = { system: 'iam.role.update', tenant: 'tenant.roles.update' } as const;

/** Auth0's role permissions: the API permissions a role carries, added and removed in sets. */
export const roleApiPermissionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/roles/:id/api-permissions',
      {
        schema: {
          tags,
          summary: 'List the API permissions a role carries',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: RoleApiPermissions, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.role.read', tenant: 'tenant.roles.read' }),
      },
      async (request) => ({ permissions: await listRoleApiPermissions(ctx, scopeOf(request), request.params.id) }),
    );

    app.post(
      '/roles/:id/api-permissions',
      {
        schema: {
          tags,
          summary: 'Add API permissions to a role; answers all it carries then',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: PermissionRefs,
          response: { 200: RoleApiPermissions, ...errorResponses },
        },
        onRequest: requireAccess(ctx, UPDATE),
      },
      async (request) => ({
        permissions: await addRoleApiPermissions(ctx, scopeOf(request), actorOf(request), request.params.id, request.body.permissions),
      }),
    );

    app.delete(
      '/roles/:id/api-permissions',
      {
        schema: {
          tags,
          summary: 'Remove API permissions from a role; answers all it carries then',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: PermissionRefs,
          response: { 200: RoleApiPermissions, ...errorResponses },
        },
        onRequest: requireAccess(ctx, UPDATE),
      },
      async (request) => ({
        permissions: await removeRoleApiPermissions(ctx, scopeOf(request), actorOf(request), request.params.id, request.body.permissions),
      }),
    );
  };
