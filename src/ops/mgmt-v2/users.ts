import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { getMember, updateMember } from '../../directory/memberships/memberships.js';
import { systemTenantId } from '../../directory/permissions/effective.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { listRoleApiPermissions } from '../../directory/roles/api-permissions.js';
import { getRole } from '../../directory/roles/roles.js';
import { assertManageable, getUser, listUsers, type UserInput, type UserPatch } from '../../directory/users/users.js';
import { listIdentities, unlinkIdentity } from '../../flows/account/identities.js';
import { actingUserId } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, Metadata } from '../../platform/http/schemas.js';
import { createUser } from '../users/create.js';
import { deleteUser } from '../users/delete.js';
import { updateUser } from '../users/update.js';
import { actingTenant, auth0Errors, idOf, ListOf, listAnswer, PageParams, pageOf, userIdOf } from './kit.js';
import {
  Auth0User,
  DATABASE_CONNECTION,
  Identity,
  isGatehouseAudience,
  Organization,
  Permission,
  type PermissionRef,
  PermissionRefs,
  Role,
  toAuth0User,
  toOrganization,
  toPermission,
  toRole,
} from './shapes.js';
import { parseUserQuery } from './user-query.js';

const tags = ['management-api-v2'];
const READ = { system: 'iam.account.read', tenant: 'tenant.account.read' } as const;
const MEMBERS = { system: 'iam.membership.update', tenant: 'tenant.membership.update' } as const;

