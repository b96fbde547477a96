import type { Kysely } from 'kysely';
import { type Policies, tenantPolicies } from '../../directory/policies/policies.js';
import type { AppContext } from '../../platform/context.js';
import type { Database } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { systemPolicies } from '../protection/guard.js';
import { isBreachedPassword } from './breached.js';
import { isCommonPassword } from './deny-list.js';

export type PasswordPolicy = Policies['password'];

/** Who the password is for: what it must not contain, and whose history it must not repeat. */
export interface PasswordOwner {
  id?: string;
  email?: string | null;
  username?: string | null;
  name?: string | null;
  given_name?: string | null;
  family_name?: string | null;
  /** The current hash, also "a previous password" when history applies. */
  password_hash?: string | null;
}

/** The rules in words, for the hosted pages and custom sign-up forms (strings kept together). */
export function passwordRulesText(policy: PasswordPolicy): string[] {
  return [
    `At least ${policy.min_length} characters, at most ${policy.max_length}.`,
    'Not one of the 100,000 most common passwords.',
    'Not containing your email address or your name.',
    ...(policy.history > 0 ? [`Not one of your last ${policy.history} passwords.`] : []),
    ...(policy.check_breached ? ['Not found in a known data breach (checked with Have I Been Pwned, anonymously).'] : []),
  ];
}

/** The password policy of a user's home tenant; the system tenant's for a user without one. */
export async function passwordPolicyFor(ctx: AppContext, tenantId: string | null): Promise<PasswordPolicy> {
  return (tenantId ? await tenantPolicies(ctx, tenantId) : await systemPolicies(ctx)).password;
}

/** Name parts and the email (whole and its local part) that a password may not contain: 4 characters or more. */
function personalParts(owner: PasswordOwner): string[] {
  const parts = new Set<string>();
  const add = (value: string | null | undefined) => {
    const lower = value?.trim().toLowerCase();
    if (lower && [...lower].length >= 4) parts.add(lower);
  };
  add(owner.email);
  add(owner.email?.split('@')[0]);
  add(owner.username);
  for (const field of [owner.name, owner.given_name, owner.family_name]) {
    add(field);
    for (const word of field?.split(/[\s.,'’_-]+/) ?? []) add(word);
  }
  return [...parts];
}

/**
 * Every place a password is set calls this (before hashing it). Each refusal names its
 * rule with a stable code: password_too_short, password_too_long,
 * password_contains_user_info, password_too_common, password_reused, password_breached.
 */
export async function assertPasswordAllowed(
  ctx: AppContext,
  tenantId: string | null,
  password: string,
  owner: PasswordOwner,
): Promise<void> {
  const policy = await passwordPolicyFor(ctx, tenantId);
  const length = [...password].length;
  if (length < policy.min_length) {
    throw new AppError('password_too_short', `A password has at least ${policy.min_length} characters`, { rule: 'min_length' });
  }
  if (length > policy.max_length) {
    throw new AppError('password_too_long', `A password has at most ${policy.max_length} characters`, { rule: 'max_length' });
  }
  const lower = password.toLowerCase();
  if (personalParts(owner).some((part) => lower.includes(part))) {
    throw new AppError('password_contains_user_info', 'A password may not contain your email address or name');
  }
  if (await isCommonPassword(password)) {
    throw new AppError('password_too_common', 'This password is one of the most common ones; choose another');
  }
  if (policy.history > 0 && owner.id && (await isRecentPassword(ctx, owner, password, policy.history))) {
    throw new AppError('password_reused', `A password may not be one of your last ${policy.history}`);
  }
  if (policy.check_breached && (await isBreachedPassword(ctx, password))) {
    throw new AppError('password_breached', 'This password has appeared in a data breach; choose another');
  }
}

/** The current password and the previous ones the policy remembers (costs one hash each, only on a change). */
async function isRecentPassword(ctx: AppContext, owner: PasswordOwner, password: string, keep: number): Promise<boolean> {
  const previous = await ctx.db
    .selectFrom('password_history')
    .select('password_hash')
    .where('user_id', '=', owner.id!)
    .orderBy('created_at', 'desc')
    .limit(keep)
    .execute();
  const hashes = [owner.password_hash, ...previous.map((row) => row.password_hash)].filter((hash): hash is string => !!hash);
  for (const hash of new Set(hashes)) if (await ctx.passwords.verify(hash, password)) return true;
  return false;
}

/** Remembers a newly set password's hash (when the policy keeps a history), keeping only the last `keep`. */
export async function rememberPassword(db: Kysely<Database>, ctx: AppContext, userId: string, hash: string, keep: number): Promise<void> {
  if (keep > 0) {
    await db
      .insertInto('password_history')
      .values({ id: ctx.ids.next(), user_id: userId, password_hash: hash, created_at: ctx.clock.now() })
      .execute();
  }
  await db
    .deleteFrom('password_history')
    .where('user_id', '=', userId)
    .where('id', 'not in', (eb) =>
      eb.selectFrom('password_history').select('id').where('user_id', '=', userId).orderBy('created_at', 'desc').limit(keep),
    )
    .execute();
}

/** The baseline for passwords set outside any tenant's policy (the operator's first administrator). */
export const BASELINE = { min_length: 10, max_length: 128 } as const;

export function assertBaselinePassword(password: string): void {
  const length = [...password].length;
  if (length < BASELINE.min_length) throw new AppError('password_too_short', `A password has at least ${BASELINE.min_length} characters`);
  if (length > BASELINE.max_length) throw new AppError('password_too_long', `A password has at most ${BASELINE.max_length} characters`);
}
