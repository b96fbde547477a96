import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import { requireChallenge } from '../../authn/bot-defence/challenge.js';
import { CaptchaField } from '../../authn/bot-defence/schema.js';
import { factorOf, factorsOf, hasConfirmedFactor } from '../../authn/mfa/factors.js';
import { enrolOob, enrolTotp, readMfaToken, startChallenge } from '../../authn/mfa/index.js';
import { issueRecoveryCodes } from '../../authn/mfa/recovery-codes.js';
import type { AppContext } from '../../platform/context.js';
import { AppError, type ErrorCode } from '../../platform/errors.js';
import { bearerToken } from '../../platform/http/guards.js';
import { asAppError, logFailure } from '../../platform/http/server.js';
import { assertTokenClient, authenticators, factorIdOf } from './auth0.js';

/** Auth0's error codes for ours; anything else is `invalid_request`. */
const AUTH0_ERRORS: Partial<Record<ErrorCode, [number, string]>> = {
  invalid_mfa_token: [401, 'invalid_token'],
  mfa_token_expired: [401, 'expired_token'],
  unauthorized: [401, 'invalid_client'],
  already_enrolled: [403, 'access_denied'],
  factor_not_allowed: [400, 'unsupported_challenge_type'],
  not_found: [400, 'invalid_request'],
  delivery_failed: [502, 'server_error'],
  too_many_attempts: [429, 'too_many_attempts'],
  // SMS pumping defence (decisions 379–381): its own codes, with Retry-After.
  sms_cap_reached: [429, 'sms_cap_reached'],
  resend_too_soon: [429, 'resend_too_soon'],
  // Bot defence (decision 370): its own codes, the challenge in `details`.
  challenge_required: [428, 'challenge_required'],
  challenge_failed: [428, 'challenge_failed'],
  // A dependency failed (decision 301): RFC 6749's word for "try again later", with Retry-After.
  service_unavailable: [503, 'temporarily_unavailable'],
};

const Open = { additionalProperties: true } as const;
const AssociateBody = Type.Object(
  {
    authenticator_types: Type.Array(Type.String({ maxLength: 20 }), { minItems: 1, maxItems: 4 }),
    oob_channels: Type.Optional(Type.Array(Type.String({ maxLength: 20 }), { maxItems: 4 })),
    phone_number: Type.Optional(Type.String({ maxLength: 32 })),
  },
  Open,
);
const ChallengeBody = Type.Object(
  {
    mfa_token: Type.String({ maxLength: 200 }),
    client_id: Type.Optional(Type.String({ maxLength: 200 })),
    client_secret: Type.Optional(Type.String({ maxLength: 200 })),
    challenge_type: Type.Optional(Type.String({ maxLength: 20 })),
    authenticator_id: Type.Optional(Type.String({ maxLength: 100 })),
    captcha: CaptchaField,
  },
  Open,
);

const tokenOf = (request: FastifyRequest) => {
  const token = bearerToken(request);
  if (!token) throw new AppError('invalid_mfa_token', 'Send the mfa_token as "Authorization: Bearer <mfa_token>"');
  return token;
};

/**
 * Auth0's MFA API (the article's steps 2–4) for users the password grant answered
 * `mfa_required`: list authenticators, associate one (the user's first), and send a
 * challenge. The token exchange itself is one of the MFA grants on /oauth/token.
 */
