/**
 * Issue 16.4, groups (Cognito's groups, Auth0's RBAC groups; decisions 360–369): a group
 * belongs to one tenant, holds members of that tenant and roles that tenant may use, and a
 * member of a group holds the group's roles in that tenant next to the roles assigned
 * directly. A group's member row goes with the membership (leaving the tenant leaves its
 * groups), its role rows with the role, everything with the group and the tenant.
 *
 * `effective_roles` is the one definition of "the roles a member holds": the direct
 * assignments and the roles of the member's groups, with the group each came through (null:
 * direct). Every read of a member's roles (effective permissions, tokens, the access review,
 * least-privilege checks) goes through it, so no reader can forget the groups. It may list a
 * role twice (direct and through a group); readers fold by role.
 *
 * `group_mapped_members` marks the group memberships a connection's mapping made, as
 * membership_mapped_roles (0024) does for roles: only these does a mapping ever remove.
 *
 * `apis.token_groups_claim`: whether a user's access token for the API carries `groups`.
 */
export const up = [
  `create table groups (
    id uuid primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    name text not null,
    description text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (id, tenant_id)
  )`,
  `create unique index groups_tenant_name_key on groups (tenant_id, lower(name))`,

  `create table group_members (
    group_id uuid not null,
    tenant_id uuid not null,
    user_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (group_id, user_id),
    foreign key (group_id, tenant_id) references groups (id, tenant_id) on delete cascade,
    foreign key (tenant_id, user_id) references memberships (tenant_id, user_id) on delete cascade
  )`,
  `create index group_members_member_idx on group_members (tenant_id, user_id)`,

  `create table group_roles (
    group_id uuid not null,
    tenant_id uuid not null,
    role_id uuid not null references roles (id) on delete cascade,
    primary key (group_id, role_id),
    foreign key (group_id, tenant_id) references groups (id, tenant_id) on delete cascade
  )`,
  `create index group_roles_role_idx on group_roles (role_id)`,

  `create table group_mapped_members (
    group_id uuid not null,
    tenant_id uuid not null,
    user_id uuid not null,
    connection_id text not null references connections (id) on delete cascade,
    primary key (group_id, user_id, connection_id),
    foreign key (group_id, tenant_id) references groups (id, tenant_id) on delete cascade,
    foreign key (tenant_id, user_id) references memberships (tenant_id, user_id) on delete cascade
  )`,
  `create index group_mapped_members_connection_idx on group_mapped_members (connection_id)`,

  `create view effective_roles as
    select mr.tenant_id, mr.user_id, mr.role_id, null::uuid as group_id from membership_roles mr
    union all
    select gm.tenant_id, gm.user_id, gr.role_id, gm.group_id from group_members gm
      inner join group_roles gr on gr.group_id = gm.group_id`,

  `alter table apis add column token_groups_claim boolean not null default false`,
];
