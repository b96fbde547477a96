import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, LongPageQuery, PageOf, Timestamp } from '../../platform/http/schemas.js';
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
  };
