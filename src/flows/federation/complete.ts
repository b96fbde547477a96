import type { Connection, UpstreamProfile } from '../../authn/federation/strategy.js';
import { isRestricted } from '../../directory/permissions/catalog.js';
import { tenantPolicies } from '../../directory/policies/policies.js';
import { roleNamed } from '../../directory/roles/roles.js';
import { addIdentity, identityOf, markIdentityProved, touchIdentity } from '../../directory/users/identities.js';
import { writeUser } from '../../directory/users/users.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { type Db, isUniqueViolation } from '../../platform/db/database.js';
import type { User } from '../../platform/db/schema.js';
import { emailIs, isEmailAddress, normalizeEmail } from '../../platform/mail/address.js';
import { advanceFlow } from '../kit/flows.js';
import type { FederationFlow } from './flow.js';
import { ensureMembership, mappedProfile, syncMappedGroups, syncMappedRoles } from './mapping.js';

/**
 * After the provider (docs/federation.md#identities-linking-provisioning-role-mapping-mfa):
 * the person's identity at the connection leads to its user and to nothing else.
 *
 *   identity known              → its user (active), mapping and attributes synced
 *   no identity, account with
 *     the same email:  verified email + trusted_email + the connection may speak for the
 *                      account (a system connection, or the account lives only in the
 *                      connection's tenant)   → linked at once
 *                      otherwise → link_required: the account's password, then its
 *                      second factor, and only then the link (link.ts)
 *   no account                  → just-in-time provisioning (needs an email)
 *
 * The sign-in's `amr` is `fed`, plus `mfa` when the provider did MFA and the connection
 * says to trust it (`upstream_mfa`); the hosted sign-in then asks for Gatehouse's own
 * second factor as after a password whenever the policies want one.
 */
export type Completion =
  | { kind: 'signed_in'; user: User; amr: string[] }
  | { kind: 'link_required'; flow: FederationFlow }
  | { kind: 'refused'; code: 'account_disabled' | 'email_required' | 'account_conflict' };

/** The tenant a connection's users belong to: its own, or for a system connection the application's. */
export const connectionTenant = (connection: Connection, flow: FederationFlow): string | null => connection.tenantId ?? flow.tenant_id;

/** The identity's `profile_data`: what the provider said (its claims and the normalised fields), never a token. */
export function profileData(profile: UpstreamProfile): Record<string, unknown> {
  const { claims, subject, provider, email, emailVerified, name, givenName, familyName, picture, locale, mfa } = profile;
  return {
    ...claims,
    user_id: subject,
    provider,
    ...(email !== undefined && { email }),
    email_verified: emailVerified,
    ...(name !== undefined && { name }),
    ...(givenName !== undefined && { given_name: givenName }),
    ...(familyName !== undefined && { family_name: familyName }),
    ...(picture !== undefined && { picture }),
    ...(locale !== undefined && { locale }),
    upstream_mfa: mfa,
  };
}

/**
 * The sign-in's `amr`: `fed`, plus `mfa` when the provider did MFA, the connection trusts it
 * (`upstream_mfa`) and the connection may speak for the account (speaksFor): a tenant's
 * provider vouches for no second factor of an account that lives elsewhere too, nor of a
 * system administrator's (decision 277). Such an account's own factor is asked for.
 */
export const amrOf = async (db: Db, connection: Connection, profile: UpstreamProfile, user: User): Promise<string[]> =>
  profile.mfa && connection.upstreamMfa && (await speaksFor(db, connection, user)) ? ['fed', 'mfa'] : ['fed'];

const systemActor = (actor: Actor, userId?: string): Actor => ({ ...actor, type: 'user', id: userId ?? null });

export async function loginFailed(
  db: Db,
  ctx: AppContext,
  input: { connection: Pick<Connection, 'name' | 'strategy'>; tenantId: string | null; reason: string; userId?: string; flowId?: string },
  actor: Actor,
): Promise<void> {
  await recordAudit(db, ctx, {
    action: 'iam.user.loginFailed',
    actor,
    outcome: 'failure',
    tenantId: input.tenantId,
    ...(input.userId && { target: { type: 'user', id: input.userId } }),
    details: {
      reason: input.reason,
      connection: input.connection.name,
      strategy: input.connection.strategy,
      ...(input.flowId && { flow_id: input.flowId }),
    },
  });
}

async function loginSucceeded(db: Db, ctx: AppContext, connection: Connection, user: User, flow: FederationFlow, actor: Actor) {
  await recordAudit(db, ctx, {
    action: 'iam.user.loginSucceeded',
    actor: systemActor(actor, user.id),
    tenantId: connectionTenant(connection, flow) ?? user.home_tenant_id,
    target: { type: 'user', id: user.id },
    details: { connection: connection.name, strategy: connection.strategy, flow_id: flow.id },
  });
}

