import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { isRestricted } from '../permissions/catalog.js';
import { assertOutranks, combinePermissions, resolveScope, type Scope } from '../permissions/effective.js';

/**
 * Who may change an account (decision 180): its credentials, status, email, factors,
 * sessions, lockouts, invitation or existence. The one rule, for every admin path.
 */

/** What an administrator does to an account; each needs its permission in every tenant of the account. */
export type AccountChange = 'update' | 'delete';
const NEEDS = { update: 'tenant.account.update', delete: 'tenant.account.delete' } as const;

/** A member's grants in one tenant, with what the rule needs to know of the tenant. */
interface TenantGrants {
  permissions: string[];
  isSystem: boolean;
  active: boolean;
}
/** A user's memberships: tenant id → grants there. */
type Memberships = Map<string, TenantGrants>;

/** The memberships of some users with their effective permissions (the union of effective.ts), in three queries. */
async function membershipsOf(db: Db, userIds: readonly string[]): Promise<Map<string, Memberships>> {
  const result = new Map<string, Memberships>(userIds.map((id) => [id, new Map()]));
  if (userIds.length === 0) return result;
  const [rows, roles, direct] = await Promise.all([
    db
      .selectFrom('memberships as m')
      .innerJoin('tenants as t', 't.id', 'm.tenant_id')
      .select(['m.user_id', 'm.tenant_id', 't.is_system', 't.status'])
      .where('m.user_id', 'in', userIds)
      .execute(),
    db
      // Direct and through groups (decision 361).
      .selectFrom('effective_roles as mr')
      .innerJoin('roles as r', 'r.id', 'mr.role_id')
      .select(['mr.user_id', 'mr.tenant_id', 'r.permissions'])
      .where('mr.user_id', 'in', userIds)
      .execute(),
    db.selectFrom('membership_permissions').select(['user_id', 'tenant_id', 'permission']).where('user_id', 'in', userIds).execute(),
  ]);
  for (const row of rows) {
    const own = (r: { user_id: string; tenant_id: string }) => r.user_id === row.user_id && r.tenant_id === row.tenant_id;
    result.get(row.user_id)!.set(row.tenant_id, {
      permissions: combinePermissions(
        roles.filter(own),
        direct.filter(own).map((d) => d.permission),
      ),
      isSystem: row.is_system,
      active: row.status === 'active',
    });
  }
  return result;
}

const notHome = () => new AppError('not_home_tenant', 'Only an administrator of the user’s home tenant changes this account');
const elsewhere = () =>
  new AppError(
    'member_elsewhere',
    'This account is also a member of an organization where you are not an administrator above it; an administrator of every organization it belongs to, or a system administrator, changes it',
  );

/**
 * The rule (decision 180). In tenant scope the caller must administer (hold the change's
 * permission in) the account's home tenant and every tenant it is a member of, and outrank
 * it in each, with the caller's own effective permissions there; a system administrator's
 * account is out of reach. So an account that joined another tenant is no longer its home
 * tenant's alone to take over. In system scope the caller outranks it in the system tenant.
 */
function assertRule(
  scope: Scope,
  change: AccountChange,
  caller: Memberships,
  user: { home_tenant_id: string | null },
  memberships: Memberships,
): void {
  if (scope.kind === 'system') {
    // `all` covers every account: no need to look further.
    if (scope.held.has('all')) return;
    const system = [...memberships.values()].find((m) => m.isSystem);
    assertOutranks(scope, system?.permissions ?? []);
    return;
  }
  /** The caller's scope in a tenant where they administer accounts (the scope's own, or a live membership), if any. */
  const administering = (tenantId: string): Scope | undefined => {
    const theirs = caller.get(tenantId);
    const held = tenantId === scope.tenantId ? scope.held : theirs?.active ? new Set(theirs.permissions) : undefined;
    return held && resolveScope(held, tenantId, false, { tenant: NEEDS[change] });
  };
  if (!user.home_tenant_id || !administering(user.home_tenant_id)) throw notHome();
  if ([...memberships.values()].some((m) => m.isSystem && m.permissions.some(isRestricted))) {
    throw new AppError('forbidden', 'System administrators’ accounts are managed by system administrators');
  }
  for (const [tenantId, grants] of memberships) {
    const there = administering(tenantId);
    if (!there) throw elsewhere();
    if (tenantId === scope.tenantId) assertOutranks(there, grants.permissions);
    else {
      try {
        assertOutranks(there, grants.permissions);
      } catch {
        throw elsewhere();
      }
    }
  }
}

/**
 * Why the caller may not change each of these accounts (absent: it may), for all of them in
 * three queries: the import checks its whole batch at once, the admin API's reads their `managed` flag.
 */
export async function refusals(
  db: Db,
  scope: Scope,
  callerId: string | null,
  users: readonly { id: string; home_tenant_id: string | null }[],
  change: AccountChange = 'update',
): Promise<Map<string, AppError>> {
  const refused = new Map<string, AppError>();
  if (users.length === 0) return refused;
  const ids = new Set(users.map((u) => u.id));
  if (callerId && scope.kind === 'tenant') ids.add(callerId);
  const grants = await membershipsOf(db, [...ids]);
  const caller = (callerId && grants.get(callerId)) || new Map();
  for (const user of users) {
    try {
      assertRule(scope, change, caller, user, grants.get(user.id)!);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      refused.set(user.id, error);
    }
  }
  return refused;
}

/** Asserts the rule for one account (read by the caller, e.g. in its own transaction). */
export async function assertManages(
  db: Db,
  scope: Scope,
  callerId: string | null,
  user: { id: string; home_tenant_id: string | null },
  change: AccountChange = 'update',
): Promise<void> {
  const refused = (await refusals(db, scope, callerId, [user], change)).get(user.id);
  if (refused) throw refused;
}

/** Which of these accounts the caller may change (the `managed` flag of the admin API's users and members). */
export async function managedAccounts(
  db: Db,
  scope: Scope,
  callerId: string | null,
  users: readonly { id: string; home_tenant_id: string | null }[],
): Promise<Set<string>> {
  if (!mayChangeAccounts(scope, 'update')) return new Set();
  const refused = await refusals(db, scope, callerId, users);
  return new Set(users.filter((user) => !refused.has(user.id)).map((user) => user.id));
}

/**
 * Only a system administrator vouches for an address or a number (decision 181): a tenant
 * administrator who could mark someone else's address verified would hand relying parties
 * an `email_verified: true` for it (and pre-create the account of another tenant's future
 * administrator). Setting either to false is anyone's right.
 */
export function assertMaySetVerified(scope: Scope, input: { email_verified?: boolean; phone_verified?: boolean }): void {
  if (scope.kind === 'tenant' && (input.email_verified === true || input.phone_verified === true)) {
    throw new AppError(
      'verified_not_allowed',
      'A tenant administrator cannot mark an email address or phone number verified; its owner verifies it',
      { field: input.email_verified === true ? 'email_verified' : 'phone_verified' },
    );
  }
}

/**
 * Whether the scope holds the right to change accounts at all (the update or delete
 * permission of its kind): the import needs it for a record that matches a user
 * (decision 184), whatever the create permission that let it in.
 */
export function mayChangeAccounts(scope: Scope, change: AccountChange): boolean {
  const access = scope.kind === 'system' ? { system: `iam.account.${change}` as const } : { tenant: NEEDS[change] };
  return resolveScope(scope.held, scope.kind === 'tenant' ? scope.tenantId : '', scope.kind === 'system', access)?.kind === scope.kind;
}
