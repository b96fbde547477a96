import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { changeOwnPassword } from '../../authn/passwords/change.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { ProfilePatch, toUser, User, UserCreate, UserPatch, UserQuery } from '../../directory/users/schema.js';
import { getUser, listUsers, withManaged } from '../../directory/users/users.js';
import { updateMe } from '../../flows/account/profile.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf, requireMfaSession, requireSession } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams, PageOf, SESSION } from '../../platform/http/schemas.js';
import { createUser } from './create.js';
import { deleteUser } from './delete.js';
import { updateUser } from './update.js';

const tags = ['users'];

export const userRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/users/me',
      {
        schema: { tags, summary: 'Your own account', security: SESSION, response: { 200: User, ...errorResponses } },
        onRequest: requireSession(ctx),
      },
      async (request) => toUser(request.signedIn!.user),
    );

    app.patch(
      '/users/me',
      {
        schema: {
          tags,
          summary: 'Change your own profile',
          security: SESSION,
          body: ProfilePatch,
          response: { 200: User, ...errorResponses },
        },
        onRequest: requireSession(ctx),
      },
      async (request) => toUser(await updateMe(ctx, actorOf(request), request.signedIn!.user.id, request.body)),
    );

    app.post(
      '/users/me/password',
      {
        schema: {
          tags,
          summary: 'Change your own password; your other sessions and refresh tokens end',
          security: SESSION,
          body: Type.Object(
            {
              current_password: Type.String({ minLength: 1, maxLength: 1024 }),
              new_password: Type.String({ minLength: 1, maxLength: 1024 }),
            },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireMfaSession(ctx),
      },
      async (request, reply) => {
        await changeOwnPassword(ctx, actorOf(request), request.signedIn!, request.body);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/users',
      {
        schema: {
          tags,
          summary: 'List users (a tenant administrator sees the members of the own tenant)',
          security: ACCESS_TOKEN,
          querystring: UserQuery,
          response: { 200: PageOf(User, 'users'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listUsers(ctx, scopeOf(request), filter, { limit, cursor });
        return {
          users: (await withManaged(ctx, scopeOf(request), actorOf(request), page.items)).map(toUser),
          next_cursor: page.next_cursor,
        };
      },
    );

    app.post(
      '/users',
      {
        schema: {
          tags,
          summary:
            'Create a user (a tenant administrator creates users homed in the own tenant; an address with an account outside the tenant is answered alike, and its owner is emailed an invitation instead)',
          security: ACCESS_TOKEN,
          body: UserCreate,
          response: { 201: User, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.create', tenant: 'tenant.account.create' }),
      },
      async (request, reply) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const [user] = await withManaged(ctx, scope, actor, [await createUser(ctx, scope, actor, request.body)]);
        return reply.status(201).send(toUser(user!));
      },
    );

    app.get(
      '/users/:id',
      {
        schema: { tags, summary: 'Read a user', security: ACCESS_TOKEN, params: IdParams, response: { 200: User, ...errorResponses } },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
      },
      async (request) => {
        const scope = scopeOf(request);
        const [user] = await withManaged(ctx, scope, actorOf(request), [await getUser(ctx, scope, request.params.id)]);
        return toUser(user!);
      },
    );

    app.patch(
      '/users/:id',
      {
        schema: {
          tags,
          summary:
            'Update a user (a tenant administrator: one who administers and outranks the user in the home tenant and every tenant the user belongs to; a new email in tenant scope answers 202 and takes effect when the new address confirms)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: UserPatch,
          response: { 200: User, 202: User, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        const [scope, actor] = [scopeOf(request), actorOf(request)];
        const { user, pending } = await updateUser(ctx, scope, actor, request.params.id, request.body);
        const [shown] = await withManaged(ctx, scope, actor, [user]);
        return reply.status(pending ? 202 : 200).send(toUser(shown!));
      },
    );

    app.delete(
      '/users/:id',
      {
        schema: {
          tags,
          summary: 'Delete a user',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.delete', tenant: 'tenant.account.delete' }),
      },
      async (request, reply) => {
        await deleteUser(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