/** Records a new identity of a user, audited (`iam.user.identityLinked`, to the bus as every audit event). */
export async function linkIdentity(
  trx: Db,
  ctx: AppContext,
  input: { connection: Connection; profile: UpstreamProfile; user: User; tenantId: string | null; how: string; via?: 'account' },
  actor: Actor,
): Promise<void> {
  const { connection, profile, user } = input;
  // An identity of this very account that the connection's word alone had linked is now proved by its owner (decision 278).
  const proved = input.how === 'proved' && (await markIdentityProved(trx, user.id, connection.id, profile.subject));
  if (!proved)
    await addIdentity(trx, {
      connectionId: connection.id,
      subject: profile.subject,
      userId: user.id,
      provider: profile.provider,
      profileData: profileData(profile),
      at: ctx.clock.now(),
      proved: input.how === 'proved',
    });
  await recordAudit(trx, ctx, {
    action: 'iam.user.identityLinked',
    actor: systemActor(actor, user.id),
    tenantId: input.tenantId ?? user.home_tenant_id,
    target: { type: 'user', id: user.id },
    details: {
      connection: connection.name,
      strategy: connection.strategy,
      provider: profile.provider,
      user_id: profile.subject,
      how: input.how,
      ...(input.via && { via: input.via }),
    },
  });
}

/** The mapping and the attributes, in the caller's transaction: at the first sign-in always, later with on_each_login. */
export async function applyMapping(
  trx: Db,
  ctx: AppContext,
  input: { connection: Connection; profile: UpstreamProfile; user: User; tenantId: string | null; first: boolean },
  actor: Actor,
): Promise<void> {
  const { connection, profile, user, tenantId } = input;
  if (!input.first && connection.syncMode !== 'on_each_login') return;
  if (tenantId) {
    await syncMappedRoles(trx, ctx, { connection, tenantId, userId: user.id, claims: profile.claims, actor: systemActor(actor) });
    // Groups as roles (decision 367): joined and left by the same rules.
    await syncMappedGroups(trx, ctx, { connection, tenantId, userId: user.id, claims: profile.claims, actor: systemActor(actor) });
  }
  const fields = mappedProfile(connection, profile);
  const changed = Object.fromEntries(Object.entries(fields).filter(([key, value]) => user[key as keyof User] !== value));
  if (Object.keys(changed).length > 0) await writeUser(trx, ctx, systemActor(actor), user.id, changed);
}

/**
 * Whether a connection may speak for an existing account by email alone: a system
 * connection (the system administrator's), or a tenant's connection for an account that
 * lives in that tenant only (whose administrator manages it anyway, decision 180). A tenant
 * administrator's provider asserting someone else's verified address links nothing. Never
 * an account of the system tenant (a system administrator's), whatever the connection: a
 * tenant connection there is made with a common permission, a system one with the narrow
 * `iam.connection.write`, and neither reaches a system administrator (decision 276).
 */
async function speaksFor(db: Db, connection: Connection, user: User): Promise<boolean> {
  const system = await db
    .selectFrom('tenants')
    .select('id')
    .where('is_system', '=', true)
    .where((eb) =>
      eb.or([
        eb('id', '=', user.home_tenant_id),
        eb('id', 'in', eb.selectFrom('memberships').select('tenant_id').where('user_id', '=', user.id)),
      ]),
    )
    .executeTakeFirst();
  if (system) return false;
  if (connection.tenantId === null) return true;
  if (user.home_tenant_id !== connection.tenantId) return false;
  const elsewhere = await db
    .selectFrom('memberships')
    .select('tenant_id')
    .where('user_id', '=', user.id)
    .where('tenant_id', '!=', connection.tenantId)
    .executeTakeFirst();
  return !elsewhere;
}

