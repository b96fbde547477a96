import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { getMember, updateMember } from '../../directory/memberships/memberships.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import {
  type ApiPermissionRef,
  addRoleApiPermissions,
  listRoleApiPermissions,
  removeRoleApiPermissions,
} from '../../directory/roles/api-permissions.js';
import { createRole, deleteRole, getRole, listRoles, updateRole } from '../../directory/roles/roles.js';
import { getUser } from '../../directory/users/users.js';
import { listApis } from '../../oauth/apis/apis.js';
import { actingUserId } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { actingTenant, auth0Errors, CheckpointParams, idOf, ListOf, listAnswer, listPage, PageParams, pageOf, userIdOf } from './kit.js';
import { isGatehouseAudience, Permission, type PermissionRef, PermissionRefs, Role, toPermission, toRole } from './shapes.js';

const tags = ['management-api-v2'];
const READ = { system: 'iam.role.read', tenant: 'tenant.roles.read' } as const;
const UPDATE = { system: 'iam.role.update', tenant: 'tenant.roles.update' } as const;
const RoleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
const RoleBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), description: Type.Optional(Type.String({ maxLength: 500 })) },
  { additionalProperties: false },
);
const RolePatchBody = Type.Partial(RoleBody, { additionalProperties: false });
const PageQuery = Type.Object(PageParams, { additionalProperties: false });
const RoleUser = Type.Object({
  user_id: Type.String(),
  email: Type.String(),
  name: Type.Optional(Type.String()),
  picture: Type.Optional(Type.String()),
});

/** Splits Auth0 permission references into Gatehouse keys and API permissions of APIs the scope sees (decision 408). */
async function splitRefs(
  ctx: AppContext,
  scope: Scope,
  refs: readonly PermissionRef[],
): Promise<{ keys: string[]; api: ApiPermissionRef[] }> {
  const keys: string[] = [];
  const api: ApiPermissionRef[] = [];
  const ids = new Map<string, string>();
  for (const ref of refs) {
    if (isGatehouseAudience(ctx, ref.resource_server_identifier)) {
      keys.push(ref.permission_name);
      continue;
    }
    let apiId = ids.get(ref.resource_server_identifier);
    if (!apiId) {
      const found = await listApis(ctx, scope, { identifier: ref.resource_server_identifier }, { limit: 1 });
      apiId = found.items[0]?.api.id;
      if (!apiId)
        throw new AppError('not_found', `No resource server has the identifier ${JSON.stringify(ref.resource_server_identifier)}`);
      ids.set(ref.resource_server_identifier, apiId);
    }
    api.push({ api_id: apiId, value: ref.permission_name });
  }
  return { keys, api };
}

