/**
 * Passwordless sign-in (issue 5): the hourly send limit per account counts the passwordless
 * flows started for it (known or not: the key is a fingerprint of the account or of the
 * login typed), so that count needs an index of its own.
 */
export const up = [`create index flows_passwordless_send_idx on flows ((data->>'send_key'), created_at) where kind = 'passwordless'`];
