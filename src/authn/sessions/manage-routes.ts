import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf, requireSession } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, SESSION, Timestamp } from '../../platform/http/schemas.js';
import { listSessions, revokeAllSessions, revokeOwnSession, type SessionSummary } from './manage.js';
import { Ended, toEnded } from './schema.js';

const SessionItem = Type.Object(
  {
    id: Id,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    expires_at: Type.String({ format: 'date-time', description: 'When it ends unless used (idle) or at the latest (absolute)' }),
    ip: Nullable(Type.String()),
    user_agent: Nullable(Type.String()),
    remember_me: Type.Boolean(),
    current: Type.Boolean({ description: 'The session this request was made with' }),
  },
  { title: 'Session' },
);

const toItem = (s: SessionSummary) => ({
  ...s,
  created_at: s.created_at.toISOString(),
  last_seen_at: s.last_seen_at.toISOString(),
  expires_at: s.expires_at.toISOString(),
});

const tags = ['sessions'];

/** Your own sessions (list, sign one out), and an administrator's "sign out everywhere". */
export const sessionManagementRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/users/me/sessions',
      {
        schema: {
          tags,
          summary: 'Your signed-in sessions (browsers and API sessions), newest first',
          security: SESSION,
          response: { 200: Type.Object({ sessions: Type.Array(SessionItem) }), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => {
        const { user, session } = request.signedIn!;
        return { sessions: (await listSessions(ctx, user.id, session.id)).map(toItem) };
      },
    );

    app.delete(
      '/users/me/sessions/:id',
      {
        schema: {
          tags,
          summary: 'Sign out one of your sessions (this one too, if you name it)',
          security: SESSION,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request, reply) => {
        await revokeOwnSession(ctx, actorOf(request), request.signedIn!.user.id, request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/users/:id/sessions',
      {
        schema: {
          tags,
          summary:
            'Sign a user out everywhere (an incident action): every session and refresh token ends, applications get back-channel logouts (only from the user’s home tenant)',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Ended, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request) => toEnded(await revokeAllSessions(ctx, scopeOf(request), actorOf(request), request.params.id)),
    );
  };
