import { endSessions } from '../../authn/sessions/manage.js';
import type { AuditSource } from '../../platform/audit/record.js';
import type { Db } from '../../platform/db/database.js';
import type { EndedAccess, UserAccess } from '../../platform/ports/user-access.js';
import { queueBackchannelLogouts } from '../backchannel/queue.js';
import { endEngineSessions, grantsOfUser, revokeGrants } from '../engine/revocation.js';

/**
 * Ends every way a user is signed in, inside the caller's transaction: every Gatehouse
 * session, every OAuth grant (its codes, access tokens and refresh tokens, so a refresh
 * fails and introspection says inactive at once), and the engine's browser sessions; and
 * queues a back-channel logout for each application with a logout URI that held a grant.
 * `keepSessionId` spares the session a user changed their own password with.
 */
export async function endUserAccess(trx: Db, source: AuditSource, userId: string, keepSessionId?: string): Promise<EndedAccess> {
  const sessions = await endSessions(trx, source.clock, userId, keepSessionId);
  const { grants, notices } = await endOAuthGrants(trx, source, userId);
  await endEngineSessions(trx, userId);
  return { sessions, grants, notices };
}

/**
 * Revokes a user's OAuth grants (all, or one application's) inside the caller's
 * transaction, queueing a back-channel logout for each application with a logout URI.
 */
export async function endOAuthGrants(
  trx: Db,
  source: AuditSource,
  userId: string,
  clientId?: string,
): Promise<{ grants: number; notices: number }> {
  const grants = await grantsOfUser(trx, userId, clientId);
  const notices = await queueBackchannelLogouts(
    trx,
    source,
    grants.map((g) => ({ clientId: g.clientId, userId, sid: g.sid })),
  );
  await revokeGrants(
    trx,
    grants.map((g) => g.id),
  );
  return { grants: grants.length, notices };
}

/** The context's port (src/platform/ports/user-access.ts), wired in src/main/gatehouse.ts. */
export const userAccess: UserAccess = { end: endUserAccess };
