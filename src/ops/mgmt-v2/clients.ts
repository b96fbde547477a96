import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Scope } from '../../directory/permissions/effective.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { type ApiDetails, createApi, deleteApi, getApi, listApis, updateApi } from '../../oauth/apis/apis.js';
import { adminGrantsOf, deleteAdminGrant, getAdminGrant, putAdminGrant } from '../../oauth/applications/admin-grants.js';
import {
  createApplication,
  deleteApplication,
  listApplications,
  rotateClientSecret,
  updateApplication,
  type WithSecret,
} from '../../oauth/applications/applications.js';
import { createGrant, deleteGrant, listGrants, updateGrant } from '../../oauth/applications/grants.js';
import type { GrantType } from '../../oauth/applications/rules.js';
import { managementAudience } from '../../oauth/tokens/access-tokens.js';
import type { AppContext } from '../../platform/context.js';
import type { Application, ApplicationType } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { isUuid } from '../../platform/ids.js';
import { auth0Errors, type CheckpointInput, CheckpointParams, ListOf, listPage, PageParams } from './kit.js';
import { isGatehouseAudience } from './shapes.js';

const tags = ['management-api-v2'];
const APP_READ = { system: 'iam.application.read', tenant: 'tenant.applications.read' } as const;
const APP_WRITE = { system: 'iam.application.write', tenant: 'tenant.applications.write' } as const;
const API_READ = { system: 'iam.api.read', tenant: 'tenant.apis.read' } as const;
const API_WRITE = { system: 'iam.api.write', tenant: 'tenant.apis.write' } as const;

/** Auth0's app types for Gatehouse's application types (decision 411). */
const APP_TYPES: Record<ApplicationType, string> = { web: 'regular_web', spa: 'spa', native: 'native', m2m: 'non_interactive' };
const FROM_APP_TYPE: Record<string, ApplicationType> = { regular_web: 'web', spa: 'spa', native: 'native', non_interactive: 'm2m' };

const Client = Type.Object(
  {
    client_id: Type.String(),
    name: Type.String(),
    app_type: Type.String(),
    is_first_party: Type.Boolean(),
    callbacks: Type.Array(Type.String()),
    allowed_logout_urls: Type.Array(Type.String()),
    grant_types: Type.Array(Type.String()),
    token_endpoint_auth_method: Type.String(),
    client_secret: Type.Optional(Type.String({ description: 'In the answer that created the client or rotated its secret only' })),
    organization_require_behavior: Type.Optional(Type.String()),
  },
  { title: 'Auth0Client' },
);
const toClient = (a: Application, secret?: string) => ({
  client_id: a.client_id,
  name: a.name,
  app_type: APP_TYPES[a.type],
  is_first_party: a.first_party,
  callbacks: a.redirect_uris,
  allowed_logout_urls: a.post_logout_redirect_uris,
  grant_types: a.grant_types,
  token_endpoint_auth_method: a.client_secret_digest === null ? 'none' : 'client_secret_post',
  ...(a.organization_required && { organization_require_behavior: 'pre_login_prompt' }),
  ...(secret !== undefined && { client_secret: secret }),
});
const withSecret = ({ application, clientSecret }: WithSecret) => toClient(application, clientSecret);

const Uris = Type.Array(Type.String({ minLength: 1, maxLength: 2048 }), { maxItems: 100 });
const Grants = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 20 });
const ClientCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    app_type: Type.Union(Object.keys(FROM_APP_TYPE).map((t) => Type.Literal(t))),
    is_first_party: Type.Optional(Type.Boolean()),
    callbacks: Type.Optional(Uris),
    allowed_logout_urls: Type.Optional(Uris),
    grant_types: Type.Optional(Grants),
  },
  { additionalProperties: false },
);
const ClientPatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    is_first_party: Type.Optional(Type.Boolean()),
    callbacks: Type.Optional(Uris),
    allowed_logout_urls: Type.Optional(Uris),
    grant_types: Type.Optional(Grants),
  },
  { additionalProperties: false },
);
const ClientParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

/** The application of a client id, if the scope reaches it; another tenant's is 404, as an unknown one. */
async function applicationOf(ctx: AppContext, scope: Scope, clientId: string): Promise<Application> {
  const found = await listApplications(ctx, scope, { client_id: clientId }, { limit: 1 });
  const application = found.items[0];
  if (!application) throw notFound('Client');
  return application;
}

