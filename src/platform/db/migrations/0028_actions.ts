/**
 * Issue 16, Actions (decisions 340-359): code (JavaScript run in the sandbox) or an HTTP
 * endpoint run at a trigger point of a sign-in, sign-up, password change or text message.
 * An action belongs to a tenant (it runs for that tenant only) or to the system (tenant_id
 * null: it runs for every tenant). Its code is versioned: editing changes the draft
 * (`code`, `url`), deploying copies the draft into a new immutable `action_versions` row and
 * points `deployed_version` at it; a roll back points it at an older version. Secrets are
 * sealed per action (crypto/secrets.ts, bound to the action's id) and never read back.
 * `trigger_bindings` is the ordered list of actions per trigger and tenant (tenant_id null:
 * the system's list, run before a tenant's own). Actions and bindings sit behind a per-node
 * cache, so they announce their changes on the change feed (0026).
 */
export const up = [
  `create table actions (
    id uuid primary key,
    tenant_id uuid references tenants (id) on delete cascade,
    name text not null,
    trigger text not null,
    runtime text not null check (runtime in ('js', 'http')),
    code text,
    url text,
    timeout_ms integer not null default 5000,
    secrets_sealed text,
    secret_names jsonb not null default '[]',
    deployed_version integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create unique index actions_tenant_name_key on actions (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name))`,
  `create table action_versions (
    action_id uuid not null references actions (id) on delete cascade,
    version integer not null,
    code text,
    url text,
    timeout_ms integer not null,
    created_by uuid references users (id) on delete set null,
    created_at timestamptz not null default now(),
    primary key (action_id, version)
  )`,
  `create table trigger_bindings (
    id uuid primary key,
    tenant_id uuid references tenants (id) on delete cascade,
    trigger text not null,
    position integer not null,
    action_id uuid not null references actions (id) on delete cascade,
    on_error text not null default 'deny' check (on_error in ('deny', 'continue'))
  )`,
  `create index trigger_bindings_trigger_idx on trigger_bindings (trigger, tenant_id, position)`,
  `create index trigger_bindings_action_idx on trigger_bindings (action_id)`,
  `create table action_executions (
    id uuid primary key,
    action_id uuid not null references actions (id) on delete cascade,
    tenant_id uuid references tenants (id) on delete cascade,
    trigger text not null,
    version integer,
    outcome text not null,
    duration_ms integer not null,
    error text,
    logs jsonb not null default '[]',
    dry_run boolean not null default false,
    created_at timestamptz not null default now()
  )`,
  `create index action_executions_action_idx on action_executions (action_id, created_at desc)`,
  ...['actions', 'action_versions', 'trigger_bindings'].map(
    (table) => `create trigger ${table}_announce_change after insert or update or delete or truncate on ${table}
      for each statement execute function gatehouse_announce_change()`,
  ),
];
