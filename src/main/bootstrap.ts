import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { assertBaselinePassword } from '../authn/passwords/policy.js';
import { endProtection } from '../authn/protection/lockout.js';
import { revokeUserSessions } from '../authn/sessions/sessions.js';
import { isRestricted, SYSTEM_PERMISSIONS, SYSTEM_ROLES } from '../directory/permissions/catalog.js';
import { systemTenantId } from '../directory/permissions/effective.js';
import { systemRole } from '../directory/roles/roles.js';
import { ensureSigningKeys } from '../oauth/keys/rotation.js';
import { type AuditSource, recordAudit, SYSTEM_ACTOR } from '../platform/audit/record.js';
import type { AppContext } from '../platform/context.js';
import type { Db } from '../platform/db/database.js';
import type { IdGenerator } from '../platform/ids.js';
import { emailIs, normalizeEmail } from '../platform/mail/address.js';

export const SYSTEM_TENANT_SLUG = 'system';
export const DEFAULT_ADMIN_EMAIL = 'admin@gatehouse.local';

export interface BootstrapResult {
  /** Set when the first administrator was created with a generated password (print it once). */
  admin?: { email: string; generatedPassword?: string };
}

/**
 * First-start seeding, idempotent and safe when nodes start together (advisory lock):
 * the system tenant, the system permission catalog, the global roles, the signing keys
 * (a current and a next key for each algorithm; an upgrade adds the missing ones),
 * and the first system administrator when there is none.
 */
export async function bootstrap(ctx: AppContext): Promise<BootstrapResult> {
  const needsAdmin = await ctx.db.transaction().execute(async (trx) => {
    await lockBootstrap(trx);
    await ensureSystemTenant(trx, ctx);
    await ensureSystemPermissions(trx, ctx.ids);
    await ensureSystemRoles(trx, ctx.ids);
    return !(await hasAdminRoleHolder(trx));
  });
  await ensureSigningKeys(ctx.db, ctx, ctx.masterKey);
  if (!needsAdmin) return {};
  const email = ctx.config.adminEmail ?? DEFAULT_ADMIN_EMAIL;
  const generated = ctx.config.adminPassword ? undefined : generatePassword();
  const password = ctx.config.adminPassword ?? generated!;
  assertBaselinePassword(password);
  const passwordHash = await ctx.passwords.hash(password);
  // Nodes starting together may all have seen no administrator: under the lock, only the
  // first creates one (and only its generated password is printed).
  const created = await ctx.db.transaction().execute(async (trx) => {
    await lockBootstrap(trx);
    if (await hasAdminRoleHolder(trx)) return false;
    await writeSystemAdmin(trx, ctx, email, passwordHash);
    return true;
  });
  if (!created) return {};
  return { admin: { email, ...(generated && { generatedPassword: generated }) } };
}

const lockBootstrap = (db: Db) => sql`select pg_advisory_xact_lock(hashtext('gatehouse:bootstrap'))`.execute(db);

/** Whether anyone holds the ADMIN role in the system tenant (the first start creates one if not). */
async function hasAdminRoleHolder(db: Db): Promise<boolean> {
  const row = await db
    .selectFrom('effective_roles as mr')
    .innerJoin('tenants as t', 't.id', 'mr.tenant_id')
    .innerJoin('roles as r', 'r.id', 'mr.role_id')
    .select('mr.user_id')
    .where('t.is_system', '=', true)
    .where('r.tenant_id', 'is', null)
    .where('r.name', '=', 'ADMIN')
    .executeTakeFirst();
  return row !== undefined;
}

/** `gatehouse admin create` and the first start: create a system administrator, or reset one. */
export async function upsertSystemAdmin(ctx: AppContext, email: string, password: string): Promise<{ created: boolean }> {
  assertBaselinePassword(password);
  const passwordHash = await ctx.passwords.hash(password);
  const written = await ctx.db.transaction().execute((trx) => writeSystemAdmin(trx, ctx, email, passwordHash));
  // A reset password ends the lockouts that guarded the old one (the way out of the hard limit).
  if (!written.created) await endProtection(ctx, SYSTEM_ACTOR, written.userId, null, 'password_changed');
  return { created: written.created };
}

