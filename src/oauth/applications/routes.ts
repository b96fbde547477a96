import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { Application as ApplicationRow } from '../../platform/db/schema.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import {
  createApplication,
  deleteApplication,
  getApplication,
  listApplications,
  rotateClientSecret,
  updateApplication,
  type WithSecret,
} from './applications.js';
import { grantRoutes } from './grant-routes.js';
import { modernFields, modernResponseFields, toModern } from './modern-schemas.js';
import { APPLICATION_TYPES, GRANT_TYPES } from './rules.js';
import { tokenExchangeRoutes } from './token-exchange-routes.js';

const AppType = Type.Union(
  APPLICATION_TYPES.map((t) => Type.Literal(t)),
  { description: 'web and m2m are confidential (they get a client secret); spa and native are public' },
);
const GrantType = Type.Union(GRANT_TYPES.map((g) => Type.Literal(g)));
const Uris = (description: string) => Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: 100, description });

const MfaPolicy = Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required'), Type.Null()], {
  description:
    "MFA for this application's sign-ins: off, optional or required; null (default): the tenant's policy. The stricter of the two applies",
});

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\p{C}]+$', description: 'No control or invisible characters' }),
  redirect_uris: Type.Optional(
    Uris('Absolute, no fragment or userinfo; https, http only to localhost/127.0.0.1/[::1], native apps also com.example.app:/path'),
  ),
  post_logout_redirect_uris: Type.Optional(Uris('Where /v2/logout may send users back to; the rules of redirect_uris')),
  web_origins: Type.Optional(
    Uris(
      'Auth0’s Allowed Web Origins (spa and web): origins (https://app.example.com, no path) that receive response_mode=web_message answers (silent sign-in in an iframe) and may call the token endpoint; compared exactly',
    ),
  ),
  grant_types: Type.Optional(
    Type.Array(GrantType, {
      minItems: 1,
      maxItems: GRANT_TYPES.length,
      description: 'Default: authorization_code + refresh_token; m2m: client_credentials',
    }),
  ),
  first_party: Type.Optional(Type.Boolean({ description: 'Default true; third-party applications ask users for consent' })),
  organization_required: Type.Optional(Type.Boolean({ description: 'Default false; users must pick an organization to sign in' })),
  signup_enabled: Type.Optional(
    Type.Boolean({ description: 'Default true; self-registration through this application, when its tenant’s signup policy is on' }),
  ),
  mfa_policy: Type.Optional(MfaPolicy),
  backchannel_logout_uri: Type.Optional(
    Nullable(
      Type.String({
        minLength: 1,
        maxLength: 2000,
        description:
          'OIDC Back-Channel Logout: where logout tokens are POSTed when a user’s sessions end; https (http only to localhost outside production)',
      }),
    ),
  ),
  ...modernFields,
};
const ApplicationCreate = Type.Object(
  {
    ...fields,
    type: AppType,
    tenant: Type.Optional(
      Type.String({ format: 'uuid', description: 'System administrators: the owning tenant (default: the system tenant)' }),
    ),
  },
  { additionalProperties: false },
);
const ApplicationPatch = Type.Partial(Type.Object(fields), { additionalProperties: false });

const applicationFields = {
  id: Type.String(),
  client_id: Type.String(),
  tenant_id: Type.String(),
  name: Type.String(),
  type: AppType,
  redirect_uris: Type.Array(Type.String()),
  post_logout_redirect_uris: Type.Array(Type.String()),
  web_origins: Type.Array(Type.String()),
  grant_types: Type.Array(Type.String()),
  first_party: Type.Boolean(),
  organization_required: Type.Boolean(),
  signup_enabled: Type.Boolean(),
  mfa_policy: MfaPolicy,
  backchannel_logout_uri: Nullable(Type.String()),
  ...modernResponseFields,
  created_at: Timestamp,
  updated_at: Timestamp,
};
/** Never the secret, never its digest. */
const Application = Type.Object(applicationFields, { title: 'Application' });
const SECRET_DESCRIPTION = 'Shown in this answer only; Gatehouse keeps an HMAC of it';
const CreatedApplication = Type.Object(
  { ...applicationFields, client_secret: Type.Optional(Type.String({ description: `Confidential types only. ${SECRET_DESCRIPTION}` })) },
  { title: 'CreatedApplication' },
);
const RotatedApplication = Type.Object(
  { ...applicationFields, client_secret: Type.String({ description: SECRET_DESCRIPTION }) },
  { title: 'ApplicationWithSecret' },
);

const toApplication = (a: ApplicationRow) => ({
  id: a.id,
  client_id: a.client_id,
  tenant_id: a.tenant_id,
  name: a.name,
  type: a.type,
  redirect_uris: a.redirect_uris,
  post_logout_redirect_uris: a.post_logout_redirect_uris,
  web_origins: a.web_origins,
  grant_types: a.grant_types,
  first_party: a.first_party,
  organization_required: a.organization_required,
  signup_enabled: a.signup_enabled,
  mfa_policy: a.mfa_policy,
  backchannel_logout_uri: a.backchannel_logout_uri,
  ...toModern(a),
  created_at: a.created_at.toISOString(),
  updated_at: a.updated_at.toISOString(),
});
const withSecret = ({ application, clientSecret }: WithSecret) => ({
  ...toApplication(application),
  ...(clientSecret !== undefined && { client_secret: clientSecret }),
});

const tags = ['applications'];
const READ = { system: 'iam.application.read', tenant: 'tenant.applications.read' } as const;
const WRITE = { system: 'iam.application.write', tenant: 'tenant.applications.write' } as const;

/** OAuth applications (clients) of a tenant; system administrators reach every tenant's. */
export const applicationRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/applications',
      {
        schema: {
          tags,
          summary: 'List applications',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              tenant: Type.Optional(Id),
              type: Type.Optional(AppType),
              client_id: Type.Optional(Type.String({ maxLength: 200 })),
              ...PageQuery,
            },
            { additionalProperties: false },
          ),
          response: { 200: PageOf(Application, 'applications'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listApplications(ctx, scopeOf(request), filter, { limit, cursor });
        return { applications: page.items.map(toApplication), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/applications',
      {
        schema: {
          tags,
          summary: 'Create an application; a confidential one’s client_secret is in this answer only',
          security: ACCESS_TOKEN,
          body: ApplicationCreate,
          response: { 201: CreatedApplication, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) =>
        reply.status(201).send(withSecret(await createApplication(ctx, scopeOf(request), actorOf(request), request.body))),
    );

    app.get(
      '/applications/:id',
      {
        schema: {
          tags,
          summary: 'Read an application',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Application, ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toApplication(await getApplication(ctx, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/applications/:id',
      {
        schema: {
          tags,
          summary: 'Update an application (type and client_id are fixed)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: ApplicationPatch,
          response: { 200: Application, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => toApplication(await updateApplication(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/applications/:id',
      {
        schema: {
          tags,
          summary: 'Delete an application and its grants',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteApplication(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/applications/:id/rotate-secret',
      {
        schema: {
          tags,
          summary: 'Replace the client secret of a confidential application; the old one stops working at once',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: RotatedApplication, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => {
        const { application, clientSecret } = await rotateClientSecret(ctx, scopeOf(request), actorOf(request), request.params.id);
        return { ...toApplication(application), client_secret: clientSecret };
      },
    );

    await app.register(grantRoutes(ctx));
    await app.register(tokenExchangeRoutes(ctx));
  };
