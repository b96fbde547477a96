/**
 * MFA in the hosted pages and the OIDC flows: the factors a browser session signed in
 * with (RFC 8176 `amr` values, so a session that already did MFA is not challenged again
 * by a step-up), the per-application MFA policy (null: the tenant's), and the state
 * between the password step and the MFA step of a hosted sign-in, bound to its
 * interaction (the MFA step cannot be skipped by posting to the finish step).
 */
export const up = [
  `alter table sessions add column amr text[] not null default '{pwd}'`,
  `alter table applications add column mfa_policy text check (mfa_policy in ('off', 'optional', 'required'))`,
  `create table mfa_interactions (
    uid text primary key,
    user_id uuid not null references users (id) on delete cascade,
    session_id uuid references sessions (id) on delete cascade,
    need text not null check (need in ('challenge', 'enrol')),
    amr text[] not null default '{}',
    done boolean not null default false,
    pending_sealed text,
    expires_at timestamptz not null
  )`,
  `create index mfa_interactions_expiry_idx on mfa_interactions (expires_at)`,
];
