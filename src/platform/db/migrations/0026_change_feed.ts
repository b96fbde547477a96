/**
 * Issue 18, cluster coherence (decision 292): each table behind a per-node cache announces
 * every committed statement on the `gatehouse_changes` channel, with its name as the payload,
 * whatever wrote it (the API, the CLI, a restore, plain SQL); src/platform/db/change-feed.ts
 * hears it on every node. Statement-level, so a bulk change is one notification, and
 * PostgreSQL folds the same payload within one transaction. A later table behind a cache
 * gets its trigger in its own migration (and its name in change-feed.ts WATCHED_TABLES).
 */
const tables = [
  'tenants',
  'applications',
  'apis',
  'api_permissions',
  'application_grants',
  'application_grant_permissions',
  'oauth_grant_organizations',
  'signing_keys',
  'ip_blocks',
  'connections',
];

export const up = [
  `create function gatehouse_announce_change() returns trigger language plpgsql as $$
    begin
      perform pg_notify('gatehouse_changes', tg_table_name);
      return null;
    end
  $$`,
  ...tables.map(
    (table) => `create trigger ${table}_announce_change after insert or update or delete or truncate on ${table}
      for each statement execute function gatehouse_announce_change()`,
  ),
];
