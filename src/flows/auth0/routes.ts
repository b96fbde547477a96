import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import type { BotAction } from '../../authn/bot-defence/challenge.js';
import { requireChallenge } from '../../authn/bot-defence/challenge.js';
import { CaptchaField } from '../../authn/bot-defence/schema.js';
import type { AppContext } from '../../platform/context.js';
import type { ErrorCode } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { asAppError, logFailure, setRetryAfter } from '../../platform/http/server.js';
import { auth0ChangePassword, auth0Signup } from './database-connection.js';
import { auth0PasswordlessStart } from './passwordless.js';

/** Auth0's codes for ours on /dbconnections (`{name, code, description, statusCode}`); others keep ours. */
const DB_ERRORS: Partial<Record<ErrorCode, { name: string; code: string }>> = {
  password_too_short: { name: 'PasswordStrengthError', code: 'invalid_password' },
  password_too_long: { name: 'PasswordStrengthError', code: 'invalid_password' },
  password_too_common: { name: 'PasswordDictionaryError', code: 'invalid_password' },
  password_contains_user_info: { name: 'PasswordNoUserInfoError', code: 'invalid_password' },
  password_reused: { name: 'PasswordHistoryError', code: 'invalid_password' },
  password_breached: { name: 'PasswordStrengthError', code: 'invalid_password' },
  username_taken: { name: 'BadRequestError', code: 'username_exists' },
  signup_disabled: { name: 'BadRequestError', code: 'operation_not_enabled' },
  invalid_email: { name: 'BadRequestError', code: 'invalid_signup' },
};
/** Auth0's codes for ours on /passwordless/start (`{error, error_description}`). */
const PASSWORDLESS_ERRORS: Partial<Record<ErrorCode, string>> = {
  unauthorized: 'unauthorized_client',
  passwordless_disabled: 'bad.connection',
  invalid_field: 'bad.client_id',
};

