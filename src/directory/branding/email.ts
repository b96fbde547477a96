import type { Kysely } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import type { Database } from '../../platform/db/schema.js';
import { type EmailMessage, queueEmail } from '../../platform/mail/mailer.js';
import { type BrandedEmail, type EmailWords, renderEmail } from '../../platform/mail/templates.js';
import { brandingOf } from './branding.js';

/** An email rendered in the branding of its tenant (read through `db`: a transaction's, inside one). */
export async function brandedEmail<K extends string>(
  db: Kysely<Database>,
  ctx: AppContext,
  email: BrandedEmail<K>,
  words: EmailWords<K>,
): Promise<EmailMessage> {
  return renderEmail(email, words, await brandingOf(ctx, email.tenantId, db));
}

/**
 * Renders and queues in the caller's transaction (sent when it commits; kept in the outbox
 * without SMTP). The branding is read through that transaction too: a second connection
 * would wait for the transaction's (forever, on PGlite's single connection).
 */
export async function sendEmail<K extends string>(
  db: Kysely<Database>,
  ctx: AppContext,
  email: BrandedEmail<K>,
  words: EmailWords<K>,
): Promise<string> {
  return queueEmail(db, ctx, await brandedEmail(db, ctx, email, words));
}