const ResourceServer = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    identifier: Type.String(),
    scopes: Type.Array(Type.Object({ value: Type.String(), description: Type.String() })),
    signing_alg: Type.String(),
    token_lifetime: Type.Integer(),
    enforce_policies: Type.Boolean(),
    token_dialect: Type.String(),
    signing_secret: Type.Optional(Type.String({ description: 'HS256: in the answer that created it only' })),
  },
  { title: 'Auth0ResourceServer' },
);
const toResourceServer = ({ api, permissions, signingSecret }: ApiDetails) => ({
  id: api.id,
  name: api.name,
  identifier: api.identifier,
  scopes: permissions,
  signing_alg: api.signing_alg,
  token_lifetime: api.token_lifetime,
  enforce_policies: api.rbac,
  token_dialect: api.permissions_in_token ? 'access_token_authz' : 'access_token',
  ...(signingSecret !== undefined && { signing_secret: signingSecret }),
});
const Scopes = Type.Array(
  Type.Object(
    { value: Type.String({ minLength: 1, maxLength: 280 }), description: Type.Optional(Type.String({ maxLength: 500 })) },
    { additionalProperties: false },
  ),
  { maxItems: 500 },
);
const SigningAlg = Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('HS256')]);
const Dialect = Type.Union([Type.Literal('access_token'), Type.Literal('access_token_authz')]);
const ServerFields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  scopes: Type.Optional(Scopes),
  signing_alg: Type.Optional(SigningAlg),
  token_lifetime: Type.Optional(Type.Integer({ minimum: 60, maximum: 86400 })),
  enforce_policies: Type.Optional(Type.Boolean()),
  token_dialect: Type.Optional(Dialect),
};
const ServerCreate = Type.Object(
  { identifier: Type.String({ minLength: 1, maxLength: 600 }), ...ServerFields },
  { additionalProperties: false },
);
const ServerPatch = Type.Object(ServerFields, { additionalProperties: false });
const serverInput = (b: {
  name?: string | undefined;
  scopes?: { value: string; description?: string | undefined }[] | undefined;
  signing_alg?: 'RS256' | 'ES256' | 'HS256' | undefined;
  token_lifetime?: number | undefined;
  enforce_policies?: boolean | undefined;
  token_dialect?: string | undefined;
}) => ({
  ...(b.name !== undefined && { name: b.name }),
  ...(b.scopes !== undefined && { permissions: b.scopes }),
  ...(b.signing_alg !== undefined && { signing_alg: b.signing_alg }),
  ...(b.token_lifetime !== undefined && { token_lifetime: b.token_lifetime }),
  ...(b.enforce_policies !== undefined && { rbac: b.enforce_policies }),
  ...(b.token_dialect !== undefined && { permissions_in_token: b.token_dialect === 'access_token_authz' }),
});

/** A resource server by id or by identifier (Auth0 takes either in the path). */
async function apiOf(ctx: AppContext, scope: Scope, idOrIdentifier: string): Promise<ApiDetails> {
  if (isUuid(idOrIdentifier)) return getApi(ctx, scope, idOrIdentifier);
  const found = await listApis(ctx, scope, { identifier: idOrIdentifier }, { limit: 1 });
  if (!found.items[0]) throw notFound('Resource server');
  return found.items[0];
}

/**
 * A client grant: an application's grant of an API (id `<application id>.<api id>`), or of the
 * admin API itself (`<application id>.admin`, audience `{issuer}/api/v2/`, decision 400).
 */
const ClientGrant = Type.Object(
  { id: Type.String(), client_id: Type.String(), audience: Type.String(), scope: Type.Array(Type.String()) },
  { title: 'Auth0ClientGrant' },
);
interface GrantRow {
  id: string;
  client_id: string;
  audience: string;
  scope: string[];
}

