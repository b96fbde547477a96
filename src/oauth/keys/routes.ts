import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Nullable, Timestamp } from '../../platform/http/schemas.js';
import { SIGNING_ALGS } from '../../platform/ports/signing-keys.js';
import { listSigningKeys } from './queries.js';
import { rotateKeys } from './rotation.js';
import { JWKS_MAX_AGE_S } from './signing-keys.js';

/**
 * Public members only: the serializer drops every member a schema does not name, so no
 * private part (d, p, q, dp, dq, qi, k) can leak, whatever the key object holds.
 */
const RsaPublicJwk = Type.Object(
  {
    kty: Type.Literal('RSA'),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String(),
    n: Type.String(),
    e: Type.String(),
  },
  { additionalProperties: false },
);
const EcPublicJwk = Type.Object(
  {
    kty: Type.Literal('EC'),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String(),
    crv: Type.String(),
    x: Type.String(),
    y: Type.String(),
  },
  { additionalProperties: false },
);
const Jwks = Type.Object({ keys: Type.Array(Type.Union([RsaPublicJwk, EcPublicJwk])) });

const Alg = Type.Union(
  SIGNING_ALGS.map((alg) => Type.Literal(alg)),
  { description: 'Signing algorithm' },
);

const KeyMetadata = Type.Object(
  {
    kid: Type.String(),
    alg: Type.String(),
    status: Type.Union([Type.Literal('next'), Type.Literal('current'), Type.Literal('retired')]),
    created_at: Timestamp,
    retired_at: Nullable(Timestamp),
    withdrawn_at: Nullable(Timestamp),
    published: Type.Boolean({ description: 'Whether the key is in the JWKS now' }),
  },
  { additionalProperties: false },
);

const RotateBody = Type.Object(
  {
    alg: Type.Optional({ ...Alg, description: 'Rotate only the keys of this algorithm (default: every algorithm)' }),
    retire_now: Type.Optional(
      Type.Boolean({
        description:
          'Incident response: withdraw the former current key at once (out of the JWKS; every token it signed stops verifying). Default false',
      }),
    ),
  },
  { additionalProperties: false },
);

const Rotated = Type.Object({
  rotated: Type.Array(
    Type.Object({
      alg: Alg,
      current: Type.String({ description: 'The kid that signs from now on (the former next key)' }),
      retired: Type.String({ description: 'The former current key, published until the tokens it signed expire' }),
      withdrawn: Type.Boolean({ description: 'Whether the retired key was withdrawn at once (retire_now)' }),
      next: Type.String({ description: 'The new next key, published from now on' }),
    }),
  ),
});

/** The public signing keys, and (under /api/v1) their metadata and rotation. */
export const keyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/.well-known/jwks.json',
      { schema: { tags: ['keys'], summary: 'Public signing keys (JWKS)', response: { 200: Jwks } } },
      async (_request, reply) => {
        reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_S}`);
        return (await ctx.keys.jwks()) as never;
      },
    );
    await app.register(keyAdminRoutes(ctx), { prefix: '/api/v1' });
  };

const keyAdminRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/keys',
      {
        schema: {
          tags: ['keys'],
          summary: 'Signing keys, newest first: metadata only, never a private part',
          security: ACCESS_TOKEN,
          response: { 200: Type.Object({ keys: Type.Array(KeyMetadata) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.key.read' }),
      },
      async () => {
        const rows = await listSigningKeys(ctx.db, ctx.clock.now());
        return {
          keys: rows.map((row) => ({
            ...row,
            created_at: row.created_at.toISOString(),
            retired_at: row.retired_at?.toISOString() ?? null,
            withdrawn_at: row.withdrawn_at?.toISOString() ?? null,
          })),
        };
      },
    );

    app.post(
      '/keys/rotate',
      {
        schema: {
          tags: ['keys'],
          summary:
            'Rotate the signing keys: next becomes current, current is retired (withdrawn at once with retire_now), a new next is published',
          security: ACCESS_TOKEN,
          body: RotateBody,
          response: { 200: Rotated, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.key.rotate' }),
        // The body is optional: no body means every algorithm.
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => ({
        rotated: await rotateKeys(ctx, actorOf(request), { alg: request.body.alg, retireNow: request.body.retire_now }),
      }),
    );
  };