const Text = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const SignupBody = Type.Object(
  {
    client_id: Type.String({ minLength: 1, maxLength: 200 }),
    connection: Type.String({ minLength: 1, maxLength: 128 }),
    email: Type.String({ minLength: 3, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    username: Text(128),
    given_name: Text(200),
    family_name: Text(200),
    name: Text(400),
    phone_number: Text(32),
    // Sent by Auth0's SDKs and kept by Auth0; Gatehouse does not store them (docs/migrate-from-auth0.md).
    nickname: Text(200),
    picture: Text(2000),
    user_metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    captcha: CaptchaField,
  },
  { additionalProperties: false },
);
const SignedUp = Type.Object(
  {
    _id: Type.String({ description: 'The registration’s id (the same answer whether or not the address had an account)' }),
    email: Type.String(),
    email_verified: Type.Boolean(),
    username: Type.Optional(Type.String()),
    given_name: Type.Optional(Type.String()),
    family_name: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
  },
  { title: 'Auth0SignedUp' },
);
const ChangePasswordBody = Type.Object(
  {
    client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    connection: Type.String({ minLength: 1, maxLength: 128 }),
    email: Type.String({ minLength: 3, maxLength: 320 }),
    organization: Text(200),
    captcha: CaptchaField,
  },
  { additionalProperties: false },
);
const PasswordlessBody = Type.Object(
  {
    client_id: Type.String({ minLength: 1, maxLength: 200 }),
    client_secret: Text(200),
    connection: Type.String({ minLength: 1, maxLength: 20 }),
    email: Text(320),
    phone_number: Text(32),
    send: Text(10),
    authParams: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    captcha: CaptchaField,
  },
  { additionalProperties: false },
);
const PasswordlessStarted = Type.Object(
  {
    _id: Type.String(),
    email: Type.Optional(Type.String()),
    email_verified: Type.Optional(Type.Boolean()),
    phone_number: Type.Optional(Type.String()),
    phone_verified: Type.Optional(Type.Boolean()),
    request_language: Type.Optional(Type.Null()),
  },
  { title: 'Auth0PasswordlessStarted' },
);

/** Auth0's answer to change_password: a sentence, the same whether or not the address has an account. */
export const CHANGE_PASSWORD_SENT = "We've just sent you an email to reset your password.";

type Form = 'signup' | 'change_password' | 'passwordless';

/**
 * The one place where Auth0's sign-up, change-password and passwordless endpoints ask for a
 * CAPTCHA under the tenant's bot defence policy (docs/api.md#bot-defence): without a solution
 * in `captcha`, `428 challenge_required` with the challenge, as on their /api/v1 twins.
 */
async function humanCheck(ctx: AppContext, request: FastifyRequest, form: Form): Promise<void> {
  const body = request.body as { client_id?: string; captcha?: string };
  // The application's tenant decides; an unknown client_id follows the system tenant's policy (and fails after).
  const app = body.client_id
    ? await ctx.db.selectFrom('applications').select('tenant_id').where('client_id', '=', body.client_id).executeTakeFirst()
    : undefined;
  await requireChallenge(ctx, request, { tenantId: app?.tenant_id ?? null, action: BOT_ACTIONS[form], solution: body.captcha });
}

/** Which guarded step each endpoint is, for the tenant's bot defence policy. */
const BOT_ACTIONS: Record<Form, BotAction> = { signup: 'signup', change_password: 'recovery', passwordless: 'passwordless' };

/**
 * Auth0's Authentication API endpoints outside the OAuth engine (decisions 388 and 392):
 * `/dbconnections/signup`, `/dbconnections/change_password` and `/passwordless/start`, with
 * a JSON or a form body, answered in Auth0's shapes (its SDKs read them).
 */
export const auth0AuthenticationRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const appError = asAppError(error, request);
      const { status, message } = appError;
      if (status >= 500) logFailure(request, error, appError, 'Auth0 Authentication API request failed');
      setRetryAfter(reply, appError);
      const description = status >= 500 ? 'The request failed' : message;
      // Bot defence has no Auth0 shape: the challenge goes with the error, as on the /api/v1 twins.
      if (appError.code === 'challenge_required' || appError.code === 'challenge_failed') {
        return reply
          .status(status)
          .type('application/json')
          .send({ error: appError.code, error_description: description, message: description, details: appError.details });
      }
      if (request.url.startsWith('/passwordless/')) {
        const code = PASSWORDLESS_ERRORS[appError.code] ?? (status >= 500 ? 'server_error' : appError.code);
        return reply.status(status).type('application/json').send({ error: code, error_description: description });
      }
      const known = DB_ERRORS[appError.code];
      const name = known?.name ?? (status >= 500 ? 'InternalServerError' : 'BadRequestError');
      const code = known?.code ?? (status >= 500 ? 'internal_error' : appError.code);
      return reply.status(status).type('application/json').send({ name, code, description, statusCode: status });
    });

    app.post('/dbconnections/signup', { schema: { hide: true, body: SignupBody, response: { 200: SignedUp } } }, async (request) => {
      await humanCheck(ctx, request, 'signup');
      return auth0Signup(ctx, request.body, actorOf(request));
    });

    app.post(
      '/dbconnections/change_password',
      { schema: { hide: true, body: ChangePasswordBody, response: { 200: Type.String() } } },
      async (request, reply) => {
        await humanCheck(ctx, request, 'change_password');
        await auth0ChangePassword(ctx, request.body, actorOf(request));
        return reply.type('text/plain; charset=utf-8').send(CHANGE_PASSWORD_SENT);
      },
    );

    app.post(
      '/passwordless/start',
      { schema: { hide: true, body: PasswordlessBody, response: { 200: PasswordlessStarted } } },
      async (request) => {
        await humanCheck(ctx, request, 'passwordless');
        return auth0PasswordlessStart(ctx, request.body, actorOf(request));
      },
    );
  };
