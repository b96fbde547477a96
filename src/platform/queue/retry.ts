/**
 * When to try again: exponential backoff for the queues of src/platform/queue/queue.ts
 * (email, back-channel logout notices, event deliveries). Deterministic, so a
 * test with an injected clock knows when the next attempt is due.
 */
export interface RetryPolicy {
  /** The wait after the first failure. */
  baseMs: number;
  /** The longest wait between two attempts. */
  capMs: number;
  /**
   * Give up after this many failed attempts; undefined = never. Counted in attempts, not
   * age, so a row that waited behind others still gets its full series.
   */
  maxAttempts?: number;
}

/** The wait after the `attempts`-th failed attempt (1-based): base × 2^(attempts − 1), at most the cap. */
export function backoffMs(policy: RetryPolicy, attempts: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 40);
  return Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
}

/** After the `attempts`-th failed attempt: the time of the next one, or undefined when the policy gives up. */
export function nextAttemptAt(policy: RetryPolicy, attempts: number, now: Date): Date | undefined {
  if (policy.maxAttempts !== undefined && attempts >= policy.maxAttempts) return undefined;
  return new Date(now.getTime() + backoffMs(policy, attempts));
}

/** How long a series of retries lasts from the first attempt to the last (for documentation and tests). */
export function retrySpanMs(policy: RetryPolicy): number {
  let total = 0;
  for (let attempts = 1; attempts < (policy.maxAttempts ?? 1); attempts++) total += backoffMs(policy, attempts);
  return total;
}
