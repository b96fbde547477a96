import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.js';
import { actorOf, requireSession } from '../http/guards.js';
import { errorResponses, SESSION } from '../http/schemas.js';
import { toUser, User } from '../users/schema.js';
import { clearSessionCookie, setSessionCookie } from './cookie.js';
import { changePassword } from './password-change.js';
import { signIn, signOut } from './sessions.js';

const SignInBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 320, description: 'Email or username' }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    'remember-me': Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const PasswordChangeBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 320, description: 'Email or username' }),
    password: Type.String({ minLength: 1, maxLength: 1024, description: 'The current password' }),
    new_password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

const SessionCreated = Type.Object({
  token: Type.String({ description: 'Session token; shown once' }),
  id: Type.String({ description: 'Session id' }),
  expires_at: Type.String({ format: 'date-time' }),
});

/** OIH stage 1: sign in with a password for a session token (and an HttpOnly cookie). */
export const sessionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/session',
      {
        schema: {
          tags: ['session'],
          summary: 'Sign in with username (or email) and password',
          body: SignInBody,
          response: { 200: SessionCreated, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { username, password, 'remember-me': rememberMe } = request.body;
        const { token, session } = await signIn(ctx, { username, password, rememberMe }, actorOf(request));
        setSessionCookie(ctx, reply, token, session);
        return { token, id: session.id, expires_at: session.expires_at.toISOString() };
      },
    );

    app.post(
      '/session/password',
      {
        schema: {
          tags: ['session'],
          summary: 'Change a password with the current one (the answer to 403 password_change_required); then sign in',
          body: PasswordChangeBody,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        const { username, password, new_password: newPassword } = request.body;
        await changePassword(ctx, { username, password, newPassword }, actorOf(request));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/session',
      {
        schema: { tags: ['session'], summary: 'The signed-in user', security: SESSION, response: { 200: User, ...errorResponses } },
        onRequest: requireSession(ctx),
      },
      async (request) => toUser(request.signedIn!.user),
    );

    app.delete(
      '/session',
      {
        schema: {
          tags: ['session'],
          summary: 'Sign out and revoke the session',
          security: SESSION,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request, reply) => {
        await signOut(ctx, request.signedIn!.session, actorOf(request));
        clearSessionCookie(ctx, reply);
        return reply.status(204).send(null);
      },
    );
  };
