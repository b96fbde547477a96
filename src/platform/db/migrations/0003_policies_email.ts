/** Tenant policies (password, lockout, MFA, audit retention) and the outgoing email queue. */
export const up = [
  `alter table tenants add column policies jsonb not null default '{}'`,

  // Outgoing email, written in the transaction of the change that sends it, delivered by
  // a worker with retries; the message body is sealed (it may hold a link or a code).
  `create table emails (
    id uuid primary key,
    tenant_id uuid references tenants (id) on delete set null,
    recipient text not null,
    subject text not null,
    body_sealed text not null,
    status text not null check (status in ('pending', 'sent', 'kept', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    last_error text,
    created_at timestamptz not null default now(),
    sent_at timestamptz
  )`,
  `create index emails_due_idx on emails (next_attempt_at) where status = 'pending'`,
];
