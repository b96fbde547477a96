import type { Kysely } from 'kysely';
import { type Actor, actingUserId, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Database } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import {
  assertOutranks,
  combinePermissions,
  explainPermissions,
  heldRolesOf,
  inScope,
  type PermissionSource,
  type Scope,
} from '../permissions/effective.js';
import { assertGrantable } from '../permissions/permissions.js';
import { resolveAssignableRoles, systemRole } from '../roles/roles.js';
import { managedAccounts } from '../users/manage.js';

export interface MembershipInput {
  userId: string;
  /** Role ids; absent means the USER role. */
  roles?: string[] | undefined;
  /** Permissions granted directly. */
  permissions?: string[] | undefined;
}

export interface Member {
  user_id: string;
  tenant_id: string;
  email: string;
  name: string | null;
  status: string;
  roles: { id: string; name: string }[];
  /** Permissions granted directly. */
  permissions: string[];
  /** The groups of the tenant the member belongs to (decision 360). */
  groups: { id: string; name: string }[];
  /** Roles' permissions (direct and through groups) and direct grants together. */
  effective_permissions: string[];
  /** Where each effective permission comes from (decision 364): `role:<name>`, `group:<name>`, `direct`. */
  permission_sources: PermissionSource[];
  home_tenant_id: string | null;
  created_at: Date;
}

/** Whether the user is a member of the tenant (in tenant scope, whether the user is visible at all). */
export async function isMember(db: Kysely<Database>, userId: string, tenantId: string): Promise<boolean> {
  const row = await db
    .selectFrom('memberships')
    .select('user_id')
    .where('user_id', '=', userId)
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row !== undefined;
}

/** A member as the API shows it: where the account is homed, seen from the tenant, and whether the caller may change it. */
export interface ShownMember extends Omit<Member, 'home_tenant_id'> {
  /** `elsewhere`: the account is homed in another tenant, whose administrators (with this tenant's) manage it (decision 182). */
  home_tenant: 'this' | 'elsewhere' | 'none';
  /** Whether the caller may change the account's credentials, status, email, factors or existence (decision 180). */
  managed: boolean;
}

async function shown(db: Kysely<Database>, scope: Scope, callerId: string | null, members: Member[]): Promise<ShownMember[]> {
  const managed = await managedAccounts(
    db,
    scope,
    callerId,
    members.map((m) => ({ id: m.user_id, home_tenant_id: m.home_tenant_id })),
  );
  return members.map(({ home_tenant_id, ...member }) => ({
    ...member,
    home_tenant: home_tenant_id === member.tenant_id ? 'this' : home_tenant_id ? 'elsewhere' : 'none',
    managed: managed.has(member.user_id),
  }));
}

function assertTenantInScope(scope: Scope, tenantId: string) {
  if (!inScope(scope, tenantId)) throw notFound('Tenant');
}

export async function listMembers(
  ctx: AppContext,
  scope: Scope,
  callerId: string | null,
  tenantId: string,
  page: PageRequest,
): Promise<Page<ShownMember>> {
  assertTenantInScope(scope, tenantId);
  if (!(await ctx.db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
  const listed = await paginate<Member>(
    page,
    DEFAULT_LIMIT,
    (m) => m.user_id,
    async (fetch, after) => {
      let query = ctx.db
        .selectFrom('memberships as m')
        .innerJoin('users as u', 'u.id', 'm.user_id')
        .select(['m.user_id', 'm.tenant_id', 'u.email', 'u.name', 'u.status', 'u.home_tenant_id', 'm.created_at'])
        .where('m.tenant_id', '=', tenantId)
        .orderBy('m.user_id')
        .limit(fetch);
      if (after) query = query.where('m.user_id', '>', after);
      return withGrants(ctx.db, tenantId, await query.execute());
    },
  );
  return { ...listed, items: await shown(ctx.db, scope, callerId, listed.items) };
}

export async function getMember(
  ctx: AppContext,
  scope: Scope,
  callerId: string | null,
  tenantId: string,
  userId: string,
): Promise<ShownMember> {
  assertTenantInScope(scope, tenantId);
  return (await shown(ctx.db, scope, callerId, [await readMember(ctx.db, tenantId, userId)]))[0]!;
}

/**
 * The membership with its grants. With `forUpdate`, inside a transaction, the row stays
 * locked until it ends, so concurrent changes of one membership happen one after another.
 */
async function readMember(db: Kysely<Database>, tenantId: string, userId: string, forUpdate = false): Promise<Member> {
  let query = db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'm.tenant_id', 'u.email', 'u.name', 'u.status', 'u.home_tenant_id', 'm.created_at'])
    .where('m.tenant_id', '=', tenantId)
    .where('m.user_id', '=', userId);
  if (forUpdate) query = query.forUpdate('m');
  const row = await query.executeTakeFirst();
  if (!row) throw notFound('Membership');
  const [member] = await withGrants(db, tenantId, [row]);
  return member!;
}

/** Adds a membership; used by the members API and when a user is created in a tenant. */
export async function addMembership(
  trx: Kysely<Database>,
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  input: MembershipInput,
): Promise<void> {
  const roles = input.roles ? await resolveAssignableRoles(trx, scope, tenantId, input.roles) : [await systemRole(trx, 'USER')];
  const permissions = [...new Set(input.permissions ?? [])];
  await assertGrantable(trx, scope, tenantId, permissions);
  const now = ctx.clock.now();
  const inserted = await trx
    .insertInto('memberships')
    .values({ tenant_id: tenantId, user_id: input.userId, created_at: now, updated_at: now })
    .onConflict((oc) => oc.doNothing())
    .returning('user_id')
    .executeTakeFirst();
  if (!inserted) throw new AppError('already_member', 'The user is already a member of this tenant');
  await writeGrants(
    trx,
    tenantId,
    input.userId,
    roles.map((r) => r.id),
    permissions,
  );
  await recordAudit(trx, ctx, {
    action: 'iam.membership.created',
    actor,
    tenantId,
    target: { type: 'user', id: input.userId },
    details: { roles: roles.map((r) => r.name), permissions },
  });
}

