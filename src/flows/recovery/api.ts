import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireChallenge } from '../../authn/bot-defence/challenge.js';
import { CaptchaField } from '../../authn/bot-defence/schema.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { assertManageable } from '../../directory/users/users.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams } from '../../platform/http/schemas.js';
import { applicationTenant, endAccessForReset, peekRecovery, requestRecovery, resetPassword, sendRecoveryLink } from './recovery.js';

const tags = ['recovery'];
const Accepted = Type.Object({ message: Type.String() });
const SENT = 'If an account exists for this address, a link to choose a new password was sent to it (valid 15 minutes, once).';

/** Forgot password (the API twin of /recovery) and the administrator-triggered reset. */
export const recoveryRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/flows/recovery',
      {
        schema: {
          tags,
          summary: 'Forgot password: emails a reset link if the address has an account (the answer is the same either way)',
          body: Type.Object(
            {
              email: Type.String({ minLength: 3, maxLength: 320 }),
              client_id: Type.Optional(
                Type.String({ minLength: 1, maxLength: 200, description: 'Brands the email as this application’s tenant' }),
              ),
              ui_locales: Type.Optional(Type.String({ maxLength: 100 })),
              captcha: CaptchaField,
            },
            { additionalProperties: false },
          ),
          response: { 202: Accepted, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { email, client_id, ui_locales, captcha } = request.body;
        const tenantId = await applicationTenant(ctx, client_id);
        await requireChallenge(ctx, request, { tenantId, action: 'recovery', solution: captcha });
        await requestRecovery(ctx, { email, tenantId, locale: ui_locales ?? null }, actorOf(request));
        return reply.status(202).send({ message: SENT });
      },
    );

    app.post(
      '/flows/recovery/inspect',
      {
        schema: {
          tags,
          summary: 'Whether a reset link is still good, without spending it (for a custom page): its account and expiry',
          body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
          response: {
            200: Type.Object({ id: Type.String(), email: Type.String(), expires_at: Type.String({ format: 'date-time' }) }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const { flow, user } = await peekRecovery(ctx, request.body.token);
        return { id: flow.id, email: user.email, expires_at: flow.expires_at.toISOString() };
      },
    );

    app.post(
      '/flows/recovery/reset',
      {
        schema: {
          tags,
          summary: 'Sets a new password with the token of a reset link; every session and refresh token of the user ends',
          body: Type.Object(
            {
              token: Type.String({ minLength: 1, maxLength: 200, description: 'The token of the emailed link' }),
              password: Type.String({ minLength: 1, maxLength: 1024 }),
            },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await resetPassword(ctx, request.body.token, request.body.password, actorOf(request));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/users/:id/password-reset',
      {
        schema: {
          tags,
          summary:
            'Email a user a password-reset link (who may change the account: decision 180); optionally end their sessions and grants now',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: Type.Optional(
            Type.Object({ revoke_sessions: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
          ),
          response: { 202: Type.Object({ flow_id: Type.String(), expires_at: Type.String({ format: 'date-time' }) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        const actor = actorOf(request);
        const user = await assertManageable(ctx, scopeOf(request), actor, request.params.id);
        if (user.status !== 'active') {
          return reply.status(409).send({ error: 'conflict', message: 'Only an active user gets a reset link; invite a pending user' });
        }
        const flow = await sendRecoveryLink(ctx, user, { byAdministrator: true }, actor);
        if (request.body?.revoke_sessions) {
          await endAccessForReset(ctx, actor, user);
        }
        return reply.status(202).send({ flow_id: flow.id, expires_at: flow.expires_at.toISOString() });
      },
    );
  };
