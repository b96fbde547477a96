import { sql } from 'kysely';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Group, Role } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { assertApiDelegable, roleApiPermissions } from '../permissions/api-delegation.js';
import { assertOutranks, inScope, type Scope } from '../permissions/effective.js';
import { resolveAssignableRoles } from '../roles/roles.js';

/**
 * Groups (Cognito's groups, Auth0's RBAC groups; decisions 360–369): a group belongs to one
 * tenant and holds members of that tenant and roles that tenant may use; its members hold
 * its roles there next to their own (effective.ts reads both through the view
 * effective_roles). The rules are those of direct role assignment (memberships.ts), so a
 * group is never a way around them (decision 362):
 * - another tenant's group, and anything under it, is `404` in tenant scope;
 * - a member must be a member of the group's tenant (anyone else is `404`, as an unknown id);
 * - a role must be global or the tenant's own, never a restricted one in tenant scope, and
 *   one whose permissions (API permissions included) the caller holds (resolveAssignableRoles);
 * - a caller changes a group (its name, members, roles, existence) only when it outranks
 *   the group: holds every permission of its roles and of each of its members, as
 *   changing a member's roles needs outranking that member; adding a member needs
 *   outranking that member too.
 * Every change is audited in its transaction; nothing is cached, so a removal counts at once.
 */

export interface GroupInput {
  name: string;
  description?: string | undefined;
  /** Role ids given to the group at creation. */
  roles?: string[] | undefined;
}

export type GroupPatch = Partial<Pick<GroupInput, 'name' | 'description'>>;

export interface GroupDetails extends Group {
  roles: { id: string; name: string }[];
}

export interface GroupMember {
  user_id: string;
  email: string;
  name: string | null;
  status: string;
  created_at: Date;
}

function assertTenantInScope(scope: Scope, tenantId: string) {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
}

async function assertTenantExists(db: Db, tenantId: string) {
  if (!(await db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
}

/** The group of this tenant (another tenant's is `404`, as an unknown id); `lock` keeps it until the transaction ends. */
async function findGroup(db: Db, tenantId: string, groupId: string, lock = false): Promise<Group> {
  const group = await db
    .selectFrom('groups')
    .selectAll()
    .where('id', '=', groupId)
    .where('tenant_id', '=', tenantId)
    .$if(lock, (q) => q.forUpdate())
    .executeTakeFirst();
  if (!group) throw notFound('Group');
  return group;
}

async function withRoles(db: Db, groups: Group[]): Promise<GroupDetails[]> {
  if (groups.length === 0) return [];
  const roles = await db
    .selectFrom('group_roles as gr')
    .innerJoin('roles as r', 'r.id', 'gr.role_id')
    .select(['gr.group_id', 'r.id', 'r.name'])
    .where(
      'gr.group_id',
      'in',
      groups.map((g) => g.id),
    )
    .orderBy('r.name')
    .execute();
  return groups.map((g) => ({
    ...g,
    roles: roles.filter((r) => r.group_id === g.id).map((r) => ({ id: r.id, name: r.name })),
  }));
}

/**
 * What a caller must outrank to change a group: the permissions of its roles and the
 * effective permissions of every member (their own roles, their other groups' roles, their
 * direct grants), in one statement whatever the number of members.
 */
async function groupReach(db: Db, group: Group): Promise<string[]> {
  const { rows } = await sql<{ permission: string }>`
    select distinct p as permission from (
      select unnest(r.permissions) as p from group_roles gr inner join roles r on r.id = gr.role_id where gr.group_id = ${group.id}
      union all
      select unnest(r.permissions) from group_members gm
        inner join effective_roles er on er.tenant_id = gm.tenant_id and er.user_id = gm.user_id
        inner join roles r on r.id = er.role_id
        where gm.group_id = ${group.id}
      union all
      select mp.permission from group_members gm
        inner join membership_permissions mp on mp.tenant_id = gm.tenant_id and mp.user_id = gm.user_id
        where gm.group_id = ${group.id}
    ) reach`.execute(db);
  return rows.map((r) => r.permission);
}

/** The effective permissions of one member (the permissions of every role held, and the direct grants). */
async function memberReach(db: Db, tenantId: string, userId: string): Promise<string[]> {
  const { rows } = await sql<{ permission: string }>`
    select distinct p as permission from (
      select unnest(r.permissions) as p from effective_roles er inner join roles r on r.id = er.role_id
        where er.tenant_id = ${tenantId} and er.user_id = ${userId}
      union all
      select permission from membership_permissions where tenant_id = ${tenantId} and user_id = ${userId}
    ) reach`.execute(db);
  return rows.map((r) => r.permission);
}

/** The group, locked, if the caller may change it (outranks it). */
async function changeableGroup(trx: Db, scope: Scope, tenantId: string, groupId: string): Promise<Group> {
  const group = await findGroup(trx, tenantId, groupId, true);
  assertOutranks(scope, await groupReach(trx, group));
  return group;
}

export async function listGroups(ctx: AppContext, scope: Scope, tenantId: string, page: PageRequest): Promise<Page<GroupDetails>> {
  assertTenantInScope(scope, tenantId);
  await assertTenantExists(ctx.db, tenantId);
  const listed = await paginate<Group>(
    page,
    DEFAULT_LIMIT,
    (g) => g.id,
    (fetch, after) =>
      ctx.db
        .selectFrom('groups')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
  return { items: await withRoles(ctx.db, listed.items), next_cursor: listed.next_cursor };
}

export async function getGroup(ctx: AppContext, scope: Scope, tenantId: string, groupId: string): Promise<GroupDetails> {
  assertTenantInScope(scope, tenantId);
  return (await withRoles(ctx.db, [await findGroup(ctx.db, tenantId, groupId)]))[0]!;
}

export async function createGroup(ctx: AppContext, scope: Scope, actor: Actor, tenantId: string, input: GroupInput): Promise<GroupDetails> {
  assertTenantInScope(scope, tenantId);
  const now = ctx.clock.now();
  const id = ctx.ids.next();
  await ctx.db.transaction().execute(async (trx) => {
    await assertTenantExists(trx, tenantId);
    const roles = await resolveAssignableRoles(trx, scope, tenantId, input.roles ?? []);
    await assertNameFree(trx, tenantId, input.name);
    await trx
      .insertInto('groups')
      .values({ id, tenant_id: tenantId, name: input.name, description: input.description ?? '', created_at: now, updated_at: now })
      .execute()
      .catch(rethrowNameTaken);
    if (roles.length > 0) {
      await trx
        .insertInto('group_roles')
        .values(roles.map((r) => ({ group_id: id, tenant_id: tenantId, role_id: r.id })))
        .execute();
    }
    await recordAudit(trx, ctx, {
      action: 'iam.group.created',
      actor,
      tenantId,
      target: { type: 'group', id },
      details: { name: input.name, roles: roles.map((r) => r.name) },
    });
  });
  return getGroup(ctx, scope, tenantId, id);
}

export async function updateGroup(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  groupId: string,
  patch: GroupPatch,
): Promise<GroupDetails> {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const group = await changeableGroup(trx, scope, tenantId, groupId);
    if (patch.name !== undefined) await assertNameFree(trx, tenantId, patch.name, group.id);
    await trx
      .updateTable('groups')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.description !== undefined && { description: patch.description }),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', group.id)
      .execute()
      .catch(rethrowNameTaken);
    await recordAudit(trx, ctx, {
      action: 'iam.group.modified',
      actor,
      tenantId,
      target: { type: 'group', id: group.id },
      details: { fields: Object.keys(patch), ...(patch.name !== undefined && { name: patch.name, previous_name: group.name }) },
    });
  });
  return getGroup(ctx, scope, tenantId, groupId);
}

