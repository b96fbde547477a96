import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { endProtection } from '../../authn/protection/lockout.js';
import { endUserAccess } from '../../authn/sessions/revoke-access.js';
import { requestEmailChange } from '../../flows/email-change/email-change.js';
import { closeFlows, EMAILED_FLOWS } from '../../flows/kit/flows.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { User, UserStatus } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { emailIs, normalizeEmail } from '../../platform/mail/address.js';
import { isMember } from '../memberships/memberships.js';
import { listedTenant, type Scope } from '../permissions/effective.js';
import { type AccountChange, assertManages, assertMaySetVerified, managedAccounts } from './manage.js';

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
      if (filter.q) {
        const pattern = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        query = query.where((eb) =>
          eb.or([eb('users.email', 'ilike', pattern), eb('users.name', 'ilike', pattern), eb('users.username', 'ilike', pattern)]),
        );
      }
      return query.execute();
    },
  );
}

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
  await assertManages(ctx.db, scope, actor.id, user, change);
  return user;
}

/** Users as the admin API shows them, with whether the caller may change each (`managed`, decision 182). */
export async function withManaged(ctx: AppContext, scope: Scope, actor: Actor, users: User[]): Promise<(User & { managed: boolean })[]> {
  const managed = await managedAccounts(ctx.db, scope, actor.id, users);
  return users.map((user) => ({ ...user, managed: managed.has(user.id) }));
}

/**
 * PATCH /users/:id. `pending`: in tenant scope a new address is not set but confirmed by its
 * mailbox first (decision 188), answered alike whether an account outside the tenant uses it
 * (its owner is told instead) or not: an account outside the tenant does not exist (185).
 */
export async function updateUser(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  typed: UserPatch,
): Promise<{ user: User; pending: boolean }> {
  // One spelling per mailbox (decision 213): the comparisons below see the normalised address.
  const patch = typed.email === undefined ? typed : { ...typed, email: normalizeEmail(typed.email) };
  assertMaySetVerified(scope, patch);
  const user = await assertManageable(ctx, scope, actor, id);
  // Nobody changes their own status (decision 187; as nobody deletes themselves).
  if (actor.id === id && patch.status !== undefined && patch.status !== user.status) {
    throw new AppError('forbidden', 'You cannot change your own status here');
  }
  if (scope.kind !== 'tenant' || patch.email === undefined || patch.email.toLowerCase() === user.email.toLowerCase()) {
    return { user: await applyUserPatch(ctx, actor, id, patch), pending: false };
  }
  const { email, email_verified: _unused, ...rest } = patch;
  const holder = await ctx.db.selectFrom('users').select('id').where(emailIs(email)).executeTakeFirst();
  if (holder && (await isMember(ctx.db, holder.id, scope.tenantId))) {
    throw new AppError('email_taken', 'A user with this email exists');
  }
  const updated = Object.keys(rest).length > 0 ? await applyUserPatch(ctx, actor, id, rest) : user;
  await ctx.db.transaction().execute((trx) => requestEmailChange(trx, ctx, actor, updated, email));
  return { user: updated, pending: true };
}

/** The user's own account: profile and user_metadata only. */
export async function updateMe(ctx: AppContext, actor: Actor, id: string, patch: Profile): Promise<User> {
  return applyUserPatch(ctx, actor, id, patch);
}

async function applyUserPatch(ctx: AppContext, actor: Actor, id: string, patch: UserPatch): Promise<User> {
  let history = 0;
  if (patch.password !== undefined) {
    const current = await ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await assertPasswordAllowed(ctx, current.home_tenant_id, patch.password, { ...current, ...patch });
    history = (await passwordPolicyFor(ctx, current.home_tenant_id)).history;
  }
  const passwordHash = patch.password === undefined ? undefined : await ctx.passwords.hash(patch.password);
  const user = await ctx.db.transaction().execute(async (trx) => {
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
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowTaken);
    // A disabled account or a password set by an administrator ends every session and OAuth
    // grant at once (with back-channel logout notices).
    if (passwordHash !== undefined || (patch.status !== undefined && patch.status !== 'active')) await endUserAccess(trx, ctx, id);
    if (passwordHash !== undefined) await rememberPassword(trx, ctx, id, passwordHash, history);
    // Links and codes sent to the old address die with it.
    if (patch.email !== undefined) await closeFlows(trx, ctx, id, EMAILED_FLOWS);
    await recordAudit(trx, ctx, {
      action: 'iam.user.modified',
      actor,
      tenantId: updated.home_tenant_id,
      target: { type: 'user', id },
      details: { fields: Object.keys(patch) },
    });
    return updated;
  });
  // A new password ends the lockouts and blocked addresses that guarded the old one.
  if (passwordHash !== undefined) await endProtection(ctx, actor, id, user.home_tenant_id, 'password_changed');
  return user;
}

export async function deleteUser(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  const user = await assertManageable(ctx, scope, actor, id, 'delete');
  if (actor.id === id) throw new AppError('forbidden', 'You cannot delete your own account here');
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('users').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.user.deleted',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id },
      details: { email: user.email },
    });
  });
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
