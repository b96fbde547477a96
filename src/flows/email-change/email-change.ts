import { verifyCurrentPassword } from '../../authn/passwords/change.js';
import { sendEmail } from '../../directory/branding/email.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { pickLocale } from '../../platform/i18n/index.js';
import { emailIs, normalizeEmail } from '../../platform/mail/address.js';
import { advanceFlow, closeFlows, createFlow, EMAILED_FLOWS, flowOf, peekLink, readFlow, spendCode, spendLink } from '../kit/flows.js';
import { translator } from '../kit/messages.js';
import { EMAIL_CHANGE, type EmailChangeFlow } from './flow.js';

/**
 * A user changes their own email address (decision 165): the current password first, then
 * a link and a code go to the NEW address, and the old address is told. Nothing changes
 * until the new address proves itself (the link confirmed with a click, or the code typed):
 * then the account takes the address, verified, and the old address is told again.
 * One pending change per user: a new request cancels the previous one.
 */
const localeOf = (user: Pick<User, 'locale'>) => pickLocale({ userLocale: user.locale });

function otherAccount(db: Db, email: string, userId: string) {
  return db
    .selectFrom('users')
    .select(['id', 'email', 'locale', 'given_name', 'name'])
    .where(emailIs(email))
    .where('id', '!=', userId)
    .executeTakeFirst();
}

export async function startEmailChange(
  ctx: AppContext,
  actor: Actor,
  user: User,
  input: { email: string; password: string },
): Promise<{ flow: EmailChangeFlow }> {
  const email = normalizeEmail(input.email);
  if (email.toLowerCase() === user.email.toLowerCase()) {
    throw new AppError('email_unchanged', 'This is already your email address', { field: 'email' });
  }
  await verifyCurrentPassword(ctx, actor, user, input.password, 'password');
  return ctx.db.transaction().execute((trx) => requestEmailChange(trx, ctx, actor, user, email));
}

/**
 * Starts the change of a user's address to `email` (by the user, or by a tenant administrator:
 * decision 188), answering alike whether another account uses the address or not (decision
 * 189): the flow is made either way, the old address is told either way; a free address gets
 * the link and the code, a taken one gets a notice to its owner instead (nothing that moves
 * it), and confirming can never take it (applyEmailChange checks again).
 */
export async function requestEmailChange(
  trx: Db,
  ctx: AppContext,
  actor: Actor,
  user: User,
  email: string,
): Promise<{ flow: EmailChangeFlow }> {
  const locale = localeOf(user);
  // The email's branding is read in this transaction (one connection on PGlite: ctx.db would wait for it).
  const inTrx = { ...ctx, db: trx };
  const owner = await otherAccount(trx, email, user.id);
  await closeFlows(trx, ctx, user.id, ['email_change']);
  const { flow, link, code } = await createFlow(trx, ctx, EMAIL_CHANGE, {
    state: 'sent',
    channel: 'api',
    tenantId: user.home_tenant_id,
    userId: user.id,
    email,
    locale,
    data: { old_email: user.email },
    link: true,
    code: true,
  });
  const common = { tenantId: user.home_tenant_id, locale, name: user.given_name ?? user.name };
  if (owner) {
    await sendEmail(
      trx,
      inTrx,
      {
        tenantId: user.home_tenant_id,
        locale: owner.locale ? localeOf(owner) : locale,
        name: owner.given_name ?? owner.name,
        to: owner.email,
        subject: 'account.email_change_taken_subject',
        paragraphs: [{ key: 'account.email_change_taken_body' }],
      },
      translator,
    );
  } else {
    await sendEmail(
      trx,
      inTrx,
      {
        ...common,
        to: email,
        subject: 'account.email_change_confirm_subject',
        paragraphs: [{ key: 'account.email_change_confirm_body', vars: { email } }],
        action: {
          label: 'account.email_change_confirm_button',
          url: `${ctx.config.issuer}/account/email/confirm?token=${encodeURIComponent(link as string)}`,
        },
        code: code as string,
      },
      translator,
    );
  }
  await sendEmail(
    trx,
    inTrx,
    {
      ...common,
      to: user.email,
      subject: 'account.email_change_notice_subject',
      paragraphs: [{ key: 'account.email_change_notice_body', vars: { email } }, { key: 'account.email_change_not_you' }],
    },
    translator,
  );
  await recordAudit(trx, ctx, {
    action: 'iam.user.emailChangeRequested',
    actor,
    tenantId: user.home_tenant_id,
    target: { type: 'user', id: user.id },
    details: { old_email: user.email, new_email: email, flow_id: flow.id },
  });
  return { flow };
}

