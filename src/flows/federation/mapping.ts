import { sql } from 'kysely';
import type { Connection, UpstreamProfile } from '../../authn/federation/strategy.js';
import { isRestricted } from '../../directory/permissions/catalog.js';
import { roleNamed } from '../../directory/roles/roles.js';
import type { Profile } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { RoleMapping } from '../../platform/db/schema.js';

/**
 * Role and attribute mapping (docs/federation.md#identities-linking-provisioning-role-mapping-mfa):
 * `mapping: [{claim, value, roles}]` grants roles of the connection's tenant (a system
 * connection: the application's tenant) when a claim matches, and `attributes` copies
 * claims into the user's fields. With `on_each_login` both are applied at every sign-in;
 * with `on_first_login` only when the user is provisioned or the identity linked.
 */

/** A value matches a claim when it equals the claim, or is a member of the claim when the claim is an array. */
export function claimMatches(claim: unknown, value: string): boolean {
  if (Array.isArray(claim)) return claim.some((item) => scalarEquals(item, value));
  return scalarEquals(claim, value);
}
const scalarEquals = (item: unknown, value: string) =>
  (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') && String(item) === value;

/** The role names a profile's claims map to, each once, in the mapping's order. */
export function mappedRoleNames(mapping: readonly RoleMapping[], claims: Record<string, unknown>): string[] {
  const names = mapping.filter((rule) => claimMatches(claims[rule.claim], rule.value)).flatMap((rule) => rule.roles);
  return [...new Set(names)];
}

/**
 * The roles of `tenantId` a mapping names, by name: the tenant's own role of that name,
 * else the global one. A tenant's connection never grants a role with restricted
 * permissions (`all`, `iam.*`): a tenant administrator could not grant it by hand either.
 * Unknown names are skipped (and logged): the mapping may name a role deleted since.
 */
async function resolveRoles(trx: Db, ctx: AppContext, connection: Connection, tenantId: string, names: string[]) {
  const roles: { id: string; name: string }[] = [];
  for (const name of names) {
    const role = await roleNamed(trx, tenantId, name);
    if (!role || (connection.tenantId !== null && role.permissions.some(isRestricted))) {
      ctx.log.warn({ connection: connection.name, role: name }, 'Role mapping names an unknown or restricted role; skipped');
      continue;
    }
    roles.push({ id: role.id, name: role.name });
  }
  return roles;
}

/** The membership in `tenantId`, created when missing (audited); true when it was created. */
export async function ensureMembership(trx: Db, ctx: AppContext, tenantId: string, userId: string, actor: Actor): Promise<boolean> {
  const now = ctx.clock.now();
  const created = await trx
    .insertInto('memberships')
    .values({ tenant_id: tenantId, user_id: userId, created_at: now, updated_at: now })
    .onConflict((oc) => oc.columns(['tenant_id', 'user_id']).doNothing())
    .returning('user_id')
    .executeTakeFirst();
  if (!created) return false;
  await recordAudit(trx, ctx, {
    action: 'iam.membership.created',
    actor,
    tenantId,
    target: { type: 'user', id: userId },
    details: { roles: [], permissions: [], source: 'connection' },
  });
  return true;
}

/**
 * Applies the mapping to the user's membership in `tenantId` (in the caller's
 * transaction): adds the mapped roles the membership lacks (remembering that the mapping
 * granted them, membership_mapped_roles) and removes those the mapping granted earlier and
 * no longer grants. A role assigned by hand is never removed, and one the user already held
 * is not marked as the mapping's. A membership is created only when a role is to be granted.
 */
export async function syncMappedRoles(
  trx: Db,
  ctx: AppContext,
  input: { connection: Connection; tenantId: string; userId: string; claims: Record<string, unknown>; actor: Actor },
): Promise<{ added: string[]; removed: string[] }> {
  const { connection, tenantId, userId, actor } = input;
  const desired = await resolveRoles(trx, ctx, connection, tenantId, mappedRoleNames(connection.mapping, input.claims));
  const member = await trx
    .selectFrom('memberships')
    .select('user_id')
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!member && desired.length === 0) return { added: [], removed: [] };
  if (!member) await ensureMembership(trx, ctx, tenantId, userId, actor);
  const held = new Set(
    (
      await trx.selectFrom('membership_roles').select('role_id').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute()
    ).map((r) => r.role_id),
  );
  const granted = await trx
    .selectFrom('membership_mapped_roles as m')
    .innerJoin('roles as r', 'r.id', 'm.role_id')
    .select(['m.role_id', 'r.name'])
    .where('m.tenant_id', '=', tenantId)
    .where('m.user_id', '=', userId)
    .where('m.connection_id', '=', connection.id)
    .execute();
  const added: string[] = [];
  for (const role of desired) {
    if (held.has(role.id)) continue;
    await trx.insertInto('membership_roles').values({ tenant_id: tenantId, user_id: userId, role_id: role.id }).execute();
    await trx
      .insertInto('membership_mapped_roles')
      .values({ tenant_id: tenantId, user_id: userId, role_id: role.id, connection_id: connection.id })
      .onConflict((oc) => oc.doNothing())
      .execute();
    added.push(role.name);
  }
  const removed: string[] = [];
  const wanted = new Set(desired.map((r) => r.id));
  for (const stale of granted.filter((g) => !wanted.has(g.role_id))) {
    await trx
      .deleteFrom('membership_mapped_roles')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('role_id', '=', stale.role_id)
      .where('connection_id', '=', connection.id)
      .execute();
    // Another connection's mapping may grant the same role: it stays while one does.
    const other = await trx
      .selectFrom('membership_mapped_roles')
      .select('role_id')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('role_id', '=', stale.role_id)
      .executeTakeFirst();
    if (other) continue;
    if (!held.has(stale.role_id)) continue; // an administrator removed it already
    await trx
      .deleteFrom('membership_roles')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('role_id', '=', stale.role_id)
      .execute();
    removed.push(stale.name);
  }
  if (added.length > 0 || removed.length > 0) {
    await recordAudit(trx, ctx, {
      action: 'iam.membership.modified',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
      details: { source: 'connection', connection: connection.name, roles_added: added, roles_removed: removed },
    });
  }
  return { added, removed };
}

