/**
 * Issue 17.3, modern OAuth (decisions 415–429). An application may authenticate with
 * `private_key_jwt` (its keys inline, `jwks`, or at `jwks_uri`), require pushed authorization
 * requests, DPoP-bound tokens and signed request objects, follow the FAPI 2.0 Security
 * Profile, and be told of a sign-out in the browser (`frontchannel_logout_uri`). An
 * application made through dynamic client registration keeps the digest of its registration
 * access token (RFC 7592); the initial access tokens a tenant administrator issues are kept
 * as digests only.
 */
export const up = [
  `alter table applications
    add column token_endpoint_auth_method text check (token_endpoint_auth_method in ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
    add column jwks jsonb,
    add column jwks_uri text,
    add column require_pushed_authorization_requests boolean not null default false,
    add column dpop_bound_access_tokens boolean not null default false,
    add column require_signed_request_object boolean not null default false,
    add column fapi_profile text check (fapi_profile in ('2.0')),
    add column frontchannel_logout_uri text,
    add column registration_access_token_digest text,
    add column registered_with uuid`,
  `create unique index applications_registration_token_key on applications (registration_access_token_digest)
    where registration_access_token_digest is not null`,
  `create table initial_access_tokens (
    id uuid primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    token_digest text not null,
    description text not null default '',
    max_registrations integer,
    registrations integer not null default 0,
    expires_at timestamptz,
    revoked_at timestamptz,
    created_by uuid,
    created_at timestamptz not null default now()
  )`,
  `create unique index initial_access_tokens_digest_key on initial_access_tokens (token_digest)`,
  `create index initial_access_tokens_tenant_idx on initial_access_tokens (tenant_id, id)`,
];
