import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { listImpersonations } from '../../oauth/tokens/impersonations.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf, requireMfaSession, requireSession } from '../../platform/http/guards.js';
import { errorResponses, SESSION, Timestamp } from '../../platform/http/schemas.js';
import { confirmEmailChangeCode, confirmEmailChangeLink, startEmailChange } from '../email-change/email-change.js';
import { publicFlow } from '../kit/flows.js';
import { type ConsentedApplication, listConsentedApplications, revokeConsent } from './applications.js';
import { deleteOwnAccount } from './deletion.js';
import { listIdentities, unlinkIdentity } from './identities.js';
import { IdentityList, identityPath, toIdentity } from './identity-schema.js';

const tags = ['account'];
const Secret = Type.String({ minLength: 1, maxLength: 1024 });
const FlowBody = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    state: Type.String(),
    expires_at: Timestamp,
    email: Type.Optional(Type.String()),
  },
  { title: 'Flow' },
);
const Changed = Type.Object({ email: Type.String(), email_verified: Type.Boolean() });
const ConsentedApp = Type.Object(
  {
    client_id: Type.String(),
    name: Type.String(),
    scopes: Type.Array(Type.String()),
    apis: Type.Array(Type.Object({ audience: Type.String(), scopes: Type.Array(Type.String()) })),
    granted_at: Timestamp,
  },
  { title: 'ConsentedApplication' },
);
const toApp = (a: ConsentedApplication) => ({ ...a, granted_at: a.granted_at.toISOString() });

/**
 * The JSON twins of the hosted account pages (src/ui/account-area.ts): the same domain
 * functions, for a custom account UI signed in with the session.
 */
/** One impersonation of the account (decision 433), as the account page shows it. */
const SupportAccess = Type.Object(
  {
    id: Type.String(),
    by: Type.String({ description: 'The administrator’s name (else email)' }),
    by_email: Type.String(),
    application: Type.String(),
    tenant: Type.String(),
    started_at: Timestamp,
    expires_at: Timestamp,
    active: Type.Boolean(),
  },
  { title: 'SupportAccess' },
);

export const accountApiRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/users/me/email',
      {
        schema: {
          tags,
          summary: 'Change your email: a link and a code go to the new address; it takes effect when confirmed',
          security: SESSION,
          body: Type.Object({ email: Type.String({ minLength: 3, maxLength: 320 }), password: Secret }, { additionalProperties: false }),
          response: { 202: Type.Object({ flow: FlowBody }), ...errorResponses },
        },
        onRequest: requireMfaSession(ctx),
      },
      async (request, reply) => {
        const { flow } = await startEmailChange(ctx, actorOf(request), request.signedIn!.user, request.body);
        return reply.status(202).send({ flow: publicFlow(flow) });
      },
    );

    app.post(
      '/flows/email_change/link',
      {
        schema: {
          tags,
          summary: 'Confirm an email change with the emailed link’s token (works once)',
          body: Type.Object({ token: Secret }, { additionalProperties: false }),
          response: { 200: Changed, ...errorResponses },
        },
      },
      async (request) => {
        const user = await confirmEmailChangeLink(ctx, actorOf(request), request.body.token);
        return { email: user.email, email_verified: user.email_verified };
      },
    );

    app.post(
      '/flows/email_change/:id',
      {
        schema: {
          tags,
          summary: 'Confirm your email change with the emailed code',
          security: SESSION,
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
          body: Type.Object({ code: Type.String({ minLength: 1, maxLength: 16 }) }, { additionalProperties: false }),
          response: { 200: Changed, ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => {
        const { user: me } = request.signedIn!;
        const user = await confirmEmailChangeCode(ctx, actorOf(request), me.id, request.params.id, request.body.code);
        return { email: user.email, email_verified: user.email_verified };
      },
    );

    app.get(
      '/users/me/applications',
      {
        schema: {
          tags,
          summary: 'The applications you have let sign you in, with what they may ask for',
          security: SESSION,
          response: { 200: Type.Object({ applications: Type.Array(ConsentedApp) }), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => ({ applications: (await listConsentedApplications(ctx, request.signedIn!.user.id)).map(toApp) }),
    );

    app.get(
      '/users/me/impersonations',
      {
        schema: {
          tags,
          summary: 'Support access: the administrators who acted as you, through which application, and until when (newest first)',
          security: SESSION,
          response: { 200: Type.Object({ impersonations: Type.Array(SupportAccess) }), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => ({
        impersonations: (await listImpersonations(ctx, request.signedIn!.user.id)).map((i) => ({
          ...i,
          started_at: i.started_at.toISOString(),
          expires_at: i.expires_at.toISOString(),
        })),
      }),
    );

    app.delete(
      '/users/me/applications/:clientId',
      {
        schema: {
          tags,
          summary: 'Revoke an application’s access: its grants and tokens end (back-channel logout when it has one)',
          security: SESSION,
          params: Type.Object({ clientId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request, reply) => {
        await revokeConsent(ctx, actorOf(request), request.signedIn!.user.id, request.params.clientId);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/users/me/identities',
      {
        schema: {
          tags,
          summary: 'Your identities at other identity providers (the accounts you sign in with)',
          security: SESSION,
          response: { 200: IdentityList, ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => ({ identities: (await listIdentities(ctx, request.signedIn!.user.id)).map(toIdentity) }),
    );

    app.delete(
      '/users/me/identities/:connection/:user_id',
      {
        schema: {
          tags,
          summary: 'Unlink one of your identities; refused when it is your only way to sign in (no password, no other identity)',
          security: SESSION,
          params: Type.Object(identityPath, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireMfaSession(ctx),
      },
      async (request, reply) => {
        await unlinkIdentity(ctx, actorOf(request), request.signedIn!.user.id, request.params.connection, request.params.user_id);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/users/me',
      {
        schema: {
          tags,
          summary: 'Delete your own account (when your organization allows it)',
          security: SESSION,
          body: Type.Object({ password: Secret }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireMfaSession(ctx),
      },
      async (request, reply) => {
        await deleteOwnAccount(ctx, actorOf(request), request.signedIn!.user, request.body.password);
        return reply.status(204).send(null);
      },
    );
  };
