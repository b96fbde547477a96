import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { toUser, User } from '../../directory/users/schema.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf, requireSession } from '../../platform/http/guards.js';
import { ErrorBody, errorResponses, SESSION } from '../../platform/http/schemas.js';
import { requireChallenge } from '../bot-defence/challenge.js';
import { CaptchaField } from '../bot-defence/schema.js';
import { issueMfaToken, mfaNeed } from '../mfa/index.js';
import { MfaRequired } from '../mfa/schema.js';
import { clearSessionCookie, setSessionCookie } from './cookie.js';
import { changePassword } from './password-change.js';
import { authenticate, openSession, signOut } from './sessions.js';

const SignInBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 320, description: 'Email or username' }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    'remember-me': Type.Optional(Type.Boolean()),
    captcha: CaptchaField,
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
          summary: 'Sign in with username (or email) and password (428 challenge_required: solve details.challenge, send it as captcha)',
          body: SignInBody,
          // 401 is either the MFA step or an ordinary error (invalid_credentials): both must serialize.
          response: { 200: SessionCreated, 401: Type.Union([MfaRequired, ErrorBody]), ...errorResponses },
        },
      },
      async (request, reply) => {
        const { username, password, 'remember-me': rememberMe, captcha } = request.body;
        const actor = actorOf(request);
        // No application names a tenant here: the system tenant's bot defence applies (decision 376).
        await requireChallenge(ctx, request, { tenantId: null, action: 'signin', solution: captcha });
        const user = await authenticate(ctx, { username, password }, actor);
        // A user with a factor (or who must enrol one) gets an mfa_token instead of a session: POST /session/mfa.
        const need = await mfaNeed(ctx, user);
        if (need !== 'none') {
          const mfaToken = await issueMfaToken(ctx, {
            userId: user.id,
            clientId: null,
            tenantId: null,
            request: { ...(rememberMe !== undefined && { remember_me: rememberMe }) },
            need,
          });
          return reply.status(401).send({
            error: 'mfa_required' as const,
            message:
              need === 'enrol'
                ? 'Multi-factor authentication is required: enrol a factor with POST /mfa/associate, then POST /api/v1/session/mfa'
                : 'Multi-factor authentication is required: POST /api/v1/session/mfa with the mfa_token and a code',
            mfa_token: mfaToken,
            ...(need === 'enrol' && { details: { enrolment_required: true } }),
          });
        }
        const { token, session } = await openSession(ctx, user, { rememberMe }, actor);
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
