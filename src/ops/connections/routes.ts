import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { STRATEGIES } from '../../authn/federation/strategy.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { ConnectionRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { createConnection, deleteConnection, getConnection, listConnections, updateConnection } from './connections.js';
import { SECRET_OPTIONS } from './rules.js';

const StrategyName = Type.Union(
  STRATEGIES.map((s) => Type.Literal(s)),
  { description: 'oidc, oauth2, a preset (google-oauth2, windowslive, waad, github, apple, facebook), samlp or ad' },
);
const SyncModeSchema = Type.Union([Type.Literal('on_each_login'), Type.Literal('on_first_login')], {
  description: 'When the mapping and attributes are applied: at every sign-in (default) or at the first only',
});
const Options = Type.Object(
  {},
  {
    additionalProperties: true,
    maxProperties: 50,
    description:
      'The strategy’s options with Auth0’s names (docs/federation.md). Secret options (client_secret, app_secret, signing_key, decryption_key, bind_password) are write-only: sealed at rest and never answered. On a change options merge: a key set to null is removed, an omitted secret is kept',
  },
);
const Mapping = Type.Array(
  Type.Object(
    {
      claim: Type.String({ minLength: 1, maxLength: 200 }),
      value: Type.String({ minLength: 1, maxLength: 1000 }),
      roles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 50, description: 'Role names' })),
      groups: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
          maxItems: 50,
          description: 'Group names the user joins (decision 367)',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  {
    maxItems: 100,
    description:
      'A rule matches when the claim equals value, or holds it when the claim is an array; the user gets roles and joins groups (names of the connection’s tenant; at least one of the two)',
  },
);
const Attributes = Type.Record(Type.String({ maxLength: 64 }), Type.String({ minLength: 1, maxLength: 200 }), {
  maxProperties: 20,
  description:
    'The user’s fields taken from the provider’s claims, { user_field: claim }: given_name, family_name, name, picture, locale, phone',
});

const fields = {
  display_name: Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[^\\p{C}]+$',
    description: 'The sign-in button’s label (default: the name)',
  }),
  options: Options,
  enabled_clients: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
    maxItems: 500,
    description: 'Client ids of the applications it serves; a tenant’s connection only the tenant’s own',
  }),
  domains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
    maxItems: 100,
    description: 'Email domains sent straight to this connection (home-realm discovery)',
  }),
  mapping: Mapping,
  attributes: Attributes,
  sync_mode: SyncModeSchema,
  trusted_email: Type.Boolean({ description: 'Default false; a verified email from the provider may link to an existing account' }),
  upstream_mfa: Type.Boolean({ description: 'Default false; the provider’s MFA satisfies the tenant’s MFA policy' }),
};
const ConnectionCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, description: 'Unique, case-insensitive; letters, digits and inner hyphens' }),
    strategy: StrategyName,
    tenant: Type.Optional(
      Nullable(
        Type.String({
          format: 'uuid',
          description:
            'The owning tenant; null (system administrators only): a system connection. Default: the caller’s tenant, system-wide for a system administrator',
        }),
      ),
    ),
    ...Type.Partial(Type.Object(fields)).properties,
  },
  { additionalProperties: false },
);
const ConnectionPatch = Type.Partial(Type.Object(fields), { additionalProperties: false });

/** Never a secret: they are not in `options` at all. */
const Connection = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    strategy: Type.String(),
    display_name: Type.String(),
    tenant: Nullable(Type.String({ description: 'null: a system connection' })),
    options: Type.Object({}, { additionalProperties: true }),
    enabled_clients: Type.Array(Type.String()),
    domains: Type.Array(Type.String()),
    mapping: Type.Array(
      Type.Object({ claim: Type.String(), value: Type.String(), roles: Type.Array(Type.String()), groups: Type.Array(Type.String()) }),
    ),
    attributes: Type.Record(Type.String(), Type.String()),
    sync_mode: SyncModeSchema,
    trusted_email: Type.Boolean(),
    upstream_mfa: Type.Boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { title: 'Connection' },
);

/** The secret options are stripped again here, should a row hold one in `options` (the admin API never stores one there). */
function publicOptions(row: ConnectionRow): Record<string, unknown> {
  const secrets = SECRET_OPTIONS;
  return Object.fromEntries(Object.entries(row.options as Record<string, unknown>).filter(([key]) => !secrets.includes(key)));
}

const toConnection = (c: ConnectionRow) => ({
  id: c.id,
  name: c.name,
  strategy: c.strategy,
  display_name: c.display_name,
  tenant: c.tenant_id,
  options: publicOptions(c),
  enabled_clients: c.enabled_clients,
  domains: c.domains,
  mapping: c.mapping.map((rule) => ({ ...rule, groups: rule.groups ?? [] })),
  attributes: c.attributes,
  sync_mode: c.sync_mode,
  trusted_email: c.trusted_email,
  upstream_mfa: c.upstream_mfa,
  created_at: c.created_at.toISOString(),
  updated_at: c.updated_at.toISOString(),
});

const tags = ['connections'];
const READ = { system: 'iam.connection.read', tenant: 'tenant.connections.read' } as const;
const WRITE = { system: 'iam.connection.write', tenant: 'tenant.connections.write' } as const;
const ConnectionParams = Type.Object({ id: Type.String({ pattern: '^con_[0-9a-f]{32}$' }) }, { additionalProperties: false });

/** Connections to other identity providers (docs/federation.md#connections). */
export const connectionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/connections',
      {
        schema: {
          tags,
          summary: 'List connections (a tenant administrator sees the own tenant’s)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              tenant: Type.Optional(Id),
              strategy: Type.Optional(StrategyName),
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
              ...PageQuery,
            },
            { additionalProperties: false },
          ),
          response: { 200: PageOf(Connection, 'connections'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listConnections(ctx, scopeOf(request), filter, { limit, cursor });
        return { connections: page.items.map(toConnection), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/connections',
      {
        schema: {
          tags,
          summary: 'Create a connection; its secret options are sealed and never answered',
          security: ACCESS_TOKEN,
          body: ConnectionCreate,
          response: { 201: Connection, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) =>
        reply.status(201).send(toConnection(await createConnection(ctx, scopeOf(request), actorOf(request), request.body))),
    );

    app.get(
      '/connections/:id',
      {
        schema: {
          tags,
          summary: 'Read a connection (without its secrets)',
          security: ACCESS_TOKEN,
          params: ConnectionParams,
          response: { 200: Connection, ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toConnection(await getConnection(ctx, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/connections/:id',
      {
        schema: {
          tags,
          summary: 'Update a connection; in force at once on every node',
          security: ACCESS_TOKEN,
          params: ConnectionParams,
          body: ConnectionPatch,
          response: { 200: Connection, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => toConnection(await updateConnection(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/connections/:id',
      {
        schema: {
          tags,
          summary: 'Delete a connection and every identity at it',
          security: ACCESS_TOKEN,
          params: ConnectionParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteConnection(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