/** Every client grant the scope sees (its applications' own), optionally of one client or audience, in application order. */
async function grantsInScope(
  ctx: AppContext,
  scope: Scope,
  filter: { client_id?: string | undefined; audience?: string | undefined },
): Promise<GrantRow[]> {
  const rows: GrantRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await listApplications(
      ctx,
      scope,
      { type: 'm2m', ...(filter.client_id && { client_id: filter.client_id }) },
      { limit: 200, cursor },
    );
    const admin = await adminGrantsOf(
      ctx.db,
      page.items.map((a) => a.id),
    );
    for (const application of page.items) {
      const grant = admin.get(application.id);
      if (grant)
        rows.push({
          id: `${application.id}.admin`,
          client_id: application.client_id,
          audience: managementAudience(ctx),
          scope: grant.permissions,
        });
      for (const g of (await listGrants(ctx, scope, application.id, { limit: 200 })).items) {
        rows.push({
          id: `${application.id}.${g.api_id}`,
          client_id: application.client_id,
          audience: g.api_identifier,
          scope: g.permissions,
        });
      }
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor && rows.length < 1000);
  return filter.audience === undefined
    ? rows
    : rows.filter(
        (r) =>
          r.audience === filter.audience || (isGatehouseAudience(ctx, filter.audience as string) && r.audience === managementAudience(ctx)),
      );
}

function grantIdOf(id: string): { applicationId: string; apiId: string | 'admin' } {
  const [applicationId, apiId] = id.split('.');
  if (!applicationId || !apiId || !isUuid(applicationId) || (apiId !== 'admin' && !isUuid(apiId))) throw notFound('Client grant');
  return { applicationId, apiId };
}

/** A page of a list held whole, by checkpoint (the offset as `next`) or by page number. */
function pageOfRows<T>(key: string, rows: T[], input: CheckpointInput) {
  if (input.from !== undefined || input.take !== undefined) {
    const start = input.from === undefined ? 0 : Number.parseInt(input.from, 10);
    if (!Number.isSafeInteger(start) || start < 0) throw new AppError('invalid_cursor', 'from is not a checkpoint this API returned');
    const take = input.take ?? 50;
    return { [key]: rows.slice(start, start + take), ...(start + take < rows.length && { next: String(start + take) }) };
  }
  const perPage = input.per_page ?? 50;
  const start = (input.page ?? 0) * perPage;
  const items = rows.slice(start, start + perPage);
  return input.include_totals ? { start, limit: perPage, length: items.length, total: rows.length, [key]: items } : items;
}

