import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { connectionByName } from './connections.js';
import { spMetadata } from './saml.js';

/**
 * The SAML SP metadata of a `samlp` connection, public as SAML metadata is (an IdP reads it
 * to register Gatehouse): entity id, ACS, and the certificates, never a key. The ACS itself,
 * `POST /login/callback?connection=NAME`, is the sign-in flow's (src/flows/federation/).
 */
export const federationRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/samlp/metadata',
      {
        schema: {
          tags: ['federation'],
          summary: 'SAML service-provider metadata of a samlp connection',
          querystring: Type.Object({ connection: Type.String({ minLength: 1, maxLength: 200 }) }),
          produces: ['application/samlmetadata+xml'],
        },
      },
      async (request, reply) => {
        const connection = await connectionByName(ctx, request.query.connection);
        if (connection?.strategy !== 'samlp') {
          throw new AppError('connection_not_found', 'There is no SAML connection of that name');
        }
        return reply.type('application/samlmetadata+xml; charset=utf-8').send(spMetadata(ctx, connection));
      },
    );
  };
