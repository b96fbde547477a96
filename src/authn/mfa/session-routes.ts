import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { errorResponses } from '../../platform/http/schemas.js';
import { setSessionCookie } from '../sessions/cookie.js';
import { openSession } from '../sessions/sessions.js';
import { consumeMfaToken, listFactors, mfaClaims, readMfaToken, sameChannelAsFirst, verifySecondFactor } from './index.js';
import { SessionMfaBody } from './schema.js';

const SessionCreated = Type.Object({
  token: Type.String({ description: 'Session token; shown once' }),
  id: Type.String({ description: 'Session id' }),
  expires_at: Type.String({ format: 'date-time' }),
  recovery_code: Type.Optional(Type.String({ description: 'A new recovery code replacing the one just used; shown once' })),
});

/** The second step of POST /api/v1/session for a user with MFA: the mfa_token and one answer give the session. */
export const sessionMfaRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/session/mfa',
      {
        schema: {
          tags: ['session'],
          summary: 'Finish a sign-in that answered mfa_required: the mfa_token and an otp, oob_code + binding_code, or recovery_code',
          body: SessionMfaBody,
          response: { 200: SessionCreated, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { mfa_token, otp, oob_code, binding_code, recovery_code } = request.body;
        const state = await readMfaToken(ctx, mfa_token, null);
        const result = await verifySecondFactor(
          ctx,
          state.userId,
          {
            ...(otp !== undefined && { otp }),
            ...(oob_code !== undefined && { oobCode: oob_code }),
            ...(binding_code !== undefined && { bindingCode: binding_code }),
            ...(recovery_code !== undefined && { recoveryCode: recovery_code }),
          },
          request.ip,
        );
        const factor = result.factorId ? (await listFactors(ctx, state.userId)).find((f) => f.id === result.factorId) : undefined;
        if (factor && sameChannelAsFirst(state.request.amr ?? [], factor.type)) {
          throw new AppError('invalid_code', 'This factor proves what the sign-in proved already; use another one');
        }
        await consumeMfaToken(ctx, mfa_token);
        const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', state.userId).executeTakeFirst();
        if (user?.status !== 'active') throw new AppError('account_disabled', 'This account is disabled');
        const actor = { ...actorOf(request), type: 'user' as const, id: user.id };
        const { amr } = mfaClaims([...(state.request.amr ?? ['pwd']), ...result.amr]);
        const { token, session } = await openSession(ctx, user, { rememberMe: state.request.remember_me, amr }, actor);
        setSessionCookie(ctx, reply, token, session);
        return {
          token,
          id: session.id,
          expires_at: session.expires_at.toISOString(),
          ...(result.newRecoveryCode && { recovery_code: result.newRecoveryCode }),
        };
      },
    );
  };
