import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { createMember, getMember, listMembers, removeMember, updateMember } from '../../directory/memberships/memberships.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { getRole } from '../../directory/roles/roles.js';
import { createTenant, deleteTenant, getTenant, listTenants, updateTenant } from '../../directory/tenants/tenants.js';
import { actingUserId } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { auth0Errors, CheckpointParams, idOf, ListOf, listAnswer, listPage, PageParams, userIdOf } from './kit.js';
import { Organization, Role, toOrganization, toRole } from './shapes.js';

const tags = ['management-api-v2'];
const READ = { system: 'iam.tenant.read', tenant: 'tenant.profile.read' } as const;
const MEMBERS_READ = { system: 'iam.membership.read', tenant: 'tenant.membership.read' } as const;
const Name = Type.String({ minLength: 2, maxLength: 50, pattern: '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$', description: 'The tenant’s slug' });
const OrgParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
const MemberParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 100 }), user_id: Type.String({ minLength: 1, maxLength: 300 }) },
  { additionalProperties: false },
);
const OrgCreate = Type.Object(
  { name: Name, display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { additionalProperties: false },
);
const OrgPatch = Type.Object(
  { name: Type.Optional(Name), display_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { additionalProperties: false },
);
const Members = Type.Object(
  { members: Type.Array(Type.String({ maxLength: 300 }), { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
const Roles = Type.Object(
  { roles: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
const Member = Type.Object({
  user_id: Type.String(),
  email: Type.String(),
  name: Type.Optional(Type.String()),
  roles: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
});
const PageQuery = Type.Object(PageParams, { additionalProperties: false });
const ListQuery = Type.Object(
  {
    ...PageParams,
    ...CheckpointParams,
    fields: Type.Optional(Type.String({ maxLength: 500 })),
    include_fields: Type.Optional(Type.Boolean()),
    sort: Type.Optional(Type.String({ maxLength: 50 })),
  },
  { additionalProperties: false },
);

/**
 * Auth0's organizations as Gatehouse's tenants (decision 409): the tenant is what a user
 * chooses at sign-in (`organization=`), what tokens name (`org_id`), and where memberships
 * and their roles live. Creating and deleting one is a system administrator's, as on /api/v1.
 */
export const organizationsV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/organizations',
      {
        schema: {
          tags,
          summary: 'List organizations (tenants); a tenant administrator sees the own',
          security: ACCESS_TOKEN,
          querystring: ListQuery,
          response: { 200: ListOf(Organization, 'organizations'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        return listPage('organizations', request.query, (p) => listTenants(ctx, scope, p), toOrganization);
      },
    );

    app.post(
      '/organizations',
      {
        schema: {
          tags,
          summary: 'Create an organization (a tenant)',
          security: ACCESS_TOKEN,
          body: OrgCreate,
          response: { 201: Organization, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.create' }),
      },
      async (request, reply) => {
        const { name, display_name } = request.body;
        return reply
          .status(201)
          .send(toOrganization(await createTenant(ctx, actorOf(request), { slug: name, name: display_name ?? name })));
      },
    );

    app.get(
      '/organizations/name/:name',
      {
        schema: {
          tags,
          summary: 'Read an organization by its name (the tenant’s slug)',
          security: ACCESS_TOKEN,
          params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
          response: { 200: Organization, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'organization' },
      },
      async (request) => {
        const row = await ctx.db
          .selectFrom('tenants')
          .select('id')
          .where('slug', '=', request.params.name.toLowerCase())
          .executeTakeFirst();
        if (!row) throw notFound('Organization');
        return toOrganization(await getTenant(ctx, scopeOf(request), row.id));
      },
    );

    app.get(
      '/organizations/:id',
      {
        schema: {
          tags,
          summary: 'Read an organization',
          security: ACCESS_TOKEN,
          params: OrgParams,
          response: { 200: Organization, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'organization' },
      },
      async (request) => toOrganization(await getTenant(ctx, scopeOf(request), idOf(request.params.id, 'organization'))),
    );

    app.patch(
      '/organizations/:id',
      {
        schema: {
          tags,
          summary: 'Update an organization (its name is the slug: system administrators only)',
          security: ACCESS_TOKEN,
          params: OrgParams,
          body: OrgPatch,
          response: { 200: Organization, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.update', tenant: 'tenant.profile.update' }),
        config: { resource: 'organization' },
      },
      async (request) => {
        const { name, display_name } = request.body;
        const patch = { ...(name !== undefined && { slug: name }), ...(display_name !== undefined && { name: display_name }) };
        return toOrganization(await updateTenant(ctx, scopeOf(request), actorOf(request), idOf(request.params.id, 'organization'), patch));
      },
    );

    app.delete(
      '/organizations/:id',
      {
        schema: {
          tags,
          summary: 'Delete an organization (a tenant, with everything it owns)',
          security: ACCESS_TOKEN,
          params: OrgParams,
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.delete' }),
        config: { resource: 'organization' },
      },
      async (request, reply) => {
        await deleteTenant(ctx, scopeOf(request), actorOf(request), idOf(request.params.id, 'organization'));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/organizations/:id/members',
      {
        schema: {
          tags,
          summary: 'The organization’s members, with their roles there',
          security: ACCESS_TOKEN,
          params: OrgParams,
          querystring: ListQuery,
          response: { 200: ListOf(Member, 'members'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, MEMBERS_READ),
        config: { resource: 'organization' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const tenantId = idOf(request.params.id, 'organization');
        return listPage(
          'members',
          request.query,
          (p) => listMembers(ctx, scope, actingUserId(actorOf(request)), tenantId, p),
          (m) => ({ user_id: m.user_id, email: m.email, ...(m.name && { name: m.name }), roles: m.roles }),
        );
      },
    );

    app.post(
      '/organizations/:id/members',
      {
        schema: {
          tags,
          summary: 'Add users as members (with the USER role); a tenant administrator adds users homed in the tenant, as on /api/v1',
          security: ACCESS_TOKEN,
          params: OrgParams,
          body: Members,
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.create' }),
        config: { resource: 'organization' },
      },
      async (request, reply) => {
        const tenantId = idOf(request.params.id, 'organization');
        for (const member of request.body.members) {
          await createMember(ctx, scopeOf(request), actorOf(request), tenantId, { userId: userIdOf(member) });
        }
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/organizations/:id/members',
      {
        schema: {
          tags,
          summary: 'Remove members',
          security: ACCESS_TOKEN,
          params: OrgParams,
          body: Members,
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.delete' }),
        config: { resource: 'organization' },
      },
      async (request, reply) => {
        const tenantId = idOf(request.params.id, 'organization');
        for (const member of request.body.members) await removeMember(ctx, scopeOf(request), actorOf(request), tenantId, userIdOf(member));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/organizations/:id/members/:user_id/roles',
      {
        schema: {
          tags,
          summary: 'A member’s roles in the organization',
          security: ACCESS_TOKEN,
          params: MemberParams,
          querystring: PageQuery,
          response: { 200: ListOf(Role, 'roles'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, MEMBERS_READ),
        config: { resource: 'organization' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const member = await getMember(
          ctx,
          scope,
          actingUserId(actorOf(request)),
          idOf(request.params.id, 'organization'),
          userIdOf(request.params.user_id),
        );
        const roles = (await Promise.all(member.roles.map((r) => getRole(ctx, scope, r.id)))).map(toRole);
        const perPage = request.query.per_page ?? 50;
        const start = (request.query.page ?? 0) * perPage;
        return listAnswer('roles', request.query, {
          items: roles.slice(start, start + perPage),
          start,
          limit: perPage,
          total: roles.length,
        });
      },
    );

    for (const method of ['post', 'delete'] as const) {
      app[method](
        '/organizations/:id/members/:user_id/roles',
        {
          schema: {
            tags,
            summary: method === 'post' ? 'Assign roles to a member' : 'Remove roles from a member',
            security: ACCESS_TOKEN,
            params: MemberParams,
            body: Roles,
            response: { 204: Type.Null(), ...auth0Errors },
          },
          onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.update' }),
          config: { resource: 'organization' },
        },
        async (request, reply) => {
          const [scope, actor] = [scopeOf(request), actorOf(request)];
          const tenantId = idOf(request.params.id, 'organization');
          const member = await getMember(ctx, scope, actingUserId(actor), tenantId, userIdOf(request.params.user_id));
          const ids = request.body.roles.map((id) => idOf(id, 'role'));
          const current = member.roles.map((r) => r.id);
          const roles = method === 'post' ? [...new Set([...current, ...ids])] : current.filter((id) => !ids.includes(id));
          await updateMember(ctx, scope, actor, tenantId, member.user_id, { roles });
          return reply.status(204).send(null);
        },
      );
    }
  };
