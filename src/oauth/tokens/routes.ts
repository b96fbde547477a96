import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf, requireSession } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, SESSION } from '../../platform/http/schemas.js';
import { issueTenantToken } from './access-tokens.js';
import { introspect } from './callers.js';
import { listOrganizations } from './organizations.js';

const Organizations = Type.Object({
  organizations: Type.Array(Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String(), roles: Type.Array(Type.String()) })),
});

const TokenBody = Type.Object(
  { organization: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Tenant id or slug' })) },
  { additionalProperties: false },
);

const IssuedToken = Type.Object({
  token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
});

const Introspection = Type.Object({
  active: Type.Boolean(),
  token_type: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  sid: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  jti: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  org_id: Type.Optional(Type.String()),
  org_name: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  permissions: Type.Optional(Type.Array(Type.String())),
});

/** OIH stages 2 and 3 (organizations, then a JWT for one) and RFC 7662 introspection. */
export const tokenRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/organizations',
      {
        schema: {
          tags: ['session'],
          summary: 'The active organizations the signed-in user is an active member of',
          security: SESSION,
          response: { 200: Organizations, ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => ({ organizations: await listOrganizations(ctx, request.signedIn!.user.id) }),
    );

    app.post(
      '/token',
      {
        schema: {
          tags: ['session'],
          summary: 'An access token (JWT) for one organization',
          security: SESSION,
          body: TokenBody,
          response: { 200: IssuedToken, ...errorResponses },
        },
        // No body at all is the same as a body without an organization: 400 missing_organization.
        preValidation: async (request) => {
          request.body ??= {};
        },
        onRequest: requireSession(ctx),
      },
      async (request) => {
        const organization = request.body?.organization;
        if (!organization) throw new AppError('missing_organization', 'Name the organization: {"organization": "<id or slug>"}');
        const { user, session } = request.signedIn!;
        return issueTenantToken(ctx, user, session, organization, actorOf(request));
      },
    );

    app.post(
      '/tokens/introspect',
      {
        schema: {
          tags: ['tokens'],
          summary: 'Introspect a session or access token (RFC 7662)',
          security: ACCESS_TOKEN,
          body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
          response: { 200: Introspection, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.token.introspect' }),
      },
      async (request) => introspect(ctx, request.body.token),
    );
  };
