import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { assertManageable, getUser } from '../../directory/users/users.js';
import { listIdentities, unlinkIdentity } from '../../flows/account/identities.js';
import { IdentityList, identityPath, toIdentity } from '../../flows/account/identity-schema.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams } from '../../platform/http/schemas.js';

const tags = ['users'];
const UserIdentityParams = Type.Object({ id: Id, ...identityPath }, { additionalProperties: false });

/**
 * A user's identities at other providers, for administrators: read with the account-read
 * permission (another tenant's user is 404), unlinked under the rule of decision 180.
 */
export const userIdentityRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/users/:id/identities',
      {
        schema: {
          tags,
          summary: 'A user’s identities at other identity providers',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: IdentityList, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
      },
      async (request) => {
        const scope = scopeOf(request);
        const user = await getUser(ctx, scope, request.params.id);
        const tenantId = scope.kind === 'tenant' ? scope.tenantId : undefined;
        return { identities: (await listIdentities(ctx, user.id, tenantId)).map(toIdentity) };
      },
    );

    app.delete(
      '/users/:id/identities/:connection/:user_id',
      {
        schema: {
          tags,
          summary:
            'Unlink an identity (the connection’s name, the provider’s id of the person); refused for the account’s last way to sign in',
          security: ACCESS_TOKEN,
          params: UserIdentityParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        const actor = actorOf(request);
        const user = await assertManageable(ctx, scopeOf(request), actor, request.params.id);
        await unlinkIdentity(ctx, actor, user.id, request.params.connection, request.params.user_id);
        return reply.status(204).send(null);
      },
    );
  };
