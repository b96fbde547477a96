import type { AppContext } from '../context.js';
import type { Db } from '../db/database.js';
import { queueEmail } from '../email/mailer.js';
import { type BrandedEmail, renderEmail } from '../email/templates.js';

/**
 * `sendEmail` inside a transaction, with the branding read in that transaction too: on
 * PGlite (one connection) a read through `ctx.db` while the transaction holds the
 * connection would wait for ever.
 */
export async function sendEmailIn(trx: Db, ctx: AppContext, email: BrandedEmail): Promise<string> {
  return queueEmail(trx, ctx, await renderEmail({ ...ctx, db: trx }, email));
}
