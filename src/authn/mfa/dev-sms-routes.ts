import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { ACCESS_TOKEN, errorResponses, Timestamp } from '../../platform/http/schemas.js';
import { openSms } from './sms.js';

const SmsMessage = Type.Object({ id: Type.String(), to: Type.String(), body: Type.String(), created_at: Timestamp });
const OUTBOX_SIZE = 100;

/**
 * The development SMS outbox, the twin of the email one: without GATEHOUSE_SMS_WEBHOOK_URL,
 * outside production, text messages are kept (sealed) for a system administrator to read.
 */
export const devSmsRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/dev/sms',
      {
        schema: {
          tags: ['mfa'],
          summary: 'The newest text messages kept without an SMS webhook (development only)',
          security: ACCESS_TOKEN,
          querystring: Type.Object({ to: Type.Optional(Type.String({ maxLength: 32 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ messages: Type.Array(SmsMessage) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.email.read' }),
      },
      async (request) => {
        if (ctx.config.production) throw notFound('Development SMS outbox');
        const rows = await ctx.db.selectFrom('sms_outbox').selectAll().orderBy('id', 'desc').limit(OUTBOX_SIZE).execute();
        const messages = rows.map((row) => ({ id: row.id, ...openSms(ctx, row), created_at: row.created_at.toISOString() }));
        return { messages: request.query.to ? messages.filter((m) => m.to === request.query.to) : messages };
      },
    );
  };
