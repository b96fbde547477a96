import type { AuditSource } from '../audit/record.js';
import type { Db } from '../db/database.js';

/** What ending a user's access ended. */
export interface EndedAccess {
  /** Gatehouse sessions revoked. */
  sessions: number;
  /** OAuth grants revoked (each with its codes, access and refresh tokens). */
  grants: number;
  /** Back-channel logout notices queued. */
  notices: number;
}

/**
 * The port that ends every way a user is signed in (src/oauth/access/end-access.ts):
 * only oauth/ knows the OAuth grants, so authn/ (a password change, an administrator's
 * "sign out everywhere") reaches them through the context (decision 221); oauth/ and the
 * layers above it import the operation itself.
 */
export interface UserAccess {
  /** Inside the caller's transaction; `keepSessionId` spares the session a user changed their own password with. */
  end(trx: Db, source: AuditSource, userId: string, keepSessionId?: string): Promise<EndedAccess>;
}