async function writeSystemAdmin(
  trx: Db,
  ctx: AppContext,
  email: string,
  passwordHash: string,
): Promise<{ created: boolean; userId: string }> {
  const now = ctx.clock.now();
  const tenantId = await systemTenantId(trx);
  const role = await systemRole(trx, 'ADMIN');
  const existing = await trx.selectFrom('users').select('id').where(emailIs(email)).executeTakeFirst();
  const userId = existing?.id ?? ctx.ids.next();
  if (existing) {
    await trx
      .updateTable('users')
      .set({ password_hash: passwordHash, status: 'active', updated_at: now })
      .where('id', '=', userId)
      .execute();
    await revokeUserSessions(trx, now, userId);
  } else {
    await trx
      .insertInto('users')
      .values({
        id: userId,
        email: normalizeEmail(email),
        email_verified: true,
        name: 'Administrator',
        status: 'active',
        home_tenant_id: tenantId,
        password_hash: passwordHash,
        user_metadata: '{}',
        app_metadata: '{}',
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
  await trx
    .insertInto('memberships')
    .values({ tenant_id: tenantId, user_id: userId, created_at: now, updated_at: now })
    .onConflict((oc) => oc.doNothing())
    .execute();
  await trx
    .insertInto('membership_roles')
    .values({ tenant_id: tenantId, user_id: userId, role_id: role.id })
    .onConflict((oc) => oc.doNothing())
    .execute();
  await recordAudit(trx, ctx, {
    action: existing ? 'iam.user.modified' : 'iam.user.created',
    actor: SYSTEM_ACTOR,
    tenantId: tenantId,
    target: { type: 'user', id: userId },
    details: { email, system_admin: true, ...(existing && { fields: ['password', 'status'] }) },
  });
  return { created: !existing, userId };
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

async function ensureSystemTenant(db: Db, source: AuditSource): Promise<string> {
  const existing = await db.selectFrom('tenants').select('id').where('is_system', '=', true).executeTakeFirst();
  if (existing) return existing.id;
  const id = source.ids.next();
  await db
    .insertInto('tenants')
    .values({ id, slug: SYSTEM_TENANT_SLUG, name: 'System', status: 'active', is_system: true, branding: '{}', updated_at: new Date() })
    .execute();
  await recordAudit(db, source, { action: 'iam.tenant.created', actor: SYSTEM_ACTOR, tenantId: id, target: { type: 'tenant', id } });
  return id;
}

/** Keeps the stored catalog in step with the code: new system permissions appear on upgrade. */
async function ensureSystemPermissions(db: Db, ids: IdGenerator) {
  const now = new Date();
  await db
    .insertInto('permissions')
    .values(
      Object.entries(SYSTEM_PERMISSIONS).map(([key, description]) => ({
        id: ids.next(),
        key,
        description,
        tenant_id: null,
        is_system: true,
        restricted: isRestricted(key),
        created_at: now,
        updated_at: now,
      })),
    )
    .onConflict((oc) => oc.column('key').where('tenant_id', 'is', null).doNothing())
    .execute();
}

/** Seeds ADMIN, TENANT_ADMIN and USER. */
async function ensureSystemRoles(db: Db, ids: IdGenerator): Promise<void> {
  const now = new Date();
  for (const [name, role] of Object.entries(SYSTEM_ROLES)) {
    await db
      .insertInto('roles')
      .values({
        id: ids.next(),
        tenant_id: null,
        name,
        description: role.description,
        permissions: [...role.permissions],
        is_system: true,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.expression(sql`lower(name)`).where('tenant_id', 'is', null).doNothing())
      .execute();
  }
}
