import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.js';

const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object(
      { kty: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String(), n: Type.String(), e: Type.String() },
      { additionalProperties: false },
    ),
  ),
});

/** The public signing keys. The response schema lists only public members, so no private part can leak. */
export const keyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/.well-known/jwks.json',
      { schema: { tags: ['keys'], summary: 'Public signing keys (JWKS)', response: { 200: Jwks } } },
      async (_request, reply) => {
        reply.header('cache-control', 'public, max-age=300');
        return (await ctx.keys.jwks()) as never;
      },
    );
  };
