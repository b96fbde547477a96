/**
 * When to try again: exponential backoff for queues of rows with `attempts` and
 * `next_attempt_at` (event deliveries; outgoing email can use the same). Deterministic, so a
 * test with an injected clock knows when the next attempt is due.
 */
export interface RetryPolicy {
  /** The wait after the first failure. */
  baseMs: number;
  /** The longest wait between two attempts. */
  capMs: number;
  /** Give up when the row is older than this at a failure; undefined = never give up. */
  giveUpAfterMs?: number;
}

/** The wait after the `attempts`-th failed attempt (1-based): base × 2^(attempts − 1), at most the cap. */
export function backoffMs(policy: RetryPolicy, attempts: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 40);
  return Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
}

/** After a failed attempt: the time of the next one, or undefined when the policy gives up. */
export function nextAttemptAt(policy: RetryPolicy, attempts: number, firstAt: Date, now: Date): Date | undefined {
  if (policy.giveUpAfterMs !== undefined && now.getTime() - firstAt.getTime() >= policy.giveUpAfterMs) return undefined;
  return new Date(now.getTime() + backoffMs(policy, attempts));
}