export const auth0MfaRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const appError = asAppError(error, request);
      const known = AUTH0_ERRORS[appError.code];
      const status = known?.[0] ?? appError.status;
      if (!known || appError.code === 'service_unavailable') logFailure(request, error, appError, 'MFA API request failed');
      const code = known?.[1] ?? (status >= 500 ? 'server_error' : status === 401 ? 'invalid_grant' : 'invalid_request');
      const description = status >= 500 && !known ? 'The request failed' : appError.message;
      const retryAfter = appError.details?.retry_after;
      if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
      // Bot defence's 428 keeps its own code and carries the challenge to solve (docs/api.md#bot-defence).
      const challenge = appError.code === 'challenge_required' || appError.code === 'challenge_failed';
      return reply
        .status(status)
        .type('application/json')
        .send({ error: code, error_description: description, ...(challenge && { details: appError.details }) });
    });

    app.get('/mfa/authenticators', { schema: { hide: true } }, async (request) => {
      const state = await readMfaToken(ctx, tokenOf(request));
      return authenticators(ctx, state.userId);
    });

    app.post('/mfa/associate', { schema: { hide: true, body: AssociateBody } }, async (request) => {
      const state = await readMfaToken(ctx, tokenOf(request));
      const { authenticator_types: types, oob_channels: channels, phone_number: phone } = request.body;
      // Auth0: with an mfa_token, only a user without a factor associates one; the others are challenged.
      if (await hasConfirmedFactor(ctx.db, state.userId)) throw new AppError('already_enrolled', 'User is already enrolled.');
      const actor = { type: 'user' as const, id: state.userId, ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
      if (types.includes('otp')) {
        const enrolment = await enrolTotp(ctx, actor, state.userId);
        const recoveryCodes = await issueRecoveryCodes(ctx.db, ctx, state.userId);
        return { authenticator_type: 'otp', secret: enrolment.secret, barcode_uri: enrolment.otpauthUri, recovery_codes: recoveryCodes };
      }
      if (types.includes('oob')) {
        const channel = channels?.includes('sms') ? 'sms' : channels?.includes('email') ? 'email' : undefined;
        if (!channel) throw new AppError('invalid_request', 'oob_channels must include "sms" or "email"');
        const { oobCode } = await enrolOob(ctx, actor, state.userId, channel, phone);
        const recoveryCodes = await issueRecoveryCodes(ctx.db, ctx, state.userId);
        return {
          authenticator_type: 'oob',
          binding_method: 'prompt',
          oob_channel: channel,
          oob_code: oobCode,
          recovery_codes: recoveryCodes,
        };
      }
      throw new AppError('factor_not_allowed', 'authenticator_types must include "otp" or "oob"');
    });

    app.post('/mfa/challenge', { schema: { hide: true, body: ChallengeBody } }, async (request) => {
      const body = request.body;
      const state = await readMfaToken(ctx, body.mfa_token);
      await assertTokenClient(ctx, state, body.client_id, body.client_secret);
      const enrolled = await hasConfirmedFactor(ctx.db, state.userId);
      const types = (body.challenge_type ?? 'otp oob').split(' ').filter(Boolean);
      if (types.some((t) => t !== 'otp' && t !== 'oob')) {
        throw new AppError('factor_not_allowed', 'challenge_type must be "otp", "oob" or both');
      }
      let factor = body.authenticator_id ? await factorOf(ctx.db, state.userId, factorIdOf(body.authenticator_id)) : undefined;
      if (!factor) {
        const usable = (await factorsOf(ctx.db, state.userId)).filter((f) => f.confirmed || !enrolled);
        factor = usable.find(
          (f) => (f.type === 'otp' && types.includes('otp')) || ((f.type === 'sms' || f.type === 'email') && types.includes('oob')),
        );
      }
      if (!factor || (!factor.confirmed && enrolled)) throw new AppError('not_found', 'No authenticator of that type is associated');
      if (factor.type === 'otp' && types.includes('otp')) return { challenge_type: 'otp' };
      if ((factor.type === 'sms' || factor.type === 'email') && types.includes('oob')) {
        await requireChallenge(ctx, request, { tenantId: state.tenantId, action: 'mfa_send', solution: body.captcha });
        const { oobCode } = await startChallenge(ctx, state.userId, factor.id);
        return { challenge_type: 'oob', oob_code: oobCode, binding_method: 'prompt' };
      }
      throw new AppError('factor_not_allowed', `This authenticator does not answer a challenge of type ${types.join(' ')}`);
    });
  };
