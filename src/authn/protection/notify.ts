import { sendEmail } from '../../directory/branding/email.js';
import { type Actor, recordAudit, SYSTEM_ACTOR } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { randomToken, sha256 } from '../../platform/crypto/secrets.js';
import { supportedLocale, translator } from '../../platform/i18n/index.js';
import type { AttemptKey, FailureOutcome, LockoutRules } from '../../platform/ports/protection.js';

export interface BlockRecord {
  key: AttemptKey;
  tenantId: string | null;
  rules: LockoutRules;
  /** The account's consecutive failures with this one. */
  failures: number;
  outcome: FailureOutcome;
  now: Date;
}

/**
 * After a failure: the audit events of what it started (a lockout, the hard limit, a
 * blocked pair or address), and the user's unblock email, in one transaction.
 */
export async function recordBlocks(ctx: AppContext, record: BlockRecord): Promise<void> {
  const { key, rules, failures, outcome } = record;
  // The account's lock starts with the stricter of the deployment's and the home tenant's (quiet) numbers.
  const backoffAt = Math.min(rules.accountThreshold, rules.quiet.accountThreshold);
  const hardAt = Math.min(rules.hardLimit, rules.quiet.hardLimit);
  const locked = key.userId !== null && (failures === backoffAt || failures === hardAt);
  if (!locked && !outcome.pairBlockedUntil && !outcome.ipBlockedUntil) return;
  const actor: Actor = { ...SYSTEM_ACTOR, ip: key.ip };
  const target = key.userId ? { target: { type: 'user', id: key.userId } } : {};
  await ctx.db.transaction().execute(async (trx) => {
    if (locked) {
      const hard = failures === hardAt;
      await recordAudit(trx, ctx, {
        action: 'iam.user.locked',
        actor,
        tenantId: record.tenantId,
        ...target,
        details: { kind: key.kind, failures, reason: hard ? 'hard_limit' : 'backoff' },
      });
    }
    if (outcome.pairBlockedUntil && key.ip) {
      await recordAudit(trx, ctx, {
        action: 'iam.ip.blocked',
        actor,
        tenantId: record.tenantId,
        ...target,
        details: {
          reason: 'account_and_address',
          kind: key.kind,
          ip: key.ip,
          blocked_until: outcome.pairBlockedUntil.toISOString(),
          ...(!key.userId && { login_fingerprint: key.subject.slice('login:'.length) }),
        },
      });
      if (key.userId) {
        const user = await trx
          .selectFrom('users as u')
          .leftJoin('tenants as t', 't.id', 'u.home_tenant_id')
          .select(['u.email', 'u.locale', 'u.name'])
          .where('u.id', '=', key.userId)
          .executeTakeFirst();
        if (user) {
          const token = randomToken('ghu');
          await trx
            .insertInto('unblock_tokens')
            .values({
              token_hash: sha256(token),
              user_id: key.userId,
              kind: key.kind,
              ip: key.ip,
              expires_at: outcome.pairBlockedUntil,
              created_at: record.now,
            })
            .execute();
          // The user's language (English without one), the tenant's branding: src/i18n/messages/emails.ts.
          await sendEmail(
            trx,
            ctx,
            {
              to: user.email,
              tenantId: record.tenantId,
              locale: supportedLocale(user.locale) ?? 'en',
              name: user.name,
              subject: 'mail.blocked_subject',
              paragraphs: [
                { key: 'mail.blocked_attempts', vars: { failures: rules.pairThreshold, email: user.email, ip: key.ip } },
                { key: 'mail.blocked_days', vars: { days: Math.round(rules.pairBlockSeconds / 86_400) } },
                { key: 'mail.blocked_not_you' },
                { key: 'mail.blocked_if_you' },
              ],
              action: { label: 'mail.blocked_action', url: `${ctx.config.issuer}/unblock?token=${encodeURIComponent(token)}` },
            },
            translator,
          );
        }
      }
    }
    if (outcome.ipBlockedUntil && key.ip) {
      await recordAudit(trx, ctx, {
        action: 'iam.ip.blocked',
        actor,
        details: { reason: 'address_throttle', ip: key.ip, blocked_until: outcome.ipBlockedUntil.toISOString() },
      });
    }
  });
}
