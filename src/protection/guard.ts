import type { AppContext } from '../context.js';
import type { AppError } from '../errors.js';

/**
 * PLACEHOLDER (branch h/mfa): the agreed interface of the brute-force guard, which the
 * "protect" branch implements. This stand-in only runs the check; on merge the real
 * guard (lockout, pair block, hard limit, IP throttle) replaces this file.
 */
export type AttemptKind = 'password' | 'mfa' | 'recovery_code' | 'code';

export interface AttemptSubject {
  /** The account, when known; null for an unknown username (counted under `login`, like a known one). */
  userId: string | null;
  /** The login as typed, normalized (trimmed, lower-cased); the account key when userId is null. */
  login: string;
  ip: string | null;
  /** The tenant whose lockout policy applies (the user's home tenant; null: defaults). */
  tenantId: string | null;
}

/**
 * Refuses with AppError('too_many_attempts') (429; details.retry_after in seconds; the HTTP layer sets Retry-After)
 * WITHOUT calling `check` when a lockout, pair block, hard limit or IP throttle applies. Otherwise runs `check`;
 * false counts one failure (and may lock, block, notify, audit) and throws `failure()`; true clears the account's
 * consecutive failures (and the pair's).
 */
export async function guardAttempt(
  _ctx: AppContext,
  _kind: AttemptKind,
  _subject: AttemptSubject,
  check: () => Promise<boolean>,
  failure: () => AppError,
): Promise<void> {
  if (!(await check())) throw failure();
}
