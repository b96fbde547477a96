import type { AppContext } from '../../platform/context.js';
import { seal, unseal } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import { runTrigger } from '../../platform/ports/actions.js';

/** A way to send a text message; chosen once from the configuration. */
export interface SmsSender {
  send(to: string, body: string, about?: SmsAbout): Promise<void>;
}

/** Whom and what a text is for: the send-phone-message actions' event. */
export interface SmsAbout {
  tenantId?: string | null;
  userId?: string;
  action?: 'second-factor-authentication' | 'enrollment' | 'passwordless';
}

const WEBHOOK_TIMEOUT_MS = 5_000;
const WEBHOOK_ATTEMPTS = 2;
const BODY_CONTEXT = 'sms-outbox';

/**
 * GATEHOUSE_SMS_WEBHOOK_URL: POSTs JSON `{to, body}` (the gateway of your choice turns it
 * into a text message); a 2xx answer is success. A timeout, a network error or a 5xx is
 * tried once more; then the code is not sent and the caller gets `502 delivery_failed`.
 */
function webhookSender(ctx: AppContext, url: string): SmsSender {
  return {
    async send(to, body) {
      let problem = '';
      for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ to, body }),
            signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
          });
          await response.arrayBuffer();
          if (response.ok) return;
          problem = `HTTP ${response.status}`;
          if (response.status < 500) break;
        } catch (error) {
          problem = (error as Error).name === 'TimeoutError' ? 'timeout' : (error as Error).message;
        }
      }
      // Never the number or the body: the body holds the code.
      ctx.log.warn({ problem }, 'SMS webhook failed');
      throw new AppError('delivery_failed', 'The text message could not be sent; try again later');
    },
  };
}

/**
 * Without a webhook (outside production) a message is kept, sealed, in the development
 * SMS outbox (GET /api/v1/dev/sms); the log says only that one was sent, never the code.
 */
function developmentSender(ctx: AppContext): SmsSender {
  return {
    async send(to, body) {
      const id = ctx.ids.next();
      await ctx.db
        .insertInto('sms_outbox')
        .values({
          id,
          recipient_sealed: seal(ctx.masterKey, to, `${BODY_CONTEXT}:to:${id}`),
          body_sealed: seal(ctx.masterKey, body, `${BODY_CONTEXT}:body:${id}`),
          created_at: ctx.clock.now(),
        })
        .execute();
      ctx.log.info({ sms_id: id }, 'Text message kept in the development SMS outbox (no GATEHOUSE_SMS_WEBHOOK_URL)');
    },
  };
}

function configuredSender(ctx: AppContext): SmsSender {
  if (ctx.config.smsWebhookUrl) return webhookSender(ctx, ctx.config.smsWebhookUrl);
  if (ctx.config.production) {
    return {
      send: () => Promise.reject(new AppError('factor_not_allowed', 'SMS is not configured on this server (GATEHOUSE_SMS_WEBHOOK_URL)')),
    };
  }
  return developmentSender(ctx);
}

/**
 * The SMS port: the send-phone-message actions (Auth0's "your own SMS provider") send the
 * text when one is bound for the tenant or the system; otherwise the configured sender does.
 */
export function smsSender(ctx: AppContext): SmsSender {
  const configured = configuredSender(ctx);
  return {
    async send(to, body, about = {}) {
      const result = await runTrigger(ctx, 'send-phone-message', {
        tenantId: about.tenantId ?? null,
        ...(about.userId && { userId: about.userId }),
        extra: {
          message_options: { phone_number: to, text: body, message_type: 'sms', action: about.action ?? 'second-factor-authentication' },
        },
      });
      if (result.ran === 0) return configured.send(to, body);
      if (result.denied) throw new AppError('delivery_failed', 'The text message could not be sent; try again later');
    },
  };
}

export function openSms(ctx: AppContext, row: { id: string; recipient_sealed: string; body_sealed: string }) {
  return {
    to: unseal(ctx.masterKey, row.recipient_sealed, `${BODY_CONTEXT}:to:${row.id}`),
    body: unseal(ctx.masterKey, row.body_sealed, `${BODY_CONTEXT}:body:${row.id}`),
  };
}
