/**
 * Issue 17, Auth0's `/v2/logout?federated` (docs/federation.md#signing-out-at-the-provider):
 * a session remembers the connection its user signed in through, so a federated sign-out
 * knows which provider's session to end (decision 456). The MFA step of a sign-in carries it
 * until the session opens. Null: Gatehouse's own password, a passkey, a code; or the
 * connection has been deleted since.
 */
export const up = [
  `alter table sessions add column connection_id text references connections (id) on delete set null`,
  `create index sessions_connection_idx on sessions (connection_id) where connection_id is not null`,
  `alter table mfa_interactions add column connection_id text references connections (id) on delete set null`,
];