/** Deletes the group: its members lose its roles at once (the rows go with it). */
export async function deleteGroup(ctx: AppContext, scope: Scope, actor: Actor, tenantId: string, groupId: string): Promise<void> {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const group = await changeableGroup(trx, scope, tenantId, groupId);
    await trx.deleteFrom('groups').where('id', '=', group.id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.group.deleted',
      actor,
      tenantId,
      target: { type: 'group', id: group.id },
      details: { name: group.name },
    });
  });
}

export async function listGroupMembers(
  ctx: AppContext,
  scope: Scope,
  tenantId: string,
  groupId: string,
  page: PageRequest,
): Promise<Page<GroupMember>> {
  assertTenantInScope(scope, tenantId);
  const group = await findGroup(ctx.db, tenantId, groupId);
  return paginate<GroupMember>(
    page,
    DEFAULT_LIMIT,
    (m) => m.user_id,
    (fetch, after) =>
      ctx.db
        .selectFrom('group_members as gm')
        .innerJoin('users as u', 'u.id', 'gm.user_id')
        .select(['gm.user_id', 'u.email', 'u.name', 'u.status', 'gm.created_at'])
        .where('gm.group_id', '=', group.id)
        .$if(after !== undefined, (q) => q.where('gm.user_id', '>', after as string))
        .orderBy('gm.user_id')
        .limit(fetch)
        .execute(),
  );
}

/**
 * Adds members of the tenant to the group (those already in it stay, unchanged). A user who
 * is not a member of the tenant is `404`, as an unknown id, so no id of another tenant leaks.
 */