/**
 * An identity unlinked (decision 285): the roles the connection's mapping granted the user
 * go with it, in every tenant it granted them in (in the caller's transaction). A role that
 * another connection's mapping also granted stays while that one does, and a role the user
 * held before the mapping (assigned by hand, so never marked as the mapping's) is never
 * touched. Audited per tenant as `iam.membership.modified`.
 */
export async function dropMappedRoles(
  trx: Db,
  ctx: AppContext,
  input: { connection: { id: string; name: string }; userId: string; actor: Actor },
): Promise<void> {
  const { connection, userId, actor } = input;
  const granted = await trx
    .deleteFrom('membership_mapped_roles')
    .where('user_id', '=', userId)
    .where('connection_id', '=', connection.id)
    .returning(['tenant_id', 'role_id'])
    .execute();
  const removedByTenant = new Map<string, string[]>();
  for (const { tenant_id: tenantId, role_id: roleId } of granted) {
    const other = await trx
      .selectFrom('membership_mapped_roles')
      .select('role_id')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    if (other) continue;
    const removed = await trx
      .deleteFrom('membership_roles')
      .where('tenant_id', '=', tenantId)
      .where('user_id', '=', userId)
      .where('role_id', '=', roleId)
      .returning('role_id')
      .executeTakeFirst();
    if (!removed) continue; // an administrator removed it already
    const role = await trx.selectFrom('roles').select('name').where('id', '=', roleId).executeTakeFirstOrThrow();
    removedByTenant.set(tenantId, [...(removedByTenant.get(tenantId) ?? []), role.name]);
  }
  for (const [tenantId, removed] of removedByTenant) {
    await recordAudit(trx, ctx, {
      action: 'iam.membership.modified',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
      details: { source: 'connection', connection: connection.name, reason: 'identity_unlinked', roles_added: [], roles_removed: removed },
    });
  }
}

/** The group names a profile's claims map to, each once, in the mapping's order. */
export function mappedGroupNames(mapping: readonly RoleMapping[], claims: Record<string, unknown>): string[] {
  const names = mapping.filter((rule) => claimMatches(claims[rule.claim], rule.value)).flatMap((rule) => rule.groups ?? []);
  return [...new Set(names)];
}