/** The verified flow's person, to a user: found, linked, provisioned, or the page that asks for a proof. */
export async function completeSignIn(ctx: AppContext, flow: FederationFlow, connection: Connection, actor: Actor): Promise<Completion> {
  const profile = flow.data.profile as UpstreamProfile | undefined;
  if (!profile) throw new Error(`Federation flow ${flow.id} has no verified profile`);
  const tenantId = connectionTenant(connection, flow);
  const failed = (reason: string, userId?: string) =>
    loginFailed(ctx.db, ctx, { connection, tenantId, reason, flowId: flow.id, ...(userId && { userId }) }, actor);

  const identity = await identityOf(ctx.db, connection.id, profile.subject);
  if (identity) {
    const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', identity.user_id).executeTakeFirstOrThrow();
    if (user.status !== 'active') {
      await failed('account_disabled', user.id);
      return { kind: 'refused', code: 'account_disabled' };
    }
    // Linked or provisioned on the connection's word alone, the identity reaches the account
    // only while the connection may speak for it; an account that has joined another tenant
    // (or the system tenant) must be proved by its owner first (decision 278).
    if (!identity.proved && !(await speaksFor(ctx.db, connection, user))) {
      const next = await advanceFlow(ctx.db, ctx, flow, { state: 'link_required', data: { ...flow.data, link_user: user.id } });
      return { kind: 'link_required', flow: next };
    }
    await ctx.db.transaction().execute(async (trx) => {
      await touchIdentity(trx, {
        connectionId: connection.id,
        subject: profile.subject,
        profileData: profileData(profile),
        at: ctx.clock.now(),
      });
      await applyMapping(trx, ctx, { connection, profile, user, tenantId, first: false }, actor);
      await loginSucceeded(trx, ctx, connection, user, flow, actor);
    });
    return { kind: 'signed_in', user, amr: await amrOf(ctx.db, connection, profile, user) };
  }

  const email = profile.email && isEmailAddress(profile.email) ? normalizeEmail(profile.email) : undefined;
  const existing = email ? await ctx.db.selectFrom('users').selectAll().where(emailIs(email)).executeTakeFirst() : undefined;
  if (existing) {
    if (existing.status !== 'active') {
      await failed('account_disabled', existing.id);
      return { kind: 'refused', code: 'account_disabled' };
    }
    if (profile.emailVerified && connection.trustedEmail && (await speaksFor(ctx.db, connection, existing))) {
      await ctx.db.transaction().execute(async (trx) => {
        await linkIdentity(trx, ctx, { connection, profile, user: existing, tenantId, how: 'trusted_email' }, actor);
        await applyMapping(trx, ctx, { connection, profile, user: existing, tenantId, first: true }, actor);
        await loginSucceeded(trx, ctx, connection, existing, flow, actor);
      });
      return { kind: 'signed_in', user: existing, amr: await amrOf(ctx.db, connection, profile, existing) };
    }
    const next = await advanceFlow(ctx.db, ctx, flow, { state: 'link_required', data: { ...flow.data, link_user: existing.id } });
    return { kind: 'link_required', flow: next };
  }

  if (!email || !tenantId) {
    await failed(email ? 'no_tenant' : 'email_required');
    return { kind: 'refused', code: 'email_required' };
  }
  const user = await provision(ctx, { connection, profile, email, tenantId, flow }, actor).catch(async (error) => {
    // A concurrent sign-in or sign-up took the address a moment ago: that account is proved, not taken over.
    if (!isUniqueViolation(error)) throw error;
    return undefined;
  });
  if (!user) {
    await failed('account_conflict');
    return { kind: 'refused', code: 'account_conflict' };
  }
  return { kind: 'signed_in', user, amr: await amrOf(ctx.db, connection, profile, user) };
}

/**
 * Just-in-time provisioning: the user (no password; the email verified only when the
 * provider asserted it), homed in and member of the connection's tenant with the tenant's
 * default role (sign-up's, never a restricted one), the identity, then the mapping.
 */
async function provision(
  ctx: AppContext,
  input: { connection: Connection; profile: UpstreamProfile; email: string; tenantId: string; flow: FederationFlow },
  actor: Actor,
): Promise<User> {
  const { connection, profile, email, tenantId, flow } = input;
  const { signup } = await tenantPolicies(ctx, tenantId);
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const user = await trx
      .insertInto('users')
      .values({
        id: ctx.ids.next(),
        email,
        username: null,
        phone: null,
        ...mappedProfile(connection, profile),
        // The provider's word that the address is verified counts only where the connection is trusted with email (decision 291).
        email_verified: profile.emailVerified && connection.trustedEmail,
        status: 'active',
        home_tenant_id: tenantId,
        password_hash: null,
        user_metadata: JSON.stringify({}),
        app_metadata: JSON.stringify({}),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const self = systemActor(actor, user.id);
    await recordAudit(trx, ctx, {
      action: 'iam.user.created',
      actor: self,
      tenantId,
      target: { type: 'user', id: user.id },
      details: { email: user.email, status: user.status, source: 'connection', connection: connection.name },
    });
    await ensureMembership(trx, ctx, tenantId, user.id, self);
    const role = await roleNamed(trx, tenantId, signup.default_role);
    if (role && !role.permissions.some(isRestricted)) {
      await trx.insertInto('membership_roles').values({ tenant_id: tenantId, user_id: user.id, role_id: role.id }).execute();
    } else {
      ctx.log.warn({ tenant: tenantId, role: signup.default_role }, 'Default role is unknown or restricted; the provisioned user has none');
    }
    await linkIdentity(trx, ctx, { connection, profile, user, tenantId, how: 'provisioned' }, actor);
    await applyMapping(trx, ctx, { connection, profile, user, tenantId, first: true }, actor);
    await loginSucceeded(trx, ctx, connection, user, flow, actor);
    return user;
  });
}
