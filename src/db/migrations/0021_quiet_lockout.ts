/**
 * Brute-force protection, issue 12: the home tenant's stricter backoff refuses quietly
 * (decision 210), decided from the row under its lock by the statement that counts the
 * attempt; and the sweep that forgets expired counters and links (decision 215) finds
 * them by index.
 */
export const up = [
  `alter table attempt_accounts add column quiet boolean not null default false`,
  `create index attempt_accounts_idle_idx on attempt_accounts (updated_at) where not hard_locked`,
  `create index attempt_pairs_idle_idx on attempt_pairs (updated_at)`,
  `create index attempt_ips_window_idx on attempt_ips (window_started_at)`,
  `create index unblock_tokens_expiry_idx on unblock_tokens (expires_at)`,
];
