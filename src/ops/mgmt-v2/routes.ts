import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../platform/context.js';
import { clientsV2 } from './clients.js';
import { connectionsV2 } from './connections.js';
import { jobsV2 } from './jobs.js';
import { auth0ErrorHandler } from './kit.js';
import { logsV2 } from './logs.js';
import { organizationsV2 } from './organizations.js';
import { rolesV2 } from './roles.js';
import { usersV2 } from './users.js';

/**
 * Auth0's Management API v2, the subset scripts and the Terraform provider use most, under
 * /api/v2 (issue 17.2, decisions 400–414): a thin mapping over the domain functions of
 * /api/v1, behind the same guard and scopes, with Auth0's shapes, errors and pagination.
 */
export const managementV2Routes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.setErrorHandler(auth0ErrorHandler);
    app.setNotFoundHandler((request, reply) => {
      reply.status(404).send({
        statusCode: 404,
        error: 'Not Found',
        message: `No route for ${request.method} ${request.url.split('?')[0]}; docs/migrate-from-auth0.md lists what /api/v2 supports`,
        errorCode: 'operation_not_supported',
      });
    });
    await app.register(usersV2(ctx));
    await app.register(rolesV2(ctx));
    await app.register(organizationsV2(ctx));
    await app.register(logsV2(ctx));
    await app.register(clientsV2(ctx));
    await app.register(connectionsV2(ctx));
    await app.register(jobsV2(ctx));
  };
