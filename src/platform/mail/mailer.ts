import type { Kysely } from 'kysely';
import type { AppContext } from '../context.js';
import { seal, unseal } from '../crypto/secrets.js';
import type { Database } from '../db/schema.js';
import { claim, errorText, type Queue, settle } from '../queue/queue.js';
import { createWorker, type Worker } from '../queue/worker.js';

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

/** Retries back off from 30 s, doubling, to at most an hour, for about three days (80 attempts). */
const QUEUE: Queue = {
  table: 'emails',
  done: { status: 'sent', at: 'sent_at' },
  leaseMs: 120_000,
  batch: 20,
  retry: { baseMs: 30_000, capMs: 3_600_000, maxAttempts: 80 },
};

/** Sends the email that is due (claimed from the queue of src/platform/queue/queue.ts); returns how many were sent. */
export async function deliverEmails(ctx: AppContext): Promise<number> {
  if (!ctx.config.smtpUrl) return 0;
  const claimed = await claim(ctx.db, QUEUE, ctx.clock.now());
  if (claimed.length === 0) return 0;
  const rows = await ctx.db
    .selectFrom('emails')
    .select(['id', 'recipient', 'subject', 'body_sealed'])
    .where(
      'id',
      'in',
      claimed.map((c) => c.id),
    )
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  let sent = 0;
  // Each outcome is recorded as soon as it is known: a node that dies mid-batch resends only the rest.
  for (const row of claimed) {
    const email = byId.get(row.id);
    try {
      if (!email) throw new Error('The message was deleted');
      await ctx.mailer.send({ to: email.recipient, subject: email.subject, ...openEmailBody(ctx, email) });
      await settle(ctx.db, QUEUE, ctx.clock.now(), [{ row, result: 'done' }]);
      sent++;
    } catch (error) {
      await settle(ctx.db, QUEUE, ctx.clock.now(), [{ row, result: 'failed', error: errorText(error) }]);
      ctx.log.warn({ email_id: row.id, attempts: row.attempts, err: errorText(error) }, 'Email not sent; will retry');
    }
  }
  return sent;
}

/** Sends due email in the background on this node, one pass, then a pause of `intervalMs`; `stop` waits for a pass in progress. */
export function startEmailWorker(ctx: AppContext, intervalMs = 1_000): Worker<number> {
  const worker = createWorker(ctx.log, 'Email delivery', () => deliverEmails(ctx), {
    idleMs: intervalMs,
    onStop: () => ctx.mailer.close(),
  });
  worker.start(intervalMs);
  return worker;
}
