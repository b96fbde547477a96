import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import type { Role as RoleRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from '../permissions/guard.js';
import {
  addGroupMembers,
  addGroupRoles,
  createGroup,
  deleteGroup,
  type GroupDetails,
  type GroupMember,
  getGroup,
  listGroupMembers,
  listGroupRoles,
  listGroups,
  removeGroupMember,
  removeGroupRole,
  updateGroup,
} from './groups.js';

const RoleIds = Type.Array(Id, { minItems: 1, maxItems: 100 });
const fields = {
  name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\p{C}]+$', description: 'Unique in the tenant in any letter case' }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
};
const GroupCreate = Type.Object(
  { ...fields, roles: Type.Optional(Type.Array(Id, { maxItems: 100, description: 'Role ids: global or the tenant’s own' })) },
  { additionalProperties: false },
);
const GroupPatch = Type.Partial(Type.Object(fields), { additionalProperties: false });
const GroupParams = Type.Object({ id: Id, groupId: Id }, { additionalProperties: false });
const GroupMemberParams = Type.Object({ id: Id, groupId: Id, userId: Id }, { additionalProperties: false });
const GroupRoleParams = Type.Object({ id: Id, groupId: Id, roleId: Id }, { additionalProperties: false });

const Group = Type.Object(
  {
    id: Type.String(),
    tenant_id: Type.String(),
    name: Type.String(),
    description: Type.String(),
    roles: Type.Array(Type.Object({ id: Type.String(), name: Type.String() }), { description: 'Held by every member of the group' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'Group' },
);
const GroupMemberSchema = Type.Object(
  { user_id: Type.String(), email: Type.String(), name: Nullable(Type.String()), status: Type.String(), created_at: Timestamp },
  { title: 'GroupMember' },
);
const GroupRole = Type.Object({
  id: Type.String(),
  tenant_id: Nullable(Type.String()),
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  is_system: Type.Boolean(),
});

const toGroup = (g: GroupDetails) => ({ ...g, created_at: g.created_at.toISOString(), updated_at: g.updated_at.toISOString() });
const toMember = (m: GroupMember) => ({ ...m, created_at: m.created_at.toISOString() });
const toRole = (r: RoleRow) => ({
  id: r.id,
  tenant_id: r.tenant_id,
  name: r.name,
  description: r.description,
  permissions: r.permissions,
  is_system: r.is_system,
});

const tags = ['groups'];
const READ = { system: 'iam.group.read', tenant: 'tenant.groups.read' } as const;
const WRITE = { system: 'iam.group.write', tenant: 'tenant.groups.write' } as const;

/** A tenant's groups, their members and their roles (decisions 360–369). */
export const groupRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/tenants/:id/groups',
      {
        schema: {
          tags,
          summary: 'List the groups of a tenant',
          security: ACCESS_TOKEN,
          params: IdParams,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: PageOf(Group, 'groups'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const page = await listGroups(ctx, scopeOf(request), request.params.id, request.query);
        return { groups: page.items.map(toGroup), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/tenants/:id/groups',
      {
        schema: {
          tags,
          summary: 'Create a group, optionally with roles',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: GroupCreate,
          response: { 201: Group, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) =>
        reply.status(201).send(toGroup(await createGroup(ctx, scopeOf(request), actorOf(request), request.params.id, request.body))),
    );

    app.get(
      '/tenants/:id/groups/:groupId',
      {
        schema: {
          tags,
          summary: 'Read a group',
          security: ACCESS_TOKEN,
          params: GroupParams,
          response: { 200: Group, ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toGroup(await getGroup(ctx, scopeOf(request), request.params.id, request.params.groupId)),
    );

    app.patch(
      '/tenants/:id/groups/:groupId',
      {
        schema: {
          tags,
          summary: 'Rename a group or change its description',
          security: ACCESS_TOKEN,
          params: GroupParams,
          body: GroupPatch,
          response: { 200: Group, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => {
        const { id, groupId } = request.params;
        return toGroup(await updateGroup(ctx, scopeOf(request), actorOf(request), id, groupId, request.body));
      },
    );

    app.delete(
      '/tenants/:id/groups/:groupId',
      {
        schema: {
          tags,
          summary: 'Delete a group: its members lose its roles at once',
          security: ACCESS_TOKEN,
          params: GroupParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteGroup(ctx, scopeOf(request), actorOf(request), request.params.id, request.params.groupId);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/tenants/:id/groups/:groupId/members',
      {
        schema: {
          tags,
          summary: 'List the members of a group',
          security: ACCESS_TOKEN,
          params: GroupParams,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: PageOf(GroupMemberSchema, 'members'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { id, groupId } = request.params;
        const page = await listGroupMembers(ctx, scopeOf(request), id, groupId, request.query);
        return { members: page.items.map(toMember), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/tenants/:id/groups/:groupId/members',
      {
        schema: {
          tags,
          summary: 'Add members of the tenant to a group (those in it already stay)',
          security: ACCESS_TOKEN,
          params: GroupParams,
          body: Type.Object(
            { users: Type.Array(Id, { minItems: 1, maxItems: 100, description: 'User ids' }) },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const { id, groupId } = request.params;
        await addGroupMembers(ctx, scopeOf(request), actorOf(request), id, groupId, request.body.users);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/tenants/:id/groups/:groupId/members/:userId',
      {
        schema: {
          tags,
          summary: 'Remove a member from a group: the group’s roles are gone at once',
          security: ACCESS_TOKEN,
          params: GroupMemberParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const { id, groupId, userId } = request.params;
        await removeGroupMember(ctx, scopeOf(request), actorOf(request), id, groupId, userId);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/tenants/:id/groups/:groupId/roles',
      {
        schema: {
          tags,
          summary: 'List the roles of a group',
          security: ACCESS_TOKEN,
          params: GroupParams,
          response: { 200: Type.Object({ roles: Type.Array(GroupRole) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => ({
        roles: (await listGroupRoles(ctx, scopeOf(request), request.params.id, request.params.groupId)).map(toRole),
      }),
    );

    app.post(
      '/tenants/:id/groups/:groupId/roles',
      {
        schema: {
          tags,
          summary: 'Give a group roles (global or the tenant’s own; the rules of assigning them directly)',
          security: ACCESS_TOKEN,
          params: GroupParams,
          body: Type.Object({ roles: RoleIds }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const { id, groupId } = request.params;
        await addGroupRoles(ctx, scopeOf(request), actorOf(request), id, groupId, request.body.roles);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/tenants/:id/groups/:groupId/roles/:roleId',
      {
        schema: {
          tags,
          summary: 'Take a role from a group: its members lose it at once (unless they hold it otherwise)',
          security: ACCESS_TOKEN,
          params: GroupRoleParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const { id, groupId, roleId } = request.params;
        await removeGroupRole(ctx, scopeOf(request), actorOf(request), id, groupId, roleId);
        return reply.status(204).send(null);
      },
    );
  };
