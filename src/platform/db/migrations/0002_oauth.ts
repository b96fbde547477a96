/** Applications (OAuth clients), APIs (resource servers) and their permissions, and oidc-provider's artifacts. */
export const up = [
  // API permissions live with their API, so two APIs may each have `read:items`.
  `alter table permissions drop column api_id`,

  `create table applications (
    id uuid primary key,
    client_id text not null,
    tenant_id uuid not null references tenants (id) on delete cascade,
    name text not null,
    type text not null check (type in ('web', 'spa', 'native', 'm2m')),
    first_party boolean not null default true,
    client_secret_digest text,
    redirect_uris text[] not null default '{}',
    post_logout_redirect_uris text[] not null default '{}',
    grant_types text[] not null,
    organization_required boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index applications_client_id_key on applications (client_id)`,
  `create index applications_tenant_idx on applications (tenant_id, id)`,

  `create table apis (
    id uuid primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    identifier text not null,
    name text not null,
    token_lifetime integer not null check (token_lifetime between 60 and 86400),
    signing_alg text not null check (signing_alg in ('RS256', 'ES256', 'HS256')),
    signing_secret_sealed text,
    rbac boolean not null default false,
    permissions_in_token boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check ((signing_alg = 'HS256') = (signing_secret_sealed is not null))
  )`,
  `create unique index apis_identifier_key on apis (identifier)`,
  `create index apis_tenant_idx on apis (tenant_id, id)`,

  `create table api_permissions (
    api_id uuid not null references apis (id) on delete cascade,
    value text not null,
    description text not null default '',
    primary key (api_id, value)
  )`,

  // Roles may carry API permissions (Auth0's role permissions).
  `create table role_api_permissions (
    role_id uuid not null references roles (id) on delete cascade,
    api_id uuid not null,
    value text not null,
    primary key (role_id, api_id, value),
    foreign key (api_id, value) references api_permissions (api_id, value) on delete cascade
  )`,
  `create index role_api_permissions_api_idx on role_api_permissions (api_id, value)`,

  // Auth0's client grants: a machine application may ask for tokens for this API, with these permissions.
  `create table application_grants (
    application_id uuid not null references applications (id) on delete cascade,
    api_id uuid not null references apis (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (application_id, api_id)
  )`,
  `create index application_grants_api_idx on application_grants (api_id)`,
  `create table application_grant_permissions (
    application_id uuid not null,
    api_id uuid not null,
    value text not null,
    primary key (application_id, api_id, value),
    foreign key (application_id, api_id) references application_grants (application_id, api_id) on delete cascade,
    foreign key (api_id, value) references api_permissions (api_id, value) on delete cascade
  )`,
  `create index application_grant_permissions_api_idx on application_grant_permissions (api_id, value)`,

  // oidc-provider's models (authorization codes, refresh tokens, sessions, interactions, ...).
  `create table oidc_models (
    model text not null,
    id text not null,
    payload jsonb not null,
    grant_id text,
    user_code text,
    uid text,
    expires_at timestamptz,
    consumed_at timestamptz,
    primary key (model, id)
  )`,
  `create index oidc_models_grant_idx on oidc_models (grant_id) where grant_id is not null`,
  `create unique index oidc_models_user_code_key on oidc_models (model, user_code) where user_code is not null`,
  `create unique index oidc_models_uid_key on oidc_models (model, uid) where uid is not null`,
  `create index oidc_models_expires_idx on oidc_models (expires_at) where expires_at is not null`,

  // The organization (tenant) a user chose for one authorization, as Auth0's \`organization\`.
  `create table oauth_grant_organizations (
    grant_id text primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    expires_at timestamptz not null
  )`,
];
