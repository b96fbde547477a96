import type { Db } from '../db/database.js';

/** A user's confirmed second factors, by type (otp, email, sms, webauthn, recovery-code). */
export type MfaFactors = Map<string, string[]>;

/**
 * The confirmed MFA factors of many users in one query (the access review must not ask
 * user by user). MFA factors are not stored on this branch yet (issue 4, src/mfa/): until
 * they are, no user has one, and every administrator is flagged `admin_without_mfa`.
 */
export async function confirmedFactors(_db: Db, _userIds: readonly string[]): Promise<MfaFactors> {
  return new Map();
}
