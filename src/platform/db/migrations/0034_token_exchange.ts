/**
 * Issue 17, token exchange (RFC 8693, docs/connect-an-application.md#11-exchange-a-token):
 * which APIs an application may exchange tokens from and to (decision 431), and the
 * impersonations administrators start for support, which the user sees on the account
 * page and which bound every token issued under them (decision 433).
 *
 * `use` of an application's API: `subject` (the application serves this API: a user's
 * token for it may be exchanged), `target` (delegation: a token for this API on the user's
 * behalf), `impersonation` (an administrator's impersonation may get a token for this API).
 * Both sides reference their rows, so the list empties itself when either goes.
 */
export const up = [
  `create table application_exchange_apis (
    application_id uuid not null references applications (id) on delete cascade,
    api_id uuid not null references apis (id) on delete cascade,
    use text not null check (use in ('subject', 'target', 'impersonation')),
    primary key (application_id, use, api_id)
  )`,
  `create index application_exchange_apis_api_idx on application_exchange_apis (api_id)`,

  `create table impersonations (
    id uuid primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    actor_user_id uuid references users (id) on delete set null,
    actor_email text not null,
    actor_name text,
    client_id text not null,
    started_at timestamptz not null,
    expires_at timestamptz not null,
    tokens integer not null default 0
  )`,
  `create index impersonations_user_idx on impersonations (user_id, started_at desc)`,
  `create index impersonations_actor_idx on impersonations (actor_user_id, user_id, client_id, expires_at)`,
];