const profile = {
  email_verified: Type.Optional(Type.Boolean({ description: 'true: system scope only, as on /api/v1' })),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^@\\s]+$' })),
  phone_number: Type.Optional(Type.String({ minLength: 3, maxLength: 32, pattern: '^\\+?[0-9 ()-]+$' })),
  phone_verified: Type.Optional(Type.Boolean()),
  given_name: Type.Optional(Type.String({ maxLength: 200 })),
  family_name: Type.Optional(Type.String({ maxLength: 200 })),
  name: Type.Optional(Type.String({ maxLength: 400 })),
  picture: Type.Optional(Type.String({ format: 'uri', maxLength: 2048, pattern: '^https://' })),
  blocked: Type.Optional(Type.Boolean({ description: 'true: the user is disabled' })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  verify_email: Type.Optional(
    Type.Boolean({ description: 'Accepted; Gatehouse sends no verification email on an administrator’s create' }),
  ),
};
const Connection = Type.String({ minLength: 1, maxLength: 128, description: `Only "${DATABASE_CONNECTION}", the built-in connection` });
const UserCreateBody = Type.Object(
  {
    connection: Connection,
    email: Type.String({ format: 'email', maxLength: 320 }),
    ...profile,
    user_metadata: Type.Optional(Metadata),
    app_metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);
const NullableMetadata = Type.Union([Metadata, Type.Null()]);
const UserPatchBody = Type.Object(
  {
    connection: Type.Optional(Connection),
    client_id: Type.Optional(Type.String({ maxLength: 100 })),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 320 })),
    ...profile,
    user_metadata: Type.Optional(NullableMetadata),
    app_metadata: Type.Optional(NullableMetadata),
  },
  { additionalProperties: false },
);
const UsersQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 500 })),
    search_engine: Type.Optional(Type.String({ maxLength: 10 })),
    sort: Type.Optional(Type.String({ maxLength: 50 })),
    fields: Type.Optional(Type.String({ maxLength: 500 })),
    include_fields: Type.Optional(Type.Boolean()),
    connection: Type.Optional(Type.String({ maxLength: 128 })),
    primary_order: Type.Optional(Type.Boolean()),
    ...PageParams,
  },
  { additionalProperties: false },
);
const UserParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 300 }) }, { additionalProperties: false });
const RolesBody = Type.Object(
  { roles: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
const PageQuery = Type.Object(PageParams, { additionalProperties: false });

function assertConnection(connection: string | undefined) {
  if (connection !== undefined && connection !== DATABASE_CONNECTION) {
    throw new AppError(
      'invalid_request',
      `Users are created and changed in "${DATABASE_CONNECTION}"; federated users arrive by signing in`,
    );
  }
}

/** Auth0's PATCH of metadata: a shallow merge into what is stored, where null deletes a key (decision 407). */
export function mergeMetadata(current: Record<string, unknown>, patch: Record<string, unknown> | null): Record<string, unknown> {
  if (patch === null) return {};
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** Auth0's user endpoints over the users, memberships and roles of /api/v1 (decisions 402–407). */
export const usersV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/users',
      {
        schema: {
          tags,
          summary: 'List or search users (Auth0: q in its Lucene syntax, as far as docs/migrate-from-auth0.md says)',
          security: ACCESS_TOKEN,
          querystring: UsersQuery,
          response: { 200: ListOf(Auth0User, 'users'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        const { q, connection } = request.query;
        if (connection !== undefined) assertConnection(connection);
        const filter = q ? parseUserQuery(q) : {};
        if (filter.ids) {
          const users: User[] = [];
          for (const id of filter.ids)
            users.push(
              ...(await getUser(ctx, scope, userIdOf(id)).then(
                (u) => [u],
                () => [],
              )),
            );
          return listAnswer('users', request.query, {
            items: users.map((u) => toAuth0User(u)),
            start: 0,
            limit: users.length,
            total: users.length,
          });
        }
        const page = await pageOf((p) => listUsers(ctx, scope, filter, p), request.query);
        return listAnswer('users', request.query, { ...page, items: page.items.map((u) => toAuth0User(u)) });
      },
    );

    app.get(
      '/users-by-email',
      {
        schema: {
          tags,
          summary: 'The users with this email address (any letter case), as far as the caller sees',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              email: Type.String({ minLength: 1, maxLength: 320 }),
              fields: Type.Optional(Type.String({ maxLength: 500 })),
              include_fields: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Array(Auth0User), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const page = await listUsers(ctx, scopeOf(request), { email: request.query.email }, { limit: 10 });
        return page.items.map((u) => toAuth0User(u));
      },
    );

    app.get(
      '/users/:id',
      {
        schema: { tags, summary: 'Read a user', security: ACCESS_TOKEN, params: UserParams, response: { 200: Auth0User, ...auth0Errors } },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'user' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const user = await getUser(ctx, scope, userIdOf(request.params.id));
        const identities = await listIdentities(ctx, user.id, scope.kind === 'tenant' ? scope.tenantId : undefined);
        return toAuth0User(user, identities);
      },
    );

    app.post(
      '/users',
      {
        schema: {
          tags,
          summary: 'Create a user in the built-in connection',
          security: ACCESS_TOKEN,
          body: UserCreateBody,
          response: { 201: Auth0User, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.create', tenant: 'tenant.account.create' }),
      },
      async (request, reply) => {
        const scope = scopeOf(request);
        const body = request.body;
        assertConnection(body.connection);
        const input: UserInput = {
          ...userFields(body),
          email: body.email,
          // In system scope an Auth0 user, which names no tenant, is homed in the system tenant (decision 405), as an application is.
          ...(scope.kind === 'system' && { tenant: await systemTenantId(ctx.db) }),
          ...(body.user_metadata && { user_metadata: body.user_metadata }),
          ...(body.app_metadata && { app_metadata: body.app_metadata }),
        };
        const user = await createUser(ctx, scope, actorOf(request), input);
        return reply.status(201).send(toAuth0User(user));
      },
    );

    app.patch(
      '/users/:id',
      {
        schema: {
          tags,
          summary: 'Update a user; metadata objects merge shallowly and null deletes a key',
          security: ACCESS_TOKEN,
          params: UserParams,
          body: UserPatchBody,
          response: { 200: Auth0User, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
        config: { resource: 'user' },
      },
      async (request) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const body = request.body;
        assertConnection(body.connection);
        const id = userIdOf(request.params.id);
        const patch: UserPatch = { ...userFields(body), ...(body.email !== undefined && { email: body.email }) };
        if (body.user_metadata !== undefined || body.app_metadata !== undefined) {
          const current = await getUser(ctx, scope, id);
          if (body.user_metadata !== undefined) patch.user_metadata = mergeMetadata(current.user_metadata, body.user_metadata);
          if (body.app_metadata !== undefined) patch.app_metadata = mergeMetadata(current.app_metadata, body.app_metadata);
        }
        const { user } = await updateUser(ctx, scope, actor, id, patch);
        return toAuth0User(user);
      },
    );

    app.delete(
      '/users/:id',
      {
        schema: {
          tags,
          summary: 'Delete a user',
          security: ACCESS_TOKEN,
          params: UserParams,
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.delete', tenant: 'tenant.account.delete' }),
        config: { resource: 'user' },
      },
      async (request, reply) => {
        await deleteUser(ctx, scopeOf(request), actorOf(request), userIdOf(request.params.id));
        return reply.status(204).send(null);
      },
    );

    // Roles: held by the membership in the tenant the caller acts in, or the user's home tenant in system scope (decision 405).
    app.get(
      '/users/:id/roles',
      {
        schema: {
          tags,
          summary: 'The user’s roles',
          security: ACCESS_TOKEN,
          params: UserParams,
          querystring: PageQuery,
          response: { 200: ListOf(Role, 'roles'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.read', tenant: 'tenant.membership.read' }),
        config: { resource: 'user' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const member = await memberOf(ctx, request, userIdOf(request.params.id));
        const roles = await Promise.all(member.roles.map((r) => getRole(ctx, scope, r.id)));
        return listAnswer('roles', request.query, slice(roles.map(toRole), request.query));
      },
    );

    for (const method of ['post', 'delete'] as const) {
      app[method](
        '/users/:id/roles',
        {
          schema: {
            tags,
            summary: method === 'post' ? 'Assign roles to the user' : 'Remove roles from the user',
            security: ACCESS_TOKEN,
            params: UserParams,
            body: RolesBody,
            response: { 204: Type.Null(), ...auth0Errors },
          },
          onRequest: requireAccess(ctx, MEMBERS),
          config: { resource: 'user' },
        },
        async (request, reply) => {
          const member = await memberOf(ctx, request, userIdOf(request.params.id));
          const ids = request.body.roles.map((id) => idOf(id, 'role'));
          const current = member.roles.map((r) => r.id);
          const roles = method === 'post' ? [...new Set([...current, ...ids])] : current.filter((id) => !ids.includes(id));
          await updateMember(ctx, scopeOf(request), actorOf(request), member.tenant_id, member.user_id, { roles });
          return reply.status(204).send(null);
        },
      );
    }

    app.get(
      '/users/:id/permissions',
      {
        schema: {
          tags,
          summary: 'The user’s permissions: Gatehouse’s (audience {issuer}/api/v2/) and its roles’ API permissions',
          security: ACCESS_TOKEN,
          params: UserParams,
          querystring: PageQuery,
          response: { 200: ListOf(Permission, 'permissions'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.read', tenant: 'tenant.membership.read' }),
        config: { resource: 'user' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const member = await memberOf(ctx, request, userIdOf(request.params.id));
        const own = member.effective_permissions.map((p) => toPermission(ctx, { permission_name: p }));
        const fromRoles = (await Promise.all(member.roles.map((r) => listRoleApiPermissions(ctx, scope, r.id)))).flat();
        const seen = new Set<string>();
        const api = fromRoles
          .map((p) =>
            toPermission(ctx, { permission_name: p.value, resource_server_identifier: p.api_identifier, description: p.description }),
          )
          .filter(
            (p) =>
              !seen.has(`${p.resource_server_identifier}\0${p.permission_name}`) &&
              seen.add(`${p.resource_server_identifier}\0${p.permission_name}`),
          );
        return listAnswer('permissions', request.query, slice([...own, ...api], request.query));
      },
    );

    for (const method of ['post', 'delete'] as const) {
      app[method](
        '/users/:id/permissions',
        {
          schema: {
            tags,
            summary: method === 'post' ? 'Grant Gatehouse permissions directly' : 'Take direct grants away',
            security: ACCESS_TOKEN,
            params: UserParams,
            body: PermissionRefs,
            response: { 204: Type.Null(), ...auth0Errors },
          },
          onRequest: requireAccess(ctx, MEMBERS),
          config: { resource: 'user' },
        },
        async (request, reply) => {
          const member = await memberOf(ctx, request, userIdOf(request.params.id));
          const keys = directKeys(ctx, request.body.permissions);
          const permissions =
            method === 'post' ? [...new Set([...member.permissions, ...keys])] : member.permissions.filter((p) => !keys.includes(p));
          await updateMember(ctx, scopeOf(request), actorOf(request), member.tenant_id, member.user_id, { permissions });
          return reply.status(204).send(null);
        },
      );
    }

    app.get(
      '/users/:id/organizations',
      {
        schema: {
          tags,
          summary: 'The organizations (tenants) the user is a member of, as far as the caller sees',
          security: ACCESS_TOKEN,
          params: UserParams,
          querystring: PageQuery,
          response: { 200: ListOf(Organization, 'organizations'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'user' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const user = await getUser(ctx, scope, userIdOf(request.params.id));
        const tenants = await ctx.db
          .selectFrom('memberships as m')
          .innerJoin('tenants as t', 't.id', 'm.tenant_id')
          .selectAll('t')
          .where('m.user_id', '=', user.id)
          .$if(scope.kind === 'tenant', (q) => q.where('t.id', '=', scope.kind === 'tenant' ? scope.tenantId : ''))
          .orderBy('t.id')
          .execute();
        return listAnswer('organizations', request.query, slice(tenants.map(toOrganization), request.query));
      },
    );

    app.delete(
      '/users/:id/identities/:provider/:user_id',
      {
        schema: {
          tags,
          summary:
            'Unlink a federated identity (provider: the connection’s name or its strategy, when one connection of it holds the identity)',
          security: ACCESS_TOKEN,
          params: Type.Object(
            {
              id: Type.String({ maxLength: 300 }),
              provider: Type.String({ minLength: 1, maxLength: 128 }),
              user_id: Type.String({ minLength: 1, maxLength: 1000 }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Array(Identity), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
        config: { resource: 'user' },
      },
      async (request) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const user = await assertManageable(ctx, scope, actor, userIdOf(request.params.id));
        const tenantId = scope.kind === 'tenant' ? scope.tenantId : undefined;
        const identities = await listIdentities(ctx, user.id, tenantId);
        const { provider, user_id: subject } = request.params;
        const matching = identities.filter((i) => i.user_id === subject && (i.connection === provider || i.provider === provider));
        if (matching.length !== 1) throw new AppError('not_found', 'The identity does not exist.');
        await unlinkIdentity(ctx, actor, user.id, matching[0]!.connection, subject);
        return toAuth0User(user, await listIdentities(ctx, user.id, tenantId)).identities;
      },
    );
  };

/** Auth0's profile fields as Gatehouse's. */
function userFields(body: {
  email_verified?: boolean | undefined;
  username?: string | undefined;
  phone_number?: string | undefined;
  phone_verified?: boolean | undefined;
  given_name?: string | undefined;
  family_name?: string | undefined;
  name?: string | undefined;
  picture?: string | undefined;
  blocked?: boolean | undefined;
  password?: string | undefined;
}) {
  const fields: UserPatch = {};
  if (body.email_verified !== undefined) fields.email_verified = body.email_verified;
  if (body.username !== undefined) fields.username = body.username;
  if (body.phone_number !== undefined) fields.phone = body.phone_number;
  if (body.phone_verified !== undefined) fields.phone_verified = body.phone_verified;
  if (body.given_name !== undefined) fields.given_name = body.given_name;
  if (body.family_name !== undefined) fields.family_name = body.family_name;
  if (body.name !== undefined) fields.name = body.name;
  if (body.picture !== undefined) fields.picture = body.picture;
  if (body.blocked !== undefined) fields.status = body.blocked ? 'disabled' : 'active';
  if (body.password !== undefined) fields.password = body.password;
  return fields;
}

/** The user's membership in the tenant the mapping acts in (decision 405); 404 when the user is not visible or not a member. */
async function memberOf(ctx: AppContext, request: Parameters<typeof scopeOf>[0], userId: string) {
  const scope = scopeOf(request);
  const user = await getUser(ctx, scope, userId);
  return getMember(ctx, scope, actingUserId(actorOf(request)), actingTenant(scope, user.home_tenant_id), user.id);
}

/** Direct grants are Gatehouse permissions, named under the admin API's audience (decision 408). */
function directKeys(ctx: AppContext, refs: readonly PermissionRef[]): string[] {
  for (const ref of refs) {
    if (!isGatehouseAudience(ctx, ref.resource_server_identifier)) {
      throw new AppError(
        'invalid_request',
        'A user holds an API’s permissions through roles; direct grants are Gatehouse permissions (resource_server_identifier {issuer}/api/v2/)',
      );
    }
  }
  return refs.map((r) => r.permission_name);
}

/** A page of a short list held whole (a user's roles and organizations). */
function slice<T>(items: T[], input: { page?: number | undefined; per_page?: number | undefined }) {
  const perPage = input.per_page ?? 50;
  const start = (input.page ?? 0) * perPage;
  return { items: items.slice(start, start + perPage), start, limit: perPage, total: items.length };
}
