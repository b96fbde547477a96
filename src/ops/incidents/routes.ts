import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Ended, toEnded } from '../../authn/sessions/schema.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams } from '../../platform/http/schemas.js';
import { revokeApplicationTokens } from './applications.js';
import { disableUser, forcePasswordReset } from './users.js';

const USER_UPDATE = { system: 'iam.account.update', tenant: 'tenant.account.update' } as const;
const tags = ['incidents'];

/**
 * Incident actions (decision 120): each an action on its resource, `POST <resource>/<verb>`,
 * one call and one audit event, effective at once.
 */
export const incidentRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const userAction = (path: string, summary: string, act: typeof disableUser) =>
      app.post(
        `/users/:id/${path}`,
        {
          schema: { tags, summary, security: ACCESS_TOKEN, params: IdParams, response: { 200: Ended, ...errorResponses } },
          onRequest: requireAccess(ctx, USER_UPDATE),
        },
        async (request) => toEnded(await act(ctx, scopeOf(request), actorOf(request), request.params.id)),
      );

    userAction(
      'disable',
      'Disable a user: every session and refresh token ends, introspection says inactive, sign-in is refused',
      disableUser,
    );
    userAction(
      'force-password-reset',
      'Make the user choose a new password at the next sign-in; ends every session and refresh token',
      forcePasswordReset,
    );

    app.post(
      '/applications/:id/revoke-tokens',
      {
        schema: {
          tags,
          summary: 'Revoke every refresh token (every OAuth grant) of an application',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Type.Object({ grants_revoked: Type.Integer() }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.application.write', tenant: 'tenant.applications.write' }),
      },
      async (request) => ({
        grants_revoked: (await revokeApplicationTokens(ctx, scopeOf(request), actorOf(request), request.params.id)).grants,
      }),
    );
  };