export async function addGroupMembers(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  groupId: string,
  userIds: readonly string[],
): Promise<void> {
  assertTenantInScope(scope, tenantId);
  const unique = [...new Set(userIds)];
  await ctx.db.transaction().execute(async (trx) => {
    const group = await changeableGroup(trx, scope, tenantId, groupId);
    const members = await trx
      .selectFrom('memberships')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('user_id', 'in', unique)
      .forKeyShare()
      .execute();
    const known = new Set(members.map((m) => m.user_id));
    const unknown = unique.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new AppError('not_found', 'User not found among the members of this tenant', { user_ids: unknown });
    // Adding a member changes what the member holds: the caller must outrank the member, as for its roles…
    for (const userId of unique) assertOutranks(scope, await memberReach(trx, tenantId, userId));
    // …and hold the API permissions the group's roles carry, as assigning them directly needs (decision 194).
    const roleIds = await trx.selectFrom('group_roles').select('role_id').where('group_id', '=', group.id).execute();
    await assertApiDelegable(
      trx,
      scope,
      await roleApiPermissions(
        trx,
        roleIds.map((r) => r.role_id),
      ),
    );
    const added = await trx
      .insertInto('group_members')
      .values(unique.map((user_id) => ({ group_id: group.id, tenant_id: tenantId, user_id, created_at: ctx.clock.now() })))
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
      .returning('user_id')
      .execute();
    for (const { user_id } of added) {
      await recordAudit(trx, ctx, {
        action: 'iam.group.memberAdded',
        actor,
        tenantId,
        target: { type: 'user', id: user_id },
        details: { group_id: group.id, group: group.name },
      });
    }
  });
}

export async function removeGroupMember(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  groupId: string,
  userId: string,
): Promise<void> {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const group = await changeableGroup(trx, scope, tenantId, groupId);
    const removed = await trx
      .deleteFrom('group_members')
      .where('group_id', '=', group.id)
      .where('user_id', '=', userId)
      .returning('user_id')
      .executeTakeFirst();
    if (!removed) throw notFound('Group member');
    await trx.deleteFrom('group_mapped_members').where('group_id', '=', group.id).where('user_id', '=', userId).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.group.memberRemoved',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
      details: { group_id: group.id, group: group.name },
    });
  });
}

export async function listGroupRoles(ctx: AppContext, scope: Scope, tenantId: string, groupId: string): Promise<Role[]> {
  assertTenantInScope(scope, tenantId);
  const group = await findGroup(ctx.db, tenantId, groupId);
  return ctx.db
    .selectFrom('group_roles as gr')
    .innerJoin('roles as r', 'r.id', 'gr.role_id')
    .selectAll('r')
    .where('gr.group_id', '=', group.id)
    .orderBy('r.name')
    .execute();
}

/** Gives the group roles (those it has stay): the rules of assigning them to a member directly. */
export async function addGroupRoles(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  groupId: string,
  roleIds: readonly string[],
): Promise<void> {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const group = await changeableGroup(trx, scope, tenantId, groupId);
    const roles = await resolveAssignableRoles(trx, scope, tenantId, roleIds);
    if (roles.length === 0) return;
    const added = await trx
      .insertInto('group_roles')
      .values(roles.map((r) => ({ group_id: group.id, tenant_id: tenantId, role_id: r.id })))
      .onConflict((oc) => oc.columns(['group_id', 'role_id']).doNothing())
      .returning('role_id')
      .execute();
    const names = roles.filter((r) => added.some((a) => a.role_id === r.id)).map((r) => r.name);
    if (names.length === 0) return;
    await recordAudit(trx, ctx, {
      action: 'iam.group.roleAssigned',
      actor,
      tenantId,
      target: { type: 'group', id: group.id },
      details: { group: group.name, roles: names },
    });
  });
}

export async function removeGroupRole(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  groupId: string,
  roleId: string,
): Promise<void> {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const group = await changeableGroup(trx, scope, tenantId, groupId);
    const removed = await trx
      .deleteFrom('group_roles')
      .where('group_id', '=', group.id)
      .where('role_id', '=', roleId)
      .returning('role_id')
      .executeTakeFirst();
    if (!removed) throw notFound('Group role');
    const role = await trx.selectFrom('roles').select('name').where('id', '=', roleId).executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.group.roleRemoved',
      actor,
      tenantId,
      target: { type: 'group', id: group.id },
      details: { group: group.name, roles: [role.name] },
    });
  });
}

/** A group name is unique in its tenant in any letter case; the advisory lock makes concurrent creations of one name wait. */
async function assertNameFree(db: Db, tenantId: string, name: string, exceptId?: string) {
  await sql`select pg_advisory_xact_lock(hashtext(${`gatehouse:group:${tenantId}:${name.toLowerCase()}`}))`.execute(db);
  const taken = await db
    .selectFrom('groups')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where((eb) => eb(eb.fn('lower', ['name']), '=', eb.fn('lower', [eb.val(name)])))
    .$if(exceptId !== undefined, (q) => q.where('id', '!=', exceptId as string))
    .executeTakeFirst();
  if (taken) throw new AppError('group_name_taken', 'A group with this name exists in this tenant');
}

function rethrowNameTaken(error: unknown): never {
  if (isUniqueViolation(error)) throw new AppError('group_name_taken', 'A group with this name exists in this tenant');
  throw error;
}
