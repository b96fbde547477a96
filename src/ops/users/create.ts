import type { Insertable } from 'kysely';
import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { addMembership } from '../../directory/memberships/memberships.js';
import { owningTenant, type Scope } from '../../directory/permissions/effective.js';
import { resolveAssignableRoles, systemRole } from '../../directory/roles/roles.js';
import { assertMaySetVerified } from '../../directory/users/manage.js';
import { assertMetadata } from '../../directory/users/metadata.js';
import { profileColumns, rethrowTaken, type UserInput } from '../../directory/users/users.js';
import { inviteAccount, sendActivation } from '../../flows/invitation/invitations.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { User, UsersTable } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { emailIs, normalizeEmail } from '../../platform/mail/address.js';

/**
 * An account that has the address but is not a member of the tenant: in tenant scope it
 * does not exist for the caller (decision 185), so its address is answered as a new one.
 */
export async function accountOutside(db: Db, tenantId: string, email: string): Promise<User | undefined> {
  return db
    .selectFrom('users')
    .selectAll()
    .where(emailIs(email))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('memberships')
            .select('user_id')
            .whereRef('memberships.user_id', '=', 'users.id')
            .where('memberships.tenant_id', '=', tenantId),
        ),
      ),
    )
    .executeTakeFirst();
}

/**
 * Creates a user (POST /users). In tenant scope an address whose account lies outside the
 * tenant is answered exactly as a new address is (decision 185): nothing is created, the
 * owner is emailed an invitation into the tenant with the requested roles, and the answer
 * is the user the request would have made (a fresh id that names nothing). Every check a
 * new address meets (password policy, roles, username) runs first, alike for both.
 */
export async function createUser(ctx: AppContext, scope: Scope, actor: Actor, typed: UserInput): Promise<User> {
  // One spelling per mailbox (decision 213): every later step sees the normalised address.
  const input = { ...typed, email: normalizeEmail(typed.email) };
  const homeTenantId = owningTenant(scope, input.tenant);
  assertMaySetVerified(scope, input);
  assertMetadata(input);
  if (input.roles && !homeTenantId) {
    throw new AppError('missing_field', 'Roles are held in a tenant: name it in "tenant"', { field: 'tenant' });
  }
  if (input.temporary && input.password === undefined) {
    throw new AppError('missing_field', 'A temporary password needs "password"', { field: 'password' });
  }
  if (input.invite && (input.password !== undefined || (input.status !== undefined && input.status !== 'pending'))) {
    throw new AppError('invalid_field', 'An invited user chooses the password: give no "password" or "status"', { field: 'invite' });
  }
  if (input.password !== undefined) await assertPasswordAllowed(ctx, homeTenantId, input.password, input);
  const passwordHash = input.password === undefined ? null : await ctx.passwords.hash(input.password);
  const { history } = await passwordPolicyFor(ctx, homeTenantId);
  const values = newUserValues(ctx, input, homeTenantId, passwordHash);
  return ctx.db.transaction().execute(async (trx) => {
    if (homeTenantId && !(await trx.selectFrom('tenants').select('id').where('id', '=', homeTenantId).executeTakeFirst())) {
      throw notFound('Tenant');
    }
    const owner = scope.kind === 'tenant' ? await accountOutside(trx, scope.tenantId, input.email) : undefined;
    if (owner && scope.kind === 'tenant') {
      const roles = input.roles ? await resolveAssignableRoles(trx, scope, scope.tenantId, input.roles) : [await systemRole(trx, 'USER')];
      if (input.username && (await usernameTaken(trx, input.username)))
        throw new AppError('username_taken', 'A user with this username exists');
      await inviteAccount(
        trx,
        ctx,
        scope,
        actor,
        owner,
        scope.tenantId,
        roles.map((r) => r.id),
        input.email,
      );
      return asRow(values);
    }
    const user = await trx.insertInto('users').values(values).returningAll().executeTakeFirstOrThrow().catch(rethrowTaken);
    if (passwordHash) await rememberPassword(trx, ctx, user.id, passwordHash, history);
    await recordAudit(trx, ctx, {
      action: 'iam.user.created',
      actor,
      tenantId: homeTenantId,
      target: { type: 'user', id: user.id },
      details: { email: user.email, status: user.status },
    });
    if (homeTenantId) {
      await addMembership(trx, ctx, scope, actor, homeTenantId, { userId: user.id, roles: input.roles });
    }
    if (input.invite) await sendActivation(trx, ctx, scope, actor, user);
    return user;
  });
}

function newUserValues(ctx: AppContext, input: UserInput, homeTenantId: string | null, passwordHash: string | null) {
  const now = ctx.clock.now();
  return {
    id: ctx.ids.next(),
    email: input.email,
    username: input.username ?? null,
    ...profileColumns(input),
    email_verified: input.email_verified ?? false,
    phone_verified: input.phone !== undefined && input.phone !== null && input.phone_verified === true,
    status: input.status ?? (passwordHash ? 'active' : 'pending'),
    home_tenant_id: homeTenantId,
    password_hash: passwordHash,
    password_reset_required: input.temporary === true,
    user_metadata: JSON.stringify(input.user_metadata ?? {}),
    app_metadata: JSON.stringify(input.app_metadata ?? {}),
    created_at: now,
    updated_at: now,
  } satisfies Insertable<UsersTable>;
}

/** The row the insert would have returned (the answer for an address outside the tenant). */
function asRow(values: ReturnType<typeof newUserValues>): User {
  return {
    phone: null,
    given_name: null,
    family_name: null,
    name: null,
    picture: null,
    locale: null,
    ...values,
    user_metadata: JSON.parse(values.user_metadata),
    app_metadata: JSON.parse(values.app_metadata),
    last_login_at: null,
    self_registered: false,
  } as User;
}

async function usernameTaken(db: Db, username: string): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .select('id')
    .where((eb) => eb(eb.fn('lower', ['username']), '=', eb.fn<string>('lower', [eb.val(username)])))
    .executeTakeFirst();
  return row !== undefined;
}
