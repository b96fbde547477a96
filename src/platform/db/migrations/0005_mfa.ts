/**
 * Multi-factor authentication: factors (TOTP, email, SMS, WebAuthn), recovery codes,
 * out-of-band codes, MFA tokens (between the password and the second factor), WebAuthn
 * challenges, and the development SMS outbox. Every secret is sealed or hashed.
 */
export const up = [
  `create table mfa_factors (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    type text not null check (type in ('otp', 'email', 'sms', 'webauthn')),
    name text,
    secret_sealed text,
    destination_sealed text,
    credential_id text,
    public_key text,
    sign_count bigint not null default 0,
    transports text[] not null default '{}',
    amr text,
    confirmed boolean not null default false,
    last_totp_step bigint,
    last_used_at timestamptz,
    created_at timestamptz not null default now()
  )`,
  `create index mfa_factors_user_idx on mfa_factors (user_id, created_at)`,
  `create unique index mfa_factors_credential_key on mfa_factors (credential_id) where credential_id is not null`,

  `create table mfa_recovery_codes (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    code_hash bytea not null,
    created_at timestamptz not null default now(),
    used_at timestamptz
  )`,
  `create unique index mfa_recovery_codes_hash_key on mfa_recovery_codes (user_id, code_hash)`,

  `create table mfa_oob_challenges (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    factor_id uuid not null references mfa_factors (id) on delete cascade,
    oob_code_hash bytea not null,
    binding_code_hash bytea not null,
    attempts integer not null default 0,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now()
  )`,
  `create unique index mfa_oob_challenges_code_key on mfa_oob_challenges (oob_code_hash)`,
  `create index mfa_oob_challenges_user_idx on mfa_oob_challenges (user_id)`,

  `create table mfa_tokens (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    client_id text,
    tenant_id uuid references tenants (id) on delete cascade,
    request jsonb not null default '{}',
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now()
  )`,
  `create index mfa_tokens_expiry_idx on mfa_tokens (expires_at)`,

  `create table webauthn_challenges (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    purpose text not null check (purpose in ('registration', 'authentication')),
    challenge text not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now()
  )`,
  `create unique index webauthn_challenges_challenge_key on webauthn_challenges (challenge)`,

  `create table sms_outbox (
    id uuid primary key,
    recipient_sealed text not null,
    body_sealed text not null,
    created_at timestamptz not null default now()
  )`,
];