/** Auth0's role endpoints over Gatehouse's roles and role API permissions (decision 408). */
export const rolesV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/roles',
      {
        schema: {
          tags,
          summary: 'List roles (global ones and the tenant’s own)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            { name_filter: Type.Optional(Type.String({ maxLength: 100 })), ...PageParams },
            { additionalProperties: false },
          ),
          response: { 200: ListOf(Role, 'roles'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        const filter = request.query.name_filter?.toLowerCase();
        const page = await pageOf(async (p) => {
          const listed = await listRoles(ctx, scope, {}, p);
          return filter === undefined ? listed : { ...listed, items: listed.items.filter((r) => r.name.toLowerCase().includes(filter)) };
        }, request.query);
        return listAnswer('roles', request.query, { ...page, items: page.items.map(toRole) });
      },
    );

    app.post(
      '/roles',
      {
        schema: {
          tags,
          summary: 'Create a role (in tenant scope the tenant’s own; in system scope a global one)',
          security: ACCESS_TOKEN,
          body: RoleBody,
          response: { 200: Role, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.role.create', tenant: 'tenant.roles.create' }),
      },
      async (request) => toRole(await createRole(ctx, scopeOf(request), actorOf(request), request.body)),
    );

    app.get(
      '/roles/:id',
      {
        schema: { tags, summary: 'Read a role', security: ACCESS_TOKEN, params: RoleParams, response: { 200: Role, ...auth0Errors } },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'role' },
      },
      async (request) => toRole(await getRole(ctx, scopeOf(request), idOf(request.params.id, 'role'))),
    );

    app.patch(
      '/roles/:id',
      {
        schema: {
          tags,
          summary: 'Update a role',
          security: ACCESS_TOKEN,
          params: RoleParams,
          body: RolePatchBody,
          response: { 200: Role, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, UPDATE),
        config: { resource: 'role' },
      },
      async (request) => toRole(await updateRole(ctx, scopeOf(request), actorOf(request), idOf(request.params.id, 'role'), request.body)),
    );

    app.delete(
      '/roles/:id',
      {
        schema: {
          tags,
          summary: 'Delete a role',
          security: ACCESS_TOKEN,
          params: RoleParams,
          response: { 200: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.role.delete', tenant: 'tenant.roles.delete' }),
        config: { resource: 'role' },
      },
      async (request, reply) => {
        await deleteRole(ctx, scopeOf(request), actorOf(request), idOf(request.params.id, 'role'));
        return reply.status(200).send(null);
      },
    );

    app.get(
      '/roles/:id/permissions',
      {
        schema: {
          tags,
          summary: 'The role’s permissions: its API permissions, and its Gatehouse permissions under {issuer}/api/v2/',
          security: ACCESS_TOKEN,
          params: RoleParams,
          querystring: PageQuery,
          response: { 200: ListOf(Permission, 'permissions'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'role' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const role = await getRole(ctx, scope, idOf(request.params.id, 'role'));
        const api = await listRoleApiPermissions(ctx, scope, role.id);
        const all = [
          ...role.permissions.map((p) => toPermission(ctx, { permission_name: p })),
          ...api.map((p) =>
            toPermission(ctx, { permission_name: p.value, resource_server_identifier: p.api_identifier, description: p.description }),
          ),
        ];
        const perPage = request.query.per_page ?? 50;
        const start = (request.query.page ?? 0) * perPage;
        return listAnswer('permissions', request.query, {
          items: all.slice(start, start + perPage),
          start,
          limit: perPage,
          total: all.length,
        });
      },
    );

    for (const method of ['post', 'delete'] as const) {
      app[method](
        '/roles/:id/permissions',
        {
          schema: {
            tags,
            summary: method === 'post' ? 'Add permissions to the role' : 'Take permissions from the role',
            security: ACCESS_TOKEN,
            params: RoleParams,
            body: PermissionRefs,
            response: { 201: Type.Null(), 204: Type.Null(), ...auth0Errors },
          },
          onRequest: requireAccess(ctx, UPDATE),
          config: { resource: 'role' },
        },
        async (request, reply) => {
          const [scope, actor] = [scopeOf(request), actorOf(request)];
          const role = await getRole(ctx, scope, idOf(request.params.id, 'role'));
          const { keys, api } = await splitRefs(ctx, scope, request.body.permissions);
          if (keys.length > 0) {
            const permissions =
              method === 'post' ? [...new Set([...role.permissions, ...keys])] : role.permissions.filter((p) => !keys.includes(p));
            await updateRole(ctx, scope, actor, role.id, { permissions });
          }
          if (api.length > 0) {
            if (method === 'post') await addRoleApiPermissions(ctx, scope, actor, role.id, api);
            else await removeRoleApiPermissions(ctx, scope, actor, role.id, api);
          }
          return reply.status(method === 'post' ? 201 : 204).send(null);
        },
      );
    }

    app.get(
      '/roles/:id/users',
      {
        schema: {
          tags,
          summary: 'The users holding the role (in tenant scope: in the tenant)',
          security: ACCESS_TOKEN,
          params: RoleParams,
          querystring: Type.Object({ ...PageParams, ...CheckpointParams }, { additionalProperties: false }),
          response: { 200: ListOf(RoleUser, 'users'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.read', tenant: 'tenant.membership.read' }),
        config: { resource: 'role' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const role = await getRole(ctx, scope, idOf(request.params.id, 'role'));
        return listPage(
          'users',
          request.query,
          async ({ limit, cursor }) => {
            const after = cursor ? idOf(Buffer.from(cursor, 'base64url').toString('utf8'), 'checkpoint') : undefined;
            const rows = await ctx.db
              .selectFrom('membership_roles as mr')
              .innerJoin('users as u', 'u.id', 'mr.user_id')
              .select(['u.id', 'u.email', 'u.name', 'u.picture'])
              .distinct()
              .where('mr.role_id', '=', role.id)
              .$if(scope.kind === 'tenant', (q) => q.where('mr.tenant_id', '=', scope.kind === 'tenant' ? scope.tenantId : ''))
              .$if(after !== undefined, (q) => q.where('u.id', '>', after as string))
              .orderBy('u.id')
              .limit((limit ?? 50) + 1)
              .execute();
            const items = rows.slice(0, limit ?? 50);
            const more = rows.length > items.length;
            return { items, next_cursor: more ? Buffer.from(items.at(-1)!.id).toString('base64url') : null };
          },
          (u) => ({ user_id: u.id, email: u.email, ...(u.name && { name: u.name }), ...(u.picture && { picture: u.picture }) }),
        );
      },
    );

    app.post(
      '/roles/:id/users',
      {
        schema: {
          tags,
          summary: 'Assign the role to users (in the role’s tenant, the caller’s, or each user’s home tenant)',
          security: ACCESS_TOKEN,
          params: RoleParams,
          body: Type.Object(
            { users: Type.Array(Type.String({ maxLength: 300 }), { minItems: 1, maxItems: 100 }) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.update' }),
        config: { resource: 'role' },
      },
      async (request, reply) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const role = await getRole(ctx, scope, idOf(request.params.id, 'role'));
        for (const raw of request.body.users) {
          const user = await getUser(ctx, scope, userIdOf(raw));
          const tenantId = role.tenant_id ?? actingTenant(scope, user.home_tenant_id);
          const member = await getMember(ctx, scope, actingUserId(actor), tenantId, user.id);
          const roles = [...new Set([...member.roles.map((r) => r.id), role.id])];
          await updateMember(ctx, scope, actor, tenantId, user.id, { roles });
        }
        return reply.status(200).send(null);
      },
    );
  };
