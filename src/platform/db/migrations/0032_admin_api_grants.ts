/**
 * Issue 17.2, Auth0's Management API (decision 400): a machine application may be granted
 * Gatehouse's own admin API, as Auth0 grants its Management API to a machine application
 * (`audience` = `{issuer}/api/v2/`). The grant holds Gatehouse permission keys, checked against
 * the application's tenant on every request; it dies with its application.
 */
export const up = [
  `create table application_admin_grants (
    application_id uuid primary key references applications (id) on delete cascade,
    permissions text[] not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`,
];
