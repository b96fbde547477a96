import type { Scope } from '../../directory/permissions/effective.js';
import { tenantPolicies } from '../../directory/policies/policies.js';
import { assertManageable, getUser } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { sha256 } from '../../platform/crypto/secrets.js';
import { announceChange } from '../../platform/db/change-feed.js';
import { forgetRefusals, lockoutRules, systemPolicies } from './guard.js';
import { lockSeconds } from './store.js';

export interface LockoutView {
  user_id: string;
  /** Password sign-in (or another kind) refused now: a running lockout or the hard limit. */
  locked: boolean;
  hard_locked: boolean;
  locked_until: Date | null;
  attempts: { kind: string; failures: number; locked_until: Date | null; hard_locked: boolean }[];
  addresses: { kind: string; ip: string; failures: number; blocked_until: Date | null; throttled_until: Date | null }[];
}

/**
 * A user's brute-force state, as an administrator who may read the user sees it: locked
 * also by the home tenant's quiet backoff (decision 210). The failures themselves (their
 * counts and the addresses they came from) are read in system scope and by the user's home
 * tenant only: a tenant the user is merely a member of learns whether they are locked, not
 * what happened elsewhere (decision 212).
 */
export async function getLockout(ctx: AppContext, scope: Scope, userId: string): Promise<LockoutView> {
  const user = await getUser(ctx, scope, userId);
  const now = ctx.clock.now();
  const state = await ctx.protection.store.state(userId, now);
  const system = await systemPolicies(ctx);
  const { quiet } = lockoutRules(user.home_tenant_id ? await tenantPolicies(ctx, user.home_tenant_id) : system, system);
  const live = (until: Date | null) => (until && until > now ? until : null);
  const later = (a: Date | null, b: Date | null) => (a && (!b || a > b) ? a : b);
  const attempts = state.accounts.map(({ updated_at, ...a }) => {
    const quietSeconds = lockSeconds(quiet, a.failures);
    const quietUntil = quietSeconds === null ? null : new Date(updated_at.getTime() + quietSeconds * 1000);
    return { ...a, hard_locked: a.hard_locked || a.failures >= quiet.hardLimit, locked_until: live(later(a.locked_until, quietUntil)) };
  });
  const throttled = new Map(state.ips.map((ip) => [ip.ip, ip.blocked_until]));
  const lockedUntil = attempts.reduce<Date | null>((max, a) => later(a.locked_until, max), null);
  const hardLocked = attempts.some((a) => a.hard_locked);
  const readsFailures = scope.kind === 'system' || user.home_tenant_id === scope.tenantId;
  return {
    user_id: userId,
    locked: hardLocked || lockedUntil !== null,
    hard_locked: hardLocked,
    locked_until: lockedUntil,
    attempts: readsFailures ? attempts : [],
    addresses: readsFailures
      ? state.pairs.map((p) => ({ ...p, blocked_until: live(p.blocked_until), throttled_until: live(throttled.get(p.ip) ?? null) }))
      : [],
  };
}

/** An administrator unlocks a user: every count, lockout, hard lock and blocked address of theirs ends. */
export async function clearLockout(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<void> {
  const user = await assertManageable(ctx, scope, actor, userId);
  await endProtection(ctx, actor, userId, user.home_tenant_id, 'administrator');
}

/**
 * Ends a user's lockouts and pair blocks (an administrator's unlock, or a password change
 * or reset: the blocks guard the old password). Recorded when there was something to end.
 */
export async function endProtection(
  ctx: AppContext,
  actor: Actor,
  userId: string,
  tenantId: string | null,
  reason: 'administrator' | 'password_changed',
): Promise<void> {
  // A new password ends what guarded the old one; failed second factors stay counted, or
  // someone who knows the password could reset their count by changing it.
  const removed = await ctx.protection.store.clearUser(userId, reason === 'password_changed' ? ['password'] : undefined);
  forgetRefusals(ctx);
  // The counters may live in Redis, which no watched table records: the other nodes are told here.
  await announceChange(ctx.db, 'protection');
  await ctx.db.transaction().execute(async (trx) => {
    const links = await trx
      .updateTable('unblock_tokens')
      .set({ used_at: ctx.clock.now() })
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (removed === 0 && Number(links.numUpdatedRows) === 0 && reason !== 'administrator') return;
    await recordAudit(trx, ctx, {
      action: 'iam.user.unlocked',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
      details: { reason },
    });
  });
}

export interface UnblockLink {
  userId: string;
  ip: string;
}

/** The link of a "sign-in blocked" email, if it is still good (not used, not expired). */
export async function readUnblockLink(ctx: AppContext, token: string): Promise<UnblockLink | undefined> {
  const row = await ctx.db
    .selectFrom('unblock_tokens')
    .select(['user_id', 'ip'])
    .where('token_hash', '=', sha256(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', ctx.clock.now())
    .executeTakeFirst();
  return row && { userId: row.user_id, ip: row.ip };
}

/** Follows the link: ends that one pair block, once. False when the link is used, expired or unknown. */
export async function unblockWithLink(ctx: AppContext, token: string, actor: Actor): Promise<boolean> {
  const now = ctx.clock.now();
  const used = await ctx.db
    .updateTable('unblock_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', sha256(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning(['user_id', 'kind', 'ip'])
    .executeTakeFirst();
  if (!used) return false;
  await ctx.protection.store.clearPair(used.user_id, used.kind, used.ip);
  forgetRefusals(ctx);
  await announceChange(ctx.db, 'protection');
  const user = await ctx.db.selectFrom('users').select('home_tenant_id').where('id', '=', used.user_id).executeTakeFirst();
  await recordAudit(ctx.db, ctx, {
    action: 'iam.user.unlocked',
    actor: { ...actor, type: 'user', id: used.user_id },
    tenantId: user?.home_tenant_id ?? null,
    target: { type: 'user', id: used.user_id },
    details: { reason: 'unblock_link', kind: used.kind, ip: used.ip },
  });
  return true;
}
