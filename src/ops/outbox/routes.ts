import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { ACCESS_TOKEN, errorResponses, Timestamp } from '../../platform/http/schemas.js';
import { openEmailBody } from '../../platform/mail/mailer.js';

const OutboxMessage = Type.Object({
  id: Type.String(),
  to: Type.String(),
  subject: Type.String(),
  text: Type.String(),
  html: Type.Optional(Type.String()),
  created_at: Timestamp,
});

const OUTBOX_SIZE = 100;

/**
 * The development outbox: without SMTP, outside production, messages are kept here for
 * a system administrator to read (links and codes included: that is its purpose).
 * In production it does not exist.
 */
export const emailRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/dev/outbox',
      {
        schema: {
          tags: ['email'],
          summary: 'The newest messages kept without SMTP (development only)',
          security: ACCESS_TOKEN,
          querystring: Type.Object({ to: Type.Optional(Type.String({ maxLength: 320 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ messages: Type.Array(OutboxMessage) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.email.read' }),
      },
      async (request) => {
        if (ctx.config.production) throw notFound('Development outbox');
        let query = ctx.db.selectFrom('emails').selectAll().where('status', '=', 'kept').orderBy('id', 'desc').limit(OUTBOX_SIZE);
        if (request.query.to) query = query.where('recipient', '=', request.query.to);
        const rows = await query.execute();
        return {
          messages: rows.map((row) => ({
            id: row.id,
            to: row.recipient,
            subject: row.subject,
            ...openEmailBody(ctx, row),
            created_at: row.created_at.toISOString(),
          })),
        };
      },
    );
  };