/** The new address proved itself: the account takes it (unless another account took it meanwhile). */
async function applyEmailChange(ctx: AppContext, actor: Actor, flow: EmailChangeFlow): Promise<User> {
  // An email change always names its user and the new address (requestEmailChange).
  const { email: newEmail, user_id: userId } = flow;
  if (!newEmail || !userId) throw new AppError('flow_not_found', 'This account no longer exists');
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('users').selectAll().where('id', '=', userId).forUpdate().executeTakeFirst();
      if (!before) throw new AppError('flow_not_found', 'This account no longer exists');
      // A pending (invited) account may take an address an administrator changed for it (decision 188).
      if (before.status === 'disabled') throw new AppError('account_disabled', 'This account is disabled');
      const inTrx = { ...ctx, db: trx };
      if (await otherAccount(trx, newEmail, before.id)) throw new AppError('email_taken', 'Another account uses this email address');
      const user = await trx
        .updateTable('users')
        .set({ email: newEmail, email_verified: true, updated_at: ctx.clock.now() })
        .where('id', '=', before.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await advanceFlow(trx, ctx, flow, { state: 'done' });
      // Links and codes already sent to the old address die with it (it may be the compromised mailbox).
      await closeFlows(trx, ctx, user.id, EMAILED_FLOWS);
      const locale = localeOf(user);
      await sendEmail(
        trx,
        inTrx,
        {
          to: before.email,
          tenantId: user.home_tenant_id,
          locale,
          name: user.given_name ?? user.name,
          subject: 'account.email_changed_subject',
          paragraphs: [{ key: 'account.email_changed_body', vars: { email: newEmail } }, { key: 'account.email_change_not_you' }],
        },
        translator,
      );
      await recordAudit(trx, ctx, {
        action: 'iam.user.emailChanged',
        actor: { ...actor, type: 'user', id: actor.id ?? user.id },
        tenantId: user.home_tenant_id,
        target: { type: 'user', id: user.id },
        details: { old_email: before.email, new_email: newEmail, flow_id: flow.id },
      });
      return user;
    });
  } catch (error) {
    const taken = isUniqueViolation(error, 'users_email_key') || (error instanceof AppError && error.code === 'email_taken');
    if (!taken) throw error;
    await markFailed(ctx, flow);
    throw new AppError('email_taken', 'Another account uses this email address now; start again with another one', { field: 'email' });
  }
}

/** The flow of a change another account's address won: `failed`, whatever state it was in (no compare-and-set). */
async function markFailed(ctx: AppContext, flow: EmailChangeFlow): Promise<void> {
  const state: EmailChangeFlow['state'] = 'failed';
  await ctx.db.updateTable('flows').set({ state, updated_at: ctx.clock.now() }).where('id', '=', flow.id).execute();
}

/** The emailed link, confirmed with a click (a POST: mail scanners follow links, they do not submit forms). */
export async function confirmEmailChangeLink(ctx: AppContext, actor: Actor, token: string): Promise<User> {
  const flow = await spendLink(ctx.db, ctx, EMAIL_CHANGE, token, 'confirmed');
  return applyEmailChange(ctx, actor, flow);
}

/** The emailed code, typed by the signed-in user who asked for the change. */
export async function confirmEmailChangeCode(ctx: AppContext, actor: Actor, userId: string, flowId: string, code: string): Promise<User> {
  const flow = await readFlow(ctx.db, ctx, EMAIL_CHANGE, flowId);
  if (flow.user_id !== userId) throw new AppError('flow_not_found', 'This flow does not exist; start again');
  if (flow.state !== 'sent') throw new AppError('flow_state', 'This change was confirmed or cancelled already');
  const spent = await spendCode(ctx.db, ctx, flow, code, actor, 'confirmed');
  return applyEmailChange(ctx, actor, spent);
}

/** The pending change of a user, if any (the page that asks for the code shows it). */
export async function pendingEmailChange(ctx: AppContext, userId: string): Promise<EmailChangeFlow | undefined> {
  const row = await ctx.db
    .selectFrom('flows')
    .selectAll()
    .where('user_id', '=', userId)
    .where('kind', '=', 'email_change')
    .where('state', '=', 'sent')
    .where('expires_at', '>', ctx.clock.now())
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return row && flowOf(EMAIL_CHANGE, row);
}

/** The change an emailed link names, not spent (its page asks for a click first: mail scanners follow links). */
export const peekEmailChange = (ctx: AppContext, token: string) => peekLink(ctx.db, ctx, EMAIL_CHANGE, token);
