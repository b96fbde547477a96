import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { InitialAccessToken as Row } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { createInitialAccessToken, listInitialAccessTokens, revokeInitialAccessToken } from './initial-access-tokens.js';

const tags = ['applications'];
const READ = { system: 'iam.application.read', tenant: 'tenant.applications.read' } as const;
const WRITE = { system: 'iam.application.write', tenant: 'tenant.applications.write' } as const;

const fields = {
  id: Type.String(),
  tenant_id: Type.String(),
  description: Type.String(),
  max_registrations: Nullable(Type.Integer()),
  registrations: Type.Integer(),
  expires_at: Nullable(Timestamp),
  revoked_at: Nullable(Timestamp),
  created_at: Timestamp,
};
/** Never the token, never its digest. */
const InitialAccessToken = Type.Object(fields, { title: 'InitialAccessToken' });
const Created = Type.Object(
  { ...fields, token: Type.String({ description: 'Shown in this answer only; Gatehouse keeps a keyed digest of it' }) },
  { title: 'CreatedInitialAccessToken' },
);

const toBody = (t: Row) => ({
  id: t.id,
  tenant_id: t.tenant_id,
  description: t.description,
  max_registrations: t.max_registrations,
  registrations: t.registrations,
  expires_at: t.expires_at?.toISOString() ?? null,
  revoked_at: t.revoked_at?.toISOString() ?? null,
  created_at: t.created_at.toISOString(),
});

/**
 * Initial access tokens for dynamic client registration (RFC 7591, decision 422): a tenant
 * administrator turns registration on for the tenant by issuing one, and off by revoking it.
 */
export const initialAccessTokenRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/initial-access-tokens',
      {
        schema: {
          tags,
          summary: 'List the initial access tokens for dynamic client registration',
          security: ACCESS_TOKEN,
          querystring: Type.Object({ tenant: Type.Optional(Id), ...PageQuery }, { additionalProperties: false }),
          response: { 200: PageOf(InitialAccessToken, 'initial_access_tokens'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, tenant } = request.query;
        const page = await listInitialAccessTokens(ctx, scopeOf(request), { tenant }, { limit, cursor });
        return { initial_access_tokens: page.items.map(toBody), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/initial-access-tokens',
      {
        schema: {
          tags,
          summary: 'Issue an initial access token: its holder may register applications in the tenant (RFC 7591); shown once',
          security: ACCESS_TOKEN,
          body: Type.Object(
            {
              description: Type.Optional(Type.String({ maxLength: 200, pattern: '^[^\\p{C}]*$' })),
              expires_in: Type.Optional(
                Type.Integer({ minimum: 60, maximum: 366 * 24 * 3600, description: 'Seconds; default: no expiry' }),
              ),
              max_registrations: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, description: 'Default: no limit' })),
              tenant: Type.Optional(
                Type.String({ format: 'uuid', description: 'System administrators: the tenant (default: the system tenant)' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: { 201: Created, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const { record, token } = await createInitialAccessToken(ctx, scopeOf(request), actorOf(request), request.body);
        return reply.status(201).send({ ...toBody(record), token });
      },
    );

    app.delete(
      '/initial-access-tokens/:id',
      {
        schema: {
          tags,
          summary: 'Revoke an initial access token (the applications it registered stay)',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await revokeInitialAccessToken(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
