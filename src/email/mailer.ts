import type { Kysely } from 'kysely';
import nodemailer, { type Transporter } from 'nodemailer';
import type { AppContext } from '../context.js';
import { seal, unseal } from '../crypto/secrets.js';
import type { Database } from '../db/schema.js';

/** One message; `text` is always there, `html` is its richer twin. */
export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** The tenant whose user or policy it concerns (for branding and audit). */
  tenantId?: string | null;
}

const BODY_CONTEXT = 'email-body';
/** Retries back off from 30 s, doubling, to at most an hour, for at most three days. */
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 3_600_000;
const MAX_ATTEMPTS = 80;
/** A claimed message is this node's for this long; if the node dies, another one retries. */
const LEASE_MS = 120_000;
const BATCH = 20;

/**
 * Queues a message in the caller's transaction, so it is sent exactly when the change
 * that sends it commits, and survives a restart until it is sent. Without SMTP (outside
 * production) it is kept in the development outbox instead (GET /api/v1/dev/outbox).
 */
export async function queueEmail(db: Kysely<Database>, ctx: AppContext, message: EmailMessage): Promise<string> {
  const id = ctx.ids.next();
  const now = ctx.clock.now();
  const body = JSON.stringify({ text: message.text, ...(message.html !== undefined && { html: message.html }) });
  await db
    .insertInto('emails')
    .values({
      id,
      tenant_id: message.tenantId ?? null,
      recipient: message.to,
      subject: message.subject,
      body_sealed: seal(ctx.masterKey, body, `${BODY_CONTEXT}:${id}`),
      status: ctx.config.smtpUrl ? 'pending' : 'kept',
      next_attempt_at: now,
      created_at: now,
    })
    .execute();
  // Only the recipient's domain and the subject: the body may hold a link or a code.
  ctx.log.info(
    { email_id: id, to_domain: message.to.split('@').pop(), subject: message.subject },
    ctx.config.smtpUrl ? 'Email queued' : 'Email kept in the development outbox (no GATEHOUSE_SMTP_URL)',
  );
  return id;
}

export function openEmailBody(ctx: AppContext, row: { id: string; body_sealed: string }): { text: string; html?: string } {
  return JSON.parse(unseal(ctx.masterKey, row.body_sealed, `${BODY_CONTEXT}:${row.id}`));
}

const transports = new WeakMap<AppContext, Transporter>();

function transportOf(ctx: AppContext): Transporter {
  let transport = transports.get(ctx);
  if (!transport) {
    transport = nodemailer.createTransport(ctx.config.smtpUrl, { from: ctx.config.smtpFrom });
    transports.set(ctx, transport);
  }
  return transport;
}

/**
 * Sends what is due: claims a batch (a lease, so nodes never send the same message at
 * once and a dead node's claim runs out), sends each outside any transaction, and records
 * the outcome. Returns how many were sent.
 */
export async function deliverEmails(ctx: AppContext): Promise<number> {
  if (!ctx.config.smtpUrl) return 0;
  const now = ctx.clock.now();
  const claimed = await ctx.db
    .updateTable('emails')
    .set((eb) => ({ next_attempt_at: new Date(now.getTime() + LEASE_MS), attempts: eb('attempts', '+', 1) }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('emails')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(BATCH)
        .forUpdate()
        .skipLocked(),
    )
    .returning(['id', 'recipient', 'subject', 'body_sealed', 'attempts'])
    .execute();
  let sent = 0;
  for (const email of claimed) {
    try {
      const body = openEmailBody(ctx, email);
      await transportOf(ctx).sendMail({ to: email.recipient, subject: email.subject, ...body });
      await ctx.db
        .updateTable('emails')
        .set({ status: 'sent', sent_at: ctx.clock.now(), last_error: null })
        .where('id', '=', email.id)
        .execute();
      sent++;
    } catch (error) {
      const retryIn = Math.min(FIRST_RETRY_MS * 2 ** (email.attempts - 1), MAX_RETRY_MS);
      const failed = email.attempts >= MAX_ATTEMPTS;
      await ctx.db
        .updateTable('emails')
        .set({
          status: failed ? 'failed' : 'pending',
          next_attempt_at: new Date(ctx.clock.now().getTime() + retryIn),
          last_error: String((error as Error).message).slice(0, 500),
        })
        .where('id', '=', email.id)
        .execute();
      ctx.log.warn({ email_id: email.id, attempts: email.attempts, err: (error as Error).message }, 'Email not sent; will retry');
    }
  }
  return sent;
}

/** Polls for due email every `intervalMs` on this node; `stop` waits for a pass in progress. */
export function startEmailWorker(ctx: AppContext, intervalMs = 1_000): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const pass = () => {
    if (stopped) return;
    running = running.then(() => deliverEmails(ctx)).catch((error: Error) => ctx.log.error({ err: error }, 'Email delivery pass failed'));
  };
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      transports.get(ctx)?.close();
    },
  };
}
