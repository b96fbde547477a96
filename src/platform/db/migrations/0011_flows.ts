/**
 * Self-service flows (issue 5): registration, verification, recovery, invitations,
 * passwordless sign-in and email change are stored records with an id, a state and an
 * expiry (the Kratos design, docs/architecture.md#self-service-flows). A flow's link token and one-time code are kept
 * only as hashes; a flow is spent by one conditional update, so a link or code works once.
 */
export const up = [
  `create table flows (
    id text primary key,
    kind text not null,
    state text not null,
    channel text not null check (channel in ('browser', 'api')),
    tenant_id uuid references tenants (id) on delete cascade,
    application_id uuid references applications (id) on delete cascade,
    user_id uuid references users (id) on delete cascade,
    email text,
    browser_hash text,
    link_hash text unique,
    code_hash text,
    code_attempts integer not null default 0,
    data jsonb not null default '{}',
    return_to text,
    locale text,
    expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create index flows_user_idx on flows (user_id, kind) where user_id is not null`,
  `create index flows_expires_idx on flows (expires_at)`,

  // Self-registration is switched per tenant (policy) and per application.
  `alter table applications add column signup_enabled boolean not null default true`,
];