/**
 * The groups of `tenantId` a mapping names (decision 367), by name in any letter case. A
 * tenant's connection never makes anyone join a group whose roles carry restricted
 * permissions, as it never grants such a role. Unknown names are skipped (and logged): the
 * mapping may name a group deleted since, or a system connection one a tenant lacks.
 */
async function resolveGroups(trx: Db, ctx: AppContext, connection: Connection, tenantId: string, names: string[]) {
  if (names.length === 0) return [];
  const rows = await trx
    .selectFrom('groups as g')
    .select((eb) => [
      'g.id',
      'g.name',
      eb
        .exists(
          eb
            .selectFrom('group_roles as gr')
            .innerJoin('roles as r', 'r.id', 'gr.role_id')
            .select('gr.role_id')
            .whereRef('gr.group_id', '=', 'g.id')
            .where(sql<boolean>`exists (select 1 from unnest(r.permissions) p where p = 'all' or p like 'iam.%')`),
        )
        .as('restricted'),
    ])
    .where('g.tenant_id', '=', tenantId)
    .where((eb) =>
      eb(
        eb.fn('lower', ['g.name']),
        'in',
        names.map((n) => n.toLowerCase()),
      ),
    )
    .execute();
  const groups: { id: string; name: string }[] = [];
  for (const name of names) {
    const group = rows.find((g) => g.name.toLowerCase() === name.toLowerCase());
    if (!group || (connection.tenantId !== null && group.restricted)) {
      ctx.log.warn({ connection: connection.name, group: name }, 'Group mapping names an unknown or restricted group; skipped');
      continue;
    }
    if (!groups.some((g) => g.id === group.id)) groups.push({ id: group.id, name: group.name });
  }
  return groups;
}

/**
 * Applies the mapping's groups to the user in `tenantId` (in the caller's transaction), as
 * syncMappedRoles does roles: joins the mapped groups the user is not in (remembering that
 * the mapping made them join, group_mapped_members) and leaves those the mapping made them
 * join earlier and no longer names. A group an administrator added the user to is never
 * left, and one the user was in already is not marked as the mapping's. A membership of
 * the tenant is created only when a group is to be joined.
 */
export async function syncMappedGroups(
  trx: Db,
  ctx: AppContext,
  input: { connection: Connection; tenantId: string; userId: string; claims: Record<string, unknown>; actor: Actor },
): Promise<{ added: string[]; removed: string[] }> {
  const { connection, tenantId, userId, actor } = input;
  const desired = await resolveGroups(trx, ctx, connection, tenantId, mappedGroupNames(connection.mapping, input.claims));
  const marked = await trx
    .selectFrom('group_mapped_members as m')
    .innerJoin('groups as g', 'g.id', 'm.group_id')
    .select(['m.group_id', 'g.name'])
    .where('m.tenant_id', '=', tenantId)
    .where('m.user_id', '=', userId)
    .where('m.connection_id', '=', connection.id)
    .execute();
  if (desired.length === 0 && marked.length === 0) return { added: [], removed: [] };
  if (desired.length > 0) await ensureMembership(trx, ctx, tenantId, userId, actor);
  const inGroups = new Set(
    (
      await trx.selectFrom('group_members').select('group_id').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute()
    ).map((g) => g.group_id),
  );
  const added: string[] = [];
  for (const group of desired) {
    if (inGroups.has(group.id)) continue;
    await trx
      .insertInto('group_members')
      .values({ group_id: group.id, tenant_id: tenantId, user_id: userId, created_at: ctx.clock.now() })
      .execute();
    await trx
      .insertInto('group_mapped_members')
      .values({ group_id: group.id, tenant_id: tenantId, user_id: userId, connection_id: connection.id })
      .onConflict((oc) => oc.doNothing())
      .execute();
    added.push(group.name);
    await recordAudit(trx, ctx, {
      action: 'iam.group.memberAdded',
      actor,
      tenantId,
      target: { type: 'user', id: userId },
      details: { group_id: group.id, group: group.name, source: 'connection', connection: connection.name },
    });
  }
  const wanted = new Set(desired.map((g) => g.id));
  const removed: string[] = [];
  for (const stale of marked.filter((m) => !wanted.has(m.group_id))) {
    if (await leaveMappedGroup(trx, ctx, { groupId: stale.group_id, groupName: stale.name, tenantId, userId, connection, actor })) {
      removed.push(stale.name);
    }
  }
  return { added, removed };
}

