/**
 * Issue 18, a million users (decision 329): an administrator's search by the start of an
 * email address (`GET /api/v1/users?email_prefix=`) walks this index instead of every row.
 * `text_pattern_ops` lets `lower(email) like 'prefix%'` use it whatever the database's
 * collation (a C.UTF-8 or en_US PostgreSQL, or PGlite).
 */
export const up = [`create index users_email_prefix_idx on users (lower(email) text_pattern_ops)`];
