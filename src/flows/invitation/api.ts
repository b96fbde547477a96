import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf, requireSession } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, SESSION, Timestamp } from '../../platform/http/schemas.js';
import { acceptJoin, acceptWithPassword } from './accept.js';
import {
  inviteToTenant,
  inviteUser,
  listTenantInvitations,
  peekInvitation,
  publicInvitation,
  revokeTenantInvitation,
  revokeUserInvitation,
} from './invitations.js';

const tags = ['invitations'];

const Invitation = Type.Object(
  {
    id: Type.String(),
    mode: Type.Optional(
      Type.Union([Type.Literal('activate'), Type.Literal('join')], {
        description:
          'activate: a new (pending) user sets a password; join: an existing user joins the tenant by signing in. Not shown to a tenant administrator for an invitation into a tenant (it would tell whether the address has an account)',
      }),
    ),
    tenant_id: Nullable(Id),
    user_id: Type.Optional(
      Type.Union([Id, Type.Null()], {
        description: 'The invited user; not shown to a tenant administrator for an invitation into a tenant',
      }),
    ),
    email: Type.String(),
    state: Type.String(),
    roles: Type.Array(Id),
    expires_at: Timestamp,
    created_at: Timestamp,
  },
  { title: 'Invitation' },
);

const LinkToken = Type.String({ minLength: 1, maxLength: 200, description: 'The token of the emailed link' });
const NewPassword = Type.String({ minLength: 1, maxLength: 1024 });
const manage = { system: 'iam.account.update', tenant: 'tenant.account.update' } as const;

/** Invitations: of a pending user (the rule of decision 180), into a tenant, and their acceptance (the API twins of /invitation). */
export const invitationRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/users/:id/invitation',
      {
        schema: {
          tags,
          summary: 'Send (or resend) a pending user’s invitation email; an older link dies',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 201: Invitation, ...errorResponses },
        },
        onRequest: requireAccess(ctx, manage),
      },
      async (request, reply) =>
        reply.status(201).send(publicInvitation(await inviteUser(ctx, scopeOf(request), actorOf(request), request.params.id), true)),
    );

    app.delete(
      '/users/:id/invitation',
      {
        schema: {
          tags,
          summary: 'Revoke a pending user’s invitation (the link dies; the user stays pending)',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, manage),
      },
      async (request, reply) => {
        await revokeUserInvitation(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/tenants/:id/invitations',
      {
        schema: {
          tags,
          summary:
            'Invite a person into a tenant by email (an existing account joins; a new address gets its account, homed in the tenant, when it accepts)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: Type.Object(
            {
              email: Type.String({ format: 'email', maxLength: 320 }),
              roles: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 100, description: 'Role ids (default USER)' })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Invitation, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.create' }),
      },
      async (request, reply) => {
        const scope = scopeOf(request);
        const flow = await inviteToTenant(ctx, scope, actorOf(request), request.params.id, request.body);
        // A tenant administrator gets the same answer whether or not the address has an account anywhere.
        return reply.status(201).send(publicInvitation(flow, scope.kind === 'system'));
      },
    );

    app.get(
      '/tenants/:id/invitations',
      {
        schema: {
          tags,
          summary: 'A tenant’s open invitations',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Type.Object({ invitations: Type.Array(Invitation) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.read', tenant: 'tenant.membership.read' }),
      },
      async (request) => {
        const scope = scopeOf(request);
        const flows = await listTenantInvitations(ctx, scope, request.params.id);
        return { invitations: flows.map((flow) => publicInvitation(flow, scope.kind === 'system')) };
      },
    );

    app.delete(
      '/tenants/:id/invitations/:flowId',
      {
        schema: {
          tags,
          summary: 'Revoke an open invitation into a tenant',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Id, flowId: Type.String({ pattern: '^flw_[0-9a-f]{32}$' }) }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.membership.update', tenant: 'tenant.membership.delete' }),
      },
      async (request, reply) => {
        await revokeTenantInvitation(ctx, scopeOf(request), actorOf(request), request.params.id, request.params.flowId);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/flows/invitation/inspect',
      {
        schema: {
          tags,
          summary: 'What an invitation link is for, without spending it (for a custom page): mode, email, tenant, expiry',
          body: Type.Object({ token: LinkToken }, { additionalProperties: false }),
          response: {
            200: Type.Object({
              id: Type.String(),
              mode: Type.Union([Type.Literal('activate'), Type.Literal('join')]),
              email: Type.String(),
              tenant_id: Nullable(Id),
              tenant_name: Type.String(),
              expires_at: Timestamp,
            }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const { flow, email, mode, tenantName } = await peekInvitation(ctx, request.body.token);
        return {
          id: flow.id,
          mode,
          email,
          tenant_id: flow.tenant_id,
          tenant_name: tenantName,
          expires_at: flow.expires_at.toISOString(),
        };
      },
    );

    app.post(
      '/flows/invitation/accept',
      {
        schema: {
          tags,
          summary: 'Accept a new user’s invitation with the first password (the API twin of /invitation)',
          body: Type.Object({ token: LinkToken, password: NewPassword }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await acceptWithPassword(ctx, request.body.token, request.body.password, actorOf(request));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/flows/invitation/join',
      {
        schema: {
          tags,
          summary: 'Accept an invitation into a tenant, signed in as the invited account (with its second factor, if any)',
          security: SESSION,
          body: Type.Object({ token: LinkToken }, { additionalProperties: false }),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request, reply) => {
        await acceptJoin(ctx, request.body.token, request.signedIn!, actorOf(request));
        return reply.status(204).send(null);
      },
    );
  };
