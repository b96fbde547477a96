import { sql } from 'kysely';
import { type Actor, type AuditSource, actingUserId, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { User, UserStatus } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { emailIs, normalizeEmail } from '../../platform/mail/address.js';
import { isMember } from '../memberships/memberships.js';
import { listedTenant, type Scope } from '../permissions/effective.js';
import { type AccountChange, assertManages, managedAccounts } from './manage.js';
import { assertMetadata } from './metadata.js';

export interface Profile {
  phone?: string | null;
  given_name?: string | null;
  family_name?: string | null;
  name?: string | null;
  picture?: string | null;
  locale?: string | null;
  user_metadata?: Record<string, unknown>;
}

export interface UserInput extends Profile {
  email: string;
  username?: string | null;
  password?: string;
  email_verified?: boolean;
  phone_verified?: boolean;
  status?: UserStatus;
  app_metadata?: Record<string, unknown>;
  /** Roles of the membership in the home tenant (default: USER). */
  roles?: string[];
  /** System scope only: the home tenant; in tenant scope it is the caller's tenant. */
  tenant?: string;
  /** Emailed an invitation to set the password (no password given; the route sends it). */
  invite?: boolean;
  /** The password is temporary: it must be changed at the first sign-in. */
  temporary?: boolean;
}

export type UserPatch = Partial<Omit<UserInput, 'roles' | 'tenant' | 'invite' | 'temporary'>>;

export interface UserFilter {
  email?: string | undefined;
  tenant?: string | undefined;
  status?: UserStatus | undefined;
  q?: string | undefined;
  /** The start of the email address, any letter case (an index walk: users_email_prefix_idx). */
  email_prefix?: string | undefined;
  /** Text anywhere in the email address, any letter case (Auth0's `email:*text*`). */
  email_contains?: string | undefined;
  /** The whole name, any letter case (Auth0's `name:"…"`). */
  name?: string | undefined;
  /** The start of the name, any letter case (Auth0's `name:text*`). */
  name_prefix?: string | undefined;
  /** Text anywhere in the name, any letter case (Auth0's `name:*text*`). */
  name_contains?: string | undefined;
}

export async function getUser(ctx: AppContext, scope: Scope, id: string): Promise<User> {
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!user || (scope.kind === 'tenant' && !(await isMember(ctx.db, id, scope.tenantId)))) throw notFound('User');
  return user;
}

export async function findUserByLogin(db: Db, login: string): Promise<User | undefined> {
  // lower() on both sides: PostgreSQL's case folding, not JavaScript's (they differ, e.g. for "İ").
  const value = login.trim();
  return db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb.or([emailIs(value), eb(eb.fn('lower', ['username']), '=', eb.fn<string>('lower', [eb.val(value)]))]))
    .orderBy('id')
    .executeTakeFirst();
}

export async function listUsers(ctx: AppContext, scope: Scope, filter: UserFilter, page: PageRequest): Promise<Page<User>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (u) => u.id,
    async (fetch, after) => {
      let query = ctx.db.selectFrom('users').selectAll('users').orderBy('users.id').limit(fetch);
      if (tenantId) {
        query = query.innerJoin('memberships', 'memberships.user_id', 'users.id').where('memberships.tenant_id', '=', tenantId);
      }
      if (after) query = query.where('users.id', '>', after);
      if (filter.email) query = query.where(emailIs(filter.email, 'users.email'));
      if (filter.status) query = query.where('users.status', '=', filter.status);
      if (filter.email_prefix) {
        // PostgreSQL's case folding on both sides (as emailIs), folded into a constant when planned.
        query = query.where(sql<boolean>`lower(users.email) like (lower(${likeEscape(filter.email_prefix)}) || '%')`);
      }
      if (filter.email_contains) query = query.where('users.email', 'ilike', `%${likeEscape(filter.email_contains)}%`);
      if (filter.name !== undefined) query = query.where(sql<boolean>`lower(users.name) = lower(${filter.name})`);
      if (filter.name_prefix) query = query.where('users.name', 'ilike', `${likeEscape(filter.name_prefix)}%`);
      if (filter.name_contains) query = query.where('users.name', 'ilike', `%${likeEscape(filter.name_contains)}%`);
      if (filter.q) {
        const pattern = `%${likeEscape(filter.q)}%`;
        query = query.where((eb) =>
          eb.or([eb('users.email', 'ilike', pattern), eb('users.name', 'ilike', pattern), eb('users.username', 'ilike', pattern)]),
        );
      }
      return query.execute();
    },
  );
}

