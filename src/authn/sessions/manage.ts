import type { Scope } from '../../directory/permissions/effective.js';
import { assertManageable } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { notFound } from '../../platform/errors.js';
import type { Clock } from '../../platform/ids.js';
import type { EndedAccess } from '../../platform/ports/user-access.js';

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

/**
 * Revokes a user's Gatehouse sessions (all but `keepSessionId`) and the sign-ins half done
 * (password proved, second factor pending), inside the caller's transaction; returns how
 * many sessions. Ending every way a user is signed in adds the OAuth grants: the context's
 * `access` port (src/oauth/access/end-access.ts).
 */
export async function endSessions(trx: Db, clock: Clock, userId: string, keepSessionId?: string): Promise<number> {
  let revoke = trx.updateTable('sessions').set({ revoked_at: clock.now() }).where('user_id', '=', userId).where('revoked_at', 'is', null);
  if (keepSessionId) revoke = revoke.where('id', '!=', keepSessionId);
  const sessions = await revoke.returning('id').execute();
  await trx.deleteFrom('mfa_tokens').where('user_id', '=', userId).execute();
  await trx.deleteFrom('mfa_interactions').where('user_id', '=', userId).execute();
  return sessions.length;
}

/** An administrator signs a user out everywhere: every session and every refresh token (the rule of decision 180 applies). */
export async function revokeAllSessions(ctx: AppContext, scope: Scope, actor: Actor, userId: string): Promise<EndedAccess> {
  const user = await assertManageable(ctx, scope, actor, userId);
  return ctx.db.transaction().execute(async (trx) => {
    const ended = await ctx.access.end(trx, ctx, userId);
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
