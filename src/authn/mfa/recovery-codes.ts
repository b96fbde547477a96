import { createHmac, randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import type { Database } from '../../platform/db/schema.js';

/** How many recovery codes a user holds; each works once. */
export const RECOVERY_CODE_COUNT = 10;
/** 24 characters of a 32-letter alphabet without look-alikes (I, L, O, U): 120 bits, Auth0's length. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 24;

function newCode(): string {
  let code = '';
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code;
}

/** What a user may type: any case, spaces or dashes between groups. */
export const normalizeRecoveryCode = (code: string) => code.replace(/[\s-]/g, '').toUpperCase();

/**
 * Recovery codes are high-entropy random values, so a keyed fast hash (HMAC under the
 * master key, bound to the user) loses nothing against a slow one (docs/architecture.md#domain-model, as
 * for client secrets); the database finds a code by its hash.
 */
export const recoveryCodeHash = (ctx: AppContext, userId: string, code: string) =>
  createHmac('sha256', ctx.masterKey)
    .update(`mfa-recovery-code\0${userId}\0${normalizeRecoveryCode(code)}`, 'utf8')
    .digest();

/** Replaces every recovery code of the user with `count` fresh ones; returns them (shown once). */
export async function issueRecoveryCodes(
  db: Kysely<Database>,
  ctx: AppContext,
  userId: string,
  count = RECOVERY_CODE_COUNT,
): Promise<string[]> {
  await db.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
  return addRecoveryCodes(db, ctx, userId, count);
}

export async function addRecoveryCodes(db: Kysely<Database>, ctx: AppContext, userId: string, count: number): Promise<string[]> {
  const now = ctx.clock.now();
  const codes = Array.from({ length: count }, newCode);
  await db
    .insertInto('mfa_recovery_codes')
    .values(codes.map((code) => ({ id: ctx.ids.next(), user_id: userId, code_hash: recoveryCodeHash(ctx, userId, code), created_at: now })))
    .execute();
  return codes;
}

/** Spends one code if it is the user's and unspent (one conditional update: two racing requests cannot both spend it). */
export async function spendRecoveryCode(db: Kysely<Database>, ctx: AppContext, userId: string, code: string): Promise<boolean> {
  if (normalizeRecoveryCode(code).length !== LENGTH) return false;
  const spent = await db
    .updateTable('mfa_recovery_codes')
    .set({ used_at: ctx.clock.now() })
    .where('user_id', '=', userId)
    .where('code_hash', '=', recoveryCodeHash(ctx, userId, code))
    .where('used_at', 'is', null)
    .returning('id')
    .executeTakeFirst();
  return spent !== undefined;
}
