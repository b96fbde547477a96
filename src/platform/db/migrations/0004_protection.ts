/**
 * Brute-force protection (src/protection/): consecutive failures per account, per account
 * and address, and per address; unblock links; and the password history of part 2.
 * Every counter changes in one atomic statement, so nodes sharing the database never lose
 * a count (with GATEHOUSE_REDIS_URL the counters live in Redis instead; the unblock links
 * and the password history stay here).
 */
export const up = [
  // `subject` is the user id, or `login:<fingerprint>` for a login that names no account.
  // `kind` keeps password, MFA and code failures apart (src/protection/guard.ts).
  `create table attempt_accounts (
    subject text not null,
    kind text not null,
    user_id uuid references users (id) on delete cascade,
    failures integer not null,
    locked_until timestamptz,
    hard_locked boolean not null default false,
    updated_at timestamptz not null,
    primary key (subject, kind)
  )`,
  `create index attempt_accounts_user_idx on attempt_accounts (user_id) where user_id is not null`,
  `create table attempt_pairs (
    subject text not null,
    kind text not null,
    ip text not null,
    user_id uuid references users (id) on delete cascade,
    failures integer not null,
    blocked_until timestamptz,
    updated_at timestamptz not null,
    primary key (subject, kind, ip)
  )`,
  `create index attempt_pairs_user_idx on attempt_pairs (user_id) where user_id is not null`,
  `create table attempt_ips (
    ip text primary key,
    failures integer not null,
    window_started_at timestamptz not null,
    blocked_until timestamptz
  )`,
  // The link in the "sign-in blocked" email: only its SHA-256, single use, ends with the block.
  `create table unblock_tokens (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    kind text not null,
    ip text not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null
  )`,
  `create index unblock_tokens_user_idx on unblock_tokens (user_id)`,
  // Previous password hashes (argon2id), for the policy's "no reuse of the last N".
  `create table password_history (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    password_hash text not null,
    created_at timestamptz not null
  )`,
  `create index password_history_user_idx on password_history (user_id, created_at desc)`,
];