/** A LIKE pattern matches these characters literally once escaped (`\\` is PostgreSQL's default escape). */
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The user, visible in the scope, that the caller may change (the rule of decision 180:
 * src/users/manage.ts). Every admin path that changes an account's credentials, status,
 * email, factors, sessions, lockouts, invitation or existence goes through it.
 */
export async function assertManageable(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  change: AccountChange = 'update',
): Promise<User> {
  const user = await getUser(ctx, scope, id);
  await assertManages(ctx.db, scope, actingUserId(actor), user, change);
  return user;
}

/** Users as the admin API shows them, with whether the caller may change each (`managed`, decision 182). */
export async function withManaged(ctx: AppContext, scope: Scope, actor: Actor, users: User[]): Promise<(User & { managed: boolean })[]> {
  const managed = await managedAccounts(ctx.db, scope, actingUserId(actor), users);
  return users.map((user) => ({ ...user, managed: managed.has(user.id) }));
}

/**
 * Writes a change of a user's row and its audit event, inside the caller's transaction: the
 * part an administrator's update (src/ops/users/update.ts) and a user's own
 * (src/flows/account/profile.ts) share; each adds what its change ends. `passwordHash` is
 * the hash of `patch.password`, whose policy the caller checked.
 */
export async function writeUser(
  trx: Db,
  source: AuditSource,
  actor: Actor,
  id: string,
  patch: UserPatch,
  passwordHash?: string,
): Promise<User> {
  assertMetadata(patch);
  const updated = await trx
    .updateTable('users')
    .set({
      // A new address is unverified unless the administrator says otherwise.
      ...(patch.email !== undefined && { email: normalizeEmail(patch.email), email_verified: patch.email_verified ?? false }),
      ...(patch.username !== undefined && { username: patch.username }),
      ...profileColumns(patch),
      ...(patch.email_verified !== undefined && { email_verified: patch.email_verified }),
      // A new number is unverified unless the administrator says otherwise (a user's own change: always).
      ...(patch.phone !== undefined && { phone_verified: patch.phone_verified ?? false }),
      ...(patch.phone === undefined && patch.phone_verified !== undefined && { phone_verified: patch.phone_verified }),
      ...(patch.status !== undefined && { status: patch.status }),
      ...(passwordHash !== undefined && { password_hash: passwordHash }),
      ...(patch.app_metadata !== undefined && { app_metadata: JSON.stringify(patch.app_metadata) }),
      updated_at: source.clock.now(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
    .catch(rethrowTaken);
  await recordAudit(trx, source, {
    action: 'iam.user.modified',
    actor,
    tenantId: updated.home_tenant_id,
    target: { type: 'user', id },
    details: { fields: Object.keys(patch) },
  });
  return updated;
}

export function profileColumns(p: Profile) {
  return {
    ...(p.phone !== undefined && { phone: p.phone }),
    ...(p.given_name !== undefined && { given_name: p.given_name }),
    ...(p.family_name !== undefined && { family_name: p.family_name }),
    ...(p.name !== undefined && { name: p.name }),
    ...(p.picture !== undefined && { picture: p.picture }),
    ...(p.locale !== undefined && { locale: p.locale }),
    ...(p.user_metadata !== undefined && { user_metadata: JSON.stringify(p.user_metadata) }),
  };
}

export function rethrowTaken(error: unknown): never {
  if (isUniqueViolation(error, 'users_email_key')) throw new AppError('email_taken', 'A user with this email exists');
  if (isUniqueViolation(error, 'users_username_key')) throw new AppError('username_taken', 'A user with this username exists');
  throw error;
}
