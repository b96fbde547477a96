import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requireChallenge } from '../../authn/bot-defence/challenge.js';
import { CaptchaField } from '../../authn/bot-defence/schema.js';
import { MfaRequired } from '../../authn/mfa/schema.js';
import { setSessionCookie } from '../../authn/sessions/cookie.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ErrorBody, errorResponses } from '../../platform/http/schemas.js';
import { pickLocale } from '../../platform/i18n/index.js';
import { normalizeEmail } from '../../platform/mail/address.js';
import { publicFlow } from '../kit/flows.js';
import { apiSignIn, type Proved, passwordlessFlow, proveCode, proveLink } from './finish.js';
import { PASSWORDLESS_METHODS } from './flow.js';
import { applicationByClientId, startPasswordless } from './start.js';

const PublicFlow = Type.Object(
  {
    id: Type.String(),
    kind: Type.Literal('passwordless'),
    state: Type.String({ description: '`sent` while waiting for the code or link; `done` once spent' }),
    expires_at: Type.String({ format: 'date-time' }),
  },
  { title: 'PasswordlessFlow' },
);

const StartBody = Type.Object(
  {
    client_id: Type.String({ minLength: 1, maxLength: 200 }),
    method: Type.Union(PASSWORDLESS_METHODS.map((m) => Type.Literal(m))),
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    locale: Type.Optional(Type.String({ maxLength: 35, description: 'Language of the message (en, de); default Accept-Language' })),
    captcha: CaptchaField,
  },
  { additionalProperties: false },
);

const SessionCreated = Type.Object({
  token: Type.String({ description: 'Session token (as POST /api/v1/session); shown once' }),
  id: Type.String({ description: 'Session id' }),
  expires_at: Type.String({ format: 'date-time' }),
});

const FlowParams = Type.Object({ id: Type.String({ pattern: '^flw_[0-9a-f]{32}$' }) }, { additionalProperties: false });
const CodeBody = Type.Object({ code: Type.String({ minLength: 1, maxLength: 20 }) }, { additionalProperties: false });
const LinkBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const signInResponses = { 200: SessionCreated, 401: Type.Union([MfaRequired, ErrorBody]), ...errorResponses };

/**
 * The JSON twin of the hosted passwordless pages (/api/v1/flows/passwordless): a custom UI
 * (or a native app) starts a flow, then spends its code or link for a session, exactly as
 * POST /api/v1/session answers (with `mfa_required` when the application's MFA policy asks
 * for a second factor). API flows are bound to no browser.
 */
export const passwordlessRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    async function answer(request: FastifyRequest, reply: FastifyReply, proved: Proved) {
      const result = await apiSignIn(ctx, proved, actorOf(request));
      if (result.kind === 'mfa') {
        return reply.status(401).send({
          error: 'mfa_required' as const,
          message: 'Multi-factor authentication is required: POST /api/v1/session/mfa with the mfa_token and a code',
          mfa_token: result.mfaToken,
          ...(result.need === 'enrol' && { details: { enrolment_required: true } }),
        });
      }
      setSessionCookie(ctx, reply, result.token, result.session);
      return reply.send({ token: result.token, id: result.sessionId, expires_at: result.expiresAt.toISOString() });
    }

    app.post(
      '/flows/passwordless',
      {
        schema: {
          tags: ['flows'],
          summary: 'Start a passwordless sign-in: a code or link goes to the account (the same answer whether or not one matches)',
          body: StartBody,
          response: { 202: PublicFlow, ...errorResponses },
        },
      },
      async (request, reply) => {
        const { client_id, method, email, username, locale, captcha } = request.body;
        if (!(email ?? username) || (email && username)) {
          throw new AppError('missing_field', 'Give either email or username', { field: email ? 'username' : 'email' });
        }
        const login = email !== undefined ? normalizeEmail(email) : (username as string);
        const application = await applicationByClientId(ctx, client_id);
        await requireChallenge(ctx, request, { tenantId: application.tenantId, action: 'passwordless', solution: captcha });
        const flow = await startPasswordless(
          ctx,
          {
            application,
            method,
            login,
            channel: 'api',
            locale: pickLocale({ uiLocales: locale ?? null, acceptLanguage: request.headers['accept-language'] ?? null }),
          },
          actorOf(request),
        );
        return reply.status(202).send(publicFlow(flow) as never);
      },
    );

    app.get(
      '/flows/passwordless/:id',
      {
        schema: {
          tags: ['flows'],
          summary: 'Read a passwordless flow',
          params: FlowParams,
          response: { 200: PublicFlow, ...errorResponses },
        },
      },
      async (request) => {
        const flow = await passwordlessFlow(ctx, request.params.id);
        if (flow.channel !== 'api') throw new AppError('flow_not_found', 'This flow does not exist; start again');
        return publicFlow(flow) as never;
      },
    );

    app.post(
      '/flows/passwordless/link',
      {
        schema: {
          tags: ['flows'],
          summary: 'Spend an emailed sign-in link (its token) for a session',
          body: LinkBody,
          response: signInResponses,
        },
      },
      async (request, reply) => {
        const proved = await proveLink(ctx, request.body.token, actorOf(request), (flow) => {
          // A browser flow's link signs in only the browser that asked for it (its hosted page).
          if (flow.channel !== 'api') throw new AppError('link_wrong_browser', 'Open this link in the browser where you asked for it');
        });
        return answer(request, reply, proved);
      },
    );

    app.post(
      '/flows/passwordless/:id',
      {
        schema: {
          tags: ['flows'],
          summary: 'Spend the one-time code of a passwordless flow for a session (five tries per flow)',
          params: FlowParams,
          body: CodeBody,
          response: signInResponses,
        },
      },
      async (request, reply) => {
        const proved = await proveCode(ctx, request.params.id, request.body.code, actorOf(request), (flow) => {
          if (flow.channel !== 'api') throw new AppError('flow_not_found', 'This flow does not exist; start again');
        });
        return answer(request, reply, proved);
      },
    );
  };
