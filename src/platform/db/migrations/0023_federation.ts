/**
 * Issue 14, federation (docs/federation.md): connections to other identity providers
 * (Auth0's model: a strategy, its options, the applications it is enabled for, the email
 * domains that send a person to it), the identities a user holds at them, and the SAML
 * assertions already consumed (each assertion id is accepted once).
 *
 * A connection's secrets (client secret, signing or decryption key, bind password) are one
 * sealed JSON object, never a column of their own: nothing reads them but the strategy.
 */
export const up = [
  `create table connections (
    id text primary key,
    tenant_id uuid references tenants (id) on delete cascade,
    name text not null,
    strategy text not null,
    display_name text not null,
    options jsonb not null default '{}',
    secrets_sealed text,
    enabled_clients jsonb not null default '[]',
    domains jsonb not null default '[]',
    mapping jsonb not null default '[]',
    attributes jsonb not null default '{}',
    sync_mode text not null default 'on_each_login' check (sync_mode in ('on_each_login', 'on_first_login')),
    trusted_email boolean not null default false,
    upstream_mfa boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index connections_name_key on connections (lower(name))`,
  `create index connections_tenant_idx on connections (tenant_id)`,

  `create table user_identities (
    connection_id text not null references connections (id) on delete cascade,
    subject text not null,
    user_id uuid not null references users (id) on delete cascade,
    provider text not null,
    profile_data jsonb not null default '{}',
    created_at timestamptz not null default now(),
    last_login_at timestamptz,
    primary key (connection_id, subject)
  )`,
  `create index user_identities_user_idx on user_identities (user_id)`,

  `create table saml_assertions (
    connection_id text not null references connections (id) on delete cascade,
    assertion_id text not null,
    expires_at timestamptz not null,
    primary key (connection_id, assertion_id)
  )`,
  `create index saml_assertions_expires_idx on saml_assertions (expires_at)`,
];
