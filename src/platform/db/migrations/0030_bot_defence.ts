/**
 * Issue 16.5, bot defence (decisions 370–384).
 *
 * `challenge_solutions`: each CAPTCHA solution spent, by a digest of it, until its challenge
 * would have expired anyway. The primary key makes a solution work once across every node:
 * the second insert of the same digest fails, whichever node it reaches (decision 373).
 *
 * `bot_counters`: fixed-window counters shared by every node: sign-ups per network (the
 * `on_risk` burst signal), texts per tenant and per country per hour (SMS pumping), and
 * code resends per flow or factor. One row per key, counted by one conditional upsert, so
 * concurrent requests cannot all slip under a cap (decision 378).
 */
export const up = [
  `create table challenge_solutions (
    digest text primary key,
    expires_at timestamptz not null
  )`,
  `create index challenge_solutions_expiry_idx on challenge_solutions (expires_at)`,
  `create table bot_counters (
    key text primary key,
    window_started_at timestamptz not null,
    count integer not null,
    last_at timestamptz not null,
    expires_at timestamptz not null
  )`,
  `create index bot_counters_expiry_idx on bot_counters (expires_at)`,
];
