import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, LongPageQuery, PageOf, Timestamp } from '../../platform/http/schemas.js';
import { type AdminGrant, deleteAdminGrant, getAdminGrant, putAdminGrant } from './admin-grants.js';
import { type ApplicationGrant, createGrant, deleteGrant, listGrants, updateGrant } from './grants.js';

const PermissionValues = Type.Array(Type.String({ minLength: 1, maxLength: 280, pattern: '^\\S+$' }), {
  maxItems: 500,
  description: 'Values the API defines, e.g. read:invoices',
});
const GrantCreate = Type.Object({ api_id: Id, permissions: PermissionValues }, { additionalProperties: false });
const GrantPatch = Type.Object({ permissions: PermissionValues }, { additionalProperties: false });
const GrantParams = Type.Object({ id: Id, apiId: Id }, { additionalProperties: false });

const Grant = Type.Object(
  {
    application_id: Type.String(),
    api_id: Type.String(),
    api_identifier: Type.String({ description: 'The audience the application asks tokens for' }),
    permissions: Type.Array(Type.String()),
    created_at: Timestamp,
  },
  { title: 'ApplicationGrant' },
);

const AdminGrantBody = Type.Object(
  {
    application_id: Type.String(),
    permissions: Type.Array(Type.String()),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'AdminApiGrant' },
);
const AdminGrantPut = Type.Object(
  {
    permissions: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
      maxItems: 100,
      description: 'Gatehouse permissions (tenant.*; iam.* for applications of the system tenant), each held by the caller',
    }),
  },
  { additionalProperties: false },
);
const toAdminGrant = (g: AdminGrant) => ({ ...g, created_at: g.created_at.toISOString(), updated_at: g.updated_at.toISOString() });

const toGrant = (g: ApplicationGrant) => ({ ...g, created_at: g.created_at.toISOString() });

const tags = ['applications'];
const READ = { system: 'iam.application.read', tenant: 'tenant.applications.read' } as const;
const WRITE = { system: 'iam.application.write', tenant: 'tenant.applications.write' } as const;

/** Auth0's client grants: which APIs a client-credentials application may get tokens for, with which permissions. */
export const grantRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/applications/:id/grants',
      {
        schema: {
          tags,
          summary: 'List the APIs the application may get tokens for',
          security: ACCESS_TOKEN,
          params: IdParams,
          querystring: Type.Object(LongPageQuery, { additionalProperties: false }),
          response: { 200: PageOf(Grant, 'grants'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const page = await listGrants(ctx, scopeOf(request), request.params.id, request.query);
        return { grants: page.items.map(toGrant), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/applications/:id/grants',
      {
        schema: {
          tags,
          summary: 'Let a client-credentials application get tokens for an API of its tenant',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: GrantCreate,
          response: { 201: Grant, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) =>
        reply.status(201).send(toGrant(await createGrant(ctx, scopeOf(request), actorOf(request), request.params.id, request.body))),
    );

    app.patch(
      '/applications/:id/grants/:apiId',
      {
        schema: {
          tags,
          summary: 'Replace the permissions of a grant',
          security: ACCESS_TOKEN,
          params: GrantParams,
          body: GrantPatch,
          response: { 200: Grant, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => {
        const { id, apiId } = request.params;
        return toGrant(await updateGrant(ctx, scopeOf(request), actorOf(request), id, apiId, request.body.permissions));
      },
    );

    app.delete(
      '/applications/:id/grants/:apiId',
      {
        schema: {
          tags,
          summary: 'Revoke a grant',
          security: ACCESS_TOKEN,
          params: GrantParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteGrant(ctx, scopeOf(request), actorOf(request), request.params.id, request.params.apiId);
        return reply.status(204).send(null);
      },
    );

    // A machine application's grant of the admin API itself (decision 400): Auth0's client grant of its Management API.
    app.get(
      '/applications/:id/admin-grant',
      {
        schema: {
          tags,
          summary: 'The application’s grant of the Gatehouse admin API (404 when it has none)',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: AdminGrantBody, ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toAdminGrant(await getAdminGrant(ctx, scopeOf(request), request.params.id)),
    );

    app.put(
      '/applications/:id/admin-grant',
      {
        schema: {
          tags,
          summary:
            'Grant a client-credentials application the Gatehouse admin API with these permissions, in its own tenant (audience: the issuer, or {issuer}/api/v2/); replaces an existing grant',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: AdminGrantPut,
          response: { 200: AdminGrantBody, 201: AdminGrantBody, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const { grant, created } = await putAdminGrant(
          ctx,
          scopeOf(request),
          actorOf(request),
          request.params.id,
          request.body.permissions,
        );
        return reply.status(created ? 201 : 200).send(toAdminGrant(grant));
      },
    );

    app.delete(
      '/applications/:id/admin-grant',
      {
        schema: {
          tags,
          summary: 'Revoke the application’s grant of the admin API; its tokens stop working at once',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteAdminGrant(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
