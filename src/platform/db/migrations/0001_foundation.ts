/** Tenants, users, memberships, roles, permissions, sessions, keys, audit trail, outbox. */
export const up = [
  `create table tenants (
    id uuid primary key,
    slug text not null,
    name text not null,
    status text not null check (status in ('active', 'suspended')),
    is_system boolean not null default false,
    branding jsonb not null default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index tenants_slug_key on tenants (lower(slug))`,

  `create table users (
    id uuid primary key,
    email text not null,
    username text,
    phone text,
    email_verified boolean not null default false,
    given_name text,
    family_name text,
    name text,
    picture text,
    locale text,
    status text not null check (status in ('active', 'disabled', 'pending')),
    home_tenant_id uuid references tenants (id) on delete set null,
    password_hash text,
    user_metadata jsonb not null default '{}',
    app_metadata jsonb not null default '{}',
    last_login_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index users_email_key on users (lower(email))`,
  `create unique index users_username_key on users (lower(username)) where username is not null`,
  `create index users_home_tenant_idx on users (home_tenant_id)`,

  `create table memberships (
    tenant_id uuid not null references tenants (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, user_id)
  )`,
  `create index memberships_user_idx on memberships (user_id)`,

  `create table roles (
    id uuid primary key,
    tenant_id uuid references tenants (id) on delete cascade,
    name text not null,
    description text not null default '',
    permissions text[] not null default '{}',
    is_system boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index roles_global_name_key on roles (lower(name)) where tenant_id is null`,
  `create unique index roles_tenant_name_key on roles (tenant_id, lower(name)) where tenant_id is not null`,

  `create table membership_roles (
    tenant_id uuid not null,
    user_id uuid not null,
    role_id uuid not null references roles (id) on delete cascade,
    primary key (tenant_id, user_id, role_id),
    foreign key (tenant_id, user_id) references memberships (tenant_id, user_id) on delete cascade
  )`,
  `create index membership_roles_role_idx on membership_roles (role_id)`,

  `create table membership_permissions (
    tenant_id uuid not null,
    user_id uuid not null,
    permission text not null,
    primary key (tenant_id, user_id, permission),
    foreign key (tenant_id, user_id) references memberships (tenant_id, user_id) on delete cascade
  )`,

  `create table permissions (
    id uuid primary key,
    key text not null,
    description text not null default '',
    tenant_id uuid references tenants (id) on delete cascade,
    api_id uuid,
    is_system boolean not null default false,
    restricted boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index permissions_global_key on permissions (key) where tenant_id is null`,
  `create unique index permissions_tenant_key on permissions (tenant_id, key) where tenant_id is not null`,

  `create table sessions (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    token_hash bytea not null,
    remember_me boolean not null default false,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null,
    idle_expires_at timestamptz not null,
    expires_at timestamptz not null,
    revoked_at timestamptz,
    ip text,
    user_agent text
  )`,
  `create unique index sessions_token_hash_key on sessions (token_hash)`,
  `create index sessions_user_idx on sessions (user_id)`,

  `create table signing_keys (
    kid text primary key,
    alg text not null,
    status text not null check (status in ('next', 'current', 'retired')),
    public_jwk jsonb not null,
    private_jwk_sealed text not null,
    created_at timestamptz not null default now(),
    retired_at timestamptz
  )`,

  `create table audit_events (
    id uuid primary key,
    created_at timestamptz not null default now(),
    tenant_id uuid,
    action text not null,
    outcome text not null check (outcome in ('success', 'failure')),
    actor_type text not null,
    actor_id text,
    target_type text,
    target_id text,
    ip text,
    user_agent text,
    details jsonb not null default '{}'
  )`,
  `create index audit_events_tenant_idx on audit_events (tenant_id, id)`,
  `create index audit_events_actor_idx on audit_events (actor_id, id)`,
  `create index audit_events_target_idx on audit_events (target_id, id)`,
  `create index audit_events_action_idx on audit_events (action, id)`,

  `create table event_outbox (
    id uuid primary key,
    event text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    published_at timestamptz
  )`,
  `create index event_outbox_pending_idx on event_outbox (id) where published_at is null`,
];
