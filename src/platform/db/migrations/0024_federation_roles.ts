/**
 * Issue 14, role mapping (src/flows/federation/roles.ts): which roles of a membership a
 * connection's mapping granted. With `sync_mode: on_each_login` a sign-in through the
 * connection removes the roles the mapping granted and no longer grants, and only those: a
 * role an administrator assigned by hand has no row here and is never touched. A row goes
 * with its role assignment (an administrator removing the role removes it) and with its
 * connection.
 */
export const up = [
  `create table membership_mapped_roles (
    tenant_id uuid not null,
    user_id uuid not null,
    role_id uuid not null,
    connection_id text not null references connections (id) on delete cascade,
    primary key (tenant_id, user_id, role_id, connection_id),
    foreign key (tenant_id, user_id, role_id) references membership_roles (tenant_id, user_id, role_id) on delete cascade
  )`,
  `create index membership_mapped_roles_connection_idx on membership_mapped_roles (connection_id)`,
];
