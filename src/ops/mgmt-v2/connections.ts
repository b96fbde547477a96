import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { STRATEGIES } from '../../authn/federation/strategy.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { ConnectionRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { createConnection, deleteConnection, getConnection, listConnections, updateConnection } from '../connections/connections.js';
import { SECRET_OPTIONS } from '../connections/rules.js';
import { auth0Errors, CheckpointParams, idOf, ListOf, listPage, PageParams } from './kit.js';

const tags = ['management-api-v2'];
const READ = { system: 'iam.connection.read', tenant: 'tenant.connections.read' } as const;
const WRITE = { system: 'iam.connection.write', tenant: 'tenant.connections.write' } as const;

const Connection = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    display_name: Type.String(),
    strategy: Type.String(),
    options: Type.Object({}, { additionalProperties: true, description: 'Never a secret option' }),
    enabled_clients: Type.Array(Type.String()),
    realms: Type.Array(Type.String()),
    is_domain_connection: Type.Boolean(),
    metadata: Type.Object({}, { additionalProperties: true }),
  },
  { title: 'Auth0Connection' },
);
const toConnection = (c: ConnectionRow) => ({
  id: c.id,
  name: c.name,
  display_name: c.display_name,
  strategy: c.strategy,
  options: Object.fromEntries(Object.entries(c.options as Record<string, unknown>).filter(([key]) => !SECRET_OPTIONS.includes(key))),
  enabled_clients: c.enabled_clients,
  realms: [c.name],
  is_domain_connection: false,
  metadata: { ...(c.tenant_id && { tenant: c.tenant_id }), domains: c.domains.join(' ') },
});
const Options = Type.Object(
  {},
  {
    additionalProperties: true,
    maxProperties: 50,
    description: 'The strategy’s options, Auth0’s names (docs/federation.md); secrets are write-only',
  },
);
const Clients = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 500 });
const DisplayName = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\p{C}]+$' });
const ConnectionParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
const connectionId = (id: string) => {
  if (!/^con_[0-9a-f]{32}$/.test(id)) idOf(id, 'connection');
  return id;
};

/** Auth0's connections over Gatehouse's connections to other identity providers (decision 412), which follow Auth0's model already. */
export const connectionsV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/connections',
      {
        schema: {
          tags,
          summary: 'List connections (federation; the built-in username-and-password connection is not one)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              ...PageParams,
              ...CheckpointParams,
              strategy: Type.Optional(Type.String({ maxLength: 50 })),
              name: Type.Optional(Type.String({ maxLength: 128 })),
              fields: Type.Optional(Type.String({ maxLength: 500 })),
              include_fields: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 200: ListOf(Connection, 'connections'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        const { strategy, name } = request.query;
        return listPage('connections', request.query, (p) => listConnections(ctx, scope, { strategy, name }, p), toConnection);
      },
    );
    app.post(
      '/connections',
      {
        schema: {
          tags,
          summary: 'Create a connection in the caller’s tenant (system-wide for a system administrator)',
          security: ACCESS_TOKEN,
          body: Type.Object(
            {
              name: Type.String({ minLength: 1, maxLength: 128 }),
              strategy: Type.Union(STRATEGIES.map((s) => Type.Literal(s))),
              display_name: Type.Optional(DisplayName),
              options: Type.Optional(Options),
              enabled_clients: Type.Optional(Clients),
            },
            { additionalProperties: false },
          ),
          response: { 201: Connection, ...auth0Errors },
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
          summary: 'Read a connection (never its secrets)',
          security: ACCESS_TOKEN,
          params: ConnectionParams,
          response: { 200: Connection, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, READ),
        config: { resource: 'connection' },
      },
      async (request) => toConnection(await getConnection(ctx, scopeOf(request), connectionId(request.params.id))),
    );
    app.patch(
      '/connections/:id',
      {
        schema: {
          tags,
          summary: 'Update a connection (options merge; null removes a key; an omitted secret is kept)',
          security: ACCESS_TOKEN,
          params: ConnectionParams,
          body: Type.Object(
            { display_name: Type.Optional(DisplayName), options: Type.Optional(Options), enabled_clients: Type.Optional(Clients) },
            { additionalProperties: false },
          ),
          response: { 200: Connection, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, WRITE),
        config: { resource: 'connection' },
      },
      async (request) =>
        toConnection(await updateConnection(ctx, scopeOf(request), actorOf(request), connectionId(request.params.id), request.body)),
    );
    app.delete(
      '/connections/:id',
      {
        schema: {
          tags,
          summary: 'Delete a connection',
          security: ACCESS_TOKEN,
          params: ConnectionParams,
          response: { 202: Type.Null(), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, WRITE),
        config: { resource: 'connection' },
      },
      async (request, reply) => {
        await deleteConnection(ctx, scopeOf(request), actorOf(request), connectionId(request.params.id));
        return reply.status(202).send(null);
      },
    );
  };
