/**
 * Issue 17.1, Auth0's Authentication API. `revoked_access_tokens` is the deny list of JWT
 * access tokens revoked at `POST /oauth/revoke` (decision 391): a JWT is not stored, so
 * its `jti` is kept until the token would have expired, and introspection answers
 * `active: false` for it. `applications.web_origins` are the origins allowed to receive
 * an authorization response by `response_mode=web_message` (decision 393), compared exactly.
 * `users_verified_phone_idx` finds the account of a phone number at `/passwordless/start`
 * (decision 392: digits compared, verified numbers only) without reading every user.
 */
export const up = [
  `create table revoked_access_tokens (
    jti text primary key,
    client_id text not null,
    expires_at timestamptz not null,
    revoked_at timestamptz not null default now()
  )`,
  `create index revoked_access_tokens_expires_idx on revoked_access_tokens (expires_at)`,
  `alter table applications add column web_origins text[] not null default '{}'`,
  `create index users_verified_phone_idx on users (regexp_replace(phone, '[^0-9+]', '', 'g')) where phone_verified`,
];