/**
 * Adds a user to a tenant by id. In tenant scope only a user homed in the tenant (decision
 * 183): anyone else joins through an invitation they accept, so a tenant administrator can
 * neither pull another tenant's administrator (or a system administrator) in to read them,
 * nor learn which ids exist (such a user is answered as an unknown id is).
 */
export async function createMember(ctx: AppContext, scope: Scope, actor: Actor, tenantId: string, input: MembershipInput) {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const [tenant, user] = await Promise.all([
      trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst(),
      trx.selectFrom('users').select(['id', 'home_tenant_id']).where('id', '=', input.userId).executeTakeFirst(),
    ]);
    if (!tenant) throw notFound('Tenant');
    if (scope.kind === 'tenant' && user?.home_tenant_id !== tenantId) {
      if (user && (await isMember(trx, user.id, tenantId)))
        throw new AppError('already_member', 'The user is already a member of this tenant');
      throw new AppError(
        'not_found',
        'User not found among the users homed in this tenant; invite anyone else: POST /tenants/:id/invitations',
      );
    }
    if (!user) throw notFound('User');
    await addMembership(trx, ctx, scope, actor, tenantId, input);
  });
  return getMember(ctx, scope, actingUserId(actor), tenantId, input.userId);
}

/** Replaces the roles and/or the direct grants of a membership. */
export async function updateMember(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  userId: string,
  patch: Omit<MembershipInput, 'userId'>,
): Promise<ShownMember> {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const current = await readMember(trx, tenantId, userId, true);
    assertOutranks(scope, current.effective_permissions);
    const roles = patch.roles ? await resolveAssignableRoles(trx, scope, tenantId, patch.roles) : undefined;
    const permissions = patch.permissions && [...new Set(patch.permissions)];
    if (permissions) await assertGrantable(trx, scope, tenantId, permissions);
    await writeGrants(
      trx,
      tenantId,
      userId,
      roles?.map((r) => r.id),
      permissions,
    );
    await trx
      .updateTable('memberships')
      .set({ updated_at: ctx.clock.now() })
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.membership.modified',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
      details: { ...(roles && { roles: roles.map((r) => r.name) }), ...(permissions && { permissions }) },
    });
  });
  return getMember(ctx, scope, actingUserId(actor), tenantId, userId);
}

export async function removeMember(ctx: AppContext, scope: Scope, actor: Actor, tenantId: string, userId: string) {
  assertTenantInScope(scope, tenantId);
  await ctx.db.transaction().execute(async (trx) => {
    const current = await readMember(trx, tenantId, userId, true);
    assertOutranks(scope, current.effective_permissions);
    await trx.deleteFrom('memberships').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.membership.deleted',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
    });
  });
}

async function writeGrants(
  trx: Kysely<Database>,
  tenantId: string,
  userId: string,
  roleIds: string[] | undefined,
  permissions: string[] | undefined,
) {
  if (roleIds) {
    await trx.deleteFrom('membership_roles').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    if (roleIds.length > 0) {
      await trx
        .insertInto('membership_roles')
        .values(roleIds.map((role_id) => ({ tenant_id: tenantId, user_id: userId, role_id })))
        .execute();
    }
  }
  if (permissions) {
    await trx.deleteFrom('membership_permissions').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
    if (permissions.length > 0) {
      await trx
        .insertInto('membership_permissions')
        .values(permissions.map((permission) => ({ tenant_id: tenantId, user_id: userId, permission })))
        .execute();
    }
  }
}

type MemberRow = Omit<Member, 'roles' | 'permissions' | 'effective_permissions' | 'groups' | 'permission_sources'>;

async function withGrants(db: Kysely<Database>, tenantId: string, rows: MemberRow[]): Promise<Member[]> {
  if (rows.length === 0) return [];
  const userIds = rows.map((r) => r.user_id);
  const [held, direct, groups] = await Promise.all([
    heldRolesOf(db, [tenantId], userIds),
    db
      .selectFrom('membership_permissions')
      .select(['user_id', 'permission'])
      .where('tenant_id', '=', tenantId)
      .where('user_id', 'in', userIds)
      .execute(),
    db
      .selectFrom('group_members as gm')
      .innerJoin('groups as g', 'g.id', 'gm.group_id')
      .select(['gm.user_id', 'g.id', 'g.name'])
      .where('gm.tenant_id', '=', tenantId)
      .where('gm.user_id', 'in', userIds)
      .orderBy('g.name')
      .execute(),
  ]);
  return rows.map((row) => {
    const own = held.filter((r) => r.user_id === row.user_id);
    const grants = direct.filter((g) => g.user_id === row.user_id).map((g) => g.permission);
    const roles = own.map((r) => r.role);
    return {
      ...row,
      // `roles` are the ones assigned directly (what PATCH replaces); the groups' come through `groups`.
      roles: own.filter((r) => r.role.group === undefined).map((r) => ({ id: r.role_id, name: r.role.name })),
      permissions: grants.sort(),
      groups: groups.filter((g) => g.user_id === row.user_id).map((g) => ({ id: g.id, name: g.name })),
      effective_permissions: combinePermissions(roles, grants),
      permission_sources: explainPermissions({ roles, direct: grants }),
    };
  });
}
