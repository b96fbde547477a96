import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireChallenge } from '../../authn/bot-defence/challenge.js';
import { CaptchaField } from '../../authn/bot-defence/schema.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams } from '../../platform/http/schemas.js';
import { supportedLocale } from '../../platform/i18n/index.js';
import { expiredError, type Flow, publicFlow } from '../kit/flows.js';
import type { RegistrationFlow } from './flow.js';
import {
  applicationOfClient,
  flowTarget,
  openRegistration,
  renewRegistration,
  type SignupInput,
  signupTarget,
  startRegistration,
  submitRegistration,
} from './registration.js';
import { adminResendVerification, resendVerification, verificationFlow, verifyByCode, verifyByLink } from './verification.js';

const tags = ['registration'];
const FlowId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const PublicFlow = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    state: Type.String({ description: 'registration: form → verify_email; verification: sent → verified' }),
    expires_at: Type.String({ format: 'date-time' }),
    email: Type.Optional(Type.String()),
  },
  { title: 'Flow' },
);
const Field = Type.Object({ name: Type.String(), required: Type.Boolean() });
const PublicRegistration = Type.Object(
  {
    ...PublicFlow.properties,
    fields: Type.Array(Field, { description: 'The profile fields the tenant asks for, besides email and password' }),
  },
  { title: 'RegistrationFlow' },
);
const Submitted = Type.Object(
  {
    ...PublicFlow.properties,
    verification_flow: PublicFlow,
  },
  { title: 'SubmittedRegistration', description: 'The same answer whether or not the address already has an account' },
);
const Text = (max: number) => Type.Optional(Type.String({ maxLength: max }));
const RegistrationBody = Type.Object(
  {
    email: Type.String({ maxLength: 320 }),
    password: Type.String({ maxLength: 1024 }),
    given_name: Text(200),
    family_name: Text(200),
    name: Text(400),
    username: Text(128),
    phone: Text(32),
    captcha: CaptchaField,
  },
  { additionalProperties: false },
);

/** A registration read for the API: an expired one is `410 flow_expired` with a fresh one in details.new_flow. */
async function readOrRenew(ctx: AppContext, id: string): Promise<RegistrationFlow> {
  const { flow, expired } = await openRegistration(ctx, id);
  if (!expired) return flow;
  const fresh = await renewRegistration(ctx, flow, null);
  const error = expiredError(flow);
  throw new AppError(error.code, error.message, { ...error.details, new_flow: publicFlow(fresh) });
}

/** Browser flows belong to the hosted pages (cookie + CSRF); the API drives its own. */
function assertApiFlow(flow: Flow) {
  if (flow.channel !== 'api') throw new AppError('csrf_failed', 'This flow belongs to a browser page; start an API flow');
}

const fieldsOf = async (ctx: AppContext, flow: RegistrationFlow) => {
  const { signup } = await flowTarget(ctx, flow);
  return signup.profile_fields.map((name) => ({ name, required: signup.required_fields.includes(name) }));
};

/**
 * The JSON twin of the hosted sign-up and verification pages (issue 5), for a custom UI:
 * no cookie, no CSRF token (channel `api`). Everything enumeration-safe answers alike for
 * known and unknown addresses.
 */
export const registrationRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/flows/registration',
      {
        schema: {
          tags,
          summary: 'Start a sign-up through an application (403 signup_disabled when its tenant or the application does not allow it)',
          body: Type.Object(
            { client_id: Type.String({ minLength: 1, maxLength: 200 }), locale: Type.Optional(Type.String({ maxLength: 35 })) },
            { additionalProperties: false },
          ),
          response: { 201: PublicRegistration, ...errorResponses },
        },
      },
      async (request, reply) => {
        const target = await signupTarget(ctx, request.body.client_id);
        const flow = await startRegistration(ctx, target, { channel: 'api', locale: supportedLocale(request.body.locale) ?? null });
        return reply.status(201).send({ ...publicFlow(flow), fields: await fieldsOf(ctx, flow) });
      },
    );

    app.get(
      '/flows/registration/:id',
      { schema: { tags, summary: 'Read a registration flow', params: FlowId, response: { 200: PublicRegistration, ...errorResponses } } },
      async (request) => {
        const flow = await readOrRenew(ctx, request.params.id);
        assertApiFlow(flow);
        return { ...publicFlow(flow), fields: await fieldsOf(ctx, flow) };
      },
    );

    app.post(
      '/flows/registration/:id',
      {
        schema: {
          tags,
          summary:
            'Submit a sign-up: email, password and the tenant’s profile fields; a verification email follows (428 challenge_required: solve details.challenge, send it as captcha)',
          params: FlowId,
          body: RegistrationBody,
          response: { 200: Submitted, ...errorResponses },
        },
      },
      async (request) => {
        const flow = await readOrRenew(ctx, request.params.id);
        assertApiFlow(flow);
        const { captcha, ...input } = request.body;
        await requireChallenge(ctx, request, { tenantId: flow.tenant_id, action: 'signup', solution: captcha });
        const { registration, verification } = await submitRegistration(ctx, flow, input as SignupInput, actorOf(request));
        return { ...publicFlow(registration), verification_flow: publicFlow(verification) };
      },
    );

    app.post(
      '/flows/verification',
      {
        schema: {
          tags,
          summary: 'Send a new verification email (the same answer for every address; a few emails an hour at most)',
          body: Type.Object(
            { email: Type.String({ format: 'email', maxLength: 320 }), client_id: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: false },
          ),
          response: { 202: Type.Object({ verification_flow: PublicFlow }), ...errorResponses },
        },
      },
      async (request, reply) => {
        const application = await applicationOfClient(ctx, request.body.client_id);
        const flow = await resendVerification(ctx, request.body.email, {
          channel: 'api',
          applicationId: application?.id ?? null,
          locale: 'en',
          actor: actorOf(request),
        });
        return reply.status(202).send({ verification_flow: publicFlow(flow) });
      },
    );

    app.post(
      '/flows/verification/link',
      {
        schema: {
          tags,
          summary: 'Verify an email address with the emailed link’s token (link_invalid, link_expired)',
          body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
          response: { 200: PublicFlow, ...errorResponses },
        },
      },
      async (request) => publicFlow((await verifyByLink(ctx, request.body.token, actorOf(request))).flow),
    );

    app.post(
      '/flows/verification/:id',
      {
        schema: {
          tags,
          summary: 'Verify an email address with the emailed code (invalid_code; five wrong codes end the flow)',
          params: FlowId,
          body: Type.Object({ code: Type.String({ minLength: 1, maxLength: 20 }) }, { additionalProperties: false }),
          response: { 200: PublicFlow, ...errorResponses },
        },
      },
      async (request) => {
        const flow = await verificationFlow(ctx, request.params.id);
        assertApiFlow(flow);
        return publicFlow((await verifyByCode(ctx, flow, request.body.code, actorOf(request))).flow);
      },
    );

    app.post(
      '/users/:id/verification-email',
      {
        schema: {
          tags,
          summary: 'Send a user a new verification email (who may change the account: decision 180; 409 already_verified)',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 202: Type.Object({ verification_flow: PublicFlow }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        const flow = await adminResendVerification(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(202).send({ verification_flow: publicFlow(flow) });
      },
    );
  };
