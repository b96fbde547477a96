/** Incident response: forced password resets, IP blocks, keys withdrawn at once, back-channel logout. */
export const up = [
  // An administrator's "change your password at the next sign-in".
  `alter table users add column password_reset_required boolean not null default false`,

  // OIDC Back-Channel Logout 1.0: where an application is told that a user's session ended.
  `alter table applications add column backchannel_logout_uri text`,

  // A key retired "now" is out of the JWKS at once, not after the longest token lifetime.
  `alter table signing_keys add column withdrawn_at timestamptz`,

  // Addresses and ranges refused at the sign-in and token endpoints (and the whole API).
  `create table ip_blocks (
    id uuid primary key,
    cidr text not null unique,
    reason text not null,
    expires_at timestamptz,
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now()
  )`,

  // Revoking a user's or an application's access finds their OAuth grants by these.
  `create index oidc_models_grant_account_idx on oidc_models ((payload->>'accountId')) where model = 'Grant'`,
  `create index oidc_models_grant_client_idx on oidc_models ((payload->>'clientId')) where model = 'Grant'`,
  `create index oidc_models_session_account_idx on oidc_models ((payload->>'accountId')) where model = 'Session'`,

  // Logout tokens to send, written in the transaction that ends the sessions, sent by a
  // worker with retries (the token itself is signed when it is sent).
  `create table backchannel_logouts (
    id uuid primary key,
    application_id uuid not null references applications (id) on delete cascade,
    user_id uuid not null,
    sid text,
    status text not null check (status in ('pending', 'sent', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    last_error text,
    created_at timestamptz not null default now(),
    sent_at timestamptz
  )`,
  `create index backchannel_logouts_due_idx on backchannel_logouts (next_attempt_at) where status = 'pending'`,
];
