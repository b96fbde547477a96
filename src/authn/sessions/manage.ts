import type { Scope } from '../../directory/permissions/effective.js';
import { assertManageable } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { type EndedAccess, endUserAccess } from './revoke-access.js';

export interface SessionSummary {
  id: string;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  ip: string | null;
  user_agent: string | null;
  remember_me: boolean;
  current: boolean;
}

/** A user's live sessions, newest first (never a token or its hash). */
export async function listSessions(ctx: AppContext, userId: string, currentId: string | null): Promise<SessionSummary[]> {
  const now = ctx.clock.now();
  const rows = await ctx.db
    .selectFrom('sessions')
    .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'idle_expires_at', 'ip', 'user_agent', 'remember_me'])
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where('idle_expires_at', '>', now)
    .orderBy('id', 'desc')
    .limit(1000)
    .execute();
  return rows.map(({ idle_expires_at, expires_at, ...row }) => ({
    ...row,
    // The session ends at whichever comes first.
    expires_at: new Date(Math.min(idle_expires_at.getTime(), expires_at.getTime())),
    current: row.id === currentId,
  }));
}

/** Signs one of your own sessions out (another browser, a lost device). */
export async function revokeOwnSession(ctx: AppContext, actor: Actor, userId: string, sessionId: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const revoked = await trx
      .updateTable('sessions')
      .set({ revoked_at: ctx.clock.now() })
      .where('id', '=', sessionId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(revoked.numUpdatedRows) === 0) throw notFound('Session');
    await recordAudit(trx, ctx, {
      action: 'iam.user.logout',
      actor,
      target: { type: 'user', id: userId },
      details: { session_id: sessionId, revoked_by: 'user' },
    });
  });
}

/** An administrator signs a user out everywhere: every session and every refresh token (the rule of decision 180 applies). */
export async function revokeAllSessions(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<EndedAccess> {
  const user = await assertManageable(ctx, scope, actor, userId);
  return ctx.db.transaction().execute(async (trx) => {
    const ended = await endUserAccess(trx, ctx, userId);
    await recordAudit(trx, ctx, {
      action: 'iam.user.sessionsRevoked',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { sessions_revoked: ended.sessions, grants_revoked: ended.grants, backchannel_logouts: ended.notices },
    });
    return ended;
  });
}
