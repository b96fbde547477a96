/**
 * Audit trail integrity: each event is chained (HMAC) to the previous one of its tenant
 * by the sealer after commit; `audit_chains` holds each chain's head and the anchor that
 * retention leaves behind (the seq and hash of the last pruned event).
 */
export const up = [
  `alter table audit_events
    add column chain_seq bigint,
    add column chain_prev bytea,
    add column chain_hash bytea`,
  // What the sealer takes next: small, since events are sealed within seconds.
  `create index audit_events_unsealed_idx on audit_events (id) where chain_seq is null`,
  // Walking one chain in order (verify, retention). Not unique: a forged duplicate must be reportable, not a sealer failure.
  `create index audit_events_chain_idx on audit_events (tenant_id, chain_seq) where chain_seq is not null`,

  `create table audit_chains (
    chain text primary key,
    tenant_id uuid,
    last_seq bigint not null default 0,
    last_hash bytea,
    pruned_seq bigint not null default 0,
    pruned_hash bytea,
    pruned_at timestamptz,
    -- HMAC over (chain, last_seq, last_hash, pruned_seq, pruned_hash): a head set back by hand does not verify.
    head_mac bytea,
    updated_at timestamptz not null default now()
  )`,
];
