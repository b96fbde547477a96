import { type Actor, recordAudit, SYSTEM_ACTOR } from '../audit/record.js';
import type { AppContext } from '../context.js';
import { randomToken, sha256 } from '../crypto/secrets.js';
import { queueEmail } from '../email/mailer.js';
import type { AttemptKey, FailureOutcome, LockoutRules } from './store.js';

/** The email a user gets when sign-in from one address is blocked (strings kept together for a later catalog). */
const BLOCKED_EMAIL = {
  subject: (brand: string) => `${brand}: sign-in from one address blocked`,
  text: (p: { brand: string; email: string; ip: string; failures: number; days: number; link: string }) =>
    [
      `Someone tried ${p.failures} times in a row to sign in to your ${p.brand} account (${p.email}) from the address ${p.ip}, with a wrong password or code.`,
      `We have blocked sign-in to your account from that address for ${p.days} days. Sign-in from other addresses works as before.`,
      '',
      `If it was you, unblock the address here: ${p.link}`,
      '',
      'If it was not you, you need do nothing; consider choosing a new password.',
    ].join('\n'),
};

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
  const locked = key.userId !== null && (failures === rules.accountThreshold || failures === rules.hardLimit);
  if (!locked && !outcome.pairBlockedUntil && !outcome.ipBlockedUntil) return;
  const actor: Actor = { ...SYSTEM_ACTOR, ip: key.ip };
  const target = key.userId ? { target: { type: 'user', id: key.userId } } : {};
  await ctx.db.transaction().execute(async (trx) => {
    if (locked) {
      const hard = failures === rules.hardLimit;
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
          .select(['u.email', 't.name as tenant_name'])
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
          const brand = user.tenant_name ?? 'Gatehouse';
          await queueEmail(trx, ctx, {
            to: user.email,
            tenantId: record.tenantId,
            subject: BLOCKED_EMAIL.subject(brand),
            text: BLOCKED_EMAIL.text({
              brand,
              email: user.email,
              ip: key.ip,
              failures: rules.pairThreshold,
              days: Math.round(rules.pairBlockSeconds / 86_400),
              link: `${ctx.config.issuer}/unblock?token=${encodeURIComponent(token)}`,
            }),
          });
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
