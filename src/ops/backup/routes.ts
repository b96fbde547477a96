import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { prepend } from '../../platform/http/prepend.js';
import { ACCESS_TOKEN, errorResponses } from '../../platform/http/schemas.js';
import { backupStream } from './backup.js';
import { MIN_PASSPHRASE } from './format.js';

const BackupBody = Type.Object(
  {
    passphrase: Type.String({
      minLength: MIN_PASSPHRASE,
      maxLength: 1024,
      description: 'The backup is encrypted with a key derived from it (scrypt); restore needs the same passphrase',
    }),
  },
  { additionalProperties: false },
);

/**
 * `POST /api/v1/backup`: the encrypted backup, streamed while it is read. This is how a
 * server on the embedded database is backed up while it runs (its data directory belongs
 * to that one process); on PostgreSQL `gatehouse backup` does the same from any host.
 */
export const backupRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/backup',
      {
        schema: {
          tags: ['backup'],
          summary: 'Download an encrypted backup of everything (restore it with `gatehouse restore`)',
          security: ACCESS_TOKEN,
          body: BackupBody,
          response: {
            200: {
              description: 'The backup file (format in docs/operations.md)',
              content: { 'application/octet-stream': { schema: Type.String({ format: 'binary' }) } },
            },
            ...errorResponses,
          },
        },
        onRequest: requireAccess(ctx, { system: 'iam.backup.create' }),
      },
      async (request, reply) => {
        const stream = backupStream(ctx, request.body.passphrase, { actor: actorOf(request) });
        // Read the first bytes here: a failure before the snapshot is taken is still a clean error answer.
        const first = await stream.next();
        const name = `gatehouse-${ctx.clock.now().toISOString().replaceAll(':', '-').slice(0, 19)}.ghbackup`;
        reply.header('content-type', 'application/octet-stream').header('content-disposition', `attachment; filename="${name}"`);
        return reply.send(Readable.from(prepend(first, stream)) as never);
      },
    );
  };
