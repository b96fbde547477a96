/** Event delivery from the outbox: webhooks, and one delivery row per event and sink (RabbitMQ or a webhook). */
export const up = [
  `create table webhooks (
    id uuid primary key,
    tenant_id uuid references tenants (id) on delete cascade,
    url text not null,
    events text[] not null,
    description text not null default '',
    active boolean not null default true,
    secret_sealed text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`,
  `create index webhooks_tenant_idx on webhooks (tenant_id, id)`,

  // One row per event and sink. A lane (sink, webhook, tenant) is delivered in seq order:
  // a row is due only when no earlier row of its lane is pending.
  `create table event_deliveries (
    id uuid primary key,
    seq bigint generated always as identity,
    sink text not null check (sink in ('amqp', 'webhook')),
    webhook_id uuid references webhooks (id) on delete cascade,
    lane text not null,
    event_id uuid not null,
    event text not null,
    tenant_id uuid,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    locked_until timestamptz,
    last_status integer,
    last_error text,
    redelivery_of uuid,
    created_at timestamptz not null,
    delivered_at timestamptz,
    check ((sink = 'webhook') = (webhook_id is not null))
  )`,
  `create unique index event_deliveries_seq_key on event_deliveries (seq)`,
  `create index event_deliveries_pending_idx on event_deliveries (sink, lane, seq) where status = 'pending'`,
  `create index event_deliveries_webhook_idx on event_deliveries (webhook_id, id) where webhook_id is not null`,
  `create index event_deliveries_event_idx on event_deliveries (event_id)`,
  `create index event_deliveries_done_idx on event_deliveries (created_at) where status <> 'pending'`,
  `create index event_outbox_published_idx on event_outbox (created_at) where published_at is not null`,
];
