import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { type ApiDetails, createApi, deleteApi, getApi, listApis, rotateApiSecret, updateApi } from './apis.js';

const SigningAlg = Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('HS256')], {
  description: 'RS256/ES256: verify with the JWKS; HS256: a shared secret (shown once)',
});
const PermissionInput = Type.Object(
  {
    value: Type.String({ minLength: 1, maxLength: 280, pattern: '^\\S+$', description: 'e.g. read:invoices; no whitespace' }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\p{C}]+$', description: 'No control or invisible characters' }),
  permissions: Type.Optional(Type.Array(PermissionInput, { maxItems: 1000, description: 'On PATCH: replaces the list' })),
  token_lifetime: Type.Optional(
    Type.Integer({ minimum: 60, maximum: 86400, description: 'Access token lifetime in seconds (default 600)' }),
  ),
  signing_alg: Type.Optional(SigningAlg),
  rbac: Type.Optional(Type.Boolean({ description: 'Default false; when true, tokens carry only permissions the user’s roles grant' })),
  permissions_in_token: Type.Optional(Type.Boolean({ description: 'Default false; add a permissions claim to access tokens' })),
  token_groups_claim: Type.Optional(
    Type.Boolean({
      description: 'Default false; add a groups claim (the user’s group names in the token’s tenant) to users’ access tokens',
    }),
  ),
};
const ApiCreate = Type.Object(
  {
    identifier: Type.String({
      minLength: 1,
      maxLength: 600,
      description: 'The audience: an absolute URI without fragment, e.g. https://api.example.com. Fixed after creation',
    }),
    ...fields,
    tenant: Type.Optional(
      Type.String({ format: 'uuid', description: 'System administrators: the owning tenant (default: the system tenant)' }),
    ),
  },
  { additionalProperties: false },
);
const ApiPatch = Type.Partial(Type.Object(fields), { additionalProperties: false });

const apiFields = {
  id: Type.String(),
  tenant_id: Type.String(),
  identifier: Type.String(),
  name: Type.String(),
  permissions: Type.Array(Type.Object({ value: Type.String(), description: Type.String() })),
  token_lifetime: Type.Integer(),
  signing_alg: SigningAlg,
  rbac: Type.Boolean(),
  permissions_in_token: Type.Boolean(),
  token_groups_claim: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
};
/** Never the sealed secret. */
const Api = Type.Object(apiFields, { title: 'Api' });
const ApiWithSecret = Type.Object(
  {
    ...apiFields,
    signing_secret: Type.Optional(
      Type.String({ description: 'HS256 only, in the answer that created, switched to or rotated it; never shown again' }),
    ),
  },
  { title: 'ApiWithSecret' },
);

const toApi = ({ api, permissions, signingSecret }: ApiDetails) => ({
  id: api.id,
  tenant_id: api.tenant_id,
  identifier: api.identifier,
  name: api.name,
  permissions,
  token_lifetime: api.token_lifetime,
  signing_alg: api.signing_alg,
  rbac: api.rbac,
  permissions_in_token: api.permissions_in_token,
  token_groups_claim: api.token_groups_claim,
  created_at: api.created_at.toISOString(),
  updated_at: api.updated_at.toISOString(),
  ...(signingSecret !== undefined && { signing_secret: signingSecret }),
});

const tags = ['apis'];
const READ = { system: 'iam.api.read', tenant: 'tenant.apis.read' } as const;
const WRITE = { system: 'iam.api.write', tenant: 'tenant.apis.write' } as const;

/** APIs (resource servers): the audiences tokens are issued for, and their permissions. */
export const apiRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/apis',
      {
        schema: {
          tags,
          summary: 'List APIs',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            { tenant: Type.Optional(Id), identifier: Type.Optional(Type.String({ maxLength: 600 })), ...PageQuery },
            { additionalProperties: false },
          ),
          response: { 200: PageOf(Api, 'apis'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listApis(ctx, scopeOf(request), filter, { limit, cursor });
        return { apis: page.items.map(toApi), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/apis',
      {
        schema: {
          tags,
          summary: 'Create an API; with HS256 its signing_secret is in this answer only',
          security: ACCESS_TOKEN,
          body: ApiCreate,
          response: { 201: ApiWithSecret, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => reply.status(201).send(toApi(await createApi(ctx, scopeOf(request), actorOf(request), request.body))),
    );

    app.get(
      '/apis/:id',
      {
        schema: { tags, summary: 'Read an API', security: ACCESS_TOKEN, params: IdParams, response: { 200: Api, ...errorResponses } },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toApi(await getApi(ctx, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/apis/:id',
      {
        schema: {
          tags,
          summary: 'Update an API (the identifier is fixed); switching to HS256 answers the new signing_secret',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: ApiPatch,
          response: { 200: ApiWithSecret, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => toApi(await updateApi(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/apis/:id',
      {
        schema: {
          tags,
          summary: 'Delete an API with its permissions, grants and role permissions',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteApi(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/apis/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: 'Replace the HS256 shared secret; tokens signed with the old one stop verifying',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: ApiWithSecret, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => toApi(await rotateApiSecret(ctx, scopeOf(request), actorOf(request), request.params.id)),
    );
  };