/** Auth0's clients, resource servers and client grants over Gatehouse's applications, APIs and grants (decision 411). */
export const clientsV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const ListQuery = Type.Object(
      {
        ...PageParams,
        ...CheckpointParams,
        fields: Type.Optional(Type.String({ maxLength: 500 })),
        include_fields: Type.Optional(Type.Boolean()),
        app_type: Type.Optional(Type.String({ maxLength: 50 })),
        is_first_party: Type.Optional(Type.Boolean()),
        is_global: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    );
    app.get(
      '/clients',
      {
        schema: {
          tags,
          summary: 'List clients (applications)',
          security: ACCESS_TOKEN,
          querystring: ListQuery,
          response: { 200: ListOf(Client, 'clients'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        const type = request.query.app_type === undefined ? undefined : FROM_APP_TYPE[request.query.app_type];
        if (request.query.app_type !== undefined && !type)
          throw new AppError('invalid_request', 'app_type: regular_web, spa, native or non_interactive');
        return listPage(
          'clients',
          request.query,
          (p) => listApplications(ctx, scope, { type }, p),
          (a) => toClient(a),
        );
      },
    );
    app.post(
      '/clients',
      {
        schema: {
          tags,
          summary: 'Create a client; its secret is in this answer only',
          security: ACCESS_TOKEN,
          body: ClientCreate,
          response: { 201: Client, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
      },
      async (request, reply) => {
        const b = request.body;
        const created = await createApplication(ctx, scopeOf(request), actorOf(request), {
          name: b.name,
          type: FROM_APP_TYPE[b.app_type] as ApplicationType,
          ...(b.is_first_party !== undefined && { first_party: b.is_first_party }),
          ...(b.callbacks && { redirect_uris: b.callbacks }),
          ...(b.allowed_logout_urls && { post_logout_redirect_uris: b.allowed_logout_urls }),
          ...(b.grant_types && { grant_types: b.grant_types as GrantType[] }),
        });
        return reply.status(201).send(withSecret(created));
      },
    );
    app.get(
      '/clients/:id',
      {
        schema: {
          tags,
          summary: 'Read a client (never its secret)',
          security: ACCESS_TOKEN,
          params: ClientParams,
          response: { 200: Client, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_READ),
        config: { resource: 'client' },
      },
      async (request) => toClient(await applicationOf(ctx, scopeOf(request), request.params.id)),
    );
    app.patch(
      '/clients/:id',
      {
        schema: {
          tags,
          summary: 'Update a client',
          security: ACCESS_TOKEN,
          params: ClientParams,
          body: ClientPatch,
          response: { 200: Client, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
        config: { resource: 'client' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const application = await applicationOf(ctx, scope, request.params.id);
        const b = request.body;
        const updated = await updateApplication(ctx, scope, actorOf(request), application.id, {
          ...(b.name !== undefined && { name: b.name }),
          ...(b.is_first_party !== undefined && { first_party: b.is_first_party }),
          ...(b.callbacks && { redirect_uris: b.callbacks }),
          ...(b.allowed_logout_urls && { post_logout_redirect_uris: b.allowed_logout_urls }),
          ...(b.grant_types && { grant_types: b.grant_types as GrantType[] }),
        });
        return toClient(updated);
      },
    );
    app.delete(
      '/clients/:id',
      {
        schema: {
          tags,
          summary: 'Delete a client',
          security: ACCESS_TOKEN,
          params: ClientParams,
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
        config: { resource: 'client' },
      },
      async (request, reply) => {
        const scope = scopeOf(request);
        await deleteApplication(ctx, scope, actorOf(request), (await applicationOf(ctx, scope, request.params.id)).id);
        return reply.status(204).send(null);
      },
    );
    app.post(
      '/clients/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: 'Rotate the client secret; the new one is in this answer only',
          security: ACCESS_TOKEN,
          params: ClientParams,
          response: { 200: Client, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
        config: { resource: 'client' },
      },
      async (request) => {
        const scope = scopeOf(request);
        return withSecret(await rotateClientSecret(ctx, scope, actorOf(request), (await applicationOf(ctx, scope, request.params.id)).id));
      },
    );

    app.get(
      '/resource-servers',
      {
        schema: {
          tags,
          summary: 'List resource servers (APIs)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              ...PageParams,
              ...CheckpointParams,
              include_fields: Type.Optional(Type.Boolean()),
              identifiers: Type.Optional(Type.String({ maxLength: 600 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: ListOf(ResourceServer, 'resource_servers'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, API_READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        const identifier = request.query.identifiers;
        return listPage('resource_servers', request.query, (p) => listApis(ctx, scope, { identifier }, p), toResourceServer);
      },
    );
    app.post(
      '/resource-servers',
      {
        schema: {
          tags,
          summary: 'Create a resource server (an API); an HS256 signing secret is in this answer only',
          security: ACCESS_TOKEN,
          body: ServerCreate,
          response: { 201: ResourceServer, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, API_WRITE),
      },
      async (request, reply) => {
        const b = request.body;
        const created = await createApi(ctx, scopeOf(request), actorOf(request), {
          identifier: b.identifier,
          name: b.name ?? b.identifier,
          ...serverInput(b),
        });
        return reply.status(201).send(toResourceServer(created));
      },
    );
    app.get(
      '/resource-servers/:id',
      {
        schema: {
          tags,
          summary: 'Read a resource server by id or identifier',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 600 }) }),
          response: { 200: ResourceServer, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, API_READ),
        config: { resource: 'resource_server' },
      },
      async (request) => toResourceServer(await apiOf(ctx, scopeOf(request), request.params.id)),
    );
    app.patch(
      '/resource-servers/:id',
      {
        schema: {
          tags,
          summary: 'Update a resource server',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 600 }) }),
          body: ServerPatch,
          response: { 200: ResourceServer, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, API_WRITE),
        config: { resource: 'resource_server' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const current = await apiOf(ctx, scope, request.params.id);
        return toResourceServer(await updateApi(ctx, scope, actorOf(request), current.api.id, serverInput(request.body)));
      },
    );
    app.delete(
      '/resource-servers/:id',
      {
        schema: {
          tags,
          summary: 'Delete a resource server',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 600 }) }),
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, API_WRITE),
        config: { resource: 'resource_server' },
      },
      async (request, reply) => {
        const scope = scopeOf(request);
        await deleteApi(ctx, scope, actorOf(request), (await apiOf(ctx, scope, request.params.id)).api.id);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/client-grants',
      {
        schema: {
          tags,
          summary: 'List client grants (an application’s grants of APIs, and of the admin API under {issuer}/api/v2/)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              ...PageParams,
              ...CheckpointParams,
              audience: Type.Optional(Type.String({ maxLength: 600 })),
              client_id: Type.Optional(Type.String({ maxLength: 100 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: ListOf(ClientGrant, 'client_grants'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_READ),
      },
      async (request) => pageOfRows('client_grants', await grantsInScope(ctx, scopeOf(request), request.query), request.query) as never,
    );
    app.post(
      '/client-grants',
      {
        schema: {
          tags,
          summary:
            'Grant a machine client an API (scope: its permissions), or the admin API (audience {issuer}/api/v2/, scope: Gatehouse permissions)',
          security: ACCESS_TOKEN,
          body: Type.Object(
            {
              client_id: Type.String({ minLength: 1, maxLength: 100 }),
              audience: Type.String({ minLength: 1, maxLength: 600 }),
              scope: Type.Array(Type.String({ minLength: 1, maxLength: 280 }), { maxItems: 500 }),
            },
            { additionalProperties: false },
          ),
          response: { 201: ClientGrant, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
      },
      async (request, reply) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const { client_id, audience, scope: permissions } = request.body;
        const application = await applicationOf(ctx, scope, client_id);
        if (isGatehouseAudience(ctx, audience)) {
          if ((await adminGrantsOf(ctx.db, [application.id])).has(application.id))
            throw new AppError('grant_exists', 'The client has a grant of the admin API; change it with PATCH');
          const { grant } = await putAdminGrant(ctx, scope, actor, application.id, permissions);
          return reply
            .status(201)
            .send({ id: `${application.id}.admin`, client_id, audience: managementAudience(ctx), scope: grant.permissions });
        }
        const api = await apiOf(ctx, scope, audience);
        const grant = await createGrant(ctx, scope, actor, application.id, { api_id: api.api.id, permissions });
        return reply
          .status(201)
          .send({ id: `${application.id}.${api.api.id}`, client_id, audience: grant.api_identifier, scope: grant.permissions });
      },
    );
    app.patch(
      '/client-grants/:id',
      {
        schema: {
          tags,
          summary: 'Replace a client grant’s scope',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }),
          body: Type.Object(
            { scope: Type.Array(Type.String({ minLength: 1, maxLength: 280 }), { maxItems: 500 }) },
            { additionalProperties: false },
          ),
          response: { 200: ClientGrant, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
        config: { resource: 'client_grant' },
      },
      async (request) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const { applicationId, apiId } = grantIdOf(request.params.id);
        if (apiId === 'admin') {
          await getAdminGrant(ctx, scope, applicationId);
          const { grant } = await putAdminGrant(ctx, scope, actor, applicationId, request.body.scope);
          const application = await ctx.db
            .selectFrom('applications')
            .select('client_id')
            .where('id', '=', applicationId)
            .executeTakeFirstOrThrow();
          return { id: request.params.id, client_id: application.client_id, audience: managementAudience(ctx), scope: grant.permissions };
        }
        const grant = await updateGrant(ctx, scope, actor, applicationId, apiId, request.body.scope);
        const application = await ctx.db
          .selectFrom('applications')
          .select('client_id')
          .where('id', '=', applicationId)
          .executeTakeFirstOrThrow();
        return { id: request.params.id, client_id: application.client_id, audience: grant.api_identifier, scope: grant.permissions };
      },
    );
    app.delete(
      '/client-grants/:id',
      {
        schema: {
          tags,
          summary: 'Delete a client grant',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }),
          response: { 204: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, APP_WRITE),
        config: { resource: 'client_grant' },
      },
      async (request, reply) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const { applicationId, apiId } = grantIdOf(request.params.id);
        if (apiId === 'admin') await deleteAdminGrant(ctx, scope, actor, applicationId);
        else await deleteGrant(ctx, scope, actor, applicationId, apiId);
        return reply.status(204).send(null);
      },
    );
  };
