/**
 * Issue 14, role mapping (src/flows/federation/roles.ts): which roles of a membership a
 * connection's mapping granted. With `sync_mode: on_each_login` a sign-in through the
 * connection removes the roles the mapping granted and no longer grants, and only those: a
 * role an administrator assigned by hand has no row here and is never touched. A row is
 * not tied to the role assignment itself: an administrator's change of a member's roles
 * replaces the assignment rows, and the mapping's mark must survive that. A row goes with
 * the membership, the role and the connection.
 */
export const up = [
  `create table membership_mapped_roles (
    tenant_id uuid not null,
    user_id uuid not null,
    role_id uuid not null,
    connection_id text not null references connections (id) on delete cascade,
    primary key (tenant_id, user_id, role_id, connection_id),
    foreign key (tenant_id, user_id) references memberships (tenant_id, user_id) on delete cascade,
    foreign key (role_id) references roles (id) on delete cascade
  )`,
  `create index membership_mapped_roles_connection_idx on membership_mapped_roles (connection_id)`,
];
