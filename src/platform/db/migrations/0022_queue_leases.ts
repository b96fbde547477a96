/**
 * Issue 13, one queue (docs/decisions.md decision 231): outgoing email and back-channel
 * logout notices lease their rows in `locked_until`, as event deliveries do, instead of
 * moving `next_attempt_at` (which now only says when the next try is due). Rows leased the
 * old way before the upgrade are simply due again when that time comes.
 */
export const up = [
  `alter table emails add column locked_until timestamptz`,
  `alter table backchannel_logouts add column locked_until timestamptz`,
];