/** Drops the connection's mark of one group membership and, when no other connection's mapping holds it, the membership (audited). */
async function leaveMappedGroup(
  trx: Db,
  ctx: AppContext,
  input: {
    groupId: string;
    groupName: string;
    tenantId: string;
    userId: string;
    connection: { id: string; name: string };
    actor: Actor;
    reason?: string;
  },
): Promise<boolean> {
  const { groupId, tenantId, userId, connection } = input;
  await trx
    .deleteFrom('group_mapped_members')
    .where('group_id', '=', groupId)
    .where('user_id', '=', userId)
    .where('connection_id', '=', connection.id)
    .execute();
  // Another connection's mapping may hold the same group: the user stays while one does.
  const other = await trx
    .selectFrom('group_mapped_members')
    .select('group_id')
    .where('group_id', '=', groupId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (other) return false;
  const left = await trx
    .deleteFrom('group_members')
    .where('group_id', '=', groupId)
    .where('user_id', '=', userId)
    .returning('user_id')
    .executeTakeFirst();
  if (!left) return false; // an administrator removed it already
  await recordAudit(trx, ctx, {
    action: 'iam.group.memberRemoved',
    actor: input.actor,
    tenantId,
    target: { type: 'user', id: userId },
    details: {
      group_id: groupId,
      group: input.groupName,
      source: 'connection',
      connection: connection.name,
      ...(input.reason && { reason: input.reason }),
    },
  });
  return true;
}

/**
 * An identity unlinked: the groups the connection's mapping made the user join are left,
 * in every tenant, as dropMappedRoles does the roles (decision 367).
 */
export async function dropMappedGroups(
  trx: Db,
  ctx: AppContext,
  input: { connection: { id: string; name: string }; userId: string; actor: Actor },
): Promise<void> {
  const marked = await trx
    .selectFrom('group_mapped_members as m')
    .innerJoin('groups as g', 'g.id', 'm.group_id')
    .select(['m.group_id', 'm.tenant_id', 'g.name'])
    .where('m.user_id', '=', input.userId)
    .where('m.connection_id', '=', input.connection.id)
    .execute();
  for (const m of marked) {
    await leaveMappedGroup(trx, ctx, {
      groupId: m.group_id,
      groupName: m.name,
      tenantId: m.tenant_id,
      userId: input.userId,
      connection: input.connection,
      actor: input.actor,
      reason: 'identity_unlinked',
    });
  }
}

const PROFILE_FIELDS = ['given_name', 'family_name', 'name', 'picture', 'locale'] as const;
type ProfileField = (typeof PROFILE_FIELDS)[number];
const LIMITS: Record<ProfileField, number> = { given_name: 200, family_name: 200, name: 400, picture: 2000, locale: 35 };

/**
 * The user's fields from what the provider said: its standard names, then the connection's
 * `attributes` (`{ given_name: "givenName" }`: a user field from a claim). A value must be a
 * single-line string within the field's limit; a picture an https (or http) URL.
 */
export function mappedProfile(connection: Pick<Connection, 'attributes'>, profile: UpstreamProfile): Partial<Pick<Profile, ProfileField>> {
  const values: Partial<Record<ProfileField, unknown>> = {
    given_name: profile.givenName,
    family_name: profile.familyName,
    name: profile.name,
    picture: profile.picture,
    locale: profile.locale,
  };
  for (const [field, claim] of Object.entries(connection.attributes)) {
    if ((PROFILE_FIELDS as readonly string[]).includes(field)) values[field as ProfileField] = profile.claims[claim];
  }
  const out: Partial<Pick<Profile, ProfileField>> = {};
  for (const field of PROFILE_FIELDS) {
    const value = values[field];
    if (typeof value !== 'string') continue;
    const text = value.trim();
    if (!text || text.length > LIMITS[field] || /[\n\r\t]/.test(text)) continue;
    if (field === 'picture' && !/^https?:\/\//i.test(text)) continue;
    out[field] = text;
  }
  return out;
}
