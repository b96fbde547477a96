import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

/** A user's confirmed second factors, by type (otp, email, sms, webauthn). */
export type MfaFactors = Map<string, string[]>;

/**
 * The confirmed MFA factor types of many users in one query (the access review must not
 * ask user by user, as `listFactors` of src/mfa/ does). Recovery codes alone do not count:
 * they back up a factor, they are not one. The ids go as one array parameter: a tenant of
 * 100,000 members is more than PostgreSQL's 65,535 parameters of one statement.
 */
export async function confirmedFactors(db: Db, userIds: readonly string[]): Promise<MfaFactors> {
  const result: MfaFactors = new Map();
  if (userIds.length === 0) return result;
  const rows = await db
    .selectFrom('mfa_factors')
    .select(['user_id', 'type'])
    .distinct()
    .where(sql<boolean>`user_id = any(${[...userIds]}::uuid[])`)
    .where('confirmed', '=', true)
    .orderBy('user_id')
    .orderBy('type')
    .execute();
  for (const row of rows) result.set(row.user_id, [...(result.get(row.user_id) ?? []), row.type]);
  return result;
}
