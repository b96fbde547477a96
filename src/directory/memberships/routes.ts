import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { actingUserId } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from '../permissions/guard.js';
import { createMember, listMembers, removeMember, type ShownMember, updateMember } from './memberships.js';

const PermissionKeys = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 500 });
const RoleIds = Type.Array(Id, { maxItems: 100 });

const MemberCreate = Type.Object(
  { userId: Id, roles: Type.Optional(RoleIds), permissions: Type.Optional(PermissionKeys) },
  { additionalProperties: false },
);
const MemberPatch = Type.Object(
  { roles: Type.Optional(RoleIds), permissions: Type.Optional(PermissionKeys) },
  { additionalProperties: false },
);
const MemberParams = Type.Object({ id: Id, userId: Id }, { additionalProperties: false });

const Member = Type.Object({
  user_id: Type.String(),
  tenant_id: Type.String(),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  roles: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
  permissions: Type.Array(Type.String(), { description: 'Granted directly' }),
  groups: Type.Array(Type.Object({ id: Type.String(), name: Type.String() }), {
    description: 'The tenant’s groups the member belongs to; their roles count with the member’s own',
  }),
  effective_permissions: Type.Array(Type.String(), { description: 'Of the roles (direct and through groups) and the direct grants' }),
  permission_sources: Type.Array(
    Type.Object({
      permission: Type.String(),
      from: Type.Array(Type.String(), {
        description:
          '"role:<name>" for each directly assigned role that gives it, "group:<name>" for each group whose roles give it, "direct" for a direct grant',
      }),
    }),
  ),
  home_tenant: Type.Union([Type.Literal('this'), Type.Literal('elsewhere'), Type.Literal('none')], {
    description: 'Where the account is homed: this tenant, another one (whose administrators manage it with this tenant’s), or none',
  }),
  managed: Type.Boolean({
    description: 'Whether the caller may change the account’s credentials, status, email, factors or existence (decision 180)',
  }),
  created_at: Timestamp,
});

const toMember = (m: ShownMember) => ({ ...m, created_at: m.created_at.toISOString() });

const tags = ['memberships'];
const read = { system: 'iam.membership.read', tenant: 'tenant.membership.read' } as const;

export const memberRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/tenants/:id/members',
      {
        schema: {
          tags,
          summary: 'List the members of a tenant',
          security: ACCESS_TOKEN,
          params: IdParams,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: PageOf(Member, 'members'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, read),
      },
      async (request) => {
        const page = await listMembers(ctx, scopeOf(request), actingUserId(actorOf(request)), request.params.id, request.query);
        return { members: page.items.map(toMember), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/tenants/:id/members',
      {
        schema: {
          tags,
          summary:
            'Add a user to a tenant with roles (default USER) and direct permissions (a tenant administrator: only users homed in the tenant; invite anyone else)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: MemberCreate,
          response: { 201: Member, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.create' }),
      },
      async (request, reply) =>
        reply.status(201).send(toMember(await createMember(ctx, scopeOf(request), actorOf(request), request.params.id, request.body))),
    );

    app.patch(
      '/tenants/:id/members/:userId',
      {
        schema: {
          tags,
          summary: 'Replace a member’s roles and/or direct permissions',
          security: ACCESS_TOKEN,
          params: MemberParams,
          body: MemberPatch,
          response: { 200: Member, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.update' }),
      },
      async (request) => {
        const { id, userId } = request.params;
        return toMember(await updateMember(ctx, scopeOf(request), actorOf(request), id, userId, request.body));
      },
    );

    app.delete(
      '/tenants/:id/members/:userId',
      {
        schema: {
          tags,
          summary: 'Remove a member from a tenant',
          security: ACCESS_TOKEN,
          params: MemberParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.delete' }),
      },
      async (request, reply) => {
        await removeMember(ctx, scopeOf(request), actorOf(request), request.params.id, request.params.userId);
        return reply.status(204).send(null);
      },
    );
  };
